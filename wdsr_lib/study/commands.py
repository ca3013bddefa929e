"""The `wdsr train` command line of a run: what `wdsr reproduce --list-runs` prints and the run graph executes.

The inverse of `wdsr_lib.cli.flags.config_from_args` (tests/test_cli.py round-trips every planned run): the
profile, the model and its hyperparameters (`wdsr_lib.core.registry.HYPERPARAMETERS`, the same table the flags
are made from), the seed and iterations, and the recipe settings where they differ from the profile's.
"""
from __future__ import annotations

import shlex
from typing import Optional

from wdsr_lib.core.config import RunConfig
from wdsr_lib.core.registry import HYPERPARAMETERS
from wdsr_lib.study.profiles import get_profile

# The TrainConfig fields `wdsr train` takes as flags (`--lr`, `--loss`, ...), beside --seed and --iterations.
TRAIN_FLAGS = ("lr", "loss", "precision", "init_from", "eval_self_ensemble")


def flag(name: str) -> str:
    """`--init-from` for `init_from`."""
    return "--" + name.replace("_", "-")


def flag_value(value: object) -> str:
    """A setting as its flag spells it: booleans and choices in lower case."""
    return str(value).lower() if isinstance(value, (bool, str)) else str(value)


def train_command(cfg: RunConfig, profile: str, results_dir: Optional[str] = None) -> str:
    """The `wdsr train` command line that rebuilds `cfg` (inverse of `cli.flags.config_from_args`)."""
    base = get_profile(profile).run(cfg.model, cfg.train.seed, iterations=cfg.train.iterations)
    words = ["wdsr", "train", "--profile", profile, "--model", cfg.model.name, "--scale", str(cfg.model.scale)]
    for name, h in HYPERPARAMETERS.items():
        if getattr(cfg.model, name, None) is not None:
            words += [h.flag, flag_value(getattr(cfg.model, name))]
    words += ["--seed", str(cfg.train.seed), "--iterations", str(cfg.train.iterations)]
    for f in TRAIN_FLAGS:
        value = getattr(cfg.train, f)
        if value != getattr(base.train, f):
            words += [flag(f), str(value).lower() if isinstance(value, bool) else str(value)]
    if results_dir:
        words += ["--results-dir", str(results_dir)]
    if cfg.data != base.data:
        raise ValueError(f"{cfg.short_name()}: its data settings are not the {profile} profile's.")
    return shlex.join(words)
