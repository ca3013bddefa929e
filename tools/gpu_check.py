"""GPU acceptance check (`make gpu-check`): the training path on a CUDA device, measured and exercised.

1. peak: the device's measured matmul peak (fp32 with TF32 off, TF32, bf16), best of reps;
2. steps: one paper-profile training step (LR 48 px, batch 16, x2, L1, Adam) of the EDSR / WDSR-A / WDSR-B
   baselines, fp32 and TF32, eager and torch.compile, channels_last: ms per step, GFLOP/s (6 x conv MACs x batch,
   as `benchmarks/train_step.py`) and the fraction of the measured peak of the same precision;
3. torchrun: `wdsr train` under a one-GPU torchrun, and a one-GPU process group (NCCL) with an all-reduce
   (`group_worker`: the engine skips the process group with one rank);
4. syncbn: a batch-norm arm: `wdsr train --norm batch` under torchrun, and a batch-norm EDSR under DDP with
   SyncBatchNorm against the same model with BatchNorm2d (one rank: their losses must agree);
5. nondeterminism: two identical short runs in two stores, compared number by number (how far CUDA's
   nondeterministic kernels move the curve);
6. reproduce: a smoke `wdsr reproduce` with WDSR_DEVICE=cuda.

Writes `<out-dir>/gpu.json` and `<out-dir>/gpu.md` (default results/bench). Each part records its own error and
the script goes on; the exit status is 1 if any part failed. `--dry-run` runs every part on the CPU with tiny
shapes (torchrun over gloo, torch.compile with the eager backend, the reproduce part only lists the plan) and
writes gpu-dry-run.json / .md: it checks the script, not the device (tests/test_gpu_check.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wdsr_lib.models import build_model, count_macs  # noqa: E402

MODELS = ("edsr", "wdsr_a", "wdsr_b")


class Shapes:
    def __init__(self, dry: bool):
        self.dry = dry
        self.batch, self.patch = (2, 8) if dry else (16, 48)
        self.blocks = 1 if dry else None  # None: the paper baselines' 16 blocks
        self.gemm = 128 if dry else 8192
        self.reps, self.warmup = (1, 0) if dry else (20, 5)
        self.iterations = 4 if dry else 300


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def _best(fn, device, reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def peak(device: torch.device, s: Shapes) -> dict:
    n, out = s.gemm, {}
    for tag, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                             ("bf16", torch.bfloat16, False)):
        _tf32(tf32)
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        out[f"matmul_{n}_{tag}_gflops"] = 2.0 * n ** 3 / _best(lambda: a @ b, device, s.reps, s.warmup) / 1e9
    _tf32(False)
    return out


def steps(device: torch.device, s: Shapes, peaks: dict) -> dict:
    out = {}
    g = torch.Generator().manual_seed(0)
    for name in MODELS:
        kw = {"n_resblocks": s.blocks} if s.blocks else {}
        macs = count_macs(build_model(name, 2, **kw), (s.patch, s.patch)) * s.batch
        lr = (torch.rand(s.batch, 3, s.patch, s.patch, generator=g) * 255).to(device)
        hr = (torch.rand(s.batch, 3, 2 * s.patch, 2 * s.patch, generator=g) * 255).to(device)
        lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
        for precision in ("fp32", "tf32"):
            for mode in ("eager", "compiled"):
                key = f"{name}/{precision}/{mode}"
                try:
                    _tf32(precision == "tf32")
                    torch.manual_seed(0)
                    model = build_model(name, 2, **kw).to(device=device, memory_format=torch.channels_last).train()
                    net = model
                    t0 = time.perf_counter()
                    if mode == "compiled":
                        net = torch.compile(model, backend="eager" if s.dry else "inductor")
                    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type == "cuda" or None)

                    def step():
                        loss = F.l1_loss(net(lr), hr)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()

                    step()
                    _sync(device)
                    first = time.perf_counter() - t0
                    sec = _best(step, device, s.reps, s.warmup)
                    gflops = 6.0 * macs / sec / 1e9
                    ref = peaks.get(f"matmul_{s.gemm}_{precision}_gflops")
                    out[key] = {"ms_per_step": sec * 1e3, "gflops": gflops, "first_step_s": first,
                                "fraction_of_peak": gflops / ref if ref else None, "step_gflop": 6.0 * macs / 1e9}
                except Exception as exc:  # one arm failing (e.g. compile) must not hide the others
                    out[key] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    _tf32(False)
    return out


def _wdsr(args: list[str], env: dict, torchrun: bool = False, timeout: int = 900) -> subprocess.CompletedProcess:
    head = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"] if torchrun
            else [sys.executable])
    return subprocess.run(head + ["-m", "wdsr_lib.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _summary(store: Path) -> dict:
    return json.loads(next((store / "runs").glob("*/summary.json")).read_text())


def _history(store: Path) -> list[dict]:
    import csv

    with open(next((store / "runs").glob("*/history.csv")), newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _train_args(s: Shapes, norm: str = "weight") -> list[str]:
    return ["train", "--profile", "smoke", "--model", "wdsr_a", "--n-resblocks", "1" if s.dry else "4",
            "--norm", norm, "--iterations", str(s.iterations), "--no-progress"]


def _check(proc: subprocess.CompletedProcess) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-1500:]}")


def group_worker(out: str) -> None:
    """Under torchrun (`--group-worker OUT`): a process group (NCCL on CUDA, gloo on CPU), an all-reduce, and
    a batch-norm EDSR trained a few steps under DDP with SyncBatchNorm against the same model with plain
    BatchNorm2d (one rank: the statistics must agree). The engine itself skips the process group in a
    one-process torchrun (`DistInfo.enabled` needs two ranks), so this is where NCCL and SyncBatchNorm run."""
    import copy

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    cuda = torch.cuda.is_available() and os.environ.get("WDSR_DEVICE", "cuda").startswith("cuda")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")
    t = torch.full((4,), float(dist.get_rank() + 1), device=device)
    dist.all_reduce(t)
    res = {"backend": dist.get_backend(), "world_size": dist.get_world_size(), "all_reduce": t.tolist()}
    torch.manual_seed(0)
    plain = build_model("edsr", 2, n_resblocks=2, n_feats=16, norm="batch").to(device)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain))
    res["sync_batch_norm_layers"] = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    g = torch.Generator().manual_seed(1)
    lr = (torch.rand(4, 3, 12, 12, generator=g) * 255).to(device)
    hr = (torch.rand(4, 3, 24, 24, generator=g) * 255).to(device)
    if cuda:  # SyncBatchNorm's training forward needs CUDA
        ddp = DDP(synced, device_ids=[device.index])
        opts = [torch.optim.Adam(m.parameters(), lr=1e-4) for m in (plain, synced)]
        losses = {"plain": [], "sync": []}
        for _ in range(3):
            for name, net, opt in (("plain", plain, opts[0]), ("sync", ddp, opts[1])):
                loss = F.l1_loss(net(lr), hr)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses[name].append(float(loss))
        res["losses"] = losses
        res["max_loss_diff"] = max(abs(a - b) for a, b in zip(losses["plain"], losses["sync"]))
    else:
        res["sync_batch_norm_training"] = "skipped: needs CUDA (dry run)"
    dist.destroy_process_group()
    Path(out).write_text(json.dumps(res))


def torchrun(env: dict, s: Shapes, tmp: Path, norm: str) -> dict:
    """`wdsr train` under a one-process torchrun (the CLI path with torchrun's environment), then the
    process-group worker above (NCCL, all-reduce, SyncBatchNorm under DDP) for the batch-norm arm."""
    store = tmp / f"torchrun-{norm}"
    proc = _wdsr(_train_args(s, norm) + ["--results-dir", str(store)], env, torchrun=True)
    _check(proc)
    summary = _summary(store)
    res = {"wdsr_train": {"world_size": summary.get("world_size"), "psnr": summary.get("psnr"), "norm": norm}}
    out = tmp / f"group-{norm}.json"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                           str(Path(__file__).resolve()), "--group-worker", str(out)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    _check(proc)
    res["process_group"] = json.loads(out.read_text())
    if res["process_group"]["all_reduce"] != [1.0] * 4:
        raise RuntimeError(f"all_reduce gave {res['process_group']['all_reduce']}")
    return res


def nondeterminism(env: dict, s: Shapes, tmp: Path) -> dict:
    stores = [tmp / "same-a", tmp / "same-b"]
    for store in stores:
        _check(_wdsr(_train_args(s) + ["--results-dir", str(store)], env))
    a, b = (_history(st) for st in stores)
    diffs: dict[str, float] = {}
    for col in a[0] if a else {}:
        try:
            diffs[col] = max(abs(float(x[col]) - float(y[col])) for x, y in zip(a, b, strict=True)
                             if x[col] not in ("", None) and y[col] not in ("", None))
        except ValueError:  # a column that is not a number, or never set
            continue
    sa, sb = _summary(stores[0]), _summary(stores[1])
    return {"identical_history": a == b, "max_abs_diff": diffs, "final_psnr": [sa["psnr"], sb["psnr"]],
            "final_psnr_diff": abs(sa["psnr"] - sb["psnr"]), "iterations": s.iterations}


def reproduce(env: dict, s: Shapes, tmp: Path) -> dict:
    args = ["reproduce", "--profile", "smoke", "--results-dir", str(tmp / "reproduce")]
    if s.dry:  # the CPU dry run checks the command path only: list the plan
        proc = _wdsr(args + ["--list-runs", "--format", "jsonl"], env)
        _check(proc)
        return {"listed_steps": len(proc.stdout.splitlines()), "dry_run": True}
    t0 = time.perf_counter()
    proc = _wdsr(args + ["--figures-dir", str(tmp / "figures"), "--jobs", "2"], env, timeout=3600)
    _check(proc)
    return {"seconds": time.perf_counter() - t0, "report": str(tmp / "reproduce" / "reports" / "smoke.md")}


def markdown(result: dict) -> str:
    lines = [f"# GPU check{' (dry run on CPU: checks the script, not a device)' if result['dry_run'] else ''}",
             "", f"Device: {result['device']}; torch {result['torch']}; {result['date']}.", ""]
    pk = result["parts"].get("peak", {})
    if "error" not in pk:
        lines += ["Measured matmul peak: " + ", ".join(f"{k} {v:,.0f}" for k, v in pk.items()) + " GFLOP/s.", ""]
    st = result["parts"].get("steps", {})
    if st and "error" not in st:
        lines += ["| model / precision / mode | ms/step | GFLOP/s | of peak |", "| --- | ---: | ---: | ---: |"]
        for key, r in st.items():
            if "error" in r:
                lines.append(f"| {key} | error: {r['error'][:80]} | | |")
            else:
                frac = f"{r['fraction_of_peak']:.0%}" if r.get("fraction_of_peak") else "-"
                lines.append(f"| {key} | {r['ms_per_step']:.2f} | {r['gflops']:,.0f} | {frac} |")
        lines.append("")
    for name in ("torchrun", "syncbn", "nondeterminism", "reproduce"):
        if name not in result["parts"]:
            lines.append(f"- {name}: skipped")
            continue
        part = result["parts"][name]
        lines.append(f"- {name}: " + ("FAILED: " + part["error"][:300] if "error" in part
                                      else json.dumps(part, default=str)[:400]))
    lines += ["", f"All parts passed: {result['ok']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes: check the script, not a device")
    ap.add_argument("--out-dir", default=str(ROOT / "results" / "bench"))
    ap.add_argument("--skip", nargs="*", default=[], choices=["peak", "steps", "torchrun", "syncbn",
                                                              "nondeterminism", "reproduce"])
    ap.add_argument("--group-worker", metavar="OUT", help=argparse.SUPPRESS)  # internal: run under torchrun
    args = ap.parse_args(argv)
    if args.group_worker:
        group_worker(args.group_worker)
        return 0
    s = Shapes(args.dry_run)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; run with --dry-run to check the script on the CPU", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda")
    env = {**os.environ, "WDSR_DEVICE": device.type, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    result = {"dry_run": args.dry_run, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
              "batch": s.batch, "lr_patch": s.patch, "parts": {}}
    with tempfile.TemporaryDirectory(prefix="wdsr-gpu-check-") as tmp_:
        tmp = Path(tmp_)
        parts = {"peak": lambda: peak(device, s),
                 "steps": lambda: steps(device, s, result["parts"].get("peak", {})),
                 "torchrun": lambda: torchrun(env, s, tmp, "weight"),
                 "syncbn": lambda: torchrun(env, s, tmp, "batch"),
                 "nondeterminism": lambda: nondeterminism(env, s, tmp),
                 "reproduce": lambda: reproduce(env, s, tmp)}
        for name, run in parts.items():
            if name in args.skip:
                continue
            t0 = time.perf_counter()
            try:
                result["parts"][name] = run()
            except Exception as exc:
                result["parts"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                         "traceback": traceback.format_exc()[-2000:]}
            print(f"gpu_check: {name} {'FAILED' if 'error' in result['parts'][name] else 'ok'} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    result["ok"] = all("error" not in p for p in result["parts"].values()) and all(
        "error" not in r for r in result["parts"].get("steps", {}).values() if isinstance(r, dict))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-dry-run" if args.dry_run else "gpu"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(markdown(result))
    print(f"gpu_check: wrote {out / (stem + '.json')} and {out / (stem + '.md')}; all parts passed: {result['ok']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
