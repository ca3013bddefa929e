"""Inference on a DIV2K-sized input (1020x678 LR, x2): folded weight norm + channels_last vs the naive reference.

Latency: both configurations in one process, interleaved, median of reps. Peak memory: one subprocess per
configuration running one forward, reporting the growth of `resource.getrusage(RUSAGE_SELF).ru_maxrss` over
the process after model and input are built (torch allocations are invisible to tracemalloc).
Also the tiled path (`sr_forward(..., tile=...)`) for a 4K output (1920x1080 LR -> 3840x2160) vs untiled.
bf16 is not used: without AMX it is slower than fp32 here (peak.json). Writes results/bench/inference.json.

Usage: python benchmarks/inference.py [--reps 2] [--quick]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from bench_common import ROOT, interleaved, machine, naive_model, save, copy_into_naive
from wdsr_lib.engine.evaluate import sr_forward
from wdsr_lib.models import build_model, fold_normalization

DIV2K_LR = (678, 1020)  # (H, W) of a typical DIV2K x2 LR image
UHD_LR = (1080, 1920)  # -> 3840x2160


def _model(name: str, config: str) -> torch.nn.Module:
    torch.manual_seed(0)
    ours = build_model(name, 2)
    if config == "naive":
        naive = naive_model(name)
        copy_into_naive(ours, naive)
        return naive.eval()
    return fold_normalization(ours).to(memory_format=torch.channels_last)


def _input(h: int, w: int, config: str) -> torch.Tensor:
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 255
    return x if config == "naive" else x.contiguous(memory_format=torch.channels_last)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith(field + ":"))


def child(name: str, config: str, h: int, w: int, tile: int | None) -> dict:
    """Run in a fresh process: one forward, its time and the RSS growth it caused (KiB -> MiB).

    The peak RSS (VmHWM) is reset to the current RSS before the forward (`clear_refs` 5, Linux), so start-up
    peaks (imports, model building) do not hide the forward's; ru_maxrss is the fallback elsewhere.
    """
    model, x = _model(name, config), _input(h, w, config)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base, read_peak = _status_kib("VmRSS"), lambda: _status_kib("VmHWM")
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        read_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    t0 = time.perf_counter()
    y = sr_forward(model, x, tile=tile, overlap=16)
    sec = time.perf_counter() - t0
    peak = read_peak()
    return {"model": name, "config": config, "lr_hw": [h, w], "out_hw": list(y.shape[-2:]), "tile": tile,
            "seconds": sec, "peak_rss_growth_mib": (peak - base) / 1024, "peak_rss_mib": peak / 1024}


def _spawn(*args) -> dict:
    cmd = [sys.executable, __file__, "--child", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT / "benchmarks")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(reps: int, quick: bool) -> dict:
    h, w = (DIV2K_LR[0] // 3, DIV2K_LR[1] // 3) if quick else DIV2K_LR
    uh, uw = (UHD_LR[0] // 2, UHD_LR[1] // 2) if quick else UHD_LR
    out = {"lr_hw": [h, w], "scale": 2, "reps": reps, "quick": quick, "machine": machine(), "models": {}}
    for name in ("wdsr_a", "edsr"):
        models = {c: (_model(name, c), _input(h, w, c)) for c in ("naive", "fast")}
        fns = {c: (lambda m=m, x=x: sr_forward(m, x)) for c, (m, x) in models.items()}
        with torch.no_grad():
            diff = (fns["naive"]() - fns["fast"]()).abs().max().item()
        timing = interleaved(fns, reps, warmup=0)
        mem = {c: _spawn(name, c, h, w, "none") for c in models}
        out["models"][name] = {**timing, "max_abs_diff_0_255": diff,
                               "speedup_fast_vs_naive": timing["median_s"]["naive"] / timing["median_s"]["fast"],
                               "memory": mem}
        print(name, {k: round(v, 2) for k, v in timing["median_s"].items()},
              {c: round(m["peak_rss_growth_mib"]) for c, m in mem.items()}, flush=True)
        del models, fns
    tile = 256
    out["uhd"] = {"lr_hw": [uh, uw], "tile": tile, "overlap": 16, "model": "wdsr_a", "config": "fast",
                  "untiled": _spawn("wdsr_a", "fast", uh, uw, "none"),
                  "tiled": _spawn("wdsr_a", "fast", uh, uw, tile)}
    print("4K", {k: (round(v["seconds"], 1), round(v["peak_rss_growth_mib"])) for k, v in out["uhd"].items()
                 if isinstance(v, dict)}, flush=True)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=5, metavar=("MODEL", "CONFIG", "H", "W", "TILE"))
    a = ap.parse_args()
    if a.child:
        n, c, hh, ww, t = a.child
        print(json.dumps(child(n, c, int(hh), int(ww), None if t == "none" else int(t))))
    else:
        save("inference", measure(a.reps, a.quick))
