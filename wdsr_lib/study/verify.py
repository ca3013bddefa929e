"""`wdsr verify` and `wdsr rebuild`: retrain stored runs into a scratch store and check them against their records.

The store claims that each record came from this code (docs/determinism.md): patches are a pure function of
(seed, iteration), the learning rate of the iteration, and everything else is seeded, so retraining a record's
config reproduces it. `verify_runs` retrains a sample of runs (each `init_from` source first, as the store did)
and checks it at one of two levels, chosen per run and named in the output:

* **bitwise** where the record's computation fingerprint (summary `fingerprint`: CPU model, the capability torch
  dispatches to, torch / oneDNN / MKL versions, threads, GPU fields) equals this machine's: every number the
  record logs - each history row and every numeric summary field, except wall-clock timings - must be equal
  (tolerance 0 unless `--tolerance` is given), and the record must hold every field the retrained record has;
* **statistical** where the fingerprints differ (or the record has none): fp32 sums round in another order, and
  at the study's learning rates those bits grow into a seed-sized difference, so the retrained run is judged as
  one more seed. Its final PSNR and its last validation PSNR, and the record's own, must lie inside the 99%
  prediction interval for one new seed from the other stored seeds of the same arm (same config but the seed):
  mean +- t(0.995, n-1) sd sqrt(1 + 1/n). The pooled seed SD of the store's multi-seed arms of the same data
  source, iterations and scale replaces the arm's own SD where it has more degrees of freedom, and calibrates
  the band of an arm with fewer than two other seeds. The record under test is left out of its own band, so an
  edited record cannot widen the band that judges it.

Both levels also **re-score the record's own weights** where its `model.pt` is present (with its digest): the
final evaluation of those weights on this machine must give the record's final PSNRs within
`RESCORE_TOLERANCE` dB. One forward pass rounds differently across CPUs by far less than that (no training
to amplify the bits), so this catches an edited record on any machine, where the seed-sized statistical band
cannot.

`verify_claim` retrains the runs one claim rests on (or its N cheapest seeds) and judges the claim again with
the retrained seeds in place of the stored ones: "verdict unchanged" is the pass.

`rebuild_run` is the same retrain for one run, followed by installing its `model.pt` (weights are not kept in
git) with its digest (`weights.sha256`) once the retrained run passes at its level.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from scipy import stats

from wdsr_lib.core import env
from wdsr_lib.core.config import CODE_VERSION
from wdsr_lib.engine import fingerprint as fp
from wdsr_lib.engine.train import final_evaluation, train
from wdsr_lib.models import build
from wdsr_lib.store.init_from import initialiser
from wdsr_lib.store.runs import (DamagedRecord, ForeignRecord, StoreError, _write_record, check_weights, config_of,
                                 find_run, is_done, load_record, run_dir_for, runs_dir, weights_rebuilt_elsewhere,
                                 write_weights_digest)
from wdsr_lib.study import claims, frames, plans, report
from wdsr_lib.study.profiles import PROFILES
from wdsr_lib.study.report import read_claims

TIMINGS = frozenset({"seconds", "train_seconds", "wall_seconds", "segments"})
NOT_COMPARED = TIMINGS | {"fingerprint", "history"}  # the fingerprint decides the level; history: its rows
LEVELS = ("auto", "bitwise", "statistical")
BAND_LEVEL = 0.99
RESCORE_TOLERANCE = 0.01  # dB: the record's final PSNRs against its weights re-scored here


@dataclass
class Band:
    """A 99% prediction interval for one new seed's value, and where it came from."""

    low: float
    high: float
    source: str

    def holds(self, value: Optional[float]) -> bool:
        return value is not None and math.isfinite(value) and self.low <= value <= self.high

    def text(self) -> str:
        return f"the {BAND_LEVEL:.0%} band {self.low:.2f}-{self.high:.2f} dB {self.source}"


