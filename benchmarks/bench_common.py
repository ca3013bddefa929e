"""Shared pieces of the benchmarks: the naive reference, the engine's own setup, interleaved timing, machine info.

The naive reference is written the way the original code trains (JiahuiYu/wdsr_ntire2018, EDSR-PyTorch):
fp32, NCHW, `torch.nn.utils.weight_norm` hooks on every conv of WDSR, plain `torch.optim.Adam` with its default
(foreach) implementation. The engine side is what `wdsr_lib.engine.train.train` does: our WeightNormConv2d,
channels_last, bf16 autocast on AMX CPUs (the speed benchmark only; study runs are fp32), the fused Adam of
`engine/fast.py`.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from wdsr_lib.engine.device import autocast_dtype, cpu_has_amx  # noqa: E402
from wdsr_lib.engine.fast import adam, compile_model  # noqa: E402
from wdsr_lib.models import build_model  # noqa: E402
from wdsr_lib.models.norm import WeightNormConv2d  # noqa: E402

OUT = ROOT / "results" / "bench"
CPU = torch.device("cpu")


def machine() -> dict:
    model = platform.processor() or platform.machine()
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), model)
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def best_seconds(fn: Callable[[], object], reps: int) -> float:
    """The fastest of `reps` timed calls of `fn`, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def save(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {**result, "machine_at_end": machine()}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 1) -> dict:
    """Median seconds per call of each function, measured in turns (a, b, a, b, ...) so load shifts hit all."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    loads = []
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
        loads.append(os.getloadavg()[0])
    return {"median_s": {k: statistics.median(v) for k, v in times.items()},
            "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
            "loadavg_1min": [round(x, 2) for x in loads]}


# --- the naive reference ----------------------------------------------------------------------------------
def naive_model(name: str, **overrides) -> nn.Module:
    """The model as the original code builds it: plain convs, weight norm through `nn.utils.weight_norm` hooks.

    WDSR wraps every conv (`wn = lambda x: torch.nn.utils.weight_norm(x)` in wdsr_a.py); EDSR has no norm.
    """
    weight_norm = overrides.pop("norm", "weight" if name.startswith("wdsr") else "none") == "weight"
    model = build_model(name, 2, norm="none", **overrides)
    if weight_norm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the old hook API is the point here
            for mod in list(model.modules()):
                for child_name, child in list(mod.named_children()):
                    if type(child) is nn.Conv2d and child.weight.requires_grad:
                        setattr(mod, child_name, nn.utils.weight_norm(child))
    return model


def copy_into_naive(ours: nn.Module, naive: nn.Module) -> None:
    """Give the naive model exactly the weights (v, g, bias) of one of ours, so both start identically."""
    mods = dict(naive.named_modules())
    with torch.no_grad():
        for name, m in ours.named_modules():
            if isinstance(m, WeightNormConv2d):
                n = mods[name]
                n.weight_v.copy_(m.weight)
                n.weight_g.copy_(m.weight_g.view_as(n.weight_g))
                n.bias.copy_(m.bias)
            elif isinstance(m, nn.Conv2d) and not isinstance(mods[name], WeightNormConv2d):
                mods[name].weight.copy_(m.weight)
                if m.bias is not None:
                    mods[name].bias.copy_(m.bias)


class Step:
    """One training step (forward, L1, backward, Adam) of a model on a fixed batch, engine-style or naive."""

    def __init__(self, model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, *, engine: bool,
                 learning_rate: float = 1e-4, compiled: bool = False, bf16_on_amx: bool = True) -> None:
        # The benchmark times the engine as it would run on an AMX CPU (bf16); equality tests pass
        # bf16_on_amx=False so that what they compare does not depend on the machine.
        self.amp = autocast_dtype(CPU, "bf16") if engine and bf16_on_amx and cpu_has_amx() else None
        self.fmt = fmt = torch.channels_last if engine else torch.contiguous_format
        self.model = model.to(memory_format=fmt).train()
        self.net = compile_model(self.model, enabled=compiled)
        self.opt = (adam(model.parameters(), learning_rate, (0.9, 0.999), 1e-8, CPU) if engine
                    else torch.optim.Adam(model.parameters(), lr=learning_rate))
        self.lr, self.hr = lr.contiguous(memory_format=fmt), hr.contiguous(memory_format=fmt)

    def __call__(self, lr: torch.Tensor | None = None, hr: torch.Tensor | None = None) -> float:
        lr = self.lr if lr is None else lr.contiguous(memory_format=self.fmt)
        hr = self.hr if hr is None else hr.contiguous(memory_format=self.fmt)
        with torch.autocast("cpu", dtype=self.amp) if self.amp else nullcontext():
            loss = F.l1_loss(self.net(lr).float(), hr)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def batch(batch_size: int = 16, patch: int = 48, scale: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch_size, 3, patch, patch, generator=g) * 255,
            torch.rand(batch_size, 3, patch * scale, patch * scale, generator=g) * 255)
