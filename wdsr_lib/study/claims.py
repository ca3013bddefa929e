"""The claims: every claim of the WDSR paper (and the EDSR claims we test), judged by `wdsr_lib.study.verdicts`.

One function per artefact takes the frames a notebook builds (`frames.final_frame` / `history_frame`: labels,
endpoints, convergence, final metrics) and returns `Claim`s; `wdsr_lib.study.report` writes and renders them.
Every claim states the paper's words and numbers, ours, the test, the protocol and the data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional, Sequence

import pandas as pd

from wdsr_lib.core import paper
from wdsr_lib.core.text import plural
from wdsr_lib.study.labels import rows_where
from wdsr_lib.study.verdicts import (INCONCLUSIVE, NON_INFERIORITY, NOT_CONVERGED, NOT_REPRODUCED, REPRODUCED,
                       SUPERIORITY, Judgement, Noise, by_seed, combine, crossed, difference, final_score, fmt_mean,
                       gap_change, image_cells, interval, is_converged, jitter, judge, mean_of, paired_cells,
                       seed_mean)

PROTOCOL_DIV2K = "PSNR on RGB, SR rounded to 8 bit, border of scale+6 px ignored (DIV2K protocol), single forward"
PROTOCOL_CURVES = PROTOCOL_DIV2K + "; validation during training"


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim: what is claimed, the paper's words and numbers (formatted from `core.paper`), where the
    paper says it, and the artefact (plan and notebook) that judges it."""

    id: str
    artefact: str  # a key of `plans.PLANS`; its notebook (`cli.pipeline.NOTEBOOK_PLANS`) judges the claim
    statement: str
    paper: str
    source: str  # the section, table or figure (starts with a key of `core.paper.PAPERS`)


def _gaps(a: str, b: str) -> dict[int, float]:
    return paper.table1_gaps(a, b)


_A_OVER_EDSR = _gaps("WDSR-A", "EDSR")
_B_OVER_A = _gaps("WDSR-B", "WDSR-A")
_FEWER_M = min(paper.TABLE1["EDSR"][n][0] - paper.TABLE1["WDSR-A"][n][0] for n in paper.TABLE1["EDSR"])
_BLOCKS = "/".join(map(str, paper.TABLE1["EDSR"]))
(_E_PARAMS, _E_PSNR), (_A_PARAMS, _A_PSNR) = paper.BASELINES["EDSR"], paper.BASELINES["WDSR-A"]
_EDSR, _EDSR_PLUS = paper.SELF_ENSEMBLE_X2

