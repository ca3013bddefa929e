"""The results store: one directory per run, keyed by the resolved config and the code version (docs/design.md).

    results/runs/<short-name>-<hash>/
        config.json    the whole resolved RunConfig (+ code version), written before training
        history.csv    iteration, train_loss, val_psnr, lr, seconds
        summary.json   final metrics, parameters, MACs, wall time, torch version, device
        model.pt       final weights (git-ignored)      checkpoints/  (git-ignored)
        DONE           written last: a run without it is unfinished and is resumed, never read as a result

Every file is written atomically (temp + rename). A per-run lock (`fcntl.flock`) lets any number of processes
call `load_or_train` on the same store at once: one trains, the others wait and then load its result.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from wdsr_lib.core import env
from wdsr_lib.core.atomic import atomic_write_text
from wdsr_lib.core.config import CODE_VERSION, PRECISIONS, RunConfig

HISTORY_FIELDS = ("iteration", "train_loss", "val_psnr", "lr", "seconds")


class StoreError(RuntimeError):
    """The store cannot be written (full disk, read-only directory) or holds a damaged record."""


@dataclass(frozen=True)
class RunRecord:
    """A finished run as stored: its directory, config, summary and history rows."""

    run_dir: Path
    config: RunConfig
    summary: dict[str, Any]
    history: list[dict[str, float]]
    trained: bool  # True when this call trained (or resumed) it, False when it was loaded
    record: dict[str, Any] = field(default_factory=dict)  # config.json as written (config, canonical, key, version)

    @property
    def name(self) -> str:
        return self.run_dir.name


def runs_dir(results_dir: Optional[os.PathLike] = None) -> Path:
    """`<results_dir>/runs`; without a `results_dir`, `$WDSR_RESULTS_DIR` or `results` (`wdsr_lib/core/env.py`)."""
    return Path(results_dir or env.get("WDSR_RESULTS_DIR")) / "runs"


def run_dir_for(cfg: RunConfig, results_dir: Optional[os.PathLike] = None) -> Path:
    return runs_dir(results_dir) / cfg.run_name()


def find_run(name: os.PathLike | str, results_dir: Optional[os.PathLike] = None, *, must_exist: bool = True) -> Path:
    """A run's directory from a path to it or its name in the store (`wdsr eval --run`, `wdsr verify NAME`,
    `wdsr rebuild NAME`); FileNotFoundError in one sentence when neither holds a config.json."""
    path = Path(name)
    if not (path / "config.json").exists():
        path = runs_dir(results_dir) / str(name)
    if must_exist and not (path / "config.json").exists():
        raise FileNotFoundError(f"no run at {name} (looked for {path}/config.json); give a run folder, or the name "
                                "of a run in --results-dir (`ls <results-dir>/runs` lists them).")
    return path


def is_done(cfg: RunConfig, results_dir: Optional[os.PathLike] = None) -> bool:
    return (run_dir_for(cfg, results_dir) / "DONE").exists()


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock (creating its folder); say once on stderr when another process holds it.

    The holder writes its pid into `.lock`. A holder whose run failed before its first checkpoint removes the
    folder (`_discard_if_empty`); a waiter then finds its lock file unlinked and starts over.
    """
    said = False
    while True:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / ".lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    handle.seek(0)
                    holder = handle.read().strip() or "?"
                    print(f"waiting: process {holder} is training {run_dir.name} (it holds {run_dir / '.lock'}); "
                          "this one continues when it finishes, and loads its result.", file=sys.stderr, flush=True)
                    said = True
                fcntl.flock(handle, fcntl.LOCK_EX)
            if os.fstat(handle.fileno()).st_nlink == 0:  # the holder failed and removed the empty run folder
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return
        finally:
            handle.close()


