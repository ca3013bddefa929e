"""Reading plans against the store: train what a plan lacks, and the frames the notebooks, claims and plots use.

`run_plan` hands each planned config to `store.load_or_train`; `final_frame` / `history_frame` join the store's
long-form `collect()` with the plan's labels (one row per run with endpoints and convergence, or the curves);
`measure_noise` trains the noise seeds and measures the single-seed noise level (`wdsr_lib.study.verdicts`).
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from wdsr_lib.core.env import get_flag
from wdsr_lib.models import build_model, count_parameters
from wdsr_lib.store.runs import FINAL_METRICS, collect, is_done, load_record, run_dir_for
from wdsr_lib.store.training import load_or_train
from wdsr_lib.study.plans import Plan, PlannedRun, dependency_order, every_plan, label_frame, noise
from wdsr_lib.study.profiles import Profile, get_profile
from wdsr_lib.study.verdicts import gate_false_alarm, late_residual_sd, noise_level, run_stats


def run_plan(plan: Plan | Sequence[PlannedRun], results_dir: str | os.PathLike, *, progress: bool = True) -> dict:
    """`load_or_train` every run of a plan in dependency order (cached runs return at once).

    With `WDSR_STORE_ONLY=1` (`wdsr reproduce --store-only`) nothing is trained: runs the store lacks are
    named and left out, and the frames read from the store give them NaN.

    Returns {"runs": n, "trained": names trained by this call, "loaded": names loaded from the store,
    "missing": names left out in store-only mode}.
    """
    store_only = get_flag("WDSR_STORE_ONLY")
    trained, loaded, missing = [], [], []
    for cfg in dependency_order([r.config for r in plan]):
        if store_only and not is_done(cfg, results_dir):
            missing.append(cfg.run_name())
            continue
        rec = load_or_train(cfg, results_dir, progress=progress)
        (trained if rec.trained else loaded).append(rec.name)
    if missing:
        print(f"store-only: {len(missing)} of {len(missing) + len(loaded)} planned runs are not in the store and "
              f"are left out: {', '.join(missing)}")
    return {"runs": len(trained) + len(loaded), "trained": trained, "loaded": loaded, "missing": missing}


def available(plan: Plan, results_dir: str | os.PathLike) -> Plan:
    """The plan itself, or with `WDSR_STORE_ONLY=1` only its runs the store holds (the figures, tables and
    verdicts then cover what has been trained, and the report names the rest)."""
    if not get_flag("WDSR_STORE_ONLY"):
        return plan
    return plan.subset(lambda r: is_done(r.config, results_dir))


def missing_frame(plan: Plan | Sequence[PlannedRun], results_dir: str | os.PathLike):
    """The labels of the plan's runs that the store does not hold yet (empty once the plan is trained): the claims
    hold a decided verdict at "inconclusive" while any run it rests on is in this frame (`study.claims`)."""
    if isinstance(plan, Plan):  # keeps the plan's label columns when nothing is missing
        return label_frame(plan.subset(lambda r: not is_done(r.config, results_dir)))
    return label_frame([r for r in plan if not is_done(r.config, results_dir)])


def measure_noise(profile: Profile | str, results_dir: str | os.PathLike, *, progress: bool = True):
    """Train the noise seeds if missing and return `verdicts.noise_level` over them (None without 2 seeds)."""
    plan = noise(profile)
    run_plan(plan, results_dir, progress=progress)
    plan = available(plan, results_dir)
    return noise_level(final_frame(plan, results_dir), ["family", "blocks"])


def _labelled(plan, collected):
    labels = label_frame(plan)
    data = collected.drop(columns=[c for c in labels.columns if c in collected.columns and c != "run"])
    # an empty plan or store gives an empty (float) `run` column: merge on names either way
    return labels.astype({"run": object}).merge(data.astype({"run": object}), on="run", how="left")


def final_frame(plan: Plan | Sequence[PlannedRun], results_dir: str | os.PathLike):
    """Final metrics, one row per planned run: labels + psnr, psnr_y, ssim_y, bicubic_psnr, psnr_x8, params, ...

    Also each run's `endpoint` (mean of its last validations), `late_change_db` and `converged` (the rules of
    `wdsr_lib.study.verdicts`). Read through `store.collect` (the long-form frame) and pivoted; runs missing from the
    store are NaN.
    """
    long = collect(results_dir)
    final = long[long["iteration"].isna() & ~long["metric"].str.contains(":", regex=False)]
    wide = final.pivot_table(index="run", columns="metric", values="value", aggfunc="first")
    wide = wide.reindex(columns=list(dict.fromkeys([*FINAL_METRICS, *wide.columns]))).reset_index()
    wide.columns.name = None
    curves = long[(long["metric"] == "val_psnr") & long["iteration"].notna()].sort_values("iteration")
    stats = []
    for run, part in curves.groupby("run"):
        stats.append({"run": run, **run_stats(part["iteration"], part["value"])})
    stats_frame = pd.DataFrame(stats, columns=["run", "endpoint", "late_change_db", "converged"])
    meta = long.drop_duplicates("run")[["run", "model", "scale", "norm", "loss", "lr", "iterations", "source"]]
    return _labelled(plan, wide.merge(stats_frame, on="run", how="left").merge(meta, on="run", how="left"))


def image_frame(plan: Plan | Sequence[PlannedRun], results_dir: str | os.PathLike):
    """The final model's PSNR on every test image, long form: labels + image, value (one row per run x image;
    the cells of the seeds x images analysis, `verdicts.crossed`)."""
    long = collect(results_dir)
    cells = long[long["iteration"].isna() & long["metric"].str.startswith("psnr:")]
    cells = cells.assign(image=cells["metric"].str.slice(len("psnr:")))[["run", "image", "value"]]
    return _labelled(plan, cells).dropna(subset=["value"])


def history_frame(plan: Plan | Sequence[PlannedRun], results_dir: str | os.PathLike):
    """Training curves, long form: labels + iteration, metric ("train_loss" | "val_psnr"), value."""
    long = collect(results_dir)
    curves = long[long["iteration"].notna()][["run", "iteration", "metric", "value", "source"]]
    return _labelled(plan, curves).dropna(subset=["iteration"])


def table1_params(plan: Plan | Sequence[PlannedRun]):
    """Table 1 parameter counts: ours as trained (weight norm), the paper setting (no WN gains) and the paper's.

    One row per (family, blocks); counts come from building each model (`count_parameters`).
    """

    rows, seen = [], set()
    for r in plan:
        key = (r.labels["family"], r.labels["blocks"])
        if key in seen:
            continue
        seen.add(key)
        m = r.config.model
        plain = replace(m, norm="none")
        rows.append({"family": key[0], "blocks": key[1],
                     "params_trained": count_parameters(build_model(m.name, m.scale, **m.overrides())),
                     "params_paper_setting": count_parameters(build_model(plain.name, plain.scale,
                                                                          **plain.overrides())),
                     "paper_params_m": r.labels.get("paper_params_m")})
    return pd.DataFrame(rows)


def run_seconds(profile: Profile | str, results_dir: str | os.PathLike) -> float:
    """Summed training wall time (summary `wall_seconds`) of the profile's runs that are in the store."""
    frame = final_frame(every_plan(profile), results_dir)
    return float(frame["wall_seconds"].sum()) if "wall_seconds" in frame else 0.0