@dataclass
class Comparison:
    """The outcome of retraining one stored run."""

    run: str
    compared: int = 0
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, stored, rebuilt)
    largest: float = 0.0
    largest_at: str = ""
    seconds: float = 0.0
    note: str = ""
    level: str = "bitwise"
    why: str = "fingerprints equal"  # why this level
    judged: Optional[bool] = None  # the statistical judgement (None at the bitwise level)
    reason: str = ""  # its one-line reason
    error: str = ""  # the record could not be checked at all (damaged, cyclic, ...)
    weights: str = ""  # the re-score of the record's own weights ("" where it has none)
    weights_ok: bool = True
    retrained: dict = field(default_factory=dict, repr=False)  # the retrained summary, with its history

    def missing(self) -> list[tuple[str, Any, Any]]:
        """Fields the retrained record has and the stored one lacks (a pruned record)."""
        return [d for d in self.differences if d[1] is None and d[2] is not None]

    def ok(self, tolerance: float) -> bool:
        if self.error or self.compared == 0 or self.missing() or not self.weights_ok:
            return False
        if self.level == "statistical":
            return bool(self.judged)
        return all(_within(a, b, tolerance) for _, a, b in self.differences)

    def line(self, tolerance: float) -> str:
        head = f"{'PASS' if self.ok(tolerance) else 'FAIL'}  {self.run}"
        if self.error:
            return f"{head}: {self.error}"
        statistical_miss = self.level == "statistical" and not self.weights_ok
        notes = "; ".join(n for n in ("" if statistical_miss else self.weights, self.note) if n)
        tail = f" ({self.seconds:.1f} s{'; ' + notes if notes else ''})"
        if statistical_miss:  # the record contradicts its own weights: that, not the seed band, is the finding
            return f"{head} (statistical: {self.why}) {self.weights}{tail}"
        if self.missing():
            what, _, b = self.missing()[0]
            return (f"{head}: the record lacks {len(self.missing())} field(s) the retrained run has, first {what} "
                    f"(retrained {b!r}): a pruned or incomplete record{tail}")
        if self.level == "statistical":
            return f"{head} (statistical: {self.why}) {self.reason}{tail}"
        if not self.differences:
            body = f"all {self.compared} logged numbers equal bitwise"
        else:
            what, a, b = next((d for d in self.differences if d[0] == self.largest_at), self.differences[0])
            body = (f"{len(self.differences)} of {self.compared} logged numbers differ; largest difference "
                    f"{self.largest:.3g} in {what} (stored {a!r}, retrained {b!r})")
        return f"{head} (bitwise: {self.why}): {body}{tail}"


