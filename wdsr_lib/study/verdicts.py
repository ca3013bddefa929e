"""The judging rules, stated once: endpoints, the convergence gate, paired intervals, the tests, multiplicity.

Every verdict of the report follows these rules (the report prints `RULES`):

1. **Endpoint.** A run's score is its final model's PSNR on every test image, whole (DIV2K protocol); a
   profile's run-level `endpoint` column (the mean of its last `K_ENDPOINT` validation PSNRs) is the fallback of
   stores without per-image results, and what the convergence gate reads.
2. **Convergence gate.** A run has converged when the least-squares line through its validations of the last
   `WINDOW` (20%) of training (after the lr halving at 80%) rises by less than `TOL_DB` (0.05 dB) across that
   stretch (one-sided: a falling curve has ended where it ends); a seed-averaged paired gap curve must move
   less than `TOL_DB` either way. A claim can be "reproduced" or "not reproduced" only when every run behind it
   and its gap curve have converged, else it is "inconclusive (not converged)", numbers still shown. Parts that
   read the curve itself ("faster", jitter) need no convergence and say so (`needs_convergence`). The gate's
   false-alarm rate on a flat curve (`gate_false_alarm`) is measured from the stored runs and printed.
3. **Paired differences over seeds and images.** A comparison a - b is made per seed and test image (same seed
   = same patches and initial draw where shapes allow); a linear mixed model with crossed random effects of
   seed and image (`crossed`, statsmodels) gives the mean and a two-sided 95% t-interval that covers both
   variations (Satterthwaite degrees of freedom), with the per-image table beside it.
4. **Tests, as the paper states each claim.** Superiority: reproduced when the interval lies above 0, not
   reproduced when below 0. Non-inferiority ("similar", "matches") with margin m: reproduced when the interval's
   lower end lies above -m, not reproduced when its upper end lies below -m. Otherwise inconclusive. A claim with
   several required parts is reproduced when every part is (intersection-union), not reproduced when any is.
5. **One seed** decides only when |difference (minus the margin's offset)| also exceeds a noise level measured
   from seeds of the same profile (`noise_level`: 1.96 x sqrt(2) x the pooled seed-to-seed SD of endpoints);
   without such a measurement, one seed is always inconclusive.
6. **Multiplicity.** Holm's method over all claims of a profile (family-wise error 5%, `holm`) on each claim's
   deciding p-value; a decided verdict whose adjusted p is not below 0.05 reads "inconclusive (Holm)".
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from wdsr_lib.core.text import plural
from wdsr_lib.study.labels import rows_where

K_ENDPOINT = 3
WINDOW = 0.2
TOL_DB = 0.05
MIN_LATE_POINTS = 3  # validations inside the window the gate needs to tell a trend from jitter
LEVEL = 0.95
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_CONVERGED = "inconclusive (not converged)"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CONVERGED)
SUPERIORITY, NON_INFERIORITY = "superiority", "non-inferiority"

RULES = (
    "Endpoint = the final model's PSNR on every test image, whole. Converged = the least-squares line through a "
    f"run's validations of the last {WINDOW:.0%} of training rises < {TOL_DB} dB (one-sided), and the "
    f"seed-averaged paired gap moves < {TOL_DB} dB; otherwise the verdict is \"{NOT_CONVERGED}\" (\"faster\" and "
    "jitter parts read the curve and need no convergence). Paired differences per seed and test image, a mixed "
    f"model with crossed seed and image effects, {LEVEL:.0%} t-interval over both (Satterthwaite df); each "
    "claim tested as the paper states it: superiority (interval above 0) or non-inferiority (lower end above "
    "-margin, the margin half of WDSR-A's Table 1 gain over EDSR at that depth); several required parts must all "
    "hold. One seed decides only beyond a noise level measured from seeds of the same profile; a claim with "
    f"planned runs not yet in the store is held at \"{INCONCLUSIVE}\". Holm over the profile's claims "
    "(family-wise 5%).")


# --- curves -----------------------------------------------------------------------------------------------

def endpoint(values: Sequence[float], k: int = K_ENDPOINT) -> float:
    """Mean of the last `k` finite values (all of them if fewer)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v[-k:].mean()) if v.size else float("nan")


