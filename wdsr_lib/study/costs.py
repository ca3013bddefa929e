"""What a profile costs to train: seconds per run estimated from the runs already in the store (`docs/cpu_study.md`).

A run's training time is close to linear in iterations x conv MACs per step (`count_macs`, WDSR Sec. 3.1 counts
the same), plus a per-iteration overhead (data, optimiser, validation at a fixed `val_every`). `calibrate` fits
seconds = iterations x (overhead + rate x MACs per iteration) by least squares to finished runs that share the
thread count and patch size; `estimate` applies it to every planned run. An estimate, for planning a budget:
the report prints the measured wall time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from wdsr_lib.core.config import RunConfig
from wdsr_lib.models import build, count_macs
from wdsr_lib.store.runs import is_done, load_record, run_dir_for
from wdsr_lib.study.plans import EXTRA_PLANS, PLANS, every_plan
from wdsr_lib.study.profiles import Profile


@dataclass(frozen=True)
class Rate:
    """seconds per iteration = overhead + per_mac x MACs per iteration (forward convs of one batch)."""

    overhead: float
    per_mac: float
    runs: int  # finished runs the fit used

    def seconds(self, cfg: RunConfig) -> float:
        return cfg.train.iterations * (self.overhead + self.per_mac * step_macs(cfg))


def step_macs(cfg: RunConfig) -> float:
    """Forward conv MACs of one training batch: MACs per LR pixel x LR patch pixels x batch."""
    per_px = count_macs(build(cfg.model), (1, 1), cfg.model.scale)
    return float(per_px) * cfg.data.patch_size ** 2 * cfg.train.batch_size


def calibrate(profile: Profile | str, results_dir: str | os.PathLike) -> Optional[Rate]:
    """Fit `Rate` to the profile's finished runs (None with fewer than two distinct model sizes)."""
    done = list(_finished(profile, results_dir))
    return fit([step_macs(r.config) for r, _ in done],
               [float(s["train_seconds"]) / r.config.train.iterations for r, s in done])


def _finished(profile: Profile | str, results_dir: str | os.PathLike):
    """(planned run, summary) of the profile's runs that are DONE in the store with a training time."""
    for r in every_plan(profile):
        if is_done(r.config, results_dir):
            s = load_record(run_dir_for(r.config, results_dir)).summary
            if s.get("train_seconds"):
                yield r, s


def fit(step_macs_: list[float], seconds_per_iteration: list[float]) -> Optional[Rate]:
    """Least-squares `Rate` through (MACs per iteration, seconds per iteration) points; None with < 2 sizes."""
    if len(set(step_macs_)) < 2:
        return None
    a = np.column_stack([np.ones(len(step_macs_)), step_macs_])
    (overhead, per_mac), *_ = np.linalg.lstsq(a, np.asarray(seconds_per_iteration, float), rcond=None)
    return Rate(float(max(overhead, 0.0)), float(per_mac), len(step_macs_))


def estimate(profile: Profile | str, results_dir: str | os.PathLike, rate: Optional[Rate] = None,
             jobs: int = 2) -> pd.DataFrame:
    """Per artefact: runs, runs still to train, estimated run-hours in all and still to go, and wall hours to go
    with `jobs` runs at a time (run-hours / jobs: runs are many and short, so the packing loss is small)."""
    rate = rate or calibrate(profile, results_dir)
    if rate is None:
        raise ValueError("no calibration: the store holds finished runs of fewer than two model sizes of this "
                         "profile; train some first or pass a Rate.")
    seen: set[str] = set()
    rows = []
    for name, plan in list(PLANS.items()) + list(EXTRA_PLANS.items()):
        total = todo = 0.0
        n = left = 0
        for r in plan(profile):
            if r.name in seen:
                continue
            seen.add(r.name)
            sec = rate.seconds(r.config)
            n, total = n + 1, total + sec
            if not is_done(r.config, results_dir):
                left, todo = left + 1, todo + sec
        rows.append({"artefact": name, "runs": n, "to_train": left, "run_hours": total / 3600,
                     "run_hours_to_go": todo / 3600, "wall_hours_to_go": todo / 3600 / jobs})
    return pd.DataFrame(rows)


def throughput(profile: Profile | str, results_dir: str | os.PathLike) -> pd.DataFrame:
    """Achieved training GFLOP/s of the profile's finished runs: 6 x forward MACs per step (forward 2 FLOPs per
    MAC, backward twice the forward) x iterations / `train_seconds`, validation included. Compare with
    `benchmarks/peak.py` (the fp32 peak of the same machine, per thread)."""
    rows = []
    for r, s in _finished(profile, results_dir):
        flops = 6 * step_macs(r.config) * r.config.train.iterations
        rows.append({"run": r.name, "artefact": r.artefact, "threads": s.get("threads"),
                     "train_seconds": float(s["train_seconds"]), "gflops": flops / float(s["train_seconds"]) / 1e9})
    return pd.DataFrame(rows, columns=["run", "artefact", "threads", "train_seconds", "gflops"])
