"""Writers and the report: claim files, tables (Markdown / CSV / LaTeX) and `results/reports/<profile>.md`.

The claims themselves are made by `wdsr_lib.claims` under the rules of `wdsr_lib.verdicts`. Each notebook
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

from .atomic import atomic_write_text
from .claims import PROTOCOL_DIV2K, Claim
from .profiles import Profile, get_profile
from .verdicts import INCONCLUSIVE, NOT_CONVERGED, NOT_REPRODUCED, REPRODUCED, RULES, interval

ARTEFACT_ORDER = ("table1", "fig3", "fig4", "edsr_comparison", "ablations")
ARTEFACT_TITLES = {"table1": "WDSR Table 1: wide activation at equal parameter budgets",
                   "fig3": "WDSR Figure 3: weight vs batch vs no normalisation",
                   "fig4": "WDSR Figure 4: batch normalisation at three learning rates",
                   "edsr_comparison": "EDSR comparisons: README baselines, self-ensemble, L1 vs L2, x4 from x2",
                   "ablations": "WDSR Sec. 3.1/3.2 ablations: expansion ratios, low-rank ReLU"}


# --- data descriptions ----------------------------------------------------------------------------------

SAMPLE_DATA = ("embedded scikit-image images: training astronaut, rocket and stereo_motorcycle (left view) "
               "(photographs), hubble_deep_field (an astronomical image), retina (a fundus photograph) and "
               "immunohistochemistry (a microscopy slide); validation chelsea and coffee (photographs)")


def data_description(profile: Profile | str) -> str:
    """Where the numbers come from, and whether they compare with the papers' DIV2K numbers."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    d = p.data
    crop = f"centre crop {d.val_crop} px HR" if d.val_crop else "whole images"
    if d.source == "div2k":
        return f"DIV2K validation 0801-0900 ({crop}); comparable with the papers' DIV2K numbers"
    where = SAMPLE_DATA if d.source == "sample" else f"image folder {d.val_folder}"
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
    kept = [e for e in (json.loads(path.read_text()) if path.exists() else []) if e.get("profile") != profile]
    entries = kept + [{"artefact": artefact, "profile": profile, **_entry(c)} for c in claims]
    entries.sort(key=lambda e: (str(e.get("profile")), 0))
    atomic_write_text(path, json.dumps(entries, indent=1) + "\n")
    return path


def read_claims(results_dir: str | os.PathLike, profile: Optional[str] = None) -> list[dict]:
    """Every claim written so far (of `profile` only, if given), in artefact order."""
    out = []
    files = {p.stem: p for p in claims_dir(results_dir).glob("*.json")}
    for name in list(ARTEFACT_ORDER) + sorted(set(files) - set(ARTEFACT_ORDER)):
        if name in files:
            out += [e for e in json.loads(files[name].read_text()) if profile is None or e.get("profile") == profile]
    return out


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
                     "mean (dB)": _num(c.get("mean_db")), "95% CI (dB)": ci, "seeds": c.get("n_seeds", ""),
                     "converged": c.get("converged", ""), "test": c.get("test", "")})
    return pd.DataFrame(rows, columns=["artefact", "claim", "verdict", "mean (dB)", "95% CI (dB)", "seeds",
                                       "converged", "test"])


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
    if timings:
        lines.append(f"- This `wdsr reproduce` call: {timings.get('total', 0.0):.0f} s elapsed"
                     + (f", {trained} runs trained (the others loaded from the store)" if trained is not None else "")
                     + ".")
    lines.append("")
    if not comparable:
        lines += ["> **Not comparable with the papers' numbers.** Every PSNR below is measured on the embedded "
                  "sample images after a CPU training run; the papers' numbers are on DIV2K after 250k+ "
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
                      f"- Ours: {c['ours']}" + ("" if comparable else " (sample images: not comparable with DIV2K)"),
                      f"- Test: {c.get('test')}" + (f", margin {c['margin_db']} dB" if c.get("margin_db") else "")
                      + f"; seeds {c.get('n_seeds')}; converged: {c.get('converged')}"
                      + (f"; single-seed noise level {c['noise_db']:.3f} dB" if c.get("noise_db") else ""),
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
    if timings:
        lines += ["## Pipeline timings", ""] + [f"- {k}: {v:.1f} s" for k, v in timings.items()] + [""]
    path = out / f"{p.name}.md"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    return path


def baseline_frame(final: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """The README baselines: parameters, GMACs (1280x720 output), CPU latency, PSNR (+x8, bicubic) and the paper's."""
    rows = []
    for _, c in costs.iterrows():
        part = final[(final["study"] == "baseline") & (final["family"] == c["family"])]
        rows.append({"model": f"{c['family']} baseline", "params": f"{int(c['params']):,}",
                     "params (paper)": f"{int(c['paper_params']):,}" if pd.notna(c["paper_params"]) else "",
                     "GMACs (1280x720 out)": f"{c['gmacs_720p']:.1f}",
                     "CPU latency (s)": f"{c['latency_s']:.3f}", "latency input": c["latency_input"],
                     "PSNR ours (dB)": f"{part['psnr'].mean():.3f}" if part["psnr"].notna().any() else "n/a",
                     "PSNR x8 ours (dB)": f"{part['psnr_x8'].mean():.3f}"
                     if "psnr_x8" in part and part["psnr_x8"].notna().any() else "",
                     "bicubic (dB)": f"{part['bicubic_psnr'].mean():.3f}" if part["bicubic_psnr"].notna().any() else "",
                     "PSNR paper (dB, DIV2K)": f"{c['paper_psnr']:.2f}" if pd.notna(c["paper_psnr"]) else ""})
    return pd.DataFrame(rows)


def caption(title: str, profile: Profile | str) -> str:
    """A table caption naming the protocol and the data (and whether it compares with DIV2K)."""
    return f"{title}. Protocol: {PROTOCOL_DIV2K}. Data: {data_description(profile)}."