def _within(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= tolerance or (math.isnan(float(a)) and math.isnan(float(b)))
    return a == b


def _leaves(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every number in a summary, per-image lists keyed by their image name."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in NOT_COMPARED:
                yield from _leaves(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            label = v.get("image", i) if isinstance(v, dict) else i
            yield from _leaves(v, f"{prefix}[{label}]")
    elif isinstance(obj, (int, float)) or obj is None:
        yield prefix, obj


def compare_records(stored_summary: dict, stored_history: list[dict], summary: dict, history: list[dict],
                    run: str = "") -> Comparison:
    """Every logged number of the stored record against the retrained one, both ways: each stored number must
    exist in the retrained record and be equal, and each number the retrained record logs must be in the stored
    one (a field missing from the record is a difference, `Comparison.missing`)."""
    out = Comparison(run)
    pairs: list[tuple[str, Any, Any]] = []
    if len(stored_history) != len(history):
        pairs.append(("history rows", len(stored_history), len(history)))
    for i, (row, new) in enumerate(zip(stored_history, history)):
        at = int(row.get("iteration", i))
        for k in dict.fromkeys([*row, *new]):
            if k not in TIMINGS:
                pairs.append((f"history[{at}].{k}", row.get(k), new.get(k)))
    rebuilt = dict(_leaves(json.loads(json.dumps(summary, default=str)), "summary"))
    stored = dict(_leaves(stored_summary, "summary"))
    pairs += [(path, v, rebuilt.get(path)) for path, v in stored.items()]
    pairs += [(path, None, v) for path, v in rebuilt.items() if path not in stored and v is not None]
    out.compared = len(pairs)
    for what, a, b in pairs:
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            continue
        out.differences.append((what, a, b))
        gap = abs(float(a) - float(b)) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else math.inf
        if gap >= out.largest:
            out.largest, out.largest_at = gap, what
    return out


# --- stored runs ---------------------------------------------------------------------------------------------

def _stored(run_dir: Path) -> tuple[dict, dict, list[dict]]:
    """(config.json record, summary, history) of a DONE run, checked (`store.load_record`: its identity, its
    required fields, a history with finite validations)."""
    if not (run_dir / "DONE").exists():
        raise StoreError(f"{run_dir.name} is not a finished run (no DONE in {run_dir}); only finished runs can be "
                         "verified or rebuilt.")
    rec = load_record(run_dir)
    return rec.record, rec.summary, rec.history


def _config_of(record: dict, summary: dict):
    """The RunConfig that trained a record (`store.config_of`)."""
    return config_of(record, summary)


def _dependencies(run_dir: Path) -> list[Path]:
    """`run_dir`'s init_from chain, sources first, then the run itself; a path or a cycle raises StoreError."""
    chain = [run_dir]
    while True:
        if (chain[0] / "DONE").exists():
            load_record(chain[0])  # the folder is the run its name says (a copied folder fails here, by name)
        try:
            source = json.loads((chain[0] / "config.json").read_text())["config"]["train"].get("init_from")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"damaged run record {chain[0]}: its config.json cannot be read ({exc}).") from exc
        if not source:
            return chain
        if "/" in source or "\\" in source or source in (".", ".."):
            raise StoreError(f"{chain[0].name} starts from {source!r}, a path: init_from must name a run of the "
                             "same store, so it cannot be retrained from this record.")
        if source in {p.name for p in chain}:
            cycle = " -> ".join([p.name for p in reversed(chain)] + [source])
            raise StoreError(f"{chain[0].name}'s init_from chain is a cycle ({cycle}): a run cannot start from "
                             "itself or from a run that starts from it, so this record cannot be retrained.")
        src = chain[0].parent / source
        if not (src / "DONE").exists():
            raise FileNotFoundError(f"{chain[0].name} starts from {source}, which is not a finished run in "
                                    f"{chain[0].parent}; it cannot be retrained without it.")
        chain.insert(0, src)


def _all_runs(profile: str) -> list:
    """Every run the profile's notebooks plan (`plans.all_runs`)."""
    return plans.all_runs(profile)


def select_runs(results_dir: Optional[os.PathLike] = None, *, runs: Optional[int] = 2, names: tuple = (),
                profile: Optional[str] = None) -> list[Path]:
    """The runs to verify: `names`, else the `runs` cheapest DONE runs (counting their init_from sources'
    training time) among those that keep their weights, then the others, of `profile` if given; `runs=None`
    selects all. Another version's folders are skipped."""
    if names:
        return [find_run(n, results_dir) for n in names]
    done = []
    for d in sorted(p.parent for p in runs_dir(results_dir).glob("*/DONE")):
        try:
            done.append((d, _config_of(*_stored(d)[:2])))
        except ForeignRecord as exc:
            warnings.warn(str(exc), stacklevel=2)
    if profile is not None:
        keys = {cfg.key() for cfg in _all_runs(profile)}
        done = [(d, c) for d, c in done if c.key() in keys]
        if not done:
            raise ValueError(f"the store {runs_dir(results_dir)} holds no finished run of profile {profile!r}.")
    if not done:
        raise ValueError(f"the store {runs_dir(results_dir)} holds no finished run to verify.")

    def cost(run: Path) -> float:
        summaries = [_stored(d)[1] for d in _dependencies(run)]  # wall time: training plus its validations
        return sum(float(s.get("wall_seconds") or s.get("train_seconds") or 0) for s in summaries)

    # Runs that keep their weights first: their records are also checked against their own weights, which an
    # edit cannot survive on any machine (`rescore`); then the cheapest.
    ordered = sorted((d for d, _ in done), key=lambda d: (not (d / "model.pt").is_file(), cost(d), d.name))
    return ordered if runs is None else ordered[:runs]


# --- the statistical level -----------------------------------------------------------------------------------

def _arm(cfg) -> str:
    """The key of a run's arm: its config with the seed set to 0."""
    return replace(cfg, train=replace(cfg.train, seed=0)).key()


def _group(cfg) -> tuple:
    """Arms whose seed noise calibrates each other: the same data source, iterations and scale."""
    return (cfg.data.source, cfg.train.iterations, cfg.model.scale)


def _endpoints(runs: Path) -> list[dict]:
    """Every readable DONE run of a store: name, arm, group, final PSNR and last validation PSNR."""
    out = []
    for done in sorted(runs.glob("*/DONE")):
        try:
            rec = load_record(done.parent)
        except StoreError:
            continue  # a damaged or foreign record is reported where it is verified, not used as a sibling
        last = [h["val_psnr"] for h in rec.history if math.isfinite(h.get("val_psnr", math.nan))]
        out.append({"run": rec.name, "arm": _arm(rec.config), "group": _group(rec.config),
                    "psnr": float(rec.summary["psnr"]), "val_psnr": last[-1] if last else math.nan})
    return out


def _pooled_sd(rows: list[dict], value: str) -> Optional[tuple[float, int, int]]:
    """(pooled within-arm SD, its degrees of freedom, arms) over the arms with two or more seeds."""
    arms: dict[str, list[float]] = {}
    for r in rows:
        if math.isfinite(r[value]):
            arms.setdefault(r["arm"], []).append(r[value])
    ss = sum(sum((v - statistics.fmean(vs)) ** 2 for v in vs) for vs in arms.values() if len(vs) >= 2)
    dof = sum(len(vs) - 1 for vs in arms.values() if len(vs) >= 2)
    if dof == 0:
        return None
    return math.sqrt(ss / dof), dof, sum(1 for vs in arms.values() if len(vs) >= 2)


def prediction_band(others: list[float], pooled: Optional[tuple[float, int, int]] = None,
                    centre: Optional[float] = None) -> Optional[Band]:
    """The 99% prediction interval for one new seed: mean +- t(0.995, n-1) sd sqrt(1 + 1/n) of `others` (two
    or more); the pooled seed SD (`pooled`: sd, df, arms) replaces sd and n-1 where it has more degrees of
    freedom (an arm of 3 seeds alone has t(0.995, 1) = 64); with fewer than two others, the pooled SD around
    the one other seed or else `centre`, half-width t(0.995, df) sd sqrt(2)."""
    q = 1 - (1 - BAND_LEVEL) / 2
    n = len(others)
    if n >= 2:
        mean = statistics.fmean(others)
        if pooled is not None and pooled[1] > n - 1:  # more degrees of freedom: the pooled seed SD, same centre
            sd, dof, arms = pooled
            half = stats.t.ppf(q, dof) * sd * math.sqrt(1 + 1 / n)
            return Band(mean - half, mean + half, f"from {n} other stored seeds (pooled seed SD {sd:.3f} dB over "
                                                  f"{arms} multi-seed arm(s) of the store, {dof} df)")
        half = stats.t.ppf(q, n - 1) * statistics.stdev(others) * math.sqrt(1 + 1 / n)
        return Band(mean - half, mean + half, f"from {n} other stored seeds")
    if pooled is None or (n == 0 and centre is None):
        return None
    sd, dof, arms = pooled
    half = stats.t.ppf(q, dof) * sd * math.sqrt(2)
    mid = others[0] if n == 1 else float(centre)
    where = "1 other stored seed" if n == 1 else "the retrained run (no other stored seed)"
    return Band(mid - half, mid + half, f"around {where}, from the pooled seed SD {sd:.3f} dB of {arms} "
                                        f"multi-seed arm(s) of the store")


def judge_statistically(comparison: Comparison, run_dir: Path, cfg, stored: dict, stored_history: list[dict],
                        new: dict, history: list[dict], everyone: Optional[list[dict]] = None) -> None:
    """Fill in `comparison.judged` / `.reason`: the retrained run and the record both inside the band."""
    everyone = _endpoints(run_dir.parent) if everyone is None else everyone
    arm, group = _arm(cfg), _group(cfg)
    peers = [r for r in everyone if r["run"] != run_dir.name and r["group"] == group]
    exact = [("history rows", len(stored_history), len(history))]
    exact += [(f"summary.{k}", stored.get(k), new.get(k)) for k in ("params", "macs_per_lr_pixel", "iteration")]
    wrong = [(w, a, b) for w, a, b in exact if a != b]
    if wrong:
        what, a, b = wrong[0]
        comparison.judged, comparison.reason = False, (f"{what} differs (stored {a!r}, retrained {b!r}): not the "
                                                       "same computation, whatever the machine")
        return
    parts, good = [], True
    for label, value, retrained, recorded in (
            ("final PSNR", "psnr", new.get("psnr"), stored.get("psnr")),
            ("last validation PSNR", "val_psnr", _last(history), _last(stored_history))):
        others = [r[value] for r in peers if r["arm"] == arm and math.isfinite(r[value])]
        band = prediction_band(others, _pooled_sd(peers, value), retrained)
        if band is None:
            comparison.judged, comparison.reason = False, (
                f"cannot judge the {label}: the store holds no other seed of this arm and no multi-seed arm to "
                "calibrate the seed noise; verify it on a machine with the recording fingerprint (bitwise)")
            return
        if not band.holds(retrained):
            good = False
            parts.append(f"{label} retrained {_db(retrained)} is outside {band.text()}: this machine's run does not "
                         f"reproduce the arm (record {_db(recorded)})")
        elif not band.holds(recorded):
            good = False
            parts.append(f"{label} of the record {_db(recorded)} is outside {band.text()}: the record does not "
                         f"look like a run of this config (retrained {_db(retrained)})")
        else:
            parts.append(f"{label} {_db(retrained)} (record {_db(recorded)}) inside {band.text()}")
    comparison.judged, comparison.reason = good, "; ".join(parts)


def rescore(run_dir: Path, cfg, stored: dict) -> Optional[tuple[bool, str]]:
    """Score the record's own `model.pt` again (its final evaluation, on this machine) and compare the final
    PSNRs with the record's: (ok, one-line reason), or None where the record keeps no weights."""
    if not check_weights(run_dir):  # DamagedRecord (a StoreError) for empty or foreign weights
        return None
    elsewhere = weights_rebuilt_elsewhere(run_dir)
    if elsewhere:
        return True, f"its weights were rebuilt on another machine ({elsewhere}), so they are not re-scored"
    model = build(cfg.model)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True))
    again = final_evaluation(model.eval(), cfg, torch.device("cpu"))
    pairs = [("psnr", stored.get("psnr"), again["psnr"])]
    pairs += [(f"psnr:{b['image']}", a.get("psnr"), b["psnr"])
              for a, b in zip(stored.get("per_image") or [], again["per_image"])]
    what, a, b = max(pairs, key=lambda p: math.inf if p[1] is None else abs(p[1] - p[2]))
    gap = math.inf if a is None else abs(a - b)
    if gap <= RESCORE_TOLERANCE:
        return True, (f"its weights re-scored here give its final PSNRs within {RESCORE_TOLERANCE} dB "
                      f"(largest gap {gap:.1e} dB)")
    return False, (f"its weights re-scored here give {what} {_db(b)}, the record says {_db(a)}: the record's "
                   f"numbers are not its weights' (tolerance {RESCORE_TOLERANCE} dB)")