def _discard_if_empty(run_dir: Path) -> None:
    """Remove the folder of a run that failed before its first checkpoint (nothing in it is worth keeping)."""
    if (run_dir / "DONE").exists() or any((run_dir / "checkpoints").glob("ckpt-*.pt")):
        return
    for leftover in [run_dir / "config.json", run_dir / "model.pt", *(run_dir / "checkpoints").glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (run_dir / "checkpoints").rmdir()
    (run_dir / ".lock").unlink(missing_ok=True)  # still held: a waiter sees it unlinked and starts over
    with contextlib.suppress(OSError):
        run_dir.rmdir()


def _history_csv(rows: list[dict]) -> str:
    """The standard columns, then one `val_psnr:<image>` column per validation image (whole-image PSNR)."""
    extra = sorted({k for row in rows for k in row if k.startswith("val_psnr:")})
    fields = HISTORY_FIELDS + tuple(extra)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in fields})
    return buf.getvalue()


def _read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


class DamagedRecord(StoreError):
    """A run folder whose contents are not the record its name promises (swapped, pruned, emptied, edited)."""


class ForeignRecord(StoreError):
    """A run folder this code cannot read as a config (another version's fields): skipped with a warning."""


# The summary fields every finished record holds (a record without one of them is damaged, not "missing").
REQUIRED_SUMMARY = ("complete", "iteration", "psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params",
                    "macs_per_lr_pixel")