# Every claim the study judges, in report order: the one place a claim is declared (tests/test_registries.py
# checks each entry, and that the claim functions below make exactly these; docs/extending.md, "A new claim").
CLAIMS: dict[str, ClaimSpec] = {c.id: c for c in (
    ClaimSpec("wdsr_a_beats_edsr", "table1", "WDSR-A beats EDSR at every Table 1 parameter budget",
              f"{min(_A_OVER_EDSR.values()):+.2f} to {max(_A_OVER_EDSR.values()):+.2f} dB at {_BLOCKS} blocks with "
              f"{_FEWER_M:.2f}M fewer parameters (Table 1, DIV2K val)", paper.TABLE1_SOURCE),
    ClaimSpec("wdsr_b_matches_a", "table1", "WDSR-B beats WDSR-A at 1 block and matches it at the deeper budgets",
              f"{'/'.join(f'{g:+.3f}' for g in _B_OVER_A.values())} dB at {_BLOCKS} blocks (Table 1, DIV2K val); "
              "text: 'better or similar'", paper.TABLE1_SOURCE),
    ClaimSpec("wn_faster_higher", "fig3", "Weight norm converges faster and higher than batch norm and no "
              "normalisation, each at its paper learning rate (WN 1e-3, others 1e-4)",
              "Fig. 3: WN lowest training loss and highest validation PSNR throughout (DIV2K); Sec. 4.2 credits WN "
              "with allowing a 10x higher learning rate", "WDSR Fig. 3, Sec. 4.2"),
    ClaimSpec("wn_faster_higher_equal_lr", "fig3", "Weight norm converges faster and higher than batch / no "
              "normalisation at the same learning rate (the lr confound removed)",
              "Fig. 3: WN lowest training loss and highest validation PSNR throughout (DIV2K); Sec. 4.2 credits WN "
              "with allowing a 10x higher learning rate", "WDSR Fig. 3, Sec. 4.2"),
    ClaimSpec("bn_unstable", "fig4", "Batch-norm validation PSNR is unstable even at lr 1e-4 (its jitter around the "
              "smooth trend exceeds weight norm's)",
              "Fig. 4: 'Even with lr = 1e-4 when the training curves are stable, the validation PSNR is still not "
              "stable across training' (DIV2K)", "WDSR Fig. 4"),
    ClaimSpec("wdsr_baseline_beats_edsr", "edsr_comparison", "The WDSR-A baseline beats the EDSR baseline with "
              "fewer parameters (16 blocks, weight norm)",
              f"{paper.BASELINES_SOURCE}: {_A_PSNR:.2f} dB with {_A_PARAMS:,} params vs {_E_PSNR:.2f} dB with "
              f"{_E_PARAMS:,} ({_A_PSNR - _E_PSNR:+.2f} dB)", paper.BASELINES_SOURCE),
    ClaimSpec("self_ensemble_gain", "edsr_comparison", "The x8 geometric self-ensemble raises PSNR",
              f"{paper.EDSR_TABLE2_SOURCE}: EDSR {_EDSR:.2f} -> EDSR+ {_EDSR_PLUS:.2f} dB at x2 "
              f"({_EDSR_PLUS - _EDSR:+.2f} dB)", paper.EDSR_TABLE2_SOURCE),
    ClaimSpec("l1_not_worse_than_l2", "edsr_comparison", "Training with L1 gives at least the PSNR of L2",
              f"{paper.LOSS_SOURCE}: SRResNet L2 {paper.LOSS['l2']:.2f} vs L1 {paper.LOSS['l1']:.2f} dB (x2, "
              f"{paper.LOSS['l1'] - paper.LOSS['l2']:+.2f} dB)", paper.LOSS_SOURCE),
    ClaimSpec("x4_from_x2", "edsr_comparison", "An x4 model started from the x2 weights converges faster and "
              "higher than one trained from scratch",
              "EDSR Fig. 4 / Sec. 3.2: pre-trained x4 converges faster and ends higher (x4, DIV2K val)",
              "EDSR Fig. 4, Sec. 3.2"),
    ClaimSpec("beats_bicubic", "edsr_comparison", "Every trained model beats bicubic interpolation",
              f"{paper.EDSR_TABLE2_SOURCE}: bicubic {paper.BICUBIC_X2:.2f} dB vs EDSR baseline "
              f"{paper.EDSR_BASELINE_X2:.2f} dB at x2 (DIV2K val)", paper.EDSR_TABLE2_SOURCE),
    ClaimSpec("wdsr_a_ratio", "ablations", "WDSR-A at equal parameters is best at expansion r = 2-4: the mean of "
              "r = 2 and 4 beats r = 1 and beats r = 8",
              "WDSR Sec. 3.1: 2x-4x wider activation helps; above 4x accuracy 'dramatically deteriorates'",
              "WDSR Sec. 3.1"),
    ClaimSpec("wdsr_b_expansion", "ablations", "WDSR-B at equal parameters gains from wider activation: the mean "
              "of e = 6 and 9 beats the mean of e = 2 and 4",
              "WDSR Sec. 3.2 / abstract: linear low-rank convolution allows 6x-9x activation 'without "
              "computational overhead' and boosts accuracy", "WDSR Sec. 3.2"),
    ClaimSpec("low_rank_relu_hurts", "ablations", "A ReLU inside the linear low-rank convolution reduces accuracy",
              "WDSR Sec. 3.2: 'adding ReLU activation in linear low-rank convolutions significantly reduces "
              "accuracy'", "WDSR Sec. 3.2"),
)}


def claims_of(artefact: str) -> list[str]:
    """The ids of the registered claims an artefact's notebook judges, in report order."""
    return [c.id for c in CLAIMS.values() if c.artefact == artefact]


def _new(cid: str, ours: str, judgement: Judgement, *, held: tuple[int, int] = (0, 0), **kw: Any) -> "Claim":
    """A `Claim` of registered claim `cid`: its statement and the paper's words from `CLAIMS`.

    `held` = (runs of the claim not yet in the store, runs in it): with any missing, a decided verdict is held at
    "inconclusive" (the runs still to come could move it) and the text says what the present runs read.
    """
    spec = CLAIMS[cid]
    absent, present = held
    if absent and is_decided(judgement.verdict):
        ours += (f"; held at {INCONCLUSIVE}: {absent} of {absent + present} planned runs not yet in the store "
                 f"(the {present} present read \"{judgement.verdict}\")")
        judgement = replace(judgement, verdict=INCONCLUSIVE)
    return Claim(cid, kw.pop("statement", spec.statement), spec.paper, ours, judgement, **kw)


def _held(missing: Optional[pd.DataFrame], present: pd.DataFrame, *wheres: dict) -> tuple[int, int]:
    """(planned runs not in the store, runs in it) among the rows matching any of `wheres`: `missing` is
    `frames.missing_frame` of the artefact's plan, `present` the claim's rows of the final frame."""
    if missing is None or missing.empty:
        return 0, len(present)
    runs = pd.concat([rows_where(missing, **w) for w in wheres])["run"].nunique()
    return int(runs), len(present)


