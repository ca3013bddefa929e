"""`wdsr verify` and `wdsr rebuild`: retrain stored runs into a scratch store and compare every logged number.

The store claims that each record came from this code (docs/determinism.md): patches are a pure function of
(seed, iteration), the learning rate of the iteration, and everything else is seeded, so retraining a record's
config reproduces it. `verify_runs` retrains a sample of runs (each `init_from` source first, as the store did)
and compares every number the record logs - each history row (train_loss, val_psnr and its per-image columns,
lr, iteration) and every numeric summary field (psnr, psnr_y, ssim_y, bicubic_psnr, per-image metrics, params,
MACs, ...) - except wall-clock timings (`seconds`, `train_seconds`, `wall_seconds`, `segments`).

Tolerance: 0 by default, i.e. bitwise, which holds on the same CPU type with the same thread count (the run's
pinned `threads`, else torch's default). Elsewhere fp32 sums may round differently: another thread count splits
reductions differently; another CPU generation (AVX2 vs AVX-512, AMX) picks other oneDNN kernels; a GPU (cuDNN
algorithms, TF32) differs more. Runs recorded on CUDA are retrained on CUDA, CPU runs on the CPU. On another
machine pass `--tolerance` (e.g. 1e-3 dB) and read the largest difference printed per run.

`rebuild_run` is the same retrain for one run, followed by installing its `model.pt` (weights are not kept in
git) once the retrained numbers match the record.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

TIMINGS = frozenset({"seconds", "train_seconds", "wall_seconds", "segments"})
_PRECISION_OF_AUTOCAST = {"fp32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


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

    def ok(self, tolerance: float) -> bool:
        return self.compared > 0 and all(_within(a, b, tolerance) for _, a, b in self.differences)

    def line(self, tolerance: float) -> str:
        head = f"{'PASS' if self.ok(tolerance) else 'FAIL'}  {self.run}"
        if not self.differences:
            body = f"all {self.compared} logged numbers equal bitwise"
        else:
            what, a, b = next((d for d in self.differences if d[0] == self.largest_at), self.differences[0])
            body = (f"{len(self.differences)} of {self.compared} logged numbers differ; largest difference "
                    f"{self.largest:.3g} in {what} (stored {a!r}, retrained {b!r})")
        return f"{head}: {body} ({self.seconds:.1f} s{'; ' + self.note if self.note else ''})"


def _within(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= tolerance or (math.isnan(float(a)) and math.isnan(float(b)))
    return a == b


def _leaves(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every number in a summary, per-image lists keyed by their image name."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in TIMINGS:
                yield from _leaves(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            label = v.get("image", i) if isinstance(v, dict) else i
            yield from _leaves(v, f"{prefix}[{label}]")
    elif isinstance(obj, (int, float)) or obj is None:
        yield prefix, obj


def compare_records(stored_summary: dict, stored_history: list[dict], summary: dict, history: list[dict],
                    run: str = "") -> Comparison:
    """Every logged number of the stored record against the retrained one (stored-driven: each stored
    number must exist in the retrained record and be equal)."""
    out = Comparison(run)
    pairs: list[tuple[str, Any, Any]] = []
    if len(stored_history) != len(history):
        pairs.append(("history rows", len(stored_history), len(history)))
    for i, (row, new) in enumerate(zip(stored_history, history)):
        for k, v in row.items():
            if k not in TIMINGS:
                pairs.append((f"history[{int(row.get('iteration', i))}].{k}", v, new.get(k)))
    rebuilt = dict(_leaves(json.loads(json.dumps(summary, default=str)), "summary"))
    pairs += [(path, v, rebuilt.get(path)) for path, v in _leaves(stored_summary, "summary")]
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
    """(config.json record, summary, history) of a DONE run."""
    import csv

    from .store import StoreError

    if not (run_dir / "DONE").exists():
        raise StoreError(f"{run_dir.name} is not a finished run (no DONE in {run_dir}); only finished runs can be "
                         "verified or rebuilt.")
    try:
        record = json.loads((run_dir / "config.json").read_text())
        summary = json.loads((run_dir / "summary.json").read_text())
        with open(run_dir / "history.csv", newline="") as f:
            history = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    except (OSError, ValueError) as exc:
        raise StoreError(f"damaged run record {run_dir}: {exc}.") from exc
    return record, summary, history


def _config_of(record: dict, summary: dict):
    """The RunConfig that trained a record; records from before precision was pinned say "auto", which ran as
    the autocast their summary names."""
    from .config import PRECISIONS, RunConfig

    d = json.loads(json.dumps(record["config"]))
    if d["train"].get("precision") not in PRECISIONS:
        d["train"]["precision"] = _PRECISION_OF_AUTOCAST.get(summary.get("autocast", "fp32"), "fp32")
    return RunConfig.from_dict(d)


def find_run(name: str, results_dir: Optional[os.PathLike] = None) -> Path:
    """A run directory from its path or its name in the store."""
    from .store import runs_dir

    path = Path(name)
    if not (path / "config.json").exists():
        path = runs_dir(results_dir) / name
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"no run {name!r} in {runs_dir(results_dir)} (no config.json); list the stored "
                                f"runs with `ls {runs_dir(results_dir)}`.")
    return path


def _dependencies(run_dir: Path) -> list[Path]:
    """`run_dir`'s init_from chain, sources first, then the run itself."""
    chain = [run_dir]
    while True:
        source = json.loads((chain[0] / "config.json").read_text())["config"]["train"].get("init_from")
        if not source:
            return chain
        src = chain[0].parent / source
        if not (src / "DONE").exists():
            raise FileNotFoundError(f"{chain[0].name} starts from {source}, which is not a finished run in "
                                    f"{chain[0].parent}; it cannot be retrained without it.")
        chain.insert(0, src)


