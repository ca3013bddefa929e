"""Verdict statistics: paired differences over seeds, 95% t-intervals, the single-seed noise rule, curve stats.

A claim "a beats b" is judged on the paired difference a - b per seed:
- with >= 2 seeds, the mean and its 95% t-interval: "reproduced" when the interval lies above 0,
  "not reproduced" when it lies below 0, "inconclusive" when it straddles 0;
- with 1 seed, a difference within +-`NOISE_DB` is "inconclusive"; beyond it, its sign decides.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

NOISE_DB = 0.05  # single-seed PSNR differences below this are inconclusive (seed-to-seed spread on few images)
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Difference:
    """A paired difference over seeds: mean, 95% interval (None with one seed), number of seeds."""

    mean: float
    low: Optional[float]
    high: Optional[float]
    n: int

    def text(self, unit: str = "dB") -> str:
        if self.n == 0 or not math.isfinite(self.mean):
            return "no data"
        if self.n == 1:
            return f"{self.mean:+.3f} {unit} (1 seed; |diff| < {NOISE_DB} {unit} counts as noise)"
        return f"{self.mean:+.3f} {unit} (95% CI {self.low:+.3f} to {self.high:+.3f}, {self.n} seeds)"


def difference(a: Mapping[int, float], b: Mapping[int, float]) -> Difference:
    """Paired difference a - b over the seeds both have (`a`, `b`: {seed: value})."""
    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds], dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Difference(float("nan"), None, None, 0)
    if d.size == 1:
        return Difference(float(d[0]), None, None, 1)
    from scipy import stats

    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return Difference(float(d.mean()), float(d.mean() - half), float(d.mean() + half), int(d.size))


def verdict(diff: Difference, noise: float = NOISE_DB) -> str:
    """"reproduced" if the difference is credibly > 0, "not reproduced" if credibly < 0, else "inconclusive"."""
    if diff.n == 0 or not math.isfinite(diff.mean):
        return INCONCLUSIVE
    if diff.n == 1:
        if diff.mean > noise:
            return REPRODUCED
        return NOT_REPRODUCED if diff.mean < -noise else INCONCLUSIVE
    if diff.low > 0:
        return REPRODUCED
    return NOT_REPRODUCED if diff.high < 0 else INCONCLUSIVE


def combine(verdicts: Iterable[str]) -> str:
    """All parts reproduced -> reproduced; any part not reproduced -> not reproduced; else inconclusive."""
    verdicts = list(verdicts)
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def by_seed(final: pd.DataFrame, metric: str = "psnr", **where: Any) -> dict[int, float]:
    """{seed: metric} for the rows of `final` whose label columns equal `where` (mean if several)."""
    rows = final
    for key, value in where.items():
        rows = rows[rows[key] == value]
    rows = rows.dropna(subset=[metric])
    return {int(s): float(v) for s, v in rows.groupby("seed")[metric].mean().items()}


def best_of(final: pd.DataFrame, column: str, values: Sequence, metric: str = "psnr") -> dict[int, float]:
    """{seed: the best `metric` among rows whose `column` is in `values`}."""
    rows = final[final[column].isin(list(values))].dropna(subset=[metric])
    return {int(s): float(v) for s, v in rows.groupby("seed")[metric].max().items()}


def max_drawdown(values: Sequence[float]) -> float:
    """Largest drop (dB) from a running maximum: how far validation PSNR falls back during training."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    return float(np.max(np.maximum.accumulate(v) - v))


def curve_stats(history: pd.DataFrame, **where: Any) -> dict[int, dict[str, float]]:
    """Per seed: `early` (mean val PSNR over the first half of training, a convergence-speed measure),
    `final_val` (last val PSNR), `drawdown` and `jitter` (max drawdown / std of successive changes of val
    PSNR over the last half: the instability of WDSR Fig. 4)."""
    rows = history[history["metric"] == "val_psnr"]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    out = {}
    for seed, part in rows.groupby("seed"):
        part = part.sort_values("iteration")
        it, v = part["iteration"].to_numpy(float), part["value"].to_numpy(float)
        half = it > it.max() / 2
        late = v[half]
        out[int(seed)] = {"early": float(v[~half].mean()) if (~half).any() else float(v[0]),
                          "final_val": float(v[-1]), "drawdown": max_drawdown(late),
                          "jitter": float(np.std(np.diff(late))) if late.size > 2 else 0.0}
    return out


def pick(stats: dict[int, dict[str, float]], key: str) -> dict[int, float]:
    return {s: v[key] for s, v in stats.items()}


def seed_mean(values: Mapping[int, float]) -> float:
    return float(np.mean(list(values.values()))) if values else float("nan")


def fmt_mean(values: Mapping[int, float], unit: str = "dB") -> str:
    return f"{seed_mean(values):.3f} {unit}" if values else "n/a"