WEIGHTS_DIGEST = "weights.sha256"  # beside model.pt (git-ignored, like it): "<sha256>  <run name>"
_PRECISION_OF_AUTOCAST = {"fp32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_REBUILD = "move the folder away and retrain it (`wdsr reproduce` or `wdsr train`), or restore it from git " \
           "(`git checkout -- {path}`) and recreate its weights with `wdsr rebuild {name}`"


def _damaged(run_dir: Path, what: str) -> DamagedRecord:
    return DamagedRecord(f"damaged run record {run_dir}: {what}; "
                         + _REBUILD.format(path=run_dir, name=run_dir.name) + ".")


def config_of(record: dict, summary: Optional[dict] = None, run_dir: Optional[Path] = None) -> RunConfig:
    """The RunConfig of a config.json record; records from before precision was pinned say "auto", which ran as
    the autocast their summary names. Raises ForeignRecord for fields this code does not know."""
    d = json.loads(json.dumps(record["config"]))
    if d.get("train", {}).get("precision") not in PRECISIONS:
        d["train"]["precision"] = _PRECISION_OF_AUTOCAST.get((summary or {}).get("autocast", "fp32"), "fp32")
    try:
        return RunConfig.from_dict(d)
    except TypeError as exc:  # an unknown (or missing) dataclass field: written by another version of this code
        where = run_dir if run_dir is not None else "a run record"
        raise ForeignRecord(f"{where} was written by another version of this code ({exc}); it is skipped. Move "
                            "it out of the store, or read it with the version that wrote it.") from exc


def key_of(cfg: RunConfig, code_version: str) -> str:
    """The run key `cfg` has under `code_version` (RunConfig.key under the current one)."""
    blob = json.dumps({"config": cfg.canonical(), "code_version": code_version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check_identity(run_dir: Path, record: dict, cfg: RunConfig) -> None:
    """The folder name, the key in config.json and the key recomputed from the stored config must agree."""
    code_version = str(record.get("code_version", CODE_VERSION))
    stored = record.get("key")
    recomputed = key_of(cfg, code_version)
    if record["config"].get("train", {}).get("precision") not in PRECISIONS:
        # a record from before precision was pinned ("auto"): its key hashed a config this code cannot build,
        # so the folder name is checked against the key it stored
        recomputed = stored if stored is not None else run_dir.name.rsplit("-", 1)[-1]
    expected = f"{cfg.short_name()}-{recomputed}"
    if run_dir.name != expected or (stored is not None and stored != recomputed):
        raise _damaged(run_dir, f"its folder name says {run_dir.name}, but its config.json holds the run "
                                f"{expected} (stored key {stored}, recomputed {recomputed}): the folder was "
                                "copied, renamed or edited")


def check_summary(run_dir: Path, summary: dict, history: list[dict]) -> None:
    """Every required summary field present, and a history with at least one finite validation."""
    missing = [k for k in REQUIRED_SUMMARY if summary.get(k) is None]
    if missing:
        raise _damaged(run_dir, f"summary.json lacks {', '.join(missing)}")
    if not history:
        raise _damaged(run_dir, "history.csv holds no rows")
    if not any(math.isfinite(row.get("val_psnr", math.nan)) for row in history):
        raise _damaged(run_dir, "history.csv holds no finite val_psnr (empty or all NaN)")


def weights_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


REBUILT_ELSEWHERE = "rebuilt elsewhere: "  # a digest's second line: weights retrained on another machine


def write_weights_digest(run_dir: Path, elsewhere: str = "") -> None:
    """Tie `model.pt` to its record: `weights.sha256` holds its sha256 and the run's name; `elsewhere` (a
    second line) says the weights were retrained on a machine other than the record's (`wdsr rebuild` at the
    statistical level), so they are one more seed of the run, not the weights its numbers were measured on."""
    note = f"{REBUILT_ELSEWHERE}{elsewhere}\n" if elsewhere else ""
    atomic_write_text(run_dir / WEIGHTS_DIGEST, f"{weights_digest(run_dir / 'model.pt')}  {run_dir.name}\n{note}")


def weights_rebuilt_elsewhere(run_dir: Path) -> str:
    """Why `model.pt` is not the record's own weights ("" where it is, or where nothing says otherwise)."""
    digest = run_dir / WEIGHTS_DIGEST
    lines = digest.read_text().splitlines() if digest.exists() else []
    return next((ln[len(REBUILT_ELSEWHERE):] for ln in lines[1:] if ln.startswith(REBUILT_ELSEWHERE)), "")


def check_weights(run_dir: Path) -> bool:
    """True when `model.pt` is there and matches its digest, False when there is none (or no digest: records
    from before digests, unknown but not an error); DamagedRecord for an empty or mismatching model.pt."""
    weights = run_dir / "model.pt"
    if not weights.exists():
        return False
    if weights.stat().st_size == 0:
        raise _damaged(run_dir, "its model.pt is empty (0 bytes), not weights")
    digest = run_dir / WEIGHTS_DIGEST
    if not digest.exists():
        return True
    recorded, _, name = (digest.read_text().splitlines() or [""])[0].strip().partition("  ")
    if name.strip() not in ("", run_dir.name):
        raise _damaged(run_dir, f"its {WEIGHTS_DIGEST} belongs to {name.strip()}: the weights were copied from "
                                "another run")
    if weights_digest(weights) != recorded:
        raise _damaged(run_dir, f"its model.pt does not match {WEIGHTS_DIGEST} (the weights of another run, or "
                                "altered)")
    return True


def load_record(run_dir: Path, trained: bool = False) -> RunRecord:
    """Read a DONE run and check that it is the run its name says; raise StoreError (DamagedRecord,
    ForeignRecord) naming the folder otherwise."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
        summary = json.loads((run_dir / "summary.json").read_text())
        history = _read_history(run_dir / "history.csv")
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict) or not isinstance(summary,
                                                                                                         dict):
            raise ValueError("config.json or summary.json is not a JSON object of a run record")
    except (OSError, ValueError, KeyError) as exc:
        raise _damaged(run_dir, str(exc)) from exc
    try:
        cfg = config_of(config, summary, run_dir)
    except (ValueError, KeyError) as exc:
        raise _damaged(run_dir, f"its config.json is not a valid run config ({exc})") from exc
    check_identity(run_dir, config, cfg)
    check_summary(run_dir, summary, history)
    return RunRecord(run_dir, cfg, summary, history, trained, config)


def _write_record(run_dir: Path, summary: dict[str, Any]) -> None:
    history = summary.pop("history")
    atomic_write_text(run_dir / "history.csv", _history_csv(history))
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    atomic_write_text(run_dir / "DONE", time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")  # last: the record is whole


def _log(run_dir: Path, event: str) -> None:
    """Append one line to the store's (git-ignored) ledger of training events, used to assert cache hits."""
    entry = {"run": run_dir.name, "event": event, "pid": os.getpid(), "time": time.time()}
    session = env.get("WDSR_SESSION")  # the `wdsr reproduce` (or executor step) this process works for
    if session:
        entry["session"] = session
    line = json.dumps(entry)
    ledger = run_dir.parent / "ledger.jsonl"
    try:
        with open(ledger, "a") as f:
            f.write(line + "\n")
    except OSError as exc:  # a full disk after the record was written: the run is DONE, only the count misses it
        warnings.warn(f"could not append to {ledger} ({exc.strerror or exc}): {run_dir.name} is finished and "
                      "stored, but the count of runs this command trained will miss it; free disk space.",
                      stacklevel=2)


def trained_runs(results_dir: Optional[os.PathLike] = None, session: Optional[str] = None) -> list[str]:
    """Names of the runs this store trained to completion (DONE), in order, from the ledger.

    A run that failed or was interrupted is not in it until a later call finishes it; a run loaded from the store
    never is. `session`: only the runs trained under that $WDSR_SESSION tag (one `wdsr reproduce`, wherever its
    steps ran), so that two reproduces sharing a store each count their own.
    """
    ledger = runs_dir(results_dir) / "ledger.jsonl"
    if not ledger.exists():
        return []
    events = []
    for number, line in enumerate(ledger.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:  # a line cut short by a kill or a full disk
            warnings.warn(f"{ledger} line {number} is not a whole JSON line ({line[:40]!r}); it is skipped "
                          "(a write cut short by a kill or a full disk).", stacklevel=2)
            continue
        if isinstance(event, dict):
            events.append(event)
    return [e["run"] for e in events if e.get("event") == "train" and "run" in e
            and (session is None or e.get("session") == session)]


# The final (not per-iteration) metrics a run's summary may hold, as `collect()` names them.
FINAL_METRICS = ("psnr", "psnr_y", "ssim_y", "bicubic_psnr", "psnr_x8", "psnr_bn_train_mode", "params",
                 "macs_per_lr_pixel", "train_seconds", "wall_seconds")


def collect(results_dir: Optional[os.PathLike] = None):
    """Every DONE run as one long-form DataFrame.

    Columns: run, model, scale, blocks, n_feats, norm, loss, lr, seed, iterations, patch_size, source, key,
    iteration (NaN for final metrics), metric, value. Metrics: train_loss / val_psnr (and val_psnr:<image>) per
    validation, and the final psnr, psnr_y, ssim_y, bicubic_psnr, psnr_x8, psnr_bn_train_mode, params,
    macs_per_lr_pixel, train_seconds, wall_seconds, and psnr:<image> for every test image.
    """
    import pandas as pd  # startup: store.runs is loaded by `wdsr --help`; pandas only for collect()

    rows = []
    for run_dir in sorted(runs_dir(results_dir).glob("*/DONE")):
        try:
            rec = load_record(run_dir.parent)
        except ForeignRecord as exc:  # another version's folder: not this study's record, so not fatal
            warnings.warn(str(exc), stacklevel=2)
            continue
        c = rec.config
        base = {"run": rec.name, "model": c.model.name, "scale": c.model.scale,
                "blocks": c.model.resolved_blocks, "n_feats": c.model.resolved().n_feats, "norm": c.model.resolved_norm,
                "loss": c.train.loss, "lr": c.lr, "seed": c.train.seed, "iterations": c.train.iterations,
                "patch_size": c.data.patch_size, "source": c.data.source, "key": c.key()}
        for h in rec.history:
            for metric in [m for m in h if m in ("train_loss", "val_psnr") or m.startswith("val_psnr:")]:
                if metric in h:
                    rows.append({**base, "iteration": h["iteration"], "metric": metric, "value": h[metric]})
        for metric in FINAL_METRICS:
            if rec.summary.get(metric) is not None:
                rows.append({**base, "iteration": float("nan"), "metric": metric,
                             "value": float(rec.summary[metric])})
        for row in rec.summary.get("per_image") or ():  # the final model on each test image: "psnr:<image>"
            if row.get("psnr") is not None:
                rows.append({**base, "iteration": float("nan"), "metric": f"psnr:{row['image']}",
                             "value": float(row["psnr"])})
    columns = ["run", "model", "scale", "blocks", "n_feats", "norm", "loss", "lr", "seed", "iterations",
               "patch_size", "source", "key", "iteration", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)
