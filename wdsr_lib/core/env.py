"""Every environment variable the study reads: its name, default and meaning, in one table.

The "Environment variables" section of docs/usage.md is this table (`markdown_table()`; tests/test_env.py checks that
they agree and that no module reads a `WDSR_*` variable the table does not list). Torch-free, so every layer
may import it. Read a variable with `get(name)` (or `get_int`, `get_flag`); an empty value counts as unset.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: `default` is what `get` returns when it is unset (None: no value)."""

    name: str
    default: Optional[str]
    meaning: str
    shown_default: Optional[str] = None  # how docs/usage.md states a default that `get` does not return itself


VARIABLES: tuple[EnvVar, ...] = (
    EnvVar("WDSR_DATA", "data", "data root: DIV2K and `benchmark/{Set5,...}` (`--data-root` wins)"),
    EnvVar("WDSR_CACHE", "~/.cache/wdsr", "folder of the decode-once image cache (`wdsr_lib/data/cache.py`)"),
    EnvVar("WDSR_RESULTS_DIR", "results", "the results store of every command (`train`, `eval`, `upscale`, "
           "`reproduce`, `verify`, `rebuild`) when `--results-dir` is not given; when set, the notebooks use it "
           "instead of their default `results_dir` parameter (nbval in `make test`; an explicit papermill `-p` "
           "wins, and `wdsr reproduce` passes its own)"),
    EnvVar("WDSR_FIGURES_DIR", "figures", "where figures go: `wdsr reproduce` without `--figures-dir`, and the "
           "notebooks instead of their default `figures_dir` parameter (as `WDSR_RESULTS_DIR`)"),
    EnvVar("WDSR_PROFILE", None, "when set, the notebooks run this profile instead of their default `profile` "
           "parameter (as `WDSR_RESULTS_DIR`: an explicit papermill `-p profile` wins, and a notebook prints which "
           "one it uses); the commands' `--profile` is their own (a different `WDSR_PROFILE` gets a warning)",
           "the notebook's parameter"),
    EnvVar("WDSR_ROOT", None, "the project root that relative `results_dir` / `figures_dir` in the notebooks "
           "resolve against (`wdsr_lib/study/notebook_env.py`)",
           "the folder above the notebook holding this project's `pyproject.toml`"),
    EnvVar("WDSR_STORE_ONLY", "0", "`1`: the notebooks, and `wdsr reproduce`, train nothing; planned runs missing "
           "from the store are left out and named, their verdicts inconclusive (`wdsr reproduce --store-only`)"),
    EnvVar("WDSR_DEVICE", None, "torch device of `train` (and the notebooks' training), `eval` and `upscale`, "
           "e.g. `cpu`, `cuda`, `cuda:1`; a name torch does not know, or a GPU this machine lacks, is refused "
           "before anything is written; `verify` and `rebuild` retrain a record on its own device type",
           "CUDA (this rank's GPU) when present, else CPU"),
    EnvVar("WDSR_COMPILE", "0", "`1` builds every profile's runs with `TrainConfig.compile`: they train through "
           "`torch.compile` (`wdsr_lib/engine/fast.py`, `docs/performance.md`) and, as their float rounding "
           "differs, are stored under their own run keys (eager runs in the store are not reused); values other "
           "than 1 / 0 (true / false, yes / no, on / off) are refused; `verify` and `rebuild` retrain a record "
           "with its own setting (a warning says so when the variable differs)"),
    EnvVar("WDSR_SESSION", None, "set by `wdsr reproduce` (a new random tag per call) for every process and "
           "Ray / Slurm step it starts; each writes it into the ledger line of a run it trains "
           "(`results/runs/ledger.jsonl`), so two reproduces sharing a store each report only the runs they "
           "trained themselves", "unset"),
    EnvVar("RANK", "0", "set by torchrun: this process's global rank; only rank 0 writes to the store"),
    EnvVar("LOCAL_RANK", "0", "set by torchrun: this process's rank on its node (its GPU)"),
    EnvVar("WORLD_SIZE", "1", "set by torchrun: the number of processes sharing the global batch of 16; above 1 "
           "without torchrun's `MASTER_ADDR` / `MASTER_PORT`, or `RANK` not below it, is refused before anything is "
           "written"),
    EnvVar("MASTER_ADDR", None, "set by torchrun: where the process group meets (read only to tell a torchrun "
           "launch from a stray `WORLD_SIZE`)", "unset"),
    EnvVar("MASTER_PORT", None, "set by torchrun: the port of `MASTER_ADDR`", "unset"),
    EnvVar("WDSR_TEST_SLOW_CHECKPOINT_WRITE", None, "tests only: seconds each checkpoint write is held open "
           "before its rename (`tests/test_faults.py` kills inside that window)", "no pause"),
    EnvVar("WDSR_FAULT_SEED", None, "tests only: replays the random kill moments of `tests/test_faults.py`",
           "a new seed per run"),
)
BY_NAME = {v.name: v for v in VARIABLES}

# Old name -> the name that replaced it; still read, with a FutureWarning.
DEPRECATED = {"WDSR_RESULTS": "WDSR_RESULTS_DIR"}


@contextmanager
def overridden(name: str, value: str) -> Iterator[None]:
    """Set variable `name` to `value` inside the block, then restore it (or unset it) as it was."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def get(name: str) -> Optional[str]:
    """The value of variable `name` (one of `VARIABLES`), else its deprecated alias's, else its default."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not one of the study's environment variables ({', '.join(BY_NAME)}).")
    value = os.environ.get(name)
    if not value:
        for old, new in DEPRECATED.items():
            if new == name and os.environ.get(old):
                warnings.warn(f"${old} is deprecated; set ${new} instead (same meaning).", FutureWarning,
                              stacklevel=2)
                value = os.environ[old]
                break
    return value if value else BY_NAME[name].default


def get_int(name: str) -> int:
    """`get(name)` as an integer (RANK, LOCAL_RANK, WORLD_SIZE)."""
    value = get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"${name} must be an integer; got {value!r}.") from None


_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def get_flag(name: str) -> bool:
    """`get(name)` as a switch: 1 / true / yes / on (any case) is on, 0 / false / no / off off; any other value
    (`WDSR_COMPILE=2`) is refused in one sentence naming the variable, never read as off."""
    value = (get(name) or "").strip().lower()
    if value not in _ON + _OFF:
        raise ValueError(f"${name} must be 1 or 0 (or true / false, yes / no, on / off); got {get(name)!r}.")
    return value in _ON


def markdown_table() -> str:
    """The "Environment variables" table of docs/usage.md."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for v in VARIABLES:
        default = v.shown_default or (f"`{v.default}`" if v.default is not None else "unset")
        lines.append(f"| `{v.name}` | {default} | {v.meaning} |")
    for old, new in DEPRECATED.items():
        lines.append(f"| `{old}` | | deprecated alias of `{new}` (read with a warning) |")
    return "\n".join(lines)
