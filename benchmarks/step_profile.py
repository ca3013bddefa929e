"""Per-model profile of the cpu study's training step and whole-image evaluation, one thread (issue 27).

For each study model (EDSR F=64, WDSR-A F=32 w=128, WDSR-B F=64 e=6 l=0.8; all weight norm; 1 and 3 blocks;
x2) at the cpu profile's shapes (batch 16, 24 px LR patches, 48 px HR), and for scoring one ~640x427 photo
whole (LR 320x213): seconds, GFLOP/s (6 x conv MACs per trained pixel, 2 x per evaluated one), the fraction of
a single-thread peak measured in the same run, and the time per layer kind from torch.profiler (self CPU time:
conv 1x1, conv 3x3, conv 5x5, weight norm, ReLU, pixel shuffle, loss, optimizer, other).

Before / after, side by side in this one process, interleaved (a, b, a, b) with the median taken:
- before: glibc's malloc returning freed blocks to the OS (its initial thresholds, 128 KiB), as an unconfigured
  process does (`untouched_s` also records a few steps of the truly untouched process, measured first);
- after: `keep_freed_memory()` below (freed memory kept in the heap), and for evaluation
  also weight norm folded into plain convs (`fold_normalization`) with channels_last input.
Writes results/bench/step_profile.json and .md. Usage: python benchmarks/step_profile.py [--reps N]
"""
from __future__ import annotations

import argparse
import ctypes
import statistics
import time
from collections import defaultdict

import torch
import torch.nn.functional as F

from bench_common import OUT, best_seconds, machine, save
from wdsr_lib.engine.evaluate import sr_forward
from wdsr_lib.engine.fast import adam
from wdsr_lib.models import build_model, count_macs, fold_normalization

# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """The "after" arm: glibc keeps freed memory in the heap instead of returning it to the OS after every step
    (a step frees and reallocates the same activation buffers). Tried for issue 27; the gain did not reproduce,
    so the engine does not use it (docs/performance.md)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                    int(trim_threshold)))

CL = torch.channels_last
CPU = torch.device("cpu")
BATCH, PATCH, SCALE = 16, 24, 2  # the cpu profile (wdsr_lib/study/profiles.py)
EVAL_LR_HW = (213, 320)  # a 640x427 photo at x2 (HR 426x640)
MODELS = {
    "edsr": {"n_feats": 64},
    "wdsr_a": {"n_feats": 32, "block_feats": 128},
    "wdsr_b": {"n_feats": 64, "expansion": 6.0, "low_rank": 0.8},
}
KINDS = ("conv1x1", "conv3x3", "conv5x5", "weight_norm", "relu", "pixel_shuffle", "loss", "optimizer", "other")


def glibc_default() -> None:
    """glibc's initial thresholds: every block over 128 KiB is mmapped and unmapped again when freed."""
    mallopt = ctypes.CDLL(None).mallopt
    mallopt(_M_MMAP_THRESHOLD, 128 << 10)
    mallopt(_M_TRIM_THRESHOLD, 128 << 10)


def measure_peak(reps: int = 5) -> dict:
    """Single-thread peaks: 3x3 conv 64->64 on 16x64x48x48 (channels_last) forward+backward and forward, sgemm."""
    x = torch.randn(16, 64, 48, 48).contiguous(memory_format=CL).requires_grad_()
    w = torch.randn(64, 64, 3, 3).contiguous(memory_format=CL).requires_grad_()
    macs = 16 * 48 * 48 * 64 * 64 * 9
    gy = torch.ones(16, 64, 48, 48).contiguous(memory_format=CL)

    def fwd_bwd():
        F.conv2d(x, w, padding=1).backward(gy)

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, padding=1)

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out = {"conv3x3_64_b16_48_fwd_bwd": 6 * macs / best_seconds(fwd_bwd, reps) / 1e9,
           "conv3x3_64_b16_48_fwd": 2 * macs / best_seconds(fwd, reps) / 1e9,
           "sgemm_2048": 2 * 2048 ** 3 / best_seconds(lambda: a @ b, reps) / 1e9}
    return {k: round(v, 1) for k, v in out.items()}