def _all_runs(profile: str) -> list:
    """Every run the profile's notebooks plan (`plans.all_runs`; in `study` before that module was split)."""
    try:
        from .plans import all_runs
    except ImportError:
        from .study import all_runs
    return all_runs(profile)


def select_runs(results_dir: Optional[os.PathLike] = None, *, runs: Optional[int] = 2, names: tuple = (),
                profile: Optional[str] = None) -> list[Path]:
    """The runs to verify: `names`, else the `runs` cheapest DONE runs (counting their init_from sources'
    training time), of `profile` if given; `runs=None` selects all."""
    from .store import runs_dir

    if names:
        return [find_run(n, results_dir) for n in names]
    done = sorted(p.parent for p in runs_dir(results_dir).glob("*/DONE"))
    if profile is not None:
        keys = {cfg.key() for cfg in _all_runs(profile)}
        done = [d for d in done if _config_of(*_stored(d)[:2]).key() in keys]
        if not done:
            raise ValueError(f"the store {runs_dir(results_dir)} holds no finished run of profile {profile!r}.")
    if not done:
        raise ValueError(f"the store {runs_dir(results_dir)} holds no finished run to verify.")

    def cost(run: Path) -> float:
        summaries = [_stored(d)[1] for d in _dependencies(run)]  # wall time: training plus its validations
        return sum(float(s.get("wall_seconds") or s.get("train_seconds") or 0) for s in summaries)

    ordered = sorted(done, key=lambda d: (cost(d), d.name))
    return ordered if runs is None else ordered[:runs]


# --- retraining ----------------------------------------------------------------------------------------------

@contextmanager
def _device_of(summary: dict) -> Iterator[None]:
    """Train where the record was trained: its device type (WDSR_DEVICE), so a GPU machine retrains CPU runs on
    its CPU."""
    device = str(summary.get("device", "cpu"))
    saved = os.environ.get("WDSR_DEVICE")
    os.environ["WDSR_DEVICE"] = "cuda" if device.startswith("cuda") else device
    try:
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("the run was trained on CUDA; retrain it on a machine with a GPU.")
        yield
    finally:
        if saved is None:
            os.environ.pop("WDSR_DEVICE", None)
        else:
            os.environ["WDSR_DEVICE"] = saved


def retrain(run_dir: Path, scratch_runs: Path, log: Callable[[str], None] = print) -> dict[str, Comparison]:
    """Retrain `run_dir` (and its init_from sources, first) into `scratch_runs/<same names>`; compare each.

    Returns {run name: Comparison}; the retrained weights are in `scratch_runs/<name>/model.pt`.
    """
    from .config import CODE_VERSION
    from .engine.train import train

    results: dict[str, Comparison] = {}
    for run in _dependencies(run_dir):
        target = scratch_runs / run.name
        if (target / "model.pt").exists():
            continue  # a source another selected run already retrained
        record, summary, history = _stored(run)
        cfg = _config_of(record, summary)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "config.json", target / "config.json")  # init_from reads its source's config
        t0 = time.time()
        with _device_of(summary):
            new = train(cfg, target, progress=False, log=lambda _msg: None)
        comparison = compare_records(summary, history, new, new.get("history", []), run.name)
        comparison.seconds = time.time() - t0
        if record.get("code_version") != CODE_VERSION:
            comparison.note = f"recorded by code version {record.get('code_version')}, retrained with {CODE_VERSION}"
        results[run.name] = comparison
    return results