@dataclass
class Claim:
    """One claim: the paper's words and numbers, ours, the judgement (verdict + statistics), protocol, data."""

    id: str
    claim: str
    paper: str
    ours: str
    judgement: Judgement
    protocol: str = PROTOCOL_DIV2K
    data: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.judgement.verdict

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "judgement"}
        return {**d, **self.judgement.fields(), "parts": list(self.judgement.parts)}


def _with_verdict(j: Judgement, verdict: str, parts: tuple = ()) -> Judgement:
    """`j`'s numbers (the primary test) under the combined verdict of several parts."""
    return replace(j, verdict=verdict, converged=j.converged and verdict != NOT_CONVERGED, parts=parts or j.parts)


def _part(name: str, j: Judgement) -> dict:
    return {"part": name, **j.fields()}


def _all_converged(rows: pd.DataFrame) -> bool:
    return bool(len(rows)) and bool(rows["converged"].fillna(False).astype(bool).all())


def _not_converged_runs(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "no runs in the store"
    bad = rows[~rows["converged"].fillna(False).astype(bool)]
    return f"{len(bad)} of {len(rows)} runs not converged" if len(bad) else "all runs converged"


def _arm_text(rows: pd.DataFrame, **arm: Any) -> str:
    """One arm's PSNR, mean over its seeds, in the column `verdicts.final_score` picks."""
    return fmt_mean(by_seed(rows, final_score(rows), **arm))


def _score_name(rows: pd.DataFrame) -> str:
    return "final PSNR on the test images" if final_score(rows) == "psnr" else "validation endpoint PSNR"


def _noise_text(noise: Optional[Noise]) -> str:
    return f"single-seed noise {noise.db:.3f} dB ({noise.source})" if noise else "no measured single-seed noise"


# --- cells: one number per (seed, image) --------------------------------------------------------------------

def ni_margin(blocks: int) -> float:
    """The non-inferiority margin at a Table 1 budget: half of WDSR-A's gain over EDSR in the paper's Table 1
    at that budget (0.056 dB at 1 block, 0.060 at 3): "matches" means not behind by half of what wide
    activation buys over EDSR at the same depth. Budgets the paper does not list use 1 block's."""
    a, e = paper.TABLE1["WDSR-A"], paper.TABLE1["EDSR"]
    blocks = blocks if blocks in a else min(a)
    return round((a[blocks][1] - e[blocks][1]) / 2, 3)


def _arms_cells(images: Optional[pd.DataFrame], column: str, values: Sequence, **where: Any) -> pd.Series:
    """Per (seed, image): the mean over the arms `column` in `values` (cells that have every arm)."""
    if images is None or images.empty:
        return pd.Series(dtype=float)
    rows = rows_where(images[images[column].isin(list(values))], **where)
    g = rows.groupby(["seed", "image"])
    full = g[column].nunique() == len(values)
    return g["value"].mean()[full]


def _curve_cells(history: pd.DataFrame, reduce, **where: Any) -> pd.Series:
    """Per (seed, validation image): `reduce(iterations, values)` of that image's validation curve."""
    curves = history[history["metric"].astype(str).str.startswith("val_psnr:")]
    rows = rows_where(curves, **where)
    out = {}
    for (seed, metric), part in rows.groupby(["seed", "metric"]):
        part = part.sort_values("iteration")
        out[(int(seed), metric.split(":", 1)[1])] = reduce(part["iteration"].to_numpy(float),
                                                            part["value"].to_numpy(float))
    index = pd.MultiIndex.from_tuples(list(out), names=["seed", "image"]) if out else pd.MultiIndex.from_arrays(
        [[], []], names=["seed", "image"])
    return pd.Series(list(out.values()), index=index, dtype=float)


def _compare(cells: pd.DataFrame, fallback: tuple, **kw: Any) -> Judgement:
    """`judge` over seeds x images when there are cells, else over seeds (`fallback` = ({seed: a}, {seed: b}),
    the run-level numbers of a store without per-image results)."""
    if len(cells):
        return judge(crossed(cells), cells=cells, **kw)
    return judge(difference(*fallback), **kw)


# --- WDSR Table 1 ---------------------------------------------------------------------------------------

def table1_claims(final: pd.DataFrame, history: pd.DataFrame, data: str = "",
                  noise: Optional[Noise] = None, budgets: Optional[Sequence[int]] = None,
                  images: Optional[pd.DataFrame] = None, missing: Optional[pd.DataFrame] = None) -> list[Claim]:
    """WDSR Sec. 4.1 / Table 1, each budget tested the way the paper states it:

    (1) WDSR-A beats EDSR: superiority at every budget (Table 1 shows +0.08 to +0.12 dB);
    (2) WDSR-B against WDSR-A: superiority at 1 block, where Table 1 shows a gap as large as A's over EDSR
        (+0.111 dB), non-inferiority at the deeper budgets, where the text says "better or similar" and the gaps
        are small (+0.042 / +0.021 / -0.005), with the margin `ni_margin` (half of A's gain over EDSR there).
    A claim about every budget is reproduced when every budget's part is (an intersection-union test: each part
    at 95%, no multiplicity penalty), not reproduced when any part is. With `images` (the final per-image test
    PSNR, `frames.image_frame`) each part's interval covers seeds and images; without, seeds only.
    `budgets`: the planned block counts; one missing from the store leaves the claim inconclusive. A profile that
    plans fewer than the paper's four budgets says so in the claim's text.
    """
    paper_budgets = sorted(paper.TABLE1["EDSR"])  # 1/3/5/8 blocks, the same for every family
    scope = ""
    if budgets and sorted(budgets) != paper_budgets:
        scope = (f" trained here ({'/'.join(map(str, sorted(budgets)))} block{'' if len(budgets) == 1 else 's'}"
                 f" of the paper's {'/'.join(map(str, paper_budgets))})")
    claims = []
    for cid, (a, b) in (("wdsr_a_beats_edsr", ("WDSR-A", "EDSR")), ("wdsr_b_matches_a", ("WDSR-B", "WDSR-A"))):
        rows = final[final["family"].isin([a, b])]
        parts, judgements, texts = [], [], []
        for blocks in sorted(rows["blocks"].dropna().unique()):
            blocks = int(blocks)
            test = SUPERIORITY if cid == "wdsr_a_beats_edsr" or blocks == 1 else NON_INFERIORITY
            margin = ni_margin(blocks) if test == NON_INFERIORITY else 0.0
            budget_rows = rows[rows["blocks"] == blocks]
            change = gap_change(history, {"family": a, "blocks": blocks}, {"family": b, "blocks": blocks})
            conv = _all_converged(budget_rows) and is_converged(change)
            cells = paired_cells(image_cells(images, family=a, blocks=blocks),
                                 image_cells(images, family=b, blocks=blocks))
            j = _compare(cells, (by_seed(final, family=a, blocks=blocks), by_seed(final, family=b, blocks=blocks)),
                         test=test, margin=margin, converged=conv, noise=noise)
            judgements.append(j)
            parts.append({"part": f"{plural(blocks, 'block')}: {test}", "budget": f"{blocks} blocks",
                          **j.fields()})
            label = f"{plural(blocks, 'block')} ({test}{f', margin {margin} dB' if margin else ''})"
            if j.n_seeds:
                texts.append(f"{label}: {_fmt(j)} -> {j.verdict}; gap late change {change:+.3f} dB; "
                             f"{_not_converged_runs(budget_rows)}")
            else:  # one family's runs of this budget are not in the store yet: nothing to say of their curves
                texts.append(f"{label}: {_fmt(j)} -> {j.verdict}")
        if not judgements:
            j = judge(difference({}, {}), test=SUPERIORITY)
            claims.append(_new(cid, "no runs in the store", j, data=data, statement=CLAIMS[cid].statement + scope))
            continue
        verdict = combine(judgements)
        absent = [int(n) for n in (budgets or ()) if not all(len(by_seed(final, family=f, blocks=n)) for f in (a, b))]
        ours = f"{a} - {b}, final PSNR on the test images: " + "; ".join(texts)
        if absent:
            verdict = INCONCLUSIVE
            ours += (f". Not yet in the store: {'/'.join(map(str, absent))} blocks, so the claim about every budget "
                     f"is inconclusive whatever the budgets above show")
        claims.append(_new(cid, ours, _with_verdict(judgements[0], verdict, tuple(parts)), data=data,
                           details={"noise": _noise_text(noise)}, statement=CLAIMS[cid].statement + scope,
                           held=_held(missing, rows, {"family": [a, b]})))
    return claims


def _fmt(j: Judgement) -> str:
    if j.mean_db is None:
        return "no data"
    if j.ci_low_db is None:
        return f"{j.mean_db:+.3f} dB ({plural(j.n_seeds, 'seed')}, no interval)"
    if j.n_images is not None:
        return (f"{j.mean_db:+.3f} dB (95% CI {j.ci_low_db:+.3f} to {j.ci_high_db:+.3f} over {j.covers}, "
                f"{plural(j.n_seeds, 'seed')} x {j.n_images} images, p = {j.p_value:.2g})")
    return f"{j.mean_db:+.3f} dB (95% CI {j.ci_low_db:+.3f} to {j.ci_high_db:+.3f}, {j.n_seeds} seeds)"


# --- WDSR Figures 3 and 4 ------------------------------------------------------------------------------------

def _first_half_mean(iterations: Any, values: Any) -> float:
    """Mean of a validation curve over the first half of training (how fast it rises)."""
    half = iterations <= iterations.max() / 2
    return float(values[half].mean()) if half.any() else float("nan")


def _late_jitter(iterations: Any, values: Any) -> float:
    """`verdicts.jitter` of a validation curve over the second half of training."""
    return jitter(values[iterations > iterations.max() / 2])


def _early(history: pd.DataFrame, **where: Any) -> dict[int, float]:
    """{seed: mean val PSNR over the first half of training} (how fast a curve rises)."""
    rows = rows_where(history[history["metric"] == "val_psnr"], **where)
    out = {}
    for seed, part in rows.groupby("seed"):
        half = part["iteration"] <= part["iteration"].max() / 2
        out[int(seed)] = float(part.loc[half, "value"].mean()) if half.any() else float("nan")
    return out


def fig3_claims(final: pd.DataFrame, history: pd.DataFrame, data: str = "", noise: Optional[Noise] = None,
                images: Optional[pd.DataFrame] = None, missing: Optional[pd.DataFrame] = None) -> list[Claim]:
    """WDSR Sec. 4.2 / Fig. 3: weight norm converges faster (first-half mean) and higher (endpoint).

    Two claims: as the paper ran it (each norm at its own lr: WN 1e-3, BN and none 1e-4, confounded by the 10x
    lr) and at equal learning rates (WN vs BN and none at 1e-4; WN vs none at 1e-3), which isolates the norm.
    "Faster" reads the curve itself (its first half, per validation image), so it needs no convergence;
    "higher" is the final PSNR on the test images, judged at convergence.
    """
    def compare(wn_lr: float, other: str, other_lr: float) -> list[tuple[str, Judgement, Judgement]]:
        wn, ot = rows_where(final, norm="weight", lr=wn_lr), rows_where(final, norm=other, lr=other_lr)
        if wn.empty or ot.empty:
            return []
        conv = _all_converged(pd.concat([wn, ot]))
        conv &= is_converged(gap_change(history, {"norm": "weight", "lr": wn_lr}, {"norm": other, "lr": other_lr}))
        early = paired_cells(_curve_cells(history, _first_half_mean, norm="weight", lr=wn_lr),
                             _curve_cells(history, _first_half_mean, norm=other, lr=other_lr))
        fast = _compare(early, (_early(history, norm="weight", lr=wn_lr), _early(history, norm=other, lr=other_lr)),
                        noise=noise, needs_convergence=False)
        cells = paired_cells(image_cells(images, norm="weight", lr=wn_lr), image_cells(images, norm=other, lr=other_lr))
        high = _compare(cells, (by_seed(wn), by_seed(ot)), converged=conv, noise=noise)
        return [(f"WN@{wn_lr:g} vs {other}@{other_lr:g}", fast, high)]

    claims = []
    for cid, pairs in (
        ("wn_faster_higher", ((1e-3, "batch", 1e-4), (1e-3, "none", 1e-4))),
        ("wn_faster_higher_equal_lr", ((1e-4, "batch", 1e-4), (1e-4, "none", 1e-4), (1e-3, "none", 1e-3))),
    ):
        found = [c for pair in pairs for c in compare(*pair)]
        if not found:
            continue
        js = [j for _, fast, high in found for j in (fast, high)]
        parts = tuple(_part(f"{name}: {what}", j) for name, fast, high in found
                      for what, j in (("faster", fast), ("higher", high)))
        texts = [f"{name}: faster {_fmt(fast)} -> {fast.verdict}; higher {_fmt(high)} -> {high.verdict}"
                 for name, fast, high in found]
        arms = [{"norm": norm, "lr": lr} for wn_lr, other, other_lr in pairs
                for norm, lr in (("weight", wn_lr), (other, other_lr))]
        present = pd.concat([rows_where(final, **arm) for arm in arms]).drop_duplicates("run")
        claims.append(_new(cid, "; ".join(texts), _with_verdict(found[0][2], combine(js), parts),
                           protocol=PROTOCOL_CURVES, data=data, held=_held(missing, present, *arms)))
    return claims


def _jitter(history: pd.DataFrame, **where: Any) -> dict[int, float]:
    """{seed: jitter of val PSNR over the second half} (`verdicts.jitter`)."""
    rows = rows_where(history[history["metric"] == "val_psnr"], **where)
    out = {}
    for seed, part in rows.groupby("seed"):
        part = part.sort_values("iteration")
        late = part[part["iteration"] > part["iteration"].max() / 2]
        out[int(seed)] = jitter(late["value"])
    return out


def fig4_claims(final: pd.DataFrame, history: pd.DataFrame, reference: pd.DataFrame,
                reference_history: pd.DataFrame, data: str = "", noise: Optional[Noise] = None,
                images: Optional[pd.DataFrame] = None, missing: Optional[pd.DataFrame] = None) -> list[Claim]:
    """WDSR Sec. 4.2 / Fig. 4: BN validation PSNR is unstable "even with lr = 1e-4".

    Instability = jitter (noise SD around the smooth trend, second half of training), which needs no falling
    curve and reads the curve itself (so it needs no convergence); per seed and validation image, BN at 1e-4
    against the weight-norm runs of Fig. 3 at 1e-3 and 1e-4. The train- vs eval-mode BN gap (batch statistics
    vs running averages at the end) is reported beside it. The paper names lr 1e-4 only; the 1e-3 and 1e-5 arms
    are ours. `missing`: the runs of both plans (this one and the reference) not yet in the store.
    """
    bn = _jitter(history, norm="batch", lr=1e-4)
    lines, js = [], []
    for lr in (1e-3, 1e-4, 1e-5):
        j = _jitter(history, norm="batch", lr=lr)
        if j:
            arm = rows_where(final, norm="batch", lr=lr)
            gap = by_seed(arm, "psnr_bn_train_mode")
            gap = {s: gap[s] - v for s, v in by_seed(arm, "psnr").items() if s in gap}
            lines.append(f"BN@{lr:g}: jitter {fmt_mean(j)}, train- minus eval-mode BN {fmt_mean(gap)}")
    for wn_lr in (1e-3, 1e-4):
        wn = _jitter(reference_history, norm="weight", lr=wn_lr)
        if not wn:
            continue
        cells = paired_cells(_curve_cells(history, _late_jitter, norm="batch", lr=1e-4),
                             _curve_cells(reference_history, _late_jitter, norm="weight", lr=wn_lr))
        j = _compare(cells, (bn, wn), noise=None, needs_convergence=False)
        js.append(j)
        lines.append(f"WN@{wn_lr:g}: jitter {fmt_mean(wn)}; BN@1e-4 - WN@{wn_lr:g} jitter {_fmt(j)} -> {j.verdict}")
    if not js:
        return []
    parts = tuple(_part(f"BN@1e-4 vs WN@{lr:g}", j) for lr, j in zip((1e-3, 1e-4), js))
    arms = ({"norm": "batch", "lr": 1e-4}, {"norm": "weight", "lr": [1e-3, 1e-4]})
    present = pd.concat([rows_where(final, **arms[0]), rows_where(reference, **arms[1])]).drop_duplicates("run")
    return [_new("bn_unstable", "; ".join(lines), _with_verdict(js[0], combine(js), parts), protocol=PROTOCOL_CURVES,
                  data=data, details={"bn_jitter": seed_mean(bn)}, held=_held(missing, present, *arms))]


# --- EDSR comparisons ---------------------------------------------------------------------------------------

def edsr_comparison_claims(final: pd.DataFrame, history: pd.DataFrame, data: str = "",
                           noise: Optional[Noise] = None, images: Optional[pd.DataFrame] = None,
                           missing: Optional[pd.DataFrame] = None) -> list[Claim]:
    """WDSR README baselines (`core.paper.BASELINES`), EDSR Table 2 (L1 vs L2, self-ensemble), EDSR Fig. 4."""
    claims = []
    base = final[final["study"] == "baseline"]
    wdsr, edsr = by_seed(base, family="WDSR-A"), by_seed(base, family="EDSR")
    p_w, p_e = by_seed(base, "params", family="WDSR-A"), by_seed(base, "params", family="EDSR")
    conv = _all_converged(base) and is_converged(gap_change(history, {"study": "baseline", "family": "WDSR-A"},
                                                            {"study": "baseline", "family": "EDSR"}))
    cells = paired_cells(image_cells(images, study="baseline", family="WDSR-A"),
                         image_cells(images, study="baseline", family="EDSR"))
    j = _compare(cells, (wdsr, edsr), converged=conv, noise=noise)
    if p_w and p_e and not seed_mean(p_w) < seed_mean(p_e):  # "with fewer parameters" fails
        j = _with_verdict(j, NOT_REPRODUCED)
    claims.append(_new("wdsr_baseline_beats_edsr",
                       (f"{_score_name(base)}: WDSR-A {_arm_text(base, family='WDSR-A')} ({seed_mean(p_w):,.0f} "
                        f"params) vs EDSR {_arm_text(base, family='EDSR')} ({seed_mean(p_e):,.0f}); difference "
                        f"{_fmt(j)}; {_not_converged_runs(base)}")
                        if len(base) else "no baseline run in the store", j, data=data,
                       held=_held(missing, base, {"study": "baseline"})))
    x8 = by_seed(base, "psnr_x8", family="WDSR-A")
    single = by_seed(base, "psnr", family="WDSR-A")
    jx = judge(difference(x8, single), converged=_all_converged(base[base["family"] == "WDSR-A"]), noise=noise)
    claims.append(_new("self_ensemble_gain",
                       f"WDSR-A baseline, x8 minus single forward (final evaluation): {_fmt(jx)}. An undertrained "
                        "model is far from flip/rotation-equivariant, which inflates this gain", jx,
                        protocol=PROTOCOL_DIV2K.replace("single forward", "x8 self-ensemble vs single forward"),
                        data=data, held=_held(missing, base[base["family"] == "WDSR-A"],
                                              {"study": "baseline", "family": "WDSR-A"})))
    loss = final[final["study"] == "loss"]
    conv = _all_converged(loss) and is_converged(gap_change(history, {"study": "loss", "loss": "l1"},
                                                            {"study": "loss", "loss": "l2"}))
    blocks = int(loss["blocks"].max()) if "blocks" in loss and loss["blocks"].notna().any() else 1
    margin = ni_margin(blocks)
    cells = paired_cells(image_cells(images, study="loss", loss="l1"), image_cells(images, study="loss", loss="l2"))
    jl = _compare(cells, (by_seed(loss, loss="l1"), by_seed(loss, loss="l2")), test=NON_INFERIORITY,
                  margin=margin, converged=conv, noise=noise)
    claims.append(_new("l1_not_worse_than_l2",
                       f"EDSR ({plural(blocks, 'block')}, WN) L1 minus L2: {_fmt(jl)}; non-inferiority margin "
                        f"{margin} dB", jl, data=data, held=_held(missing, loss, {"study": "loss"})))
    x4 = final[final["study"] == "x4"]
    pre, scratch = x4[x4["arm"] == "x4 from x2"], x4[x4["arm"] == "x4 from scratch"]
    if len(pre) and len(scratch):
        conv = _all_converged(pd.concat([pre, scratch])) and is_converged(
            gap_change(history, {"study": "x4", "arm": "x4 from x2"}, {"study": "x4", "arm": "x4 from scratch"}))
        early = paired_cells(_curve_cells(history, _first_half_mean, study="x4", arm="x4 from x2"),
                             _curve_cells(history, _first_half_mean, study="x4", arm="x4 from scratch"))
        fast = _compare(early, (_early(history, study="x4", arm="x4 from x2"),
                                _early(history, study="x4", arm="x4 from scratch")), noise=noise,
                        needs_convergence=False)
        cells = paired_cells(image_cells(images, study="x4", arm="x4 from x2"),
                             image_cells(images, study="x4", arm="x4 from scratch"))
        high = _compare(cells, (by_seed(pre), by_seed(scratch)), converged=conv, noise=noise)
        claims.append(_new("x4_from_x2",
                           f"faster (first-half mean val PSNR): {_fmt(fast)} -> {fast.verdict}; higher "
                            f"(endpoint): {_fmt(high)} -> {high.verdict}",
                            _with_verdict(high, combine([fast, high]), (_part("faster", fast), _part("higher", high))),
                            protocol=PROTOCOL_CURVES, data=data, held=_held(missing, x4, {"study": "x4"})))
    else:  # listed while its runs are missing, like every other claim, so a partial report shows the whole family
        claims.append(_new("x4_from_x2", f"needs runs of both arms: {len(pre)} x4 run(s) from x2 and {len(scratch)} "
                           "from scratch in the store", judge(difference({}, {}), noise=noise),
                           protocol=PROTOCOL_CURVES, data=data))
    return claims


def bicubic_claim(everything: pd.DataFrame, data: str = "") -> Claim:
    """EDSR Table 2's floor: every trained run of the profile beats bicubic (its final PSNR over bicubic PSNR, both
    on the test images; the validation endpoint for records without a final PSNR).

    Judged over all planned runs, listing any below bicubic; decided only when every planned run is in the store
    and has converged.
    """
    planned = everything.drop_duplicates("run")
    score = planned["psnr"].fillna(planned["endpoint"]) if "psnr" in planned else planned["endpoint"]
    rows = planned.assign(score=score).dropna(subset=["score", "bicubic_psnr"])
    absent = len(planned) - len(rows)
    margins = rows["score"] - rows["bicubic_psnr"]
    below = rows[margins <= 0]
    d = interval(margins)
    conv = _all_converged(rows)
    verdict = REPRODUCED if len(rows) and not len(below) else NOT_REPRODUCED if len(rows) else "inconclusive"
    if not conv and len(rows):
        verdict = NOT_CONVERGED
    if absent and verdict == REPRODUCED:  # "every" run: the ones not trained yet could still fall below
        verdict = INCONCLUSIVE
    j = Judgement(verdict, len(rows), d.mean if d.n else None, float(margins.min()) if len(rows) else None,
                  float(margins.max()) if len(rows) else None, conv, None, "every run above bicubic", 0.0)
    listing = ", ".join(f"{r.run} ({m:+.2f} dB)" for r, m in zip(below.itertuples(), margins[margins <= 0]))
    ours = (f"{len(rows)} runs; final PSNR minus bicubic: mean {d.mean:+.3f} dB, min {margins.min():+.3f}, max "
            f"{margins.max():+.3f} dB (ci_low/ci_high fields hold min/max); below bicubic: "
            f"{len(below)}{': ' + listing if listing else ''}; {_not_converged_runs(rows)}"
            + (f"; {absent} of {len(planned)} planned runs not yet in the store" if absent else "")) if len(rows) \
        else "no runs"
    return _new("beats_bicubic", ours, j, data=data)


# --- WDSR Sec. 3 ablations ----------------------------------------------------------------------------------

def ablation_claims(final: pd.DataFrame, history: pd.DataFrame, data: str = "", noise: Optional[Noise] = None,
                    images: Optional[pd.DataFrame] = None, missing: Optional[pd.DataFrame] = None) -> list[Claim]:
    """WDSR Sec. 3.1 (r 2-4 best), Sec. 3.2 (e 6-9 better than 2-4; ReLU in low rank hurts); fixed arms."""
    claims = []
    a = final[final["study"] == "wdsr_a_ratio"]
    if len(a):
        mid = mean_of(a, "r", (2, 4))
        mid_cells = _arms_cells(images, "r", (2, 4), study="wdsr_a_ratio")
        js = []
        for other in (1, 8):  # two required parts, each at 95% (intersection-union: no averaging of the two)
            cells = paired_cells(mid_cells, image_cells(images, study="wdsr_a_ratio", r=other))
            js.append(_compare(cells, (mid, by_seed(a, r=other)), converged=_all_converged(a), noise=noise))
        j = _with_verdict(js[0], combine(js), tuple(_part(f"mean(r=2,4) - r={o}", x) for o, x in zip((1, 8), js)))
        per_r = f"{_score_name(a)}: " + ", ".join(f"r={int(r)}: {_arm_text(a, r=r)}"
                                                   for r in sorted(a["r"].dropna().unique()))
        claims.append(_new("wdsr_a_ratio",
                           f"{per_r}; mean(r=2,4) - r=1: {_fmt(js[0])} -> {js[0].verdict}; mean(r=2,4) - r=8: "
                            f"{_fmt(js[1])} -> {js[1].verdict}; {_not_converged_runs(a)}", j, data=data,
                           held=_held(missing, a, {"study": "wdsr_a_ratio"})))
    b = final[final["study"] == "wdsr_b_expansion"]
    if len(b):
        cells = paired_cells(_arms_cells(images, "e", (6, 9), study="wdsr_b_expansion"),
                             _arms_cells(images, "e", (2, 4), study="wdsr_b_expansion"))
        j = _compare(cells, (mean_of(b, "e", (6, 9)), mean_of(b, "e", (2, 4))), converged=_all_converged(b),
                     noise=noise)
        per_e = f"{_score_name(b)}: " + ", ".join(f"e={e:g}: {_arm_text(b, e=e)}"
                                                   for e in sorted(b["e"].dropna().unique()))
        claims.append(_new("wdsr_b_expansion",
                           f"{per_e}; mean(6,9) - mean(2,4): {_fmt(j)}; {_not_converged_runs(b)}", j, data=data,
                           held=_held(missing, b, {"study": "wdsr_b_expansion"})))
    r = final[final["study"] == "low_rank_relu"]
    if len(r):
        conv = _all_converged(r) and is_converged(gap_change(history, {"study": "low_rank_relu", "relu": False},
                                                             {"study": "low_rank_relu", "relu": True}))
        cells = paired_cells(image_cells(images, study="low_rank_relu", relu=False),
                             image_cells(images, study="low_rank_relu", relu=True))
        j = _compare(cells, (by_seed(r, relu=False), by_seed(r, relu=True)), converged=conv, noise=noise)
        claims.append(_new("low_rank_relu_hurts", f"without minus with ReLU: {_fmt(j)}; {_not_converged_runs(r)}",
                            j, data=data, held=_held(missing, r, {"study": "low_rank_relu"})))
    return claims


def is_decided(verdict: str) -> bool:
    return verdict in (REPRODUCED, NOT_REPRODUCED)


__all__ = ["CLAIMS", "Claim", "ClaimSpec", "PROTOCOL_DIV2K", "claims_of", "table1_claims", "fig3_claims",
           "fig4_claims", "edsr_comparison_claims", "bicubic_claim", "ablation_claims", "is_decided"]
