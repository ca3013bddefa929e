"""Engine speed choices that change no result beyond float rounding: the Adam kernel and optional torch.compile.

Measured against a naive reference (fp32, NCHW, `torch.nn.utils.weight_norm`, default Adam) by
`benchmarks/run_all.py`; numbers and the machine in docs/performance.md. Each choice has an equality test in
tests/test_speedups.py.

- `adam`: the single fused kernel (`fused=True`, CPU and CUDA since torch 2.4) instead of the per-parameter
  `for` loop or `foreach` lists; the same update rule (Kingma & Ba), same state dict, so checkpoints written by
  either load in the other.
- `compile_model`: `torch.compile` (inductor) for the training forward/backward, opt-in through
  $WDSR_COMPILE=1, because on a CPU its compile time (minutes on 2 cores) outweighs its gain on short runs.
  The engine keeps the eager module for checkpoints, evaluation and folding.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from wdsr_lib.core import env


def fused_adam_supported(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


def adam(params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float], eps: float,
         device: torch.device) -> torch.optim.Adam:
    """Adam (WDSR Sec. 4 / EDSR Sec. 4.2: b1 0.9, b2 0.999, eps 1e-8) with the fused kernel where it exists."""
    fused = fused_adam_supported(device)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=fused or None)


def compile_enabled() -> bool:
    """$WDSR_COMPILE=1 turns on torch.compile for training (off by default; see the module docstring)."""
    return env.get_flag("WDSR_COMPILE")


def compile_model(model: nn.Module, enabled: bool | None = None) -> nn.Module:
    """`torch.compile(model)` when enabled (default: $WDSR_COMPILE), else `model` itself.

    The compiled wrapper shares the parameters of `model`, so optimiser, checkpoints and state dicts keep using
    the eager module.
    """
    if not (compile_enabled() if enabled is None else enabled):
        return model
    return torch.compile(model)
