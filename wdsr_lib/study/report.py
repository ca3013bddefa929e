"""Writers and the report: claim files, tables (Markdown / CSV / LaTeX) and `results/reports/<profile>.md`.

The claims themselves are made by `wdsr_lib.study.claims` under the rules of `wdsr_lib.study.verdicts`. Each notebook
writes its claims to `results/claims/<artefact>.json` (one entry per claim and profile: claim, paper, ours,
protocol, data, verdict, n_seeds, mean_db, ci_low_db, ci_high_db, converged, noise_db, test, margin_db);
`write_report` assembles the entries of one profile into `results/reports/<profile>.md`, so the quick and the
cpu reports stand side by side. Numbers on the embedded sample photos are labelled as not comparable with DIV2K.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from wdsr_lib.core.atomic import atomic_write_text, file_lock
from wdsr_lib.core.registry import DATA_SOURCES
from wdsr_lib.study.claims import PROTOCOL_DIV2K, Claim
from wdsr_lib.study.frames import gate_noise
from wdsr_lib.study.profiles import Profile, get_profile
from wdsr_lib.study.verdicts import (INCONCLUSIVE, LEVEL, NOT_CONVERGED, NOT_REPRODUCED, REPRODUCED, RULES, holm,
                                     interval)

ARTEFACT_ORDER = ("table1", "fig3", "fig4", "edsr_comparison", "ablations")
ARTEFACT_TITLES = {"table1": "WDSR Table 1: wide activation at equal parameter budgets",
                   "fig3": "WDSR Figure 3: weight vs batch vs no normalisation",
                   "fig4": "WDSR Figure 4: batch normalisation at three learning rates",
                   "edsr_comparison": "EDSR comparisons: README baselines, self-ensemble, L1 vs L2, x4 from x2",
                   "ablations": "WDSR Sec. 3.1/3.2 ablations: expansion ratios, low-rank ReLU"}


# --- data descriptions ----------------------------------------------------------------------------------


def data_description(profile: Profile | str) -> str:
    """Where the numbers come from, and whether they compare with the papers' DIV2K numbers."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    d = p.data
    crop = f"centre crop {d.val_crop} px HR" if d.val_crop else "whole images"
    source = DATA_SOURCES[d.source]
    where = source.description.format(val_folder=d.val_folder)
    if source.div2k:
        return f"{where} ({crop}); comparable with the papers' DIV2K numbers"
    return (f"{where}; validation on {crop}; profile {p.name}: LR patch {d.patch_size} px, batch 16, fp32. "
            f"NOT comparable with DIV2K numbers")


# --- files ----------------------------------------------------------------------------------------------

def claims_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "claims"


def _entry(c: Claim | dict) -> dict:
    return c.to_dict() if isinstance(c, Claim) else c


def write_claims(results_dir: str | os.PathLike, artefact: str, claims: Sequence[Claim],
                 profile: Optional[str] = None) -> Path:
    """Write this profile's claims into `results/claims/<artefact>.json` (atomic), keeping other profiles'."""
    path = claims_dir(results_dir) / f"{artefact}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(claims_lock(results_dir)):  # another profile's reproduce may write this file at once
        kept = [e for e in (json.loads(path.read_text()) if path.exists() else []) if e.get("profile") != profile]
        entries = kept + [{"artefact": artefact, "profile": profile, **_entry(c)} for c in claims]
        entries.sort(key=lambda e: (str(e.get("profile")), 0))
        atomic_write_text(path, json.dumps(entries, indent=1) + "\n")
    return path


def claims_lock(results_dir: str | os.PathLike) -> Path:
    """The lock file of every read-modify-write of `results/claims/*.json` (git-ignored)."""
    return claims_dir(results_dir) / ".claims.lock"