@contextmanager
def scratch_store(keep: Optional[os.PathLike] = None) -> Iterator[Path]:
    """A scratch `runs/` folder, removed afterwards unless `keep` names one to use."""
    if keep is not None:
        path = Path(keep) / "runs"
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    root = Path(tempfile.mkdtemp(prefix="wdsr-verify-"))
    try:
        yield root / "runs"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _machine() -> str:
    import platform

    import torch

    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def verify_runs(selected: list[Path], *, tolerance: float = 0.0, scratch: Optional[os.PathLike] = None,
                log: Callable[[str], None] = print) -> bool:
    """Retrain `selected` into a scratch store, print one line per run (sources included), return all-match."""
    log(f"verifying {len(selected)} run(s) by retraining them into a scratch store on {_machine()}; "
        f"tolerance {tolerance:g} ({'bitwise' if tolerance == 0 else 'absolute'}), timings excluded")
    results: dict[str, Comparison] = {}
    with scratch_store(scratch) as runs:
        for run_dir in selected:
            for name, comparison in retrain(run_dir, runs).items():
                results[name] = comparison
                log(comparison.line(tolerance))
    good = all(c.ok(tolerance) for c in results.values())
    log(f"{'all' if good else 'NOT all'} {len(results)} retrained run(s) match their records"
        + ("" if good else " (see docs/determinism.md for what may differ on another machine)"))
    return good


def rebuild_run(name: str, results_dir: Optional[os.PathLike] = None, *, tolerance: float = 0.0,
                force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Retrain a stored run (checked against its record) and install its `model.pt`; returns the path.

    Raises:
        ValueError: the retrained numbers differ from the record by more than `tolerance` (nothing installed).
    """
    run_dir = find_run(name, results_dir)
    _stored(run_dir)
    if (run_dir / "model.pt").exists() and not force:
        log(f"{run_dir.name} has its weights already ({run_dir / 'model.pt'}); pass --force to rebuild them.")
        return run_dir / "model.pt"
    log(f"rebuilding {run_dir.name} by retraining it on {_machine()} (then checking it against its record)")
    with scratch_store() as runs:
        results = retrain(run_dir, runs)
        for comparison in results.values():
            log(comparison.line(tolerance))
        bad = [c for c in results.values() if not c.ok(tolerance)]
        if bad:
            raise ValueError(f"the retrained {bad[0].run} differs from its record (largest difference "
                             f"{bad[0].largest:.3g} in {bad[0].largest_at}), so no weights were installed; "
                             "on another machine pass a --tolerance (docs/determinism.md).")
        for run in results:  # the run and any init_from source that lacked weights
            dest = run_dir.parent / run / "model.pt"
            if run == run_dir.name or not dest.exists():
                _install(runs / run / "model.pt", dest)
                log(f"installed {dest}")
    return run_dir / "model.pt"


def _install(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` atomically (temp file in the target folder, then rename)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# --- the command line ----------------------------------------------------------------------------------------

def add_commands(sub, common) -> None:
    """`wdsr verify` and `wdsr rebuild` on the `wdsr` subparsers (cli.build_parser)."""
    p = sub.add_parser("verify", parents=[common],
                       help="retrain stored runs into a scratch store and compare every logged number")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--runs", type=int, default=2, metavar="N", help="the N cheapest stored runs (default 2)")
    which.add_argument("--all", action="store_true", help="every finished run in the store")
    which.add_argument("--run", action="append", default=[], metavar="NAME", help="this run (repeatable)")
    p.add_argument("--profile", default=None, help="only runs of this profile's plans")
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--tolerance", type=float, default=0.0,
                   help="largest absolute difference accepted (default 0: bitwise; see docs/determinism.md)")
    p.add_argument("--scratch", default=None, metavar="DIR", help="keep the retrained runs under DIR/runs")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("rebuild", parents=[common],
                       help="retrain a stored run, check it against its record, install its model.pt")
    p.add_argument("run", help="a run name in --results-dir, or a run directory")
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--tolerance", type=float, default=0.0, help="as for `wdsr verify` (default 0: bitwise)")
    p.add_argument("--force", action="store_true", help="rebuild even if model.pt exists")
    p.set_defaults(func=_cmd_rebuild)


def _cmd_verify(args) -> int:
    if args.runs is not None and args.runs < 1:
        raise ValueError(f"--runs must be at least 1; got {args.runs}.")
    if not args.tolerance >= 0:
        raise ValueError(f"--tolerance must be >= 0; got {args.tolerance}.")
    selected = select_runs(args.results_dir, runs=None if args.all else args.runs, names=tuple(args.run),
                           profile=args.profile)
    return 0 if verify_runs(selected, tolerance=args.tolerance, scratch=args.scratch) else 1


def _cmd_rebuild(args) -> int:
    if not args.tolerance >= 0:
        raise ValueError(f"--tolerance must be >= 0; got {args.tolerance}.")
    rebuild_run(args.run, args.results_dir, tolerance=args.tolerance, force=args.force)
    return 0
