"""The CPU study's pilot: where do the Table 1 gaps at 1 block stop moving? (`docs/cpu_study.md`)

The pilot (`plans.pilot`) is seed 0 of the `cpu` profile's Table 1 at 1 block (EDSR, WDSR-A, WDSR-B; x2, 24 px
LR patches, whole-image validation every 250 iterations at `cpu`, 20,000 iterations - the profile's "pilot"
budget - lr halved at 80%). `history` reads the runs'
validation curves: from the store for finished runs, else (clearly marked `partial`) from the newest good
checkpoint of an unfinished run, so a session can show how far the pilot got. `settling` says, per paired gap,
from which iteration on the gap stays within a tolerance of its final value.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from wdsr_lib.core.atomic import atomic_write_text
from wdsr_lib.engine.checkpoint import latest_good
from wdsr_lib.store.runs import load_record, run_dir_for
from wdsr_lib.study.frames import final_frame
from wdsr_lib.study.plans import pilot, table1
from wdsr_lib.study.verdicts import by_seed, difference

PAIRS: tuple[tuple[str, str], ...] = (("WDSR-A", "EDSR"), ("WDSR-B", "EDSR"), ("WDSR-B", "WDSR-A"))


def planned(profile: str = "cpu"):
    """The pilot's planned runs (labels + configs): `plans.pilot`."""
    return list(pilot(profile))


def history(results_dir: str | os.PathLike = "results", profile: str = "cpu") -> pd.DataFrame:
    """Long-form validation curves of the pilot runs: family, iteration, val_psnr, partial (bool), run."""
    rows = []
    for r in planned(profile):
        run_dir = run_dir_for(r.config, results_dir)
        partial = not (run_dir / "DONE").exists()
        if not partial:
            hist = load_record(run_dir).history
        else:
            hist = _checkpoint_history(run_dir)
        for h in hist:
            if "val_psnr" in h:
                rows.append({"family": r.labels["family"], "blocks": r.labels["blocks"], "seed": 0,
                             "iteration": h["iteration"], "metric": "val_psnr", "value": h["val_psnr"],
                             "partial": partial, "run": run_dir.name,
                             "source": r.config.data.source})
    return pd.DataFrame(rows, columns=["family", "blocks", "seed", "iteration", "metric", "value", "partial",
                                       "run", "source"])


def _checkpoint_history(run_dir: Path) -> list[dict]:
    ckpt = run_dir / "checkpoints"
    if not ckpt.is_dir():
        return []

    state = latest_good(ckpt)
    return list(state["history"]) if state else []


def gaps(hist: pd.DataFrame, pairs: Sequence[tuple[str, str]] = PAIRS) -> pd.DataFrame:
    """Paired gap curves a - b at the iterations both runs have: pair, iteration, gap_db."""
    wide = hist[hist["metric"] == "val_psnr"].pivot_table(index="iteration", columns="family", values="value")
    out = []
    for a, b in pairs:
        if a in wide and b in wide:
            g = (wide[a] - wide[b]).dropna()
            out += [{"pair": f"{a} - {b}", "iteration": float(i), "gap_db": float(v)} for i, v in g.items()]
    return pd.DataFrame(out, columns=["pair", "iteration", "gap_db"])


def settling(gap: pd.DataFrame, tol: float = 0.05, k: int = 3) -> pd.DataFrame:
    """Per pair: the final gap (mean of the last `k` points) and the first iteration from which every later point
    stays within `tol` dB of it (NaN when even the last point is outside)."""
    rows = []
    for pair, part in gap.groupby("pair"):
        part = part.sort_values("iteration")
        v, it = part["gap_db"].to_numpy(float), part["iteration"].to_numpy(float)
        final = float(v[-k:].mean())
        inside = np.abs(v - final) < tol
        settle = float("nan")
        for i in range(len(v)):
            if inside[i:].all():
                settle = float(it[i])
                break
        rows.append({"pair": pair, "final_gap_db": final, "settled_from": settle, "last_iteration": float(it[-1]),
                     "tolerance_db": tol})
    return pd.DataFrame(rows, columns=["pair", "final_gap_db", "settled_from", "last_iteration", "tolerance_db"])