def read_claims(results_dir: str | os.PathLike, profile: Optional[str] = None) -> list[dict]:
    """Every claim written so far (of `profile` only, if given), in artefact order."""
    out = []
    files = {p.stem: p for p in claims_dir(results_dir).glob("*.json")}
    for name in list(ARTEFACT_ORDER) + sorted(set(files) - set(ARTEFACT_ORDER)):
        if name in files:
            out += [e for e in json.loads(files[name].read_text()) if profile is None or e.get("profile") == profile]
    return out


def _claim_p(entry: dict) -> float:
    """The p-value that decides a claim: its parts' largest when it is reproduced only if every part is (an
    intersection-union test), the smallest among parts on the wrong side when it is not reproduced; else its
    own. NaN where the claim has no p-value (seed-only intervals, no data)."""
    nan = float("nan")
    parts = [q for q in entry.get("parts") or () if q.get("p_value") is not None]
    ps = [float(q["p_value"]) for q in parts]
    if entry.get("verdict") == "not reproduced" and parts:
        wrong = [float(q["p_value"]) for q in parts if q.get("verdict") == "not reproduced"]
        return min(wrong) if wrong else max(ps)
    if ps:
        return max(ps)
    return float(entry["p_value"]) if entry.get("p_value") is not None else nan


def apply_holm(results_dir: str | os.PathLike, profile: str) -> list[dict]:
    """Holm's family-wise correction (`verdicts.holm`, alpha 0.05) over the profile's claims that carry a
    p-value, written into every entry of `results/claims/*.json` as `p_holm` and `verdict_holm`: a decided verdict
    stands only when its adjusted p is below 0.05, else it reads "inconclusive (Holm)"."""
    with file_lock(claims_lock(results_dir)):  # a read-modify-write of every claims file
        entries = read_claims(results_dir, profile)
        p = {f"{e['artefact']}/{e['id']}": _claim_p(e) for e in entries}
        adjusted = holm(p)
        by_file: dict[str, list[dict]] = {}
        for path in claims_dir(results_dir).glob("*.json"):
            by_file[path.stem] = json.loads(path.read_text())
        for artefact, rows in by_file.items():
            for e in rows:
                if e.get("profile") != profile:
                    continue
                q = adjusted.get(f"{artefact}/{e['id']}", float("nan"))
                e["p_claim"] = None if q != q else round(p[f"{artefact}/{e['id']}"], 6)
                e["p_holm"] = None if q != q else round(q, 6)
                decided = e.get("verdict") in ("reproduced", "not reproduced")
                e["verdict_holm"] = (e["verdict"] if not decided or (q == q and q < 1 - LEVEL)
                                     else "inconclusive (Holm)")
            atomic_write_text(claims_dir(results_dir) / f"{artefact}.json", json.dumps(rows, indent=1) + "\n")
    return read_claims(results_dir, profile)


def verdict_table(claims: Sequence[Claim | dict]) -> pd.DataFrame:
    """The claims as a small frame for notebook display: claim, verdict, seeds, mean and interval, test."""
    rows = [_entry(c) for c in claims]
    return pd.DataFrame(rows, columns=["id", "claim", "verdict", "n_seeds", "mean_db", "ci_low_db", "ci_high_db",
                                       "converged", "test", "margin_db", "noise_db"])


