"""Training step: the engine's defaults vs the naive reference, WDSR-A and EDSR baselines, one process, interleaved.

Batch 16, LR patch 48, x2 (docs/recipes.md). Also the achieved FLOP/s of the step (conv MACs x 2 x 3 for
forward + backward, the usual estimate) and, in `psnr_check`, a short training of both paths on the sample
photos from the same seed and the same batches, compared by validation PSNR (DIV2K protocol).
Writes results/bench/train_step.json and results/bench/train_psnr.json.

Usage: python benchmarks/train_step.py [--reps 5] [--compile]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import peak

from bench_common import Step, batch, copy_into_naive, interleaved, machine, naive_model, save
from wdsr_lib.models import build_model, count_macs

MODELS = {"wdsr_a": "WDSR-A baseline (16 blocks, F=32, w=128, weight norm)",
          "edsr": "EDSR baseline (16 blocks, F=64, no norm)"}
BATCH, PATCH = 16, 48


def step_flops(name: str, n_resblocks: int = 16, batch_size: int = BATCH, patch: int = PATCH) -> float:
    """FLOPs of one training step: 2 x conv MACs forward, x3 for forward + backward (input and weight grads)."""
    return 6.0 * count_macs(build_model(name, 2, n_resblocks=n_resblocks), (patch, patch)) * batch_size


def measure(reps: int, compiled: bool = False, models=tuple(MODELS)) -> dict:
    out = {"batch": BATCH, "lr_patch": PATCH, "scale": 2, "reps": reps, "machine": machine(), "models": {}}
    lr, hr = batch(BATCH, PATCH)
    for name in models:
        torch.manual_seed(0)
        ours = build_model(name, 2)
        naive = naive_model(name)
        copy_into_naive(ours, naive)
        fns = {"naive": Step(naive, lr, hr, engine=False), "engine": Step(ours, lr, hr, engine=True)}
        extra = {}
        if compiled:
            torch.manual_seed(0)
            fns["engine_compiled"] = Step(build_model(name, 2), lr, hr, engine=True, compiled=True)
            t0 = time.perf_counter()
            fns["engine_compiled"]()
            extra["compile_seconds"] = round(time.perf_counter() - t0, 1)
        timing = interleaved(fns, reps)
        med = timing["median_s"]
        flops = step_flops(name)
        out["models"][name] = {
            "description": MODELS[name], **timing, **extra,
            "speedup_engine_vs_naive": med["naive"] / med["engine"],
            **({"speedup_compiled_vs_naive": med["naive"] / med["engine_compiled"]} if compiled else {}),
            "step_gflop": flops / 1e9,
            "achieved_gflops": {k: flops / v / 1e9 for k, v in med.items()},
            "achieved_gflops_best": {k: flops / min(v) / 1e9 for k, v in timing["all_s"].items()},
            "engine_autocast": str(fns["engine"].amp).replace("torch.", "") if fns["engine"].amp else "fp32",
        }
        print(name, {k: round(v, 3) for k, v in med.items()}, f"x{med['naive'] / med['engine']:.2f}", flush=True)
    return out


def add_peak_fraction(step: dict, pk: dict) -> None:
    """Best step GFLOP/s over the best microbenchmark GFLOP/s of the same dtype (fp32 unless autocast is on)."""
    for r in step["models"].values():
        key = "peak_gflops_bf16" if r["engine_autocast"] == "bfloat16" else "peak_gflops_fp32"
        r["peak_gflops_used"] = pk[key]
        r["fraction_of_peak_best"] = {k: v / pk[key] for k, v in r["achieved_gflops_best"].items()}


def psnr_check(name: str = "wdsr_a", n_resblocks: int = 4, iterations: int = 30, learning_rate: float = 1e-3,
               val_crop: int = 192) -> dict:
    """Train the naive and the engine path side by side from one seed on the same batches; compare val PSNR."""
    from wdsr_lib.data import PatchSampler, load_pairs
    from wdsr_lib.engine.evaluate import evaluate_pairs
    from wdsr_lib.engine.train import center_crop_pair

    train_pairs = load_pairs("sample", 2, "train")
    val_pairs = [center_crop_pair(p, val_crop, 2) for p in load_pairs("sample", 2, "val")]
    sampler = PatchSampler(train_pairs, PATCH, 2, BATCH, seed=0)
    torch.manual_seed(0)
    ours = build_model(name, 2, n_resblocks=n_resblocks)
    naive = naive_model(name, n_resblocks=n_resblocks)
    copy_into_naive(ours, naive)
    steps = {"naive": Step(naive, *batch(1, 8), engine=False, learning_rate=learning_rate),
             "engine": Step(ours, *batch(1, 8), engine=True, learning_rate=learning_rate)}
    losses: dict[str, list[float]] = {k: [] for k in steps}
    seconds = {k: 0.0 for k in steps}
    for it in range(iterations):
        lr, hr = sampler.batch(it)
        lr, hr = torch.as_tensor(lr).float(), torch.as_tensor(hr).float()
        for k, step in steps.items():
            t0 = time.perf_counter()
            losses[k].append(step(lr, hr))
            seconds[k] += time.perf_counter() - t0
    psnr = {k: float(np.mean([r["psnr"] for r in evaluate_pairs(s.model, val_pairs, 2, "div2k")]))
            for k, s in steps.items()}
    out = {"model": name, "n_resblocks": n_resblocks, "iterations": iterations, "batch": BATCH, "lr_patch": PATCH,
           "learning_rate": learning_rate, "val_images": len(val_pairs), "val_crop_hr": val_crop,
           "val_psnr_div2k": psnr, "psnr_diff_db": psnr["engine"] - psnr["naive"],
           "final_train_l1": {k: v[-1] for k, v in losses.items()},
           "max_abs_train_l1_diff": float(np.max(np.abs(np.subtract(losses["engine"], losses["naive"])))),
           "train_seconds": seconds, "machine": machine()}
    print("psnr check", psnr, f"diff {out['psnr_diff_db']:+.4f} dB", flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time the $WDSR_COMPILE=1 path (slow to compile)")
    ap.add_argument("--psnr-blocks", type=int, default=4)
    ap.add_argument("--psnr-iterations", type=int, default=30)
    args = ap.parse_args(argv)
    res = measure(args.reps, args.compile)
    add_peak_fraction(res, peak.measure(10))
    save("train_step", res)
    save("train_psnr", psnr_check(n_resblocks=args.psnr_blocks, iterations=args.psnr_iterations))
    return res


if __name__ == "__main__":
    main()