def late_change(iterations: Sequence[float], values: Sequence[float], window: float = WINDOW) -> float:
    """Rise (dB) of the least-squares line through the points of the last `window` of training, across it.

    NaN when the window holds fewer than 3 points (too few to tell a trend from jitter).
    """
    it, v = np.asarray(iterations, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(it) & np.isfinite(v)
    it, v = it[ok], v[ok]
    if it.size == 0:
        return float("nan")
    start = it.max() * (1 - window)
    sel = it > start
    if sel.sum() < MIN_LATE_POINTS:
        return float("nan")
    slope = np.polyfit(it[sel], v[sel], 1)[0]
    return float(slope * (it.max() - start))


def late_validations(iterations: int, val_every: int) -> int:
    """How many validations of a run of `iterations`, validated every `val_every`, fall in the gate's window
    (the points `late_change` reads; fewer than `MIN_LATE_POINTS` and it says NaN, "not converged")."""
    return sum(1 for it in range(val_every, iterations + 1, val_every) if it > iterations * (1 - WINDOW))


def is_converged(change: float, tol: float = TOL_DB, one_sided: bool = False) -> bool:
    """The gate of rule 2: a finite late change smaller than `tol` in size; `one_sided`: smaller than `tol`
    (a run's own curve: only a curve still rising is unfinished, a falling one has ended where it ends)."""
    if not math.isfinite(change):
        return False
    return bool(change < tol) if one_sided else bool(abs(change) < tol)


def run_stats(iterations: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """A run's `endpoint`, `late_change_db` and `converged` (rules 1-2, one-sided) from its validation curve."""
    order = np.argsort(np.asarray(iterations, dtype=float), kind="stable")
    it, v = np.asarray(iterations, dtype=float)[order], np.asarray(values, dtype=float)[order]
    change = late_change(it, v)
    return {"endpoint": endpoint(v), "late_change_db": change, "converged": is_converged(change, one_sided=True)}


def jitter(values: Sequence[float]) -> float:
    """Noise SD of a curve around its smooth trend: sqrt(mean(second differences^2) / 6).

    A second difference cancels any locally linear trend, so a rising curve has no jitter of its own
    (unlike a drawdown); for white noise of SD s around a smooth curve the estimate is s.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3:
        return float("nan")
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    return float(math.sqrt(np.mean(d2 ** 2) / 6))


# --- paired differences -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """A paired difference over seeds: mean, interval at `level` (None with one seed), seeds used."""

    mean: float
    low: Optional[float]
    high: Optional[float]
    n: int
    level: float = LEVEL

    def text(self, unit: str = "dB") -> str:
        if self.n == 0 or not math.isfinite(self.mean):
            return "no data"
        if self.n == 1:
            return f"{self.mean:+.3f} {unit} (1 seed)"
        return f"{self.mean:+.3f} {unit} ({self.level:.1%} CI {self.low:+.3f} to {self.high:+.3f}, {self.n} seeds)"


def difference(a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL) -> Difference:
    """Paired difference a - b over the seeds both have (`a`, `b`: {seed: value}), t-interval at `level`."""
    seeds = sorted(set(a) & set(b))
    return interval([a[s] - b[s] for s in seeds], level)


def interval(samples: Iterable[float], level: float = LEVEL) -> Difference:
    """Mean and two-sided t-interval of paired differences."""
    d = np.asarray(list(samples), dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Difference(float("nan"), None, None, 0, level)
    if d.size == 1:
        return Difference(float(d[0]), None, None, 1, level)
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return Difference(float(d.mean()), float(d.mean() - half), float(d.mean() + half), int(d.size), level)


def t_band(samples: Iterable[float], level: float = LEVEL) -> tuple[float, float]:
    """(low, high) of `interval` for a figure's band or bar: the t-interval of the seed mean the verdicts use;
    one seed gives (value, value), no band. Usable as seaborn's `errorbar=`."""
    d = interval(samples, level)
    if d.low is None:
        return (d.mean, d.mean)
    return (d.low, d.high)


@dataclass(frozen=True)
class Noise:
    """A single-seed noise level and where it was measured."""

    db: float
    source: str


def noise_level(endpoints: pd.DataFrame, group: Sequence[str], value: str = "endpoint") -> Optional[Noise]:
    """1.96 x sqrt(2) x the pooled within-config SD of `value` over seeds (configs: rows equal in `group`).

    None when no config has two seeds. The level is what a difference of two single-seed runs of equal
    models exceeds 5% of the time (normal approximation).
    """
    rows = endpoints.dropna(subset=[value])
    ss, dof, names = 0.0, 0, []
    for key, part in rows.groupby(list(group), dropna=False):
        if len(part) >= 2:
            ss += float(((part[value] - part[value].mean()) ** 2).sum())
            dof += len(part) - 1
            names.append(" ".join(str(k) for k in (key if isinstance(key, tuple) else (key,))))
    if dof == 0:
        return None
    sd = math.sqrt(ss / dof)
    return Noise(1.96 * math.sqrt(2) * sd, f"pooled seed SD {sd:.3f} dB over {len(names)} configs "
                                           f"({'; '.join(names)}), {dof} degrees of freedom")


# --- verdicts ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judgement:
    """A verdict with everything it rests on (the fields of `results/claims/*.json`)."""

    verdict: str
    n_seeds: int
    mean_db: Optional[float]
    ci_low_db: Optional[float]
    ci_high_db: Optional[float]
    converged: bool
    noise_db: Optional[float]
    test: str
    margin_db: float
    level: float = LEVEL
    parts: tuple[dict, ...] = field(default_factory=tuple)
    n_images: Optional[int] = None  # images the interval covers (None: seeds only)
    p_value: Optional[float] = None  # two-sided p of H0: difference = the test's bound (0 or -margin)
    covers: str = "seeds"  # which variation the interval covers ("seeds and images", "images only (one seed)")
    needs_convergence: bool = True  # False for a part that reads the curve itself ("faster", jitter)
    per_image: tuple[dict, ...] = field(default_factory=tuple)  # `per_image` rows of the difference

    def fields(self) -> dict[str, Any]:
        def num(x: Optional[float], digits: int = 6) -> Optional[float]:  # 6: the 3 shown never round twice
            return None if x is None or not math.isfinite(x) else round(float(x), digits)
        out = {"verdict": self.verdict, "n_seeds": self.n_seeds, "mean_db": num(self.mean_db),
               "ci_low_db": num(self.ci_low_db), "ci_high_db": num(self.ci_high_db),
               "converged": self.converged, "noise_db": num(self.noise_db), "test": self.test,
               "margin_db": self.margin_db, "ci_level": self.level, "p_value": num(self.p_value, 6),
               "ci_covers": self.covers, "needs_convergence": self.needs_convergence}
        if self.n_images is not None:
            out.update({"n_images": self.n_images,
                        "per_image": [{k: (num(v) if isinstance(v, float) else v) for k, v in row.items()}
                                      for row in self.per_image]})
        return out


def _decide(diff: "Difference | Crossed", test: str, margin: float, noise: Optional[Noise]) -> str:
    if diff.n == 0 or not math.isfinite(diff.mean):
        return INCONCLUSIVE
    bound = 0.0 if test == SUPERIORITY else -margin
    if isinstance(diff, Crossed):  # one seed over many images still has an interval, over images only
        if not math.isfinite(diff.low):
            return INCONCLUSIVE
        if diff.n_seeds < 2 and (noise is None or abs(diff.mean - bound) <= noise.db):
            return INCONCLUSIVE  # rule 5: one seed decides only beyond the measured single-seed noise
    elif diff.n == 1:
        if noise is None:
            return INCONCLUSIVE
        if diff.mean - bound > noise.db:
            return REPRODUCED
        return NOT_REPRODUCED if diff.mean - bound < -noise.db else INCONCLUSIVE
    if diff.low > bound:
        return REPRODUCED
    return NOT_REPRODUCED if diff.high < bound else INCONCLUSIVE


def judge(diff: "Difference | Crossed", *, test: str = SUPERIORITY, margin: float = 0.0, converged: bool = True,
          noise: Optional[Noise] = None, needs_convergence: bool = True,
          cells: Optional[pd.DataFrame] = None) -> Judgement:
    """Rules 2-5 for one paired difference: over seeds (`Difference`) or over seeds x images (`Crossed`, with
    its p-value and, given the `cells`, the per-image table). A part that reads the curve itself
    (`needs_convergence=False`: "faster", jitter) is decided whatever the gate says."""
    if test not in (SUPERIORITY, NON_INFERIORITY):
        raise ValueError(f"test must be {SUPERIORITY!r} or {NON_INFERIORITY!r}; got {test!r}.")
    margin = margin if test == NON_INFERIORITY else 0.0
    v = _decide(diff, test, margin, noise)
    if not needs_convergence:
        converged = True
    if not converged and diff.n > 0:
        v = NOT_CONVERGED
    bound = 0.0 if test == SUPERIORITY else -margin
    if isinstance(diff, Crossed):
        rows = tuple(per_image(cells).to_dict("records")) if cells is not None else ()
        return Judgement(v, diff.n_seeds, diff.mean if diff.n else None,
                         diff.low if math.isfinite(diff.low) else None,
                         diff.high if math.isfinite(diff.high) else None, converged and diff.n > 0,
                         noise.db if noise is not None and diff.n_seeds == 1 else None, test,
                         margin, diff.level, (), diff.n_images, diff.p_value(bound), diff.covers, needs_convergence,
                         rows)
    return Judgement(v, diff.n, diff.mean if diff.n else None, diff.low, diff.high, converged and diff.n > 0,
                     noise.db if noise is not None and diff.n == 1 else None, test, margin, diff.level,
                     p_value=_difference_p(diff, bound), needs_convergence=needs_convergence)


def _difference_p(diff: Difference, bound: float) -> Optional[float]:
    """Two-sided p of H0: mean = `bound` for a seed-level t-interval (None without one)."""
    if diff.n < 2 or diff.low is None or diff.high == diff.mean:
        return None
    se = (diff.high - diff.mean) / stats.t.ppf(0.5 + diff.level / 2, diff.n - 1)
    return float(2 * stats.t.sf(abs(diff.mean - bound) / se, diff.n - 1)) if se > 0 else None


def combine(judgements: Sequence[Judgement]) -> str:
    """Several required parts: all reproduced -> reproduced; any not reproduced -> not reproduced; any not
    converged -> inconclusive (not converged); else inconclusive."""
    vs = [j.verdict for j in judgements]
    if vs and all(v == REPRODUCED for v in vs):
        return REPRODUCED
    if NOT_REPRODUCED in vs:
        return NOT_REPRODUCED
    return NOT_CONVERGED if NOT_CONVERGED in vs else INCONCLUSIVE


# --- reading frames ---------------------------------------------------------------------------------------

def final_score(final: pd.DataFrame) -> str:
    """The column an arm's own PSNR is shown in (claims' texts, figures of final scores): `psnr`, the final model on
    every test image, whole (what the paired differences are taken of), or the validation `endpoint` where no run
    of the frame has it (a store without final test scores)."""
    return "psnr" if "psnr" in final and final["psnr"].notna().any() else "endpoint"


def by_seed(final: pd.DataFrame, metric: str = "endpoint", **where: Any) -> dict[int, float]:
    """{seed: metric} for the rows of `final` whose label columns equal `where` (mean if several)."""
    rows = rows_where(final, **where)
    if metric not in rows:
        return {}
    rows = rows.dropna(subset=[metric])
    return {int(s): float(v) for s, v in rows.groupby("seed")[metric].mean().items()}


def mean_of(final: pd.DataFrame, column: str, values: Sequence, metric: str = "endpoint") -> dict[int, float]:
    """{seed: mean `metric` over the fixed arms `column` in `values`} (only seeds that have every arm)."""
    rows = final[final[column].isin(list(values))].dropna(subset=[metric])
    out = {}
    for seed, part in rows.groupby("seed"):
        if part[column].nunique() == len(values):
            out[int(seed)] = float(part.groupby(column)[metric].mean().mean())
    return out


def gap_change(history: pd.DataFrame, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Late change (rule 2) of the seed-averaged validation gap curve a - b (labels select each arm)."""
    curves = history[history["metric"] == "val_psnr"]

    def arm(where: Mapping[str, Any]) -> pd.DataFrame:
        return rows_where(curves, **where).groupby(["seed", "iteration"])["value"].mean()

    gap = (arm(a) - arm(b)).dropna()
    if gap.empty:
        return float("nan")
    mean_gap = gap.groupby(level="iteration").mean()
    return late_change(mean_gap.index.to_numpy(float), mean_gap.to_numpy(float))


def seed_mean(values: Mapping[int, float]) -> float:
    return float(np.mean(list(values.values()))) if values else float("nan")


def fmt_mean(values: Mapping[int, float], unit: str = "dB") -> str:
    return f"{seed_mean(values):.3f} {unit}" if values else "n/a"


# --- seeds x images (the second edition's rules 3-4 and 7) -------------------------------------------------

@dataclass(frozen=True)
class Crossed:
    """A paired difference measured on every (seed, image) cell, with an interval covering both.

    The differences d[seed, image] follow a linear mixed model with crossed random effects,
    d = mu + s[seed] + i[image] + e (statsmodels `MixedLM`, REML): a reader asks whether the gap holds for
    another seed *and* another photograph, so both variations enter the standard error of mu. The t-interval
    uses Satterthwaite's degrees of freedom for the mean squares behind that error (exact for a complete
    seeds x images table; Satterthwaite 1946). With one seed the interval covers images only, with one image
    seeds only (`covers` says which).
    """

    mean: float
    se: float
    df: float
    low: float
    high: float
    n_seeds: int
    n_images: int
    var_seed: float
    var_image: float
    var_resid: float
    covers: str
    level: float = LEVEL

    def p_value(self, bound: float = 0.0) -> float:
        """Two-sided p of H0: mu = `bound` (t with `df` degrees of freedom); NaN without an interval."""
        if not (math.isfinite(self.se) and self.se > 0 and math.isfinite(self.df)):
            return float("nan")
        return float(2 * stats.t.sf(abs(self.mean - bound) / self.se, self.df))

    @property
    def n(self) -> int:
        return self.n_seeds

    def text(self, unit: str = "dB") -> str:
        if not math.isfinite(self.mean):
            return "no data"
        if not math.isfinite(self.low):
            return f"{self.mean:+.3f} {unit} ({self.n_seeds} seed, {self.n_images} image, no interval)"
        return (f"{self.mean:+.3f} {unit} ({self.level:.0%} CI {self.low:+.3f} to {self.high:+.3f} over "
                f"{self.covers}; {plural(self.n_seeds, 'seed')} x {self.n_images} images)")


def _t_interval(mean: float, se: float, df: float, level: float) -> tuple[float, float]:
    if not (math.isfinite(se) and df >= 1):
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return float(mean - half), float(mean + half)


def image_cells(images: Optional[pd.DataFrame], **where: Any) -> pd.Series:
    """The final per-image PSNR of the rows of `images` (`frames.image_frame`) selected by `where`, indexed
    (seed, image)."""
    if images is None or images.empty:
        return pd.Series(dtype=float)
    rows = rows_where(images, **where)
    return rows.groupby(["seed", "image"])["value"].mean()


def paired_cells(a: pd.Series, b: pd.Series) -> pd.DataFrame:
    """The paired cells a - b (seed, image, diff) where both have a value: what `crossed` reads."""
    d = (a - b).dropna()
    return d.rename("diff").reset_index() if len(d) else pd.DataFrame(columns=["seed", "image", "diff"])


def crossed(cells: pd.DataFrame, value: str = "diff", level: float = LEVEL) -> Crossed:
    """`Crossed` from a frame with columns seed, image and `value` (one row per cell)."""
    d = cells.dropna(subset=[value])
    d = d.groupby(["seed", "image"], as_index=False)[value].mean()
    ns, ni, n = d["seed"].nunique(), d["image"].nunique(), len(d)
    nan = float("nan")
    if n == 0:
        return Crossed(nan, nan, nan, nan, nan, 0, 0, nan, nan, nan, "nothing", level)
    if ns < 2 or ni < 2:  # one factor: a plain t over the other
        axis = "image" if ns < 2 else "seed"
        means = d.groupby(axis)[value].mean().to_numpy(float)
        k = means.size
        se = float(means.std(ddof=1) / math.sqrt(k)) if k > 1 else nan
        low, high = _t_interval(float(means.mean()), se, k - 1, level)
        var = float(means.var(ddof=1)) if k > 1 else nan
        return Crossed(float(means.mean()), se, float(k - 1) if k > 1 else nan, low, high, ns, ni,
                       var if axis == "seed" else nan, var if axis == "image" else nan, nan,
                       f"{axis}s only ({'one seed' if ns < 2 else 'one image'})", level)
    import statsmodels.api as sm  # startup: statsmodels takes a second to import; only the mixed model uses it

    frame = d.assign(_group=1, seed=d["seed"].astype(str), image=d["image"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (a variance of 0) warn; the estimate is still REML's
        model = sm.MixedLM.from_formula(f"Q('{value}') ~ 1", groups="_group", re_formula="0", data=frame,
                                        vc_formula={"seed": "0 + C(seed)", "image": "0 + C(image)"})
        fit = model.fit(reml=True)
    vc = dict(zip(model.exog_vc.names, np.asarray(fit.vcomp, dtype=float)))
    v_s, v_i, v_e = max(vc.get("seed", 0.0), 0.0), max(vc.get("image", 0.0), 0.0), float(fit.scale)
    mean, se = float(fit.fe_params.iloc[0]), float(fit.bse_fe.iloc[0])
    # Satterthwaite: Var(mean) = (MS_seed + MS_image - MS_resid) / (ns ni) in a complete table.
    ms_s, ms_i, ms_e = ni * v_s + v_e, ns * v_i + v_e, v_e
    num = (ms_s + ms_i - ms_e) ** 2
    den = ms_s ** 2 / (ns - 1) + ms_i ** 2 / (ni - 1) + ms_e ** 2 / ((ns - 1) * (ni - 1))
    df = float(max(1.0, num / den)) if den > 0 else float(min(ns, ni) - 1)
    low, high = _t_interval(mean, se, df, level)
    return Crossed(mean, se, df, low, high, ns, ni, v_s, v_i, v_e, "seeds and images", level)


def per_image(cells: pd.DataFrame, value: str = "diff") -> pd.DataFrame:
    """One row per image: the mean of `value` over seeds, the seeds and how many of them are above 0 (a reader
    sees whether one photograph carries a claim)."""
    d = cells.dropna(subset=[value])
    if d.empty:
        return pd.DataFrame(columns=["image", "mean_db", "seeds", "positive"])
    g = d.groupby("image")[value]
    out = pd.DataFrame({"mean_db": g.mean(), "seeds": g.size(), "positive": g.apply(lambda v: int((v > 0).sum()))})
    return out.reset_index().sort_values("mean_db", ascending=False, ignore_index=True)


def holm(pvalues: Mapping[str, float], alpha: float = 1 - LEVEL) -> dict[str, float]:
    """Holm-adjusted p-values (family-wise error `alpha` over the given tests; statsmodels `multipletests`).
    NaN p-values (tests without an interval) stay NaN and do not count in the family."""
    from statsmodels.stats.multitest import multipletests  # startup: statsmodels takes a second to import

    ids = [k for k, p in pvalues.items() if p is not None and math.isfinite(p)]
    out = {k: float("nan") for k in pvalues}
    if ids:
        adjusted = multipletests([pvalues[k] for k in ids], alpha=alpha, method="holm")[1]
        out.update({k: float(p) for k, p in zip(ids, adjusted)})
    return out


def holm_verdict(mean: Optional[float], bound: float, p_adjusted: float, converged: bool,
                 alpha: float = 1 - LEVEL) -> str:
    """The verdict after Holm: reproduced / not reproduced when the adjusted p is below `alpha` (on the side of
    `bound` the mean lies), else inconclusive; an unconverged claim stays "not converged"."""
    if mean is None or not math.isfinite(p_adjusted):
        return INCONCLUSIVE
    if p_adjusted >= alpha:
        return INCONCLUSIVE if converged else NOT_CONVERGED
    if not converged:
        return NOT_CONVERGED
    return REPRODUCED if mean > bound else NOT_REPRODUCED


# --- the one-sided convergence gate and its measured false-alarm rate --------------------------------------

def late_rise_se(sd: float, iterations: Sequence[float], window: float = WINDOW) -> float:
    """Standard error of `late_change` for a flat curve with white noise of SD `sd` at these validation
    iterations (the least-squares slope's error times the window's length)."""
    it = np.asarray(sorted(iterations), dtype=float)
    start = it.max() * (1 - window)
    x = it[it > start]
    if x.size < MIN_LATE_POINTS:
        return float("nan")
    return float(sd * (it.max() - start) / math.sqrt(((x - x.mean()) ** 2).sum()))


def late_residual_sd(iterations: Sequence[float], values: Sequence[float], window: float = WINDOW) -> tuple[float, int]:
    """(residual SD around the least-squares line of the last `window`, its degrees of freedom): the curve's noise
    where the gate reads it."""
    it, v = np.asarray(iterations, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(it) & np.isfinite(v)
    it, v = it[ok], v[ok]
    if it.size == 0:
        return float("nan"), 0
    sel = it > it.max() * (1 - window)
    if sel.sum() < MIN_LATE_POINTS:
        return float("nan"), 0
    coef = np.polyfit(it[sel], v[sel], 1)
    resid = v[sel] - np.polyval(coef, it[sel])
    dof = int(sel.sum() - 2)
    return float(math.sqrt((resid ** 2).sum() / dof)), dof


def gate_false_alarm(sd: float, iterations: Sequence[float], tol: float = TOL_DB) -> float:
    """The chance that a truly flat curve with noise SD `sd`, validated at `iterations`, fails the one-sided
    gate (its estimated late rise reaches `tol`): 1 - Phi(tol / SE)."""
    se = late_rise_se(sd, iterations)
    return float(stats.norm.sf(tol / se)) if math.isfinite(se) and se > 0 else float("nan")