def _last(history: list[dict]) -> Optional[float]:
    values = [h["val_psnr"] for h in history if math.isfinite(h.get("val_psnr", math.nan))]
    return values[-1] if values else None


def _db(value: Optional[float]) -> str:
    return "missing" if value is None else f"{value:.2f} dB"


def _fingerprint_gap(recorded: Optional[dict], here: Optional[dict]) -> str:
    """Why a retrained run is judged statistically: "" where the two fingerprints agree, else which fields
    differ (or that the record has none)."""
    if here is None:
        here = fp.fingerprint("cpu")
    if not recorded:
        return "the record has no fingerprint"
    gap = [d.split(":")[0] for d in fp.differences(recorded, here)]
    return f"fingerprints differ in {', '.join(gap)}" if gap else ""


# --- retraining ----------------------------------------------------------------------------------------------

@contextmanager
def _device_of(summary: dict) -> Iterator[None]:
    """Train where the record was trained: its device type (WDSR_DEVICE), so a GPU machine retrains CPU runs on
    its CPU. A $WDSR_DEVICE of the same type is kept (`cuda:1`: that GPU); one of another type cannot apply to a
    retrain (its numbers would not be the record's), which one warning says instead of ignoring it silently."""
    device = str(summary.get("device", "cpu"))
    saved = os.environ.get("WDSR_DEVICE")
    wanted = "cuda" if device.startswith("cuda") else device
    if saved and saved.split(":")[0] == wanted.split(":")[0]:
        wanted = saved
    elif saved:
        warnings.warn(f"$WDSR_DEVICE ({saved}) does not apply here: a record is retrained on the device type it was "
                      f"trained on ({wanted}), so that its numbers can match.", stacklevel=3)
    with env.overridden("WDSR_DEVICE", wanted):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("the run was trained on CUDA; retrain it on a machine with a GPU.")
        yield


