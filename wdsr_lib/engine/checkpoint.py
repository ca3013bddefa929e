"""Checkpoints that a killed run, a full disk or a stranger's file cannot turn into a wrong result.

- Written atomically (`wdsr_lib/core/atomic.py`: a temp file in the same directory, fsync, `os.replace`); a SHA-256
  of the bytes is stored beside it (`<name>.sha256`), written the same way, after the checkpoint.
- Loaded with `torch.load(..., weights_only=True)`: a checkpoint from elsewhere cannot run code.
- `latest_good` walks checkpoints newest first, skips (with a warning) any whose checksum or unpickling fails.

Test-only hook: `WDSR_TEST_SLOW_CHECKPOINT_WRITE=<seconds>` sleeps after a checkpoint's (or its checksum's) temp
file is complete and before the rename, so tests/test_faults.py can `kill -9` a run inside a checkpoint write.
Unset (always, outside that test) it costs one dictionary lookup per checkpoint.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import re
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from wdsr_lib.core import env
from wdsr_lib.core.atomic import atomic_write_bytes as _atomic_write_bytes

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


def _test_pause_before_rename(path: Path) -> None:
    """The test-only hook of the module docstring: widen the window between temp write and rename."""
    pause = env.get("WDSR_TEST_SLOW_CHECKPOINT_WRITE")
    if pause and path.name.startswith("ckpt-"):
        time.sleep(float(pause))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`wdsr_lib.core.atomic.atomic_write_bytes` with the checkpoint test hook before the rename."""
    _atomic_write_bytes(path, data, before_replace=_test_pause_before_rename)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def rng_state() -> dict[str, Any]:
    """Every RNG a run touches, as tensors and plain values (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_version, py_tuple, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": {"version": py_version, "state": torch.tensor(py_tuple, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f"ckpt-{step:08d}.pt"


def save_checkpoint(ckpt_dir: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Atomically write `state` as the checkpoint of `step` (with its checksum); keep the newest `keep`."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    path = checkpoint_path(ckpt_dir, step)
    atomic_write_bytes(path, data)
    atomic_write_text(path.with_name(path.name + ".sha256"), hashlib.sha256(data).hexdigest() + "\n")
    for old in list_checkpoints(ckpt_dir)[keep:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)
    for stale in ckpt_dir.glob(".ckpt-*.tmp"):  # left by a killed writer (one writer per run: the store's lock)
        if not stale.name.endswith(f".{os.getpid()}.tmp"):
            stale.unlink(missing_ok=True)
    return path


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoint files, newest step first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = [p for p in ckpt_dir.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)), reverse=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Verify the checksum, then unpickle with weights_only=True; raise ValueError if either fails."""
    path = Path(path)
    data = path.read_bytes()
    sums = path.with_name(path.name + ".sha256")
    if not sums.exists():
        raise ValueError(f"checkpoint {path} has no checksum file (it was not written completely).")
    if hashlib.sha256(data).hexdigest() != sums.read_text().strip():
        raise ValueError(f"checkpoint {path} does not match its checksum (truncated or corrupted).")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpicklable or foreign file
        raise ValueError(f"checkpoint {path} cannot be loaded safely: {exc}") from exc


def latest_good(ckpt_dir: Path) -> Optional[dict[str, Any]]:
    """The newest checkpoint that verifies, warning about each bad one skipped; None if there is none."""
    candidates = list_checkpoints(ckpt_dir)
    for path in candidates:
        try:
            return load_checkpoint(path)
        except (ValueError, OSError) as exc:
            warnings.warn(f"skipping bad checkpoint: {exc}", stacklevel=2)
    if candidates:
        warnings.warn(f"no usable checkpoint in {ckpt_dir}: training restarts from iteration 0.", stacklevel=2)
    return None
