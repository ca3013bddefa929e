"""Model cost: parameters, MACs for a 1280x720 output, and measured CPU latency (WDSR README, EDSR Table 1).

Latency is the median wall time of a few fp32 forwards of a fixed LR input after warm-up, in eval mode with
the normalisation folded into plain convolutions (`fold_normalization`), as a deployed model would run.
It is a machine-dependent measurement, never asserted in tests (speed lives in `benchmarks/`); the notebook
prints the machine.
"""
from __future__ import annotations

import platform
import statistics
import time
from typing import Optional

import pandas as pd
import torch

from wdsr_lib.core.config import ModelConfig
from wdsr_lib.models import OUTPUT_HW, build_model, count_macs_for_output, count_parameters, fold_normalization

LATENCY_LR_HW = {"smoke": (24, 32)}  # a tiny input keeps the smoke notebook fast
DEFAULT_LATENCY_LR_HW = (180, 320)  # LR input of a 360x640 x2 output: seconds on 2 cores, not minutes


def latency_lr_hw(profile: str) -> tuple[int, int]:
    """The LR input size (H, W) latency is measured on for a profile."""
    return LATENCY_LR_HW.get(profile, DEFAULT_LATENCY_LR_HW)


def build(model: ModelConfig) -> torch.nn.Module:
    return build_model(model.name, model.scale, **model.overrides())


def model_costs(model: ModelConfig, output_hw: tuple[int, int] = OUTPUT_HW) -> dict:
    """Parameters (as trained, weight-norm gains included) and GMACs for one `output_hw` output image."""
    net = build(model)
    return {"params": count_parameters(net), "gmacs_720p": count_macs_for_output(net, model.scale, output_hw) / 1e9}


@torch.inference_mode()
def cpu_latency(model: ModelConfig, lr_hw: tuple[int, int] = DEFAULT_LATENCY_LR_HW, repeats: int = 3,
                warmup: int = 1, threads: Optional[int] = None) -> dict:
    """Median seconds of `repeats` fp32 CPU forwards of one (1, 3, H, W) LR input (random weights suffice).

    Args:
        lr_hw: LR input (H, W) in pixels.
        threads: torch intra-op threads for the measurement (None: torch's current setting).
    Returns:
        {"median_s", "min_s", "lr_hw", "threads", "cpu"}.
    """
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        net = fold_normalization(build(model)).eval()
        x = torch.rand(1, 3, *lr_hw) * 255
        for _ in range(warmup):
            net(x)
        times = []
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t)
        return {"median_s": statistics.median(times), "min_s": min(times), "lr_hw": tuple(lr_hw),
                "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}
    finally:
        torch.set_num_threads(old_threads)


def cost_frame(runs, lr_hw: tuple[int, int] = DEFAULT_LATENCY_LR_HW, repeats: int = 3,
               paper: Optional[dict] = None):
    """One row per distinct model of `runs` (PlannedRuns labelled with `family`): params, GMACs for a 1280x720
    output, median CPU latency on `lr_hw`, and the paper's (params, PSNR) from `paper` = {family: (params, psnr)}.
    """
    rows, seen = [], set()
    for run in runs:
        family = run.labels.get("family")
        if family in seen:
            continue
        seen.add(family)
        model = run.config.model
        lat = cpu_latency(model, lr_hw, repeats=repeats)
        ref = (paper or {}).get(family, (None, None))
        rows.append({"family": family, **model_costs(model), "latency_s": lat["median_s"],
                     "latency_input": f"{lr_hw[1]}x{lr_hw[0]} LR, {lat['threads']} threads, fp32, folded norm",
                     "paper_params": ref[0], "paper_psnr": ref[1]})
    return pd.DataFrame(rows)