def _say_if_compile_cannot_apply(cfg) -> None:
    """A $WDSR_COMPILE that differs from the record's own `TrainConfig.compile` cannot apply to its retrain (the
    record is retrained as it was trained, so that its numbers can match): one warning says so."""
    if os.environ.get("WDSR_COMPILE") and env.get_flag("WDSR_COMPILE") != cfg.train.compile:
        warnings.warn(f"$WDSR_COMPILE ({os.environ['WDSR_COMPILE']}) does not apply here: a record is retrained as "
                      "it was trained (its TrainConfig.compile, part of its run key), so that its numbers can "
                      "match.", stacklevel=3)


def retrain(run_dir: Path, scratch_runs: Path, log: Callable[[str], None] = print, *, level: str = "auto",
            retrained: Optional[set] = None, everyone: Optional[list[dict]] = None,
            rescore_weights: bool = True) -> dict[str, Comparison]:
    """Retrain `run_dir` (and its init_from sources, first) into `scratch_runs/<same names>`; compare each at
    its level (`level`="auto": bitwise where the fingerprints agree, else statistical).

    `retrained`: names this call has already retrained into `scratch_runs` (skipped); any other folder already
    there is refused (a scratch store is never reused). `rescore_weights`: also re-score each record's own
    `model.pt` (off for `rebuild`, which replaces it). Returns {run name: Comparison}; the retrained weights
    are in `scratch_runs/<name>/model.pt`.
    """
    retrained = set() if retrained is None else retrained
    results: dict[str, Comparison] = {}
    for run in _dependencies(run_dir):
        target = scratch_runs / run.name
        if run.name in retrained:
            continue  # a source another selected run already retrained
        if target.exists():
            raise StoreError(f"the scratch store already holds {target}: `wdsr verify` retrains into an empty "
                             "scratch folder, never over an earlier retrain; give a new --scratch folder.")
        record, summary, history = _stored(run)
        cfg = _config_of(record, summary)
        target.mkdir(parents=True)
        shutil.copyfile(run / "config.json", target / "config.json")  # init_from reads its source's config
        t0 = time.time()
        _say_if_compile_cannot_apply(cfg)
        with _device_of(summary):
            new = train(cfg, target, progress=False, log=lambda _msg: None, initialise=initialiser(cfg, target))
        retrained.add(run.name)
        new_history = new.get("history", [])
        comparison = compare_records(summary, history, new, new_history, run.name)
        comparison.retrained = new
        gap = _fingerprint_gap(summary.get("fingerprint"), new.get("fingerprint"))
        chosen = level if level != "auto" else ("statistical" if gap else "bitwise")
        comparison.level, comparison.why = chosen, gap or "fingerprints equal"
        if level != "auto":
            comparison.why = f"asked for; {comparison.why}"
        if chosen == "statistical":
            judge_statistically(comparison, run, cfg, summary, history, new, new_history, everyone)
        with _device_of(summary):
            scored = rescore(run, cfg, summary) if rescore_weights else None
        if scored is not None:
            comparison.weights_ok, comparison.weights = scored
        comparison.seconds = time.time() - t0
        if record.get("code_version") != CODE_VERSION:
            comparison.note = f"recorded by code version {record.get('code_version')}, retrained with {CODE_VERSION}"
        results[run.name] = comparison
    return results


