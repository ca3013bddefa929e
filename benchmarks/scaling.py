"""Scaling of the engine's WDSR-A training step with depth (blocks) and with LR patch size; linear fits and R^2.

Depth at LR patch 48, patch size at 4 blocks; batch 4 (not 16) to keep `make bench` short on a 2-core CPU; the
step is linear in the batch at these sizes. Sizes are measured interleaved in one process, median of reps.
Step time is expected to be linear in blocks and in patch *area* (pixels), so the patch fit is against pixels.
Writes results/bench/scaling.json.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from bench_common import Step, batch, interleaved, machine, save
from wdsr_lib.models import build_model

BATCH = 4


def _fit(x: list[float], y: list[float]) -> dict:
    slope, icept = np.polyfit(x, y, 1)
    pred = slope * np.asarray(x) + icept
    ss_res = float(np.sum((np.asarray(y) - pred) ** 2))
    ss_tot = float(np.sum((np.asarray(y) - np.mean(y)) ** 2))
    return {"slope_s": float(slope), "intercept_s": float(icept), "r2": 1 - ss_res / ss_tot}


def measure(reps: int, blocks: tuple[int, ...], patches: tuple[int, ...]) -> dict:
    def steps_for(sizes, make):
        fns = {}
        for s in sizes:
            torch.manual_seed(0)
            fns[str(s)] = make(s)
        return interleaved(fns, reps)

    by_blocks = steps_for(blocks, lambda b: Step(build_model("wdsr_a", 2, n_resblocks=b), *batch(BATCH, 48),
                                                 engine=True))
    by_patch = steps_for(patches, lambda p: Step(build_model("wdsr_a", 2, n_resblocks=4), *batch(BATCH, p),
                                                 engine=True))
    tb = [by_blocks["median_s"][str(b)] for b in blocks]
    tp = [by_patch["median_s"][str(p)] for p in patches]
    out = {"model": "wdsr_a", "batch": BATCH, "reps": reps, "machine": machine(),
           "blocks": {"n_resblocks": list(blocks), "lr_patch": 48, "step_s": tb, "fit_vs_blocks": _fit(blocks, tb),
                      "loadavg_1min": by_blocks["loadavg_1min"]},
           "patch": {"lr_patch": list(patches), "n_resblocks": 4, "step_s": tp,
                     "fit_vs_pixels": _fit([p * p for p in patches], tp),
                     "fit_vs_side": _fit(list(patches), tp), "loadavg_1min": by_patch["loadavg_1min"]}}
    print("blocks R^2", round(out["blocks"]["fit_vs_blocks"]["r2"], 4),
          "patch-pixels R^2", round(out["patch"]["fit_vs_pixels"]["r2"], 4), flush=True)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    save("scaling", measure(a.reps, (1, 2, 4, 8, 16, 32), (16, 24, 32, 48, 64, 96)))
