"""Does the data pipeline keep up with training? Patches/s produced vs patches/s a training step consumes.

Produces batches of 16 LR 48x48 x2 patches (the WDSR/EDSR recipe, docs/recipes.md) from the sample
source with ``PatchSampler.batch`` (in process) and ``loader`` (worker processes), and compares with one
training step of the WDSR-A baseline (forward + L1 backward + Adam on this machine's CPU), or with a step time
given by ``--step-time`` (e.g. measured on a GPU). Margin = patches/s produced / patches/s consumed; above 1
the data layer is not the bottleneck. Writes results/bench/data_pipeline.json.

Usage: python benchmarks/data_pipeline.py [--steps 40] [--workers 2] [--device cuda | --step-time SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wdsr_lib.data import PatchSampler, load_pairs, loader  # noqa: E402

BATCH, PATCH, SCALE = 16, 48, 2


def measure_step_time(device: str = "cpu", steps: int = 3) -> float:
    """Seconds per training step of the WDSR-A baseline at batch 16, LR 48x48, x2, fp32 on ``device``."""
    from wdsr_lib.models import build_model

    model = build_model("wdsr_a", scale=SCALE).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lr = torch.rand(BATCH, 3, PATCH, PATCH, device=device) * 255
    hr = torch.rand(BATCH, 3, PATCH * SCALE, PATCH * SCALE, device=device) * 255
    steps = 2 if device == "cpu" else 10 * steps

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(lr), hr).backward()
        opt.step()

    step()  # warm-up
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device != "cpu":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="batches produced per measurement")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the loader measurement")
    ap.add_argument("--step-time", type=float, default=None, help="seconds per training step (default: measure)")
    ap.add_argument("--device", default="cpu", help="device for the measured training step (cpu, cuda)")
    ap.add_argument("--out", default="results/bench/data_pipeline.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as cache:  # cold cache, so the run never touches ~/.cache/wdsr
        t0 = time.perf_counter()
        pairs = load_pairs("sample", SCALE, "train", cache_dir=cache)
        load_s = time.perf_counter() - t0
        sampler = PatchSampler(pairs, PATCH, SCALE, BATCH, seed=0)
        sampler.batch(0)  # touch the memory maps once
        t0 = time.perf_counter()
        for step in range(args.steps):
            sampler.batch(step)
        batch_s = (time.perf_counter() - t0) / args.steps
        it = iter(loader(sampler, 0, args.steps + 1, workers=args.workers))
        next(it)  # worker start-up is a one-off cost, excluded
        t0 = time.perf_counter()
        for _ in it:
            pass
        loader_s = (time.perf_counter() - t0) / args.steps

    step_s = args.step_time if args.step_time is not None else measure_step_time(args.device)
    consumed = BATCH / step_s
    result = {
        "batch": BATCH, "lr_patch": PATCH, "scale": SCALE, "source": "sample",
        "first_load_seconds": round(load_s, 3),
        "sampler_patches_per_s": round(BATCH / batch_s, 1),
        "loader_workers": args.workers,
        "loader_patches_per_s": round(BATCH / loader_s, 1),
        "train_step_seconds": round(step_s, 4),
        "step_time_source": (
            "given" if args.step_time is not None else f"measured: WDSR-A baseline fp32 on {args.device}"
        ),
        "consumed_patches_per_s": round(consumed, 1),
        "margin_sampler": round(BATCH / batch_s / consumed, 2),
        "margin_loader": round(BATCH / loader_s / consumed, 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:>26}: {v}")
    return result


if __name__ == "__main__":
    main()