def format_verdicts(claims: Sequence[Claim | dict]) -> str:
    """One block per claim: `[verdict] claim`, the paper's numbers, ours (printed by each notebook's last cell)."""
    lines = []
    for c in map(_entry, claims):
        lines.append(f"[{c['verdict'].upper()}] {c['claim']}\n    paper: {c['paper']}\n    ours:  {c['ours']}")
    return "\n".join(lines)


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(_md_escape, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def latex_table(frame: pd.DataFrame, caption: str = "") -> str:
    """A booktabs LaTeX tabular (no jinja2 needed)."""
    def esc(v: Any) -> str:
        return str(v).replace("\\", "\\textbackslash{}").replace("&", "\\&").replace("%", "\\%").replace(
            "_", "\\_").replace("#", "\\#")
    cols = list(frame.columns)
    lines = ["\\begin{table}[t]", "\\centering", f"\\begin{{tabular}}{{{'l' * len(cols)}}}", "\\toprule",
             " & ".join(map(esc, cols)) + " \\\\", "\\midrule"]
    lines += [" & ".join(esc(v) for v in row) + " \\\\" for row in frame.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    if caption:
        lines.append(f"\\caption{{{esc(caption)}}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def table1_frame(final: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """WDSR Table 1 beside ours: blocks, model, parameters (trained / paper setting / paper), PSNR (ours / paper)."""
    rows = []
    for (blocks, family), part in final.groupby(["blocks", "family"], sort=True):
        psnr = part.dropna(subset=["endpoint"])
        n = len(psnr)
        d = interval(psnr["endpoint"])
        ours = f"{d.mean:.3f}" if n else "n/a"
        if n > 1:
            ours += f" ({d.low:.3f}-{d.high:.3f})"
        prow = params[(params["family"] == family) & (params["blocks"] == blocks)]
        rows.append({"blocks": int(blocks), "model": family,
                     "params (trained, WN)": f"{int(prow['params_trained'].iloc[0]):,}" if len(prow) else "",
                     "params (paper setting, no WN)": f"{int(prow['params_paper_setting'].iloc[0]):,}"
                     if len(prow) else "",
                     "params (paper)": f"{part['paper_params_m'].iloc[0]:.2f}M"
                     if pd.notna(part["paper_params_m"].iloc[0]) else "",
                     "PSNR ours (dB, endpoint, 95% CI)": ours, "seeds": n,
                     "converged": f"{int(psnr['converged'].astype(bool).sum())}/{n}" if n else "",
                     "bicubic (dB)": f"{psnr['bicubic_psnr'].mean():.3f}" if n else "",
                     "PSNR paper (dB, DIV2K)": f"{part['paper_psnr'].iloc[0]:.3f}"
                     if pd.notna(part["paper_psnr"].iloc[0]) else ""})
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, results_dir: str | os.PathLike, name: str, caption: str = "",
                profile: Optional[str] = None) -> list[Path]:
    """`results/tables/<profile>/<name>.{md,csv,tex}`; the markdown and LaTeX carry the caption (protocol, data)."""
    out = Path(results_dir) / "tables" / (profile or "")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.md", out / f"{name}.csv", out / f"{name}.tex"]
    atomic_write_text(paths[0], (f"{caption}\n\n" if caption else "") + markdown_table(frame))
    atomic_write_text(paths[1], frame.to_csv(index=False))
    atomic_write_text(paths[2], latex_table(frame, caption))
    return paths


def reports_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "reports"


def _num(x: Any, fmt: str = "+.3f") -> str:
    return "" if x is None or (isinstance(x, float) and x != x) else format(x, fmt)


def summary_frame(claims: Sequence[dict]) -> pd.DataFrame:
    """One row per claim: artefact, claim, verdict, mean and 95% interval, seeds, converged, test."""
    rows = []
    for c in claims:
        ci = f"{_num(c.get('ci_low_db'))} to {_num(c.get('ci_high_db'))}" if c.get("ci_low_db") is not None else ""
        rows.append({"artefact": c["artefact"], "claim": c["claim"], "verdict": c["verdict"],
                     "mean (dB)": _num(c.get("mean_db")), "95% CI (dB)": ci,
                     "CI covers": c.get("ci_covers", "seeds"), "seeds": c.get("n_seeds", ""),
                     "images": c.get("n_images") or "", "converged": c.get("converged", ""),
                     "test": c.get("test", ""), "p (Holm)": _num(c.get("p_holm"), ".3g"),
                     "after Holm": c.get("verdict_holm", "")})
    return pd.DataFrame(rows, columns=["artefact", "claim", "verdict", "mean (dB)", "95% CI (dB)", "CI covers",
                                       "seeds", "images", "converged", "test", "p (Holm)", "after Holm"])


def per_image_lines(c: dict) -> list[str]:
    """The per-image table of a claim's parts (mean difference over seeds and how many seeds are above 0), so a
    reader sees whether one photograph carries it."""
    lines = []
    parts = [q for q in c.get("parts") or () if q.get("per_image")]
    for part in parts or [c]:
        rows = part.get("per_image") or ()
        if not rows:
            continue
        name = part.get("part") or "difference"
        cells = ", ".join(f"{r['image']} {r['mean_db']:+.3f} ({r['positive']}/{r['seeds']})" for r in rows)
        lines.append(f"  - per image, {name} (mean over seeds, seeds above 0): {cells}")
    return lines


def write_report(results_dir: str | os.PathLike, profile: Profile | str,
                 figures_dir: Optional[str | os.PathLike] = None, timings: Optional[dict] = None,
                 trained: Optional[int] = None, budget_lines: Sequence[str] = (),
                 run_seconds: Optional[float] = None, notes: Sequence[str] = (),
                 elapsed: Optional[dict] = None) -> Path:
    """Assemble `results/reports/<profile>.md` from this profile's claim entries, tables and figures.

    Args:
        budget_lines: one line per artefact saying iterations and seeds (`plans.budget_lines`).
        run_seconds: the summed training wall time of the profile's stored runs.
        elapsed: `frames.elapsed_training` (the measured elapsed wall time of training the stored runs).
        notes: extra paragraphs (e.g. what the pilot showed), rendered after the summary.
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    results = Path(results_dir)
    claims = read_claims(results, p.name)
    counts = {v: sum(c["verdict"] == v for c in claims) for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE,
                                                                 NOT_CONVERGED)}
    comparable = p.data.source == "div2k"
    lines = [f"# Reproduction report: WDSR (Yu et al. 2018) and EDSR (Lim et al. 2017), profile `{p.name}`", "",
             f"- Profile: `{p.name}` ({p.description}).",
             f"- Data: {data_description(p)}.",
             f"- Protocol (unless a claim says otherwise): {PROTOCOL_DIV2K}; x2.",
             f"- Verdicts: {counts[REPRODUCED]} reproduced, {counts[NOT_REPRODUCED]} not reproduced, "
             f"{counts[INCONCLUSIVE]} inconclusive, {counts[NOT_CONVERGED]} inconclusive (not converged), out of "
             f"{len(claims)} claims.",
             f"- Rules: {RULES}"]
    lines += [f"- Budget: {b}" for b in budget_lines]
    if run_seconds is not None:
        lines.append(f"- Training time of the stored runs, summed: {run_seconds / 3600:.2f} h "
                     f"({p.threads or 'all'} thread(s) per run; runs in parallel divide the elapsed time).")
    if elapsed and elapsed.get("timed"):
        lines.append(f"- Elapsed wall time of training, measured: {elapsed['seconds'] / 3600:.2f} h for "
                     f"{elapsed['timed']} runs (the union of the time spans each run records training; runs side by "
                     "side count once, time between sessions not at all)"
                     + (f"; {elapsed['untimed']} runs stored before runs recorded their spans are not in it "
                        f"({elapsed['untimed_seconds'] / 3600:.2f} h of their own training, summed)"
                        if elapsed.get("untimed") else "") + ".")
        if elapsed.get("untimed"):
            total = elapsed["seconds"] + elapsed["untimed_seconds"] / 2
            lines.append(f"- Elapsed wall time of training, all stored runs: about {total / 3600:.1f} h (the measured "
                         f"spans plus half the summed time of the runs without spans, which `make study` trained "
                         f"two at a time).")
    gate = gate_noise(p, results) if (results / "runs").is_dir() else None
    if gate:
        lines.append(f"- Convergence gate, measured: the validation curves of the {gate['runs']} stored runs that pass "
                     f"it scatter by {gate['sd_db']:.3f} dB (residual SD around the line of their last 20%, "
                     f"{gate['dof']} degrees of freedom); a truly flat {gate['iterations']:,}-iteration curve "
                     f"validated every {gate['val_every']} fails the one-sided gate with probability "
                     f"{gate['false_alarm']:.1%}.")
    lines.append("")
    if not comparable:
        lines += ["> **Not comparable with the papers' numbers.** Every PSNR below is measured on "
                  f"{'the photo set' if p.data.source == 'photos' else 'the embedded sample images'} after a CPU "
                  "training run; the papers' numbers are on DIV2K after 250k+ "
                  "iterations. Only the *direction* of each comparison is tested.", ""]
    lines += ["## Summary", "", markdown_table(summary_frame(claims)), ""]
    for note in notes:
        lines += [note, ""]
    for artefact in ARTEFACT_ORDER + tuple(sorted({c["artefact"] for c in claims} - set(ARTEFACT_ORDER))):
        part = [c for c in claims if c["artefact"] == artefact]
        if not part:
            continue
        lines += [f"## {ARTEFACT_TITLES.get(artefact, artefact)}", ""]
        for c in part:
            lines += [f"### {c['claim']}: **{c['verdict']}**", "",
                      f"- Paper: {c['paper']}",
                      f"- Ours: {c['ours']}" + ("" if comparable else " (not comparable with DIV2K)"),
                      f"- Test: {c.get('test')}" + (f", margin {c['margin_db']} dB" if c.get("margin_db") else "")
                      + f"; seeds {c.get('n_seeds')}; converged: {c.get('converged')}"
                      + (f"; single-seed noise level {c['noise_db']:.3f} dB" if c.get("noise_db") else "")
                      + (f"; interval over {c['ci_covers']}, {c['n_images']} images" if c.get("n_images") else "")
                      + (f"; Holm-adjusted p {c['p_holm']:.3g} -> {c['verdict_holm']}" if c.get("p_holm") is not None
                         else (f"; after Holm: {c['verdict_holm']}" if c.get("verdict_holm") else "")),
                      *per_image_lines(c),
                      f"- Protocol: {c['protocol']}", f"- Data: {c['data'] or data_description(p)}", ""]
    tables = sorted((results / "tables" / p.name).glob("*.md"))
    out = reports_dir(results)
    if tables:
        lines += ["## Tables", ""] + [f"- [{t.name}]({os.path.relpath(t, out)}) (also .csv, .tex)" for t in tables]
        lines.append("")
    if figures_dir is not None and Path(figures_dir).is_dir():
        figs = sorted(Path(figures_dir).glob("*.png"))
        lines += ["## Figures", ""]
        for f in figs:
            lines += [f"![{f.stem}]({os.path.relpath(f, out)})", ""]
    if timings:  # wall-clock, different on every call: beside the report, untracked (results/timings/)
        write_timings(results, p.name, timings, trained)
    path = out / f"{p.name}.md"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    return path


def write_timings(results_dir: str | os.PathLike, profile: str, timings: dict,
                  trained: Optional[int] = None) -> Path:
    """This call's wall-clock timings in `results/timings/<profile>.md` (git-ignored: they differ on every call,
    so the tracked report keeps only what the store determines)."""
    lines = [f"# `wdsr reproduce --profile {profile}`: this call's timings", "",
             f"- This `wdsr reproduce` call: {timings.get('total', 0.0):.0f} s elapsed"
             + (f", {trained} runs trained (the others loaded from the store)" if trained is not None else "") + ".",
             ""] + [f"- {k}: {v:.1f} s" for k, v in timings.items()] + [""]
    path = Path(results_dir) / "timings" / f"{profile}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    return path


def baseline_frame(final: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """The README baselines: parameters, GMACs (1280x720 output), PSNR (+x8, bicubic) and the paper's.

    The CPU latency in `costs` is measured anew on every call (wall clock): it is printed (into the executed
    notebook, untracked), not written into the tracked table, so regenerating leaves the tree clean."""
    rows = []
    if "latency_s" in costs:
        print("CPU latency measured here (wall clock, not stored): " + "; ".join(
            f"{c['family']} {c['latency_s']:.3f} s ({c['latency_input']})" for _, c in costs.iterrows()))
    for _, c in costs.iterrows():
        part = final[(final["study"] == "baseline") & (final["family"] == c["family"])]
        rows.append({"model": f"{c['family']} baseline", "params": f"{int(c['params']):,}",
                     "params (paper)": f"{int(c['paper_params']):,}" if pd.notna(c["paper_params"]) else "",
                     "GMACs (1280x720 out)": f"{c['gmacs_720p']:.1f}",
                     "PSNR ours (dB)": f"{part['psnr'].mean():.3f}" if part["psnr"].notna().any() else "n/a",
                     "PSNR x8 ours (dB)": f"{part['psnr_x8'].mean():.3f}"
                     if "psnr_x8" in part and part["psnr_x8"].notna().any() else "",
                     "bicubic (dB)": f"{part['bicubic_psnr'].mean():.3f}" if part["bicubic_psnr"].notna().any() else "",
                     "PSNR paper (dB, DIV2K)": f"{c['paper_psnr']:.2f}" if pd.notna(c["paper_psnr"]) else ""})
    return pd.DataFrame(rows)


def caption(title: str, profile: Profile | str) -> str:
    """A table caption naming the protocol and the data (and whether it compares with DIV2K)."""
    return f"{title}. Protocol: {PROTOCOL_DIV2K}. Data: {data_description(profile)}."


# --- the README's verdict tables, generated from the claims -------------------------------------------------

def readme_table(claims: Sequence[dict]) -> str:
    """The front page's verdict table of a profile: claim, ours (mean and 95% interval, what it covers), the
    verdict and the verdict after Holm, from `results/claims/*.json` entries."""
    rows = []
    for c in claims:
        n = c.get("n_seeds") or 0
        if c.get("mean_db") is None:
            ours = "no runs in the store yet"
        elif c.get("test") == "every run above bicubic":  # its ci fields hold the min and max over runs
            ours = (f"mean {_num(c['mean_db'])} (min {_num(c.get('ci_low_db'))}, max {_num(c.get('ci_high_db'))}; "
                    f"{n} run{'s' * (n != 1)})")
        else:
            ci = (f"{_num(c.get('ci_low_db'))} to {_num(c.get('ci_high_db'))}" if c.get("ci_low_db") is not None
                  else "no interval")
            size = f"{n} seed{'s' * (n != 1)}" + (f" x {c['n_images']} images" if c.get("n_images") else "")
            covers = c.get("ci_covers", "seeds") if c.get("ci_low_db") is not None else ""
            ours = f"{_num(c['mean_db'])} ({ci}{'; ' + covers if covers else ''}; {size})"
        rows.append({"claim": c["claim"], "ours (dB)": ours, "test": c.get("test", ""), "verdict": c["verdict"],
                     "after Holm": c.get("verdict_holm", "")})
    return markdown_table(pd.DataFrame(rows, columns=["claim", "ours (dB)", "test", "verdict", "after Holm"]))


def _markers(profile: str) -> tuple[str, str]:
    return f"<!-- verdicts:{profile} (generated by wdsr reproduce from results/claims; do not edit) -->", \
        f"<!-- /verdicts:{profile} -->"


def update_readme(readme: str | os.PathLike, results_dir: str | os.PathLike, profile: str) -> bool:
    """Rewrite the README's verdict table of `profile` between its markers (`_markers`) from the claims; False
    when the README has no such markers (an installed package run elsewhere)."""
    path = Path(readme)
    if not path.is_file():
        return False
    text = path.read_text()
    start, end = _markers(profile)
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    table = readme_table(read_claims(results_dir, profile))
    new = f"{head}{start}\n{table}\n{end}{tail}"
    if new != text:
        atomic_write_text(path, new)
    return True
