"""`load_or_train`: the store's one door to the engine. A finished run is loaded; an unfinished one resumes; a
missing one is checked (`preflight`), trained (`wdsr_lib.engine.train`, started from another run's weights
through `init_from` when its config says so) and recorded (`runs`). Safe under concurrent callers: the run's lock
(`runs._locked`) admits one trainer, the others wait and load its record.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from wdsr_lib.core import env
from wdsr_lib.core.config import CODE_VERSION, RunConfig
from wdsr_lib.store import runs
from wdsr_lib.store.init_from import initialiser
from wdsr_lib.store.preflight import check_trainable
from wdsr_lib.store.runs import (RunRecord, StoreError, _discard_if_empty, _locked, _log, _write_record,
                                 load_record, run_dir_for, write_weights_digest)


def load_or_train(cfg: RunConfig, results_dir: Optional[os.PathLike] = None, *,
                  progress: bool = True) -> Optional[RunRecord]:
    """DONE -> load; a checkpoint without DONE -> resume; nothing -> train. Safe under concurrent callers.

    Returns None on a non-zero torchrun rank, which trains its share but leaves the record to rank 0.
    """
    from wdsr_lib.engine.train import train  # startup: torch and the engine only when something must be trained

    run_dir = run_dir_for(cfg, results_dir)
    if (run_dir / "DONE").exists():
        return load_record(run_dir)
    check_trainable(cfg, run_dir.parent)  # before anything is written: a bad setting leaves no trace
    if env.get_int("RANK") != 0:  # under torchrun only rank 0 writes to the store
        train(cfg, run_dir, progress=False, initialise=initialiser(cfg, run_dir))
        return None
    try:
        with _locked(run_dir):
            if (run_dir / "DONE").exists():  # another process finished it while we waited
                return load_record(run_dir)
            config = {"config": cfg.to_dict(), "canonical": cfg.canonical(), "code_version": CODE_VERSION,
                      "key": cfg.key()}
            try:
                runs.atomic_write_text(run_dir / "config.json", json.dumps(config, indent=1, sort_keys=True) + "\n")
                summary = train(cfg, run_dir, progress=progress, initialise=initialiser(cfg, run_dir))
                if not summary.get("complete", False):
                    raise StoreError(f"{run_dir.name} stopped before its last iteration.")
                if (run_dir / "model.pt").exists():
                    write_weights_digest(run_dir)
                _write_record(run_dir, summary)
            except BaseException:
                _discard_if_empty(run_dir)
                raise
            _log(run_dir, "train")  # only a run that trained to its DONE marker counts
    except OSError as exc:
        if exc.filename is not None and not _inside(exc.filename, run_dir.parent):
            raise  # a file outside the store (data, a source run's weights): its own message names it
        raise StoreError(f"cannot write the results store at {run_dir}: {exc.strerror or exc}; "
                         "free disk space or choose a writable --results-dir.") from exc
    return load_record(run_dir, trained=True)


def _inside(path: os.PathLike, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(Path(os.path.abspath(folder)))