def _kind(ev) -> str:
    name = ev.name
    if name in ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
                "aten::convolution", "aten::conv2d", "aten::_slow_conv2d_forward", "aten::thnn_conv2d"):
        shapes = ev.input_shapes or []
        w = shapes[2] if name == "aten::convolution_backward" and len(shapes) > 2 else (
            shapes[1] if len(shapes) > 1 else [])
        k = w[-1] if len(w) == 4 else 3
        return {1: "conv1x1", 3: "conv3x3", 5: "conv5x5"}.get(k, "other")
    low = name.lower()
    if "weight_norm" in low or "weightnorm" in low:
        return "weight_norm"
    if "adam" in low or "optimizer" in low or "zero_grad" in low:
        return "optimizer"
    if "threshold" in low or "relu" in low or "clamp_min" in low:
        return "relu"
    if "pixel_shuffle" in low or "pixel_unshuffle" in low or "pixelshuffle" in low:
        return "pixel_shuffle"
    if "l1_loss" in low or "sgn" in low or "abs" in low or "mean" in low:
        return "loss"
    return "other"


def layer_times(fn, steps: int = 3) -> dict:
    """Self CPU seconds per layer kind per call of `fn`, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            fn()
    out: dict[str, float] = defaultdict(float)
    for ev in prof.events():
        out[_kind(ev)] += ev.self_cpu_time_total / 1e6 / steps
    return {k: round(out.get(k, 0.0), 5) for k in KINDS}


def train_step(name: str, blocks: int):
    torch.manual_seed(0)
    model = build_model(name, SCALE, n_resblocks=blocks, norm="weight", **MODELS[name]).to(memory_format=CL)
    model.train()
    opt = adam(model.parameters(), 1e-3, (0.9, 0.999), 1e-8, CPU)
    g = torch.Generator().manual_seed(0)
    lr = (torch.rand(BATCH, 3, PATCH, PATCH, generator=g) * 255).contiguous(memory_format=CL)
    hr = (torch.rand(BATCH, 3, PATCH * SCALE, PATCH * SCALE, generator=g) * 255).contiguous(memory_format=CL)

    def step():
        loss = F.l1_loss(model(lr), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, 6.0 * count_macs(model, (PATCH, PATCH), SCALE) * BATCH, model


def eval_fns(model) -> tuple[dict, float]:
    """Scoring one photo whole: the trained module as `final_evaluation` gets it, and folded + channels_last."""
    x = torch.rand(1, 3, *EVAL_LR_HW) * 255
    folded = fold_normalization(model).to(memory_format=CL)
    x_cl = x.contiguous(memory_format=CL)
    return ({"as_trained": lambda: sr_forward(model, x),
             "folded_cl": lambda: sr_forward(folded, x_cl)},
            2.0 * count_macs(model, EVAL_LR_HW, SCALE))


def timed(variants: dict, reps: int) -> dict:
    """Median seconds of each (setup, fn) variant, in turns; setup() switches the allocator before each call."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, (setup, fn) in variants.items():
            setup()
            fn()  # one call to settle the allocator in this state
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def measure(reps: int) -> dict:
    torch.set_num_threads(1)
    res: dict = {"threads": 1, "batch": BATCH, "lr_patch": PATCH, "scale": SCALE, "eval_lr_hw": list(EVAL_LR_HW),
                 "reps": reps, "machine": machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                 "models": {}}
    steps = {(n, b): train_step(n, b) for n in MODELS for b in (1, 3)}
    # the truly untouched allocator first (mallopt cannot restore glibc's dynamic thresholds afterwards)
    untouched = {}
    for key, (fn, _, _) in steps.items():
        fn()
        untouched[key] = statistics.median(_once(fn) for _ in range(3))
    res["peak_before"] = measure_peak()
    for (name, blocks), (fn, flops, model) in steps.items():
        row = {"flops_per_step": flops, "untouched_s": round(untouched[(name, blocks)], 4)}
        med = timed({"before": (glibc_default, fn), "after": (keep_freed_memory, fn)}, reps)
        row["step_s"] = {k: round(v, 4) for k, v in med.items()}
        row["step_gflops"] = {k: round(flops / v / 1e9, 1) for k, v in med.items()}
        glibc_default()
        row["layers_before_s"] = layer_times(fn)
        keep_freed_memory()
        row["layers_after_s"] = layer_times(fn)
        fns, eflops = eval_fns(model)
        emed = timed({"before": (glibc_default, fns["as_trained"]),
                      "after": (keep_freed_memory, fns["folded_cl"]),
                      "after_unfolded": (keep_freed_memory, fns["as_trained"])}, max(3, reps // 2))
        row["eval_flops"] = eflops
        row["eval_s"] = {k: round(v, 4) for k, v in emed.items()}
        row["eval_gflops"] = {k: round(eflops / v / 1e9, 1) for k, v in emed.items()}
        glibc_default()
        row["eval_layers_before_s"] = layer_times(fns["as_trained"], 2)
        keep_freed_memory()
        row["eval_layers_after_s"] = layer_times(fns["folded_cl"], 2)
        res["models"][f"{name}_b{blocks}"] = row
        print(f"{name} b{blocks}: step {row['step_s']} eval {row['eval_s']}", flush=True)
    res["peak_after"] = measure_peak()
    peak = max(max(res["peak_before"].values()), max(res["peak_after"].values()))
    res["peak_gflops"] = peak
    for row in res["models"].values():
        row["step_fraction_of_peak"] = {k: round(v / peak, 3) for k, v in row["step_gflops"].items()}
        row["eval_fraction_of_peak"] = {k: round(v / peak, 3) for k, v in row["eval_gflops"].items()}
    return res


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Step profile (one thread, x2, batch {res['batch']}, LR {res['lr_patch']} px; eval: LR "
             f"{res['eval_lr_hw'][1]}x{res['eval_lr_hw'][0]} whole)", "",
             f"Machine: {m['cpu']}, torch {m['torch']}, capability {res['cpu_capability']}, load avg "
             f"{m['loadavg_1_5_15'][0]}. Peak (best single-thread of before/after): {res['peak_gflops']} GFLOP/s "
             f"(before {res['peak_before']}, after {res['peak_after']}).", "",
             "## Training step", "",
             "| model | untouched s | before s | after s | before GFLOP/s | after GFLOP/s | before % peak | "
             "after % peak |", "|---|---|---|---|---|---|---|---|"]
    for k, r in res["models"].items():
        lines.append(f"| {k} | {r['untouched_s']:.4f} | {r['step_s']['before']:.4f} | {r['step_s']['after']:.4f} | "
                     f"{r['step_gflops']['before']} | {r['step_gflops']['after']} | "
                     f"{r['step_fraction_of_peak']['before']:.0%} | {r['step_fraction_of_peak']['after']:.0%} |")
    for title, key in (("Per layer kind, training step, ms (before / after)", "layers"),
                       ("Per layer kind, whole-image eval, ms (before: as trained / after: folded, channels_last)",
                        "eval_layers")):
        lines += ["", f"## {title}", "", "| model | " + " | ".join(KINDS) + " |",
                  "|---|" + "---|" * len(KINDS)]
        for k, r in res["models"].items():
            b, a = r[f"{key}_before_s"], r[f"{key}_after_s"]
            lines.append(f"| {k} | " + " | ".join(f"{b[x] * 1e3:.1f} / {a[x] * 1e3:.1f}" for x in KINDS) + " |")
    lines += ["", "## Whole-image evaluation", "",
              "| model | before s (as trained) | after s (folded, CL) | after s (unfolded) | before % peak | "
              "after % peak |", "|---|---|---|---|---|---|"]
    for k, r in res["models"].items():
        e, f = r["eval_s"], r["eval_fraction_of_peak"]
        lines.append(f"| {k} | {e['before']:.4f} | {e['after']:.4f} | {e['after_unfolded']:.4f} | "
                     f"{f['before']:.0%} | {f['after']:.0%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    result = measure(ap.parse_args().reps)
    save("step_profile", result)
    (OUT / "step_profile.md").write_text(markdown(result))
    print(markdown(result))
