"""Everything a run needs, checked before the results store is touched (`docs/bad_inputs.md`).

`store.load_or_train` calls `check_trainable` before it creates the run's directory, its lock or its ledger
line, so a bad setting (a NaN learning rate, a seed numpy rejects, an unknown or incompatible `--init-from`, an
incomplete DIV2K, a missing image folder) leaves the store exactly as it was. Every message is one sentence that
names the setting and the flag that fixes it. Torch is imported only for the `--init-from` weights check and
the launch check (`engine.device.check_launch`: `$WDSR_DEVICE`, `$WORLD_SIZE`, `$RANK`).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path

from wdsr_lib.core.config import SEED_MAX, RunConfig
from wdsr_lib.core.text import plural
from wdsr_lib.data.div2k import check_div2k
from wdsr_lib.engine.device import check_launch
from wdsr_lib.data.errors import DataError
from wdsr_lib.data.sources import _resolve_folder, default_root
from wdsr_lib.store.init_from import plan_transfer


# Config field -> the `wdsr train` flag that sets it (for the messages).
FLAGS = {"lr": "--lr", "res_scale": "--res-scale", "expansion": "--expansion", "low_rank": "--low-rank",
         "seed": "--seed", "init_from": "--init-from", "root": "--data-root"}


def _flag(field: str) -> str:
    return f" (the {FLAGS[field]} flag)" if field in FLAGS else ""


def check_trainable(cfg: RunConfig, runs: Path) -> None:
    """Raise ValueError (DataError for data) in one sentence unless `cfg` can train in the store folder `runs`."""
    check_launch()  # $WDSR_DEVICE, $WORLD_SIZE, $RANK: one sentence naming the variable, nothing written
    check_numbers(cfg)
    check_data(cfg)
    check_init_from(cfg, Path(runs))


def check_numbers(cfg: RunConfig) -> None:
    """Every float setting finite (`--lr nan` passes a `> 0` test), the seed within numpy's range."""
    for part in (cfg.model, cfg.data, cfg.train):
        owner = type(part).__name__
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ValueError(f"{owner}.{f.name} must be a finite number; got {value!r}{_flag(f.name)}.")
    seed = cfg.train.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"TrainConfig.seed must be an integer from 0 to {SEED_MAX} (numpy's seed range); "
                         f"got {seed!r}{_flag('seed')}.")


def check_data(cfg: RunConfig) -> None:
    """DIV2K complete (`data/div2k.py`) for a DIV2K run; the training and validation folders of a folder run."""
    d = cfg.data
    if d.source == "div2k":
        check_div2k(default_root(d.root), [cfg.model.scale], needed_by=f"{cfg.short_name()} (data source div2k)")
    elif d.source == "folder":
        for name in ("train_folder", "val_folder"):
            folder = getattr(d, name)
            if folder is None:
                raise ValueError(f"DataConfig.{name} must name a folder of HR images for source 'folder'.")
            if not _resolve_folder(folder, d.root).is_dir():
                raise DataError(f"DataConfig.{name} {_resolve_folder(folder, d.root)} is not a folder; give a "
                                "folder of HR images, or a benchmark name laid out as <root>/benchmark/<name>/HR.")


def check_init_from(cfg: RunConfig, runs: Path) -> None:
    """`--init-from` names a finished run of this store, with weights, of the same model at another scale."""
    name = cfg.train.init_from
    if not name:
        return
    source = runs / name
    if name == cfg.run_name():
        raise ValueError(f"--init-from {name} names the run being trained; give a finished run at another scale.")
    if "/" in name and (runs / Path(name).name / "config.json").is_file():
        raise ValueError(f"--init-from {name} is a path; give the run's name, {Path(name).name} (it is looked up "
                         f"in the store of --results-dir, {runs}).")
    if not (source / "config.json").is_file():
        known = sorted(p.name for p in runs.iterdir() if (p / "DONE").exists()) if runs.is_dir() else []
        near = difflib.get_close_matches(name, known, n=1)
        runs_there = f"{plural(len(known), 'finished run')} there"
        hint = f" (did you mean {near[0]}?)" if near else f" ({runs_there})"
        raise ValueError(f"--init-from {name}: there is no run of that name in {runs}; give the name of a finished "
                         f"run in that store{hint}, or pass the --results-dir that holds it.")
    if not (source / "DONE").exists():
        raise ValueError(f"--init-from {name} is unfinished (no DONE marker); finish it first with its own "
                         "`wdsr train` command, which resumes it.")
    if not (source / "model.pt").is_file():
        raise ValueError(f"--init-from {name} has a record but no weights (model.pt is not kept in git); rebuild "
                         f"them with `wdsr rebuild {name}`.")

    plan_transfer(cfg.model, source)
