"""`make bench`: every speed measurement of docs/performance.md, then figures/bench_speed.png (+ .pdf).

Runs peak.py (machine peak GFLOP/s), train_step.py (engine vs naive training step, FLOP/s, PSNR check),
scaling.py (step time vs blocks and patch size), data_pipeline.py (patches/s vs consumption) and inference.py
(DIV2K-sized and 4K inference, latency and peak memory), each writing results/bench/<name>.json.
Every ratio is measured in one process with interleaved repetitions (median); the load average is recorded,
because other work on the machine shifts absolute times.

Usage: python benchmarks/run_all.py [--quick] [--compile] [--plot-only]
(--quick writes results/bench/quick/ and figures/bench_speed_quick.png instead.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as common  # noqa: E402

FIG = common.ROOT / "figures" / "bench_speed"


def run(quick: bool, compiled: bool) -> None:
    import data_pipeline
    import inference
    import peak
    import scaling
    import train_step

    t0 = time.perf_counter()
    pk = peak.measure(5 if quick else 10)
    step = train_step.measure(2 if quick else 5, compiled)
    pk_after = peak.measure(5 if quick else 10)  # peak before and after the step, best of both (load shifts)
    for k, v in pk_after["gflops"].items():
        pk["gflops"][k] = max(v, pk["gflops"][k])
    for k in ("peak_gflops_fp32", "peak_gflops_bf16"):
        pk[k] = max(pk[k], pk_after[k])
    common.save("peak", pk)
    train_step.add_peak_fraction(step, pk)
    common.save("train_step", step)
    common.save("train_psnr", train_step.psnr_check(n_resblocks=2 if quick else 4, iterations=10 if quick else 30))
    common.save("scaling", scaling.measure(2 if quick else 3, (1, 2, 4, 8) if quick else (1, 2, 4, 8, 16, 32),
                                           (16, 24, 32, 48) if quick else (16, 24, 32, 48, 64, 96)))
    engine_step = step["models"]["wdsr_a"]["median_s"]["engine"]
    data_pipeline.main(["--steps", "20" if quick else "40", "--step-time", str(engine_step),
                        "--out", str(common.OUT / "data_pipeline.json")])
    common.save("inference", inference.measure(1 if quick else 2, quick))
    (common.OUT / "run_all.json").write_text(json.dumps(
        {"quick": quick, "compile": compiled, "seconds": round(time.perf_counter() - t0, 1),
         "machine": common.machine()}, indent=2) + "\n")


def plot() -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    load = lambda n: json.loads((common.OUT / f"{n}.json").read_text())  # noqa: E731
    step, pk, sc, inf = load("train_step"), load("peak"), load("scaling"), load("inference")
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    names = list(step["models"])
    x = np.arange(len(names))
    confs = [c for c in ("naive", "engine", "engine_compiled") if c in step["models"][names[0]]["median_s"]]
    for i, c in enumerate(confs):
        vals = [step["models"][n]["median_s"][c] for n in names]
        ax[0, 0].bar(x + (i - (len(confs) - 1) / 2) * 0.3, vals, 0.3, label=c)
    for j, n in enumerate(names):
        ax[0, 0].text(j, max(step["models"][n]["median_s"].values()) * 1.02,
                      f"x{step['models'][n]['speedup_engine_vs_naive']:.2f}", ha="center")
    ax[0, 0].set(xticks=x, xticklabels=names, ylabel="seconds per training step (median)",
                 title="Training step, batch 16, LR 48x48, x2 (x: naive / engine)")
    ax[0, 0].set_ylim(0, ax[0, 0].get_ylim()[1] * 1.25)
    ax[0, 0].legend(loc="upper right", ncol=len(confs), fontsize=8)

    bars = {f"{n} {c}": step["models"][n]["achieved_gflops_best"][c] for n in names for c in confs}
    bars.update({"peak fp32": pk["peak_gflops_fp32"], "peak bf16": pk["peak_gflops_bf16"]})
    colors = ["C0" if "naive" in k else "C1" if "engine" in k else "C2" for k in bars]
    ax[0, 1].barh(list(bars), list(bars.values()), color=colors, label="measured")
    ax[0, 1].set(xlabel="GFLOP/s (best repetition)", title="Training step vs measured peak (GEMM / 3x3 conv)")
    ax[0, 1].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in ("C0", "C1", "C2")],
                    labels=["naive step", "engine step", "microbenchmark peak"], fontsize=8)

    for key, fit, xs, lab, mk in (("blocks", "fit_vs_blocks", sc["blocks"]["n_resblocks"], "blocks (LR 48)", "o"),):
        ax[1, 0].plot(xs, sc[key]["step_s"], mk + "-", label=f"{lab}, R^2={sc[key][fit]['r2']:.3f}")
    ax[1, 0].set(xlabel="residual blocks", ylabel=f"seconds per step (batch {sc['batch']})",
                 title="Scaling of the WDSR-A step")
    twin = ax[1, 0].twiny()
    px = [p * p for p in sc["patch"]["lr_patch"]]
    twin.plot(px, sc["patch"]["step_s"], "s--", color="C3",
              label=f"LR patch pixels (4 blocks), R^2={sc['patch']['fit_vs_pixels']['r2']:.3f}")
    twin.set_xlabel("LR patch pixels")
    h1, l1 = ax[1, 0].get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax[1, 0].legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")

    labels, vals = [], []
    for n, r in inf["models"].items():
        for c in ("naive", "fast"):
            labels.append(f"{n} {c}")
            vals.append(r["median_s"][c])
    for k in ("untiled", "tiled"):
        labels.append(f"4K wdsr_a {k}")
        vals.append(inf["uhd"][k]["seconds"])
    mem = [inf["models"][lab.split()[0]]["memory"][lab.split()[1]]["peak_rss_growth_mib"] if not lab.startswith("4K")
           else inf["uhd"][lab.split()[-1]]["peak_rss_growth_mib"] for lab in labels]
    y = np.arange(len(labels))
    ax[1, 1].barh(y - 0.2, vals, 0.4, label="latency (s)")
    tw = ax[1, 1].twiny()
    tw.barh(y + 0.2, mem, 0.4, color="C4", label="peak RSS growth (MiB)")
    tw.set_xlabel("peak RSS growth (MiB)")
    ax[1, 1].set(yticks=y, yticklabels=labels, xlabel="seconds per image",
                 title=f"Inference, LR {inf['lr_hw'][1]}x{inf['lr_hw'][0]} x2; 4K: LR {inf['uhd']['lr_hw'][1]}"
                       f"x{inf['uhd']['lr_hw'][0]}")
    h1, l1 = ax[1, 1].get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax[1, 1].legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    fig.suptitle(f"{step['machine']['cpu']}, {step['machine']['cpus']} cores, torch {step['machine']['torch']}, "
                 f"load avg {step['machine']['loadavg_1_5_15'][0]}")
    fig.tight_layout()
    FIG.parent.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(FIG.with_suffix(f".{ext}"), dpi=120)
    return FIG.with_suffix(".png")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller inference inputs (~5 min)")
    ap.add_argument("--compile", action="store_true", help="also time the $WDSR_COMPILE=1 training path")
    ap.add_argument("--plot-only", action="store_true")
    a = ap.parse_args()
    if a.quick:  # a short check never overwrites the full measurements that docs/performance.md quotes
        common.OUT, FIG = common.OUT / "quick", FIG.with_name("bench_speed_quick")
    if not a.plot_only:
        run(a.quick, a.compile)
    print("wrote", plot())