def study_gaps(results_dir: str | os.PathLike = "results", profile: str = "cpu") -> dict:
    """The study's own paired endpoint gaps at the pilot's depth ({pair: verdicts.Difference} over the Table 1
    seeds in the store) and their budget in iterations: what the pilot's longer curves are compared with."""
    runs = list(pilot(profile))
    if not runs:
        return {"iterations": None, "gaps": {}}
    blocks = runs[0].labels["blocks"]
    plan = [r for r in table1(profile) if r.labels["blocks"] == blocks]
    final = final_frame(plan, results_dir)
    gaps = {f"{a} - {b}": difference(by_seed(final, family=a), by_seed(final, family=b)) for a, b in PAIRS}
    return {"iterations": plan[0].config.train.iterations if plan else None,
            "gaps": {k: d for k, d in gaps.items() if d.n > 0}}


def summary(results_dir: str | os.PathLike = "results", profile: str = "cpu") -> str:
    """One paragraph for the report: how far each pilot run got and where its gaps settled."""
    hist = history(results_dir, profile)
    if hist.empty:
        return "Pilot: no pilot run has reached its first checkpoint yet."
    reach = hist.groupby(["family", "partial"])["iteration"].max().reset_index()
    got = "; ".join(f"{r.family} {int(r.iteration):,} iterations" + (" (unfinished)" if r.partial else "")
                    for r in reach.itertuples())
    st = settling(gaps(hist))
    parts = [f"{r.pair}: {r.final_gap_db:+.3f} dB at {int(r.last_iteration):,}, within 0.05 dB of that from "
             + (f"{int(r.settled_from):,}" if r.settled_from == r.settled_from else "nowhere yet")
             for r in st.itertuples()]
    partial = bool(hist["partial"].any())
    study = study_gaps(results_dir, profile)
    compare = ""
    if study["gaps"] and parts:
        compare = (f" The study's own endpoints at {study['iterations']:,} iterations (paired over seeds, 95% CI): "
                   + "; ".join(f"{pair} {d.mean:+.3f} dB" + (f" ({d.low:+.3f} to {d.high:+.3f}, {d.n} seeds)"
                                                              if d.low is not None else f" ({d.n} seed)")
                               for pair, d in study["gaps"].items()) + ".")
        finals = {r.pair: r.final_gap_db for r in st.itertuples()}
        inside = [pair for pair, d in study["gaps"].items() if d.low is not None and pair in finals
                  and d.low <= finals[pair] <= d.high]
        judged = [pair for pair, d in study["gaps"].items() if d.low is not None and pair in finals]
        if judged:
            compare += (f" The pilot's final gap lies inside the study's interval for {len(inside)} of {len(judged)} "
                        "pairs" + (f" (outside: {', '.join(p for p in judged if p not in inside)})"
                                   if len(inside) < len(judged) else "") + ".")
    runs = planned(profile)
    every = f"every {runs[0].config.train.val_every:,} iterations" if runs else "during training"
    return (f"Pilot (seed 0, Table 1 at 1 block, whole-image validation {every}): " + got + ". Gaps: "
            + ("; ".join(parts) if parts else "none yet") + "." + compare
            + (" PARTIAL: unfinished runs are read from their last checkpoint; no verdict rests on them." if partial
               else ""))


def write(results_dir: str | os.PathLike = "results", profile: str = "cpu") -> Optional[Path]:
    """Write `results/pilot/<profile>/history.csv` and `settling.csv` (the figure: `viz.pilot_figure`); one folder
    per profile, so that the `cpu` and `cpu_v1` pilots do not overwrite each other."""
    hist = history(results_dir, profile)
    if hist.empty:
        return None
    out = Path(results_dir) / "pilot" / profile
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "history.csv", hist.to_csv(index=False))
    atomic_write_text(out / "settling.csv", settling(gaps(hist)).to_csv(index=False))
    return out / "history.csv"