def elapsed_training(profile: Profile | str, results_dir: str | os.PathLike) -> dict:
    """Elapsed wall time of training the profile's stored runs: the union of the [start, end] segments each run
    records (summary `segments`, unix times), so runs trained side by side count once and the time between
    sessions not at all.

    Returns {"seconds": union length, "timed": runs that record segments, "untimed": stored runs that do not
    (trained before segments were recorded), "untimed_seconds": their summed `wall_seconds`}.
    """
    segments, timed, untimed, untimed_seconds, seen = [], 0, 0, 0.0, set()
    for r in every_plan(profile):
        if r.name in seen or not is_done(r.config, results_dir):
            continue
        seen.add(r.name)
        summary = load_record(run_dir_for(r.config, results_dir)).summary
        if summary.get("segments"):
            timed += 1
            segments += [(float(a), float(b)) for a, b in summary["segments"]]
        else:
            untimed += 1
            untimed_seconds += float(summary.get("wall_seconds") or 0.0)
    return {"seconds": union_length(segments), "timed": timed, "untimed": untimed,
            "untimed_seconds": untimed_seconds}


def union_length(segments: Sequence[tuple[float, float]]) -> float:
    """Total length covered by intervals [a, b] (overlaps counted once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(segments):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def gate_noise(profile: Profile | str, results_dir: str | os.PathLike) -> Optional[dict]:
    """The convergence gate's noise, measured on the profile's stored runs that pass it: the pooled residual SD of
    their validation curves around the least-squares line of the last 20% (`verdicts.late_residual_sd`), and the
    chance that a truly flat curve with that noise fails the one-sided gate at the profile's 10k-run spacing
    (`verdicts.gate_false_alarm`). None without such runs."""

    p = get_profile(profile) if isinstance(profile, str) else profile
    frame = final_frame(every_plan(p), results_dir)
    flat = set(frame.loc[frame["converged"].fillna(False).astype(bool), "run"])
    hist = history_frame(every_plan(p), results_dir)
    hist = hist[(hist["metric"] == "val_psnr") & hist["run"].isin(flat)]
    ss, dof, runs = 0.0, 0, 0
    for _, part in hist.groupby("run"):
        sd, k = late_residual_sd(part["iteration"].to_numpy(float), part["value"].to_numpy(float))
        if k > 0 and math.isfinite(sd):
            ss, dof, runs = ss + sd ** 2 * k, dof + k, runs + 1
    if not dof:
        return None
    sd = math.sqrt(ss / dof)
    its = np.arange(p.val_every, p.iterations + 1, p.val_every, dtype=float)
    return {"sd_db": sd, "dof": dof, "runs": runs, "iterations": p.iterations, "val_every": p.val_every,
            "false_alarm": gate_false_alarm(sd, its)}