@contextmanager
def scratch_store(keep: Optional[os.PathLike] = None, store: Optional[os.PathLike] = None) -> Iterator[Path]:
    """A fresh scratch `runs/` folder, removed afterwards unless `keep` names one to keep it in. `keep` must not
    be the store (`store`, its results folder) or inside it, and its `runs/` must be empty or absent."""
    if keep is not None:
        path = Path(keep) / "runs"
        real = Path(os.path.realpath(path))
        results = Path(os.path.realpath(runs_dir(store).parent))
        if real == results or real.is_relative_to(results) or results.is_relative_to(real):
            raise StoreError(f"--scratch {keep} is the store {results} (or inside it): verification retrains into "
                             "a separate scratch folder; give a new folder outside the store.")
        if path.exists() and any(path.iterdir()):
            raise StoreError(f"--scratch {keep} already holds retrained runs ({path}): a reused scratch folder "
                             "would be compared instead of a fresh retrain; give a new or empty folder.")
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    root = Path(tempfile.mkdtemp(prefix="wdsr-verify-"))
    try:
        yield root / "runs"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def check_tolerance(tolerance: float) -> None:
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"--tolerance must be a finite number >= 0; got {tolerance} (an infinite tolerance "
                         "would pass any record).")


def verify_runs(selected: list[Path], *, tolerance: float = 0.0, scratch: Optional[os.PathLike] = None,
                log: Callable[[str], None] = print, level: str = "auto",
                results_dir: Optional[os.PathLike] = None) -> bool:
    """Retrain `selected` into a scratch store, print one line per run (sources included), return all-pass.

    A record that cannot be checked (damaged, cyclic init_from, ...) is a FAIL with its sentence; no run
    verified is a failure, never a vacuous pass."""
    check_tolerance(tolerance)
    if level not in LEVELS:
        raise ValueError(f"--level must be one of {', '.join(LEVELS)}; got {level!r}.")
    log(f"verifying {len(selected)} run(s) by retraining them into a scratch store on {_machine()}; level "
        f"{'chosen per run (bitwise where the fingerprints match, else statistical)' if level == 'auto' else level}"
        f", tolerance {tolerance:g} at the bitwise level, timings excluded")
    results: dict[str, Comparison] = {}
    if results_dir is None and selected:
        results_dir = selected[0].parent.parent
    with scratch_store(scratch, results_dir) as runs:
        done: set = set()
        everyone: dict[Path, list[dict]] = {}
        for run_dir in selected:
            try:
                if run_dir.parent not in everyone:
                    everyone[run_dir.parent] = _endpoints(run_dir.parent)
                pool = everyone[run_dir.parent]
                for name, comparison in retrain(run_dir, runs, level=level, retrained=done, everyone=pool).items():
                    results[name] = comparison
                    log(comparison.line(tolerance))
            except (StoreError, FileNotFoundError) as exc:
                results[run_dir.name] = Comparison(run_dir.name, error=str(exc))
                log(results[run_dir.name].line(tolerance))
    good = bool(results) and all(c.ok(tolerance) for c in results.values())
    if not results:
        log("FAIL: 0 runs verified - nothing was retrained, so nothing is shown to reproduce.")
        return False
    passed = sum(c.ok(tolerance) for c in results.values())
    log(f"{'all' if good else 'NOT all'} {len(results)} retrained run(s) pass ({passed} of {len(results)})"
        + ("" if good else " (see docs/determinism.md for what may differ on another machine)"))
    return good


