"""The machine's attainable peak, measured: fp32 and bf16 GEMM and 3x3 convolution GFLOP/s (best of reps).

The training step's achieved FLOP/s (train_step.py) is reported as a fraction of the best of these. The convs
are those of the baselines: WDSR-A's 32->128 and EDSR's 64->64 3x3 at batch 16 on 48x48, channels_last.
Writes results/bench/peak.json.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from bench_common import best_seconds, machine, save


def _best_gflops(fn, flops: float, reps: int) -> float:
    return flops / best_seconds(fn, reps) / 1e9


def measure(reps: int = 5) -> dict:
    out = {"reps": reps, "machine": machine(), "gflops": {}}
    n = 2048
    for dtype in (torch.float32, torch.bfloat16):
        tag = str(dtype).replace("torch.", "")
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out["gflops"][f"gemm_{n}_{tag}"] = _best_gflops(lambda: a @ b, 2.0 * n ** 3, reps)
        for cin, cout in ((32, 128), (64, 64)):
            x = torch.randn(16, cin, 48, 48, dtype=dtype).contiguous(memory_format=torch.channels_last)
            w = torch.randn(cout, cin, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
            flops = 2.0 * 16 * 48 * 48 * cout * cin * 9
            with torch.no_grad():
                out["gflops"][f"conv3x3_{cin}to{cout}_b16_48_{tag}"] = _best_gflops(
                    lambda: F.conv2d(x, w, padding=1), flops, reps)
    out["peak_gflops_fp32"] = max(v for k, v in out["gflops"].items() if k.endswith("float32"))
    out["peak_gflops_bf16"] = max(v for k, v in out["gflops"].items() if k.endswith("bfloat16"))
    for k, v in out["gflops"].items():
        print(f"{k:>32}: {v:7.1f} GFLOP/s", flush=True)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    save("peak", measure(ap.parse_args().reps))