def rebuild_run(name: str, results_dir: Optional[os.PathLike] = None, *, tolerance: float = 0.0,
                force: bool = False, log: Callable[[str], None] = print, level: str = "auto") -> Path:
    """Retrain a stored run (checked against its record at its level) and install its `model.pt` and digest.

    Raises:
        ValueError: the retrained run fails its check (nothing installed).
    """
    check_tolerance(tolerance)
    run_dir = find_run(name, results_dir)
    _stored(run_dir)
    try:
        has = check_weights(run_dir)
    except DamagedRecord as exc:
        log(f"{exc} Rebuilding its weights.")
        has, force = False, True
    if has and not force:
        log(f"{run_dir.name} has its weights already ({run_dir / 'model.pt'}); pass --force to rebuild them.")
        return run_dir / "model.pt"
    log(f"rebuilding {run_dir.name} by retraining it on {_machine()} (then checking it against its record)")
    with scratch_store() as runs:
        results = retrain(run_dir, runs, level=level, rescore_weights=False)
        for comparison in results.values():
            log(comparison.line(tolerance))
        bad = [c for c in results.values() if not c.ok(tolerance)]
        if bad:
            c = bad[0]
            detail = (c.reason if c.level == "statistical" else
                      f"largest difference {c.largest:.3g} in {c.largest_at}")
            raise ValueError(f"the retrained {c.run} differs from its record ({detail}), so no weights were "
                             "installed; see docs/determinism.md.")
        for run in results:  # the run and any init_from source that lacked weights
            dest = run_dir.parent / run / "model.pt"
            if run == run_dir.name or not dest.exists():
                _install(runs / run / "model.pt", dest)
                c = results[run]
                write_weights_digest(dest.parent, "" if c.level == "bitwise" else f"statistical: {c.why}")
                log(f"installed {dest}" + ("" if c.level == "bitwise" else
                                           " (retrained here, not bitwise the record's: one more seed of the run)"))
    return run_dir / "model.pt"


def _install(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` atomically (temp file in the target folder, then rename)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# --- claims --------------------------------------------------------------------------------------------------

# What each claim verify --claim can re-judge rests on: its artefact, and the families of that artefact's plan.
CLAIM_RUNS = {cid: (claims.CLAIMS[cid].artefact, families)
              for cid, families in (("wdsr_a_beats_edsr", ("EDSR", "WDSR-A")),
                                    ("wdsr_b_matches_a", ("WDSR-A", "WDSR-B")))}
_PROFILE_ORDER = tuple(PROFILES)


def judge_table1(profile: str, results_dir: os.PathLike) -> dict[str, str]:
    """{claim id: verdict} of the Table 1 claims judged from the store at `results_dir`, as notebooks/01_table1
    judges them (store-only: nothing is trained)."""
    with env.overridden("WDSR_STORE_ONLY", "1"), contextlib.redirect_stdout(io.StringIO()):
        plan = frames.available(plans.table1(profile), results_dir)
        final = frames.final_frame(plan, results_dir)
        history = frames.history_frame(plan, results_dir)
        noise = frames.measure_noise(profile, results_dir, progress=False)
        images = frames.image_frame(plan, results_dir)
        found = claims.table1_claims(final, history, report.data_description(profile), noise,
                                    budgets=plans.table1_budgets(profile), images=images)
    return {c.id: c.verdict for c in found}


def claim_runs(claim_id: str, profile: str, results_dir: Optional[os.PathLike] = None,
               seeds: Optional[int] = None) -> tuple[list[Path], list[int]]:
    """The stored runs `claim_id` rests on in `profile` (of its `seeds` cheapest seeds, all when None) and the
    seeds chosen."""
    artefact, families = CLAIM_RUNS[claim_id]
    plan = [r for r in plans.table1(profile) if r.labels.get("family") in families and is_done(r.config, results_dir)]
    if not plan:
        raise ValueError(f"the store holds no finished run of claim {claim_id} in profile {profile!r}.")
    by_seed: dict[int, list[Path]] = {}
    for r in plan:
        by_seed.setdefault(r.config.train.seed, []).append(run_dir_for(r.config, results_dir))

    def cost(seed: int) -> float:
        return sum(float(_stored(d)[1].get("wall_seconds") or 0) for d in by_seed[seed])

    chosen = sorted(by_seed, key=lambda s: (cost(s), s))
    chosen = sorted(chosen if seeds is None else chosen[:seeds])
    return [d for s in chosen for d in by_seed[s]], chosen


def verify_claim(claim_id: str, results_dir: Optional[os.PathLike] = None, *, profile: Optional[str] = None,
                 seeds: Optional[int] = None, level: str = "auto", log: Callable[[str], None] = print) -> bool:
    """Retrain the runs a claim rests on (its `seeds` cheapest seeds), judge it again with them in place of the
    stored ones and report "verdict unchanged" (True) or the change (False). The cost is said first."""
    if claim_id not in CLAIM_RUNS:
        raise ValueError(f"`wdsr verify --claim` re-judges the Table 1 claims ({', '.join(CLAIM_RUNS)}); got "
                         f"{claim_id!r}. For the other claims verify their runs with `wdsr verify --run NAME`.")
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be at least 1; got {seeds}.")
    store = runs_dir(results_dir)
    if profile is None:
        have = {e.get("profile") for e in read_claims(store.parent) if e.get("id") == claim_id}
        options = [p for p in _PROFILE_ORDER if p in have] or ["quick"]
        profile = options[0]
        log(f"claim {claim_id}: profile {profile} (of {', '.join(options)}; choose with --profile)")
    selected, chosen = claim_runs(claim_id, profile, store.parent, seeds)
    before = judge_table1(profile, store.parent).get(claim_id, "absent")
    cost = sum(float(_stored(d)[1].get("wall_seconds") or 0) for d in selected)
    log(f"verify --claim {claim_id} ({profile}): retraining {len(selected)} run(s), seed(s) "
        f"{', '.join(map(str, chosen))}; estimated cost {cost / 60:.1f} min (their recorded wall time), then the "
        f"claim is judged again with the retrained seeds in place of the stored ones (stored verdict: {before})")
    work = Path(tempfile.mkdtemp(prefix="wdsr-verify-claim-"))
    try:
        copy = work / "results" / "runs"
        copy.mkdir(parents=True)
        for done in store.glob("*/DONE"):  # every record (not the weights): the noise seeds, the other arms
            (copy / done.parent.name).mkdir()
            for f in ("config.json", "summary.json", "history.csv", "DONE"):
                if (done.parent / f).exists():
                    shutil.copyfile(done.parent / f, copy / done.parent.name / f)
        results: dict[str, Comparison] = {}
        everyone = _endpoints(store)
        done_names: set = set()
        for run_dir in selected:
            results.update(retrain(run_dir, work / "scratch", level=level, retrained=done_names,
                                   everyone=everyone))
        for name, comparison in results.items():
            log(comparison.line(0.0))
            _write_record(copy / name, json.loads(json.dumps(comparison.retrained, default=str)))
        after = judge_table1(profile, copy.parent).get(claim_id, "absent")
    except StoreError as exc:
        log(f"FAIL  claim {claim_id}: {exc}")
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if after == before:
        log(f"PASS  claim {claim_id} ({profile}): verdict unchanged ({after}) with the retrained seed(s) "
            f"{', '.join(map(str, chosen))} in place of the stored ones")
        return True
    log(f"FAIL  claim {claim_id} ({profile}): verdict changed from {before!r} to {after!r} with the retrained "
        f"seed(s) {', '.join(map(str, chosen))}")
    return False


# --- the command line ----------------------------------------------------------------------------------------

def add_commands(sub, common) -> None:
    """`wdsr verify` and `wdsr rebuild` on the `wdsr` subparsers (cli.build_parser)."""
    p = sub.add_parser("verify", parents=[common],
                       help="retrain stored runs into a scratch store and compare every logged number")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--runs", type=int, default=2, metavar="N", help="the N cheapest stored runs (default 2)")
    which.add_argument("--all", action="store_true", help="every finished run in the store")
    which.add_argument("--run", action="append", default=[], metavar="NAME", help="this run (repeatable)")
    which.add_argument("--claim", default=None, metavar="ID",
                       help="retrain the runs a Table 1 claim rests on and judge it again (verdict unchanged: pass)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="with --claim: only its N cheapest seeds (default: all)")
    p.add_argument("--profile", default=None, help="only runs of this profile's plans (with --claim: its profile)")
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--level", choices=LEVELS, default="auto",
                   help="auto (default): bitwise where this machine's fingerprint equals the record's, else "
                        "statistical (docs/determinism.md)")
    p.add_argument("--tolerance", type=float, default=0.0,
                   help="largest absolute difference accepted at the bitwise level (default 0)")
    p.add_argument("--scratch", default=None, metavar="DIR",
                   help="keep the retrained runs under DIR/runs (a new or empty folder outside the store)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("rebuild", parents=[common],
                       help="retrain a stored run, check it against its record, install its model.pt")
    p.add_argument("run", help="a run name in --results-dir, or a run directory")
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--tolerance", type=float, default=0.0, help="as for `wdsr verify` (default 0: bitwise)")
    p.add_argument("--force", action="store_true", help="rebuild even if model.pt exists")
    p.set_defaults(func=_cmd_rebuild)


def _cmd_verify(args) -> int:
    check_tolerance(args.tolerance)
    if args.claim:
        return 0 if verify_claim(args.claim, args.results_dir, profile=args.profile, seeds=args.seeds,
                                 level=args.level) else 1
    if args.seeds is not None:
        raise ValueError("--seeds applies to --claim only; use --runs N for the N cheapest runs.")
    if args.runs is not None and args.runs < 1:
        raise ValueError(f"--runs must be at least 1; got {args.runs}.")
    if args.run and args.profile:
        raise ValueError("--profile selects runs and does not apply to --run NAME; give one or the other.")
    selected = select_runs(args.results_dir, runs=None if args.all else args.runs, names=tuple(args.run),
                           profile=args.profile)
    return 0 if verify_runs(selected, tolerance=args.tolerance, scratch=args.scratch, level=args.level,
                            results_dir=args.results_dir) else 1


def _cmd_rebuild(args) -> int:
    check_tolerance(args.tolerance)
    rebuild_run(args.run, args.results_dir, tolerance=args.tolerance, force=args.force)
    return 0
