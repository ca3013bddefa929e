"""The training loop of both papers (WDSR Sec. 4, EDSR Sec. 4.2), read top to bottom (docs/design.md, "Engine").

`train(cfg, run_dir)`: setup (seed, device, model, optimiser, resume), the iteration loop (autocast,
channels_last, L1/L2 loss, lr halving, validation, checkpoints), then the final fp32 evaluation.
Learning rate is a pure function of the iteration; patches are a pure function of (seed, iteration); model,
optimiser, scaler, history and every RNG state are checkpointed, so a resumed run is bit-identical (CPU fp32).
MDSR trains as EDSR Sec. 3.3 describes: one random scale per minibatch over its x2/x3/x4 branches with the
shared body (`data.patches.MultiScaleSampler`, a pure function of (seed, iteration) too); it validates and is
evaluated at `cfg.model.scale`.
"""
from __future__ import annotations

import inspect
import copy
import math
import platform
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wdsr_lib.core.atomic import atomic_file
from wdsr_lib.core.config import RunConfig
from wdsr_lib.core.progress import progress_bar
from wdsr_lib.data import PatchSampler, load_pairs, loader
from wdsr_lib.data.patches import MultiScaleSampler
from wdsr_lib.data.sources import ImagePair
from wdsr_lib.engine.checkpoint import latest_good, list_checkpoints, rng_state, save_checkpoint, set_rng_state
from wdsr_lib.engine.device import (DistInfo, all_reduce_mean, autocast_dtype, barrier, init_distributed, pick_device,
                                    sync_batch_norm)
from wdsr_lib.engine.evaluate import bicubic_baseline, evaluate_pairs, evaluate_protocols
from wdsr_lib.engine.fast import adam, compile_model
from wdsr_lib.engine import fingerprint as _fingerprint  # a module: tests stand in another machine's
from wdsr_lib.models import build, call_model, count_macs, count_parameters
from wdsr_lib.models.mdsr import MDSR


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def diverged(cfg: RunConfig, run_dir: Path, what: str) -> TrainingDiverged:
    """One sentence: what became NaN, the checkpoint kept (only one that exists), and the flag that helps."""
    kept = list_checkpoints(Path(run_dir) / "checkpoints")
    where = f"its last good checkpoint {kept[0]} is kept" if kept else "no checkpoint had been written yet"
    fix = f"lower the learning rate (--lr; this run used {cfg.lr:g})"
    if cfg.model.resolved_norm != "weight":  # WDSR Sec. 3.3 / Fig. 3: weight norm trains stably at 10x the lr
        fix += " or use weight norm (--norm weight)"
    return TrainingDiverged(f"{Path(run_dir).name}: {what}; {where}; {fix}, which starts a new run.")


def lr_at(cfg: RunConfig, step: int) -> float:
    """WDSR Sec. 4: the initial rate, halved every `lr_halve_every` iterations (EDSR: at 2e5 of 3e5)."""
    return cfg.lr * cfg.train.lr_gamma ** (step // cfg.train.lr_halve_every)


def center_crop_pair(pair: ImagePair, hr_side: Optional[int], scale: int) -> ImagePair:
    """A centred crop of at most `hr_side` HR pixels (a multiple of the scale) and its aligned LR crop."""
    if hr_side is None:
        return pair
    lh, lw = pair.lr.shape[:2]
    side = max(1, hr_side // scale)
    ch, cw = min(lh, side), min(lw, side)
    y, x = (lh - ch) // 2, (lw - cw) // 2
    return ImagePair(pair.name, np.ascontiguousarray(pair.lr[y:y + ch, x:x + cw]),
                     np.ascontiguousarray(pair.hr[y * scale:(y + ch) * scale, x * scale:(x + cw) * scale]))


def validation_pairs(cfg: RunConfig, limit: Optional[int], split: str = "val") -> list[ImagePair]:
    """The held-out pairs of `split` under the profile's crop: "val" is validated during training, "test" is
    scored once at the end (the photo set's 16 test photographs; the other sources' test split is their val)."""
    d = cfg.data
    pairs = load_pairs(d.source, cfg.model.scale, split, root=d.root, folder=d.val_folder)
    return [center_crop_pair(p, d.val_crop, cfg.model.scale) for p in pairs[:limit]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _sr(model: nn.Module, x: torch.Tensor, scale: int) -> torch.Tensor:
    """The model's SR of `x` at `scale`; `call_model` looks through a DDP wrapper, so MDSR gets its scale there too."""
    return call_model(model, x, scale)


def _loss(name: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(sr, hr) if name == "l1" else F.mse_loss(sr, hr)


def _val_psnr(model: nn.Module, pairs: list[ImagePair], cfg: RunConfig, device: torch.device) -> dict[str, float]:
    """Validation PSNR (DIV2K protocol) of each held-out image and their mean: {"val_psnr", "val_psnr:<image>"}."""
    rows = evaluate_pairs(model, pairs, cfg.model.scale, "div2k", device=str(device))
    out = {"val_psnr": float(np.mean([r["psnr"] for r in rows]))}
    out.update({f"val_psnr:{r['image']}": float(r["psnr"]) for r in rows})
    return out


def train(cfg: RunConfig, run_dir: Path, *, progress: bool = True,
          stop_after: Optional[int] = None, log: Callable[[str], None] = print,
          initialise: Optional[Callable[[nn.Module], str]] = None) -> dict[str, Any]:
    """Train `cfg` in `run_dir` (resuming from its newest good checkpoint) and return the summary.

    Args:
        initialise: for a config with `init_from`, what loads the source run's weights into the fresh model and
            returns the log line (`wdsr_lib.store.init_from.initialiser`: the store knows where that run lies).
        stop_after: stop (after checkpointing) once this iteration is reached, without the final
            evaluation; for tests of interrupted runs. The returned summary then has "complete": False.
    """
    threads = torch.get_num_threads()
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)  # pinned: fp32 reductions depend on the thread count
    try:
        return _train(cfg, Path(run_dir), progress=progress, stop_after=stop_after, log=log, initialise=initialise)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: RunConfig, run_dir: Path, *, progress: bool, stop_after: Optional[int],
           log: Callable[[str], None], initialise: Optional[Callable[[nn.Module], str]]) -> dict[str, Any]:
    t_start = time.time()
    run_dir, tc = Path(run_dir), cfg.train
    ckpt_dir = run_dir / "checkpoints"
    device = pick_device()
    info: DistInfo = init_distributed(device)
    amp_dtype = autocast_dtype(device, tc.precision)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format

    # --- setup: seed, data, model, optimiser, resume -------------------------------------------------
    seed_everything(tc.seed)
    d = cfg.data
    train_pairs = load_pairs(d.source, cfg.model.scale, "train", root=d.root, folder=d.train_folder)
    sampler = PatchSampler(train_pairs, d.patch_size, cfg.model.scale, tc.batch_size, tc.seed, d.augment,
                           info.rank, info.world_size)
    sampler = multi_scale_sampler(cfg, sampler, info)  # MDSR only (EDSR Sec. 3.3); others keep `sampler`
    val_pairs = validation_pairs(cfg, d.val_images) if info.is_main else []
    model = build(cfg.model)
    if tc.init_from:
        if initialise is None:
            raise ValueError(f"{run_dir.name} starts from run {tc.init_from}: train it through the store "
                             "(`wdsr_lib.store.training.load_or_train`), which loads that run's weights.")
        log(initialise(model))
    model = model.to(device=device, memory_format=memory_format)
    optimizer = adam(model.parameters(), cfg.lr, tc.adam_betas, tc.adam_eps, device)  # fused kernel (fast.py)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    start, history, train_seconds, losses = 0, [], 0.0, []  # losses: the open validation window's
    segments: list[list[float]] = []  # [start, end] unix times of the processes that trained this run so far
    state = latest_good(ckpt_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start, history, train_seconds = state["step"], state["history"], state["train_seconds"]
        losses = list(state.get("pending_losses", []))  # under DDP: rank 0's share of the window
        segments = [list(seg) for seg in state.get("segments", [])]
        log(f"resuming {run_dir.name} at iteration {start}")
    # Every rank seeds identically and resumes from the same file, so the weights already agree: skip DDP's
    # initial broadcast (which rejects some channels_last layouts). Batch norm syncs over the global batch on
    # GPUs (SyncBatchNorm, same parameters and keys); on CPU (gloo) its statistics stay per rank.

    model = sync_batch_norm(model, info, cfg.model.resolved_norm)
    net = (torch.nn.parallel.DistributedDataParallel(model, init_sync=False, broadcast_buffers=False,
                                                     find_unused_parameters=isinstance(sampler, MultiScaleSampler))
           if info.enabled else model)  # MDSR: the other scales' branches get no gradient in a step
    net = compile_model(net, enabled=cfg.train.compile)  # `model` stays eager for checkpoints and evaluation

    seg_start = time.time()  # this process's training segment (the report's elapsed wall time)

    def checkpoint(step: int) -> None:
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise diverged(cfg, run_dir, f"the weights became NaN or infinite by iteration {step}")
        if info.is_main:
            save_checkpoint(ckpt_dir, step, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "rng": rng_state(), "step": step, "history": history, "train_seconds": train_seconds,
                "pending_losses": losses, "segments": segments + [[seg_start, time.time()]]})
        barrier(info)

    # --- the iteration loop -----------------------------------------------------------------------------
    end = tc.iterations if stop_after is None else min(stop_after, tc.iterations)
    bar = progress_bar(total=tc.iterations, initial=start, desc=run_dir.name, disable=not (progress and info.is_main))
    t_seg = time.time()
    batches = sampler_iter(sampler, start, end, d.workers)
    for step in range(start, end):
        lr, hr = next(batches)
        lr = lr.to(device, non_blocking=True).float().contiguous(memory_format=memory_format)
        hr = hr.to(device, non_blocking=True).float().contiguous(memory_format=memory_format)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        net.train()
        with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
            loss = _loss(tc.loss, _sr(net, lr, sampler.scale_at(step)).float(), hr)
        if not torch.isfinite(loss):
            bar.close()
            raise diverged(cfg, run_dir, f"the loss became {loss.item()} at iteration {step + 1} "
                                         f"(lr {lr_at(cfg, step):g})")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
        bar.update(1)
        done = step + 1
        if done % tc.val_every == 0 or done == tc.iterations:
            if not all(torch.isfinite(p).all() for p in model.parameters()):  # never validate NaN weights
                bar.close()
                raise diverged(cfg, run_dir, f"the weights became NaN or infinite by iteration {done}")
            train_seconds += time.time() - t_seg
            row = {"iteration": done, "train_loss": _mean_over_ranks(losses, info), "lr": lr_at(cfg, step),
                   "seconds": round(train_seconds, 3)}
            if info.is_main:
                row.update(_val_psnr(model, val_pairs, cfg, device))
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_psnr=f"{row['val_psnr']:.2f}")
            history.append(row)
            losses = []
            t_seg = time.time()
        if done % tc.checkpoint_every == 0 or done == end:
            train_seconds += time.time() - t_seg
            t_seg = time.time()
            checkpoint(done)
    bar.close()
    if end < tc.iterations:
        return {"complete": False, "iteration": end}

    # --- final evaluation (fp32, full validation split under the profile's crop) -----------------------
    summary: dict[str, Any] = {"complete": True, "iteration": tc.iterations}
    if info.is_main:
        summary.update(final_evaluation(model, cfg, device))
        summary.update({
            "history": history, "train_seconds": train_seconds, "wall_seconds": time.time() - t_start,
            "segments": segments + [[seg_start, time.time()]],  # unix times; elapsed wall time = their union
            "params": count_parameters(model), "macs_per_lr_pixel": count_macs(model, (1, 1), cfg.model.scale),
            "torch": torch.__version__, "device": str(device), "device_name": device_name(device),
            "autocast": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
            "world_size": info.world_size, "host": platform.node(), "lr": cfg.lr,
            "threads": torch.get_num_threads(), "fingerprint": fingerprint(device)})
        with atomic_file(run_dir / "model.pt") as f:  # a kill or full disk leaves no partial model.pt
            torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, f)
    barrier(info)
    return summary


def _mean_over_ranks(losses: list[float], info: DistInfo) -> float:
    """The mean training loss over the global batch (each rank saw an equal share of it), reduced on the
    process group's device (NCCL rejects CPU tensors)."""
    return all_reduce_mean(float(np.mean(losses)), info)


def multi_scale_sampler(cfg: RunConfig, sampler: PatchSampler, info: DistInfo) -> PatchSampler | MultiScaleSampler:
    """For MDSR, a MultiScaleSampler over every scale it has (x2/x3/x4 pairs of the same training images, the
    same LR patch size); `sampler` itself for the single-scale models."""
    if cfg.model.name not in ("mdsr", "mdsr_paper"):
        return sampler
    d, tc = cfg.data, cfg.train
    samplers: dict[int, PatchSampler] = {sampler.scale: sampler}
    for s in inspect.signature(MDSR).parameters["scales"].default:
        if s not in samplers:
            pairs = load_pairs(d.source, s, "train", root=d.root, folder=d.train_folder)
            samplers[s] = PatchSampler(pairs, d.patch_size, s, tc.batch_size, tc.seed, d.augment, info.rank,
                                       info.world_size)
    return MultiScaleSampler(samplers, tc.seed)


def sampler_iter(sampler: PatchSampler, start: int, end: int, workers: int):
    return iter(loader(sampler, start, end, workers))


def final_evaluation(model: nn.Module, cfg: RunConfig, device: torch.device) -> dict[str, Any]:
    """PSNR (DIV2K protocol: RGB, shave s+6), Y-PSNR / SSIM (benchmark protocol), bicubic, optional x8, on every
    image of the source's test split, whole (per image in `per_image`)."""
    pairs = validation_pairs(cfg, None, "test")
    s = cfg.model.scale
    scored = evaluate_protocols(model, pairs, s, ("div2k", "benchmark"), device=str(device))
    div2k, bench = scored["div2k"], scored["benchmark"]  # one SR per image, scored under both protocols
    bic = bicubic_baseline(pairs, s, "div2k")
    out = {
        "psnr": float(np.mean([r["psnr"] for r in div2k])),
        "psnr_y": float(np.mean([r["psnr"] for r in bench])),
        "ssim_y": float(np.mean([r["ssim"] for r in bench])),
        "bicubic_psnr": float(np.mean([r["psnr"] for r in bic])),
        "per_image": [{"image": a["image"], "psnr": a["psnr"], "psnr_y": b["psnr"], "ssim_y": b["ssim"]}
                      for a, b in zip(div2k, bench)],
    }
    if cfg.model.resolved_norm == "batch":
        # WDSR Sec. 3.3, reason 2: BN computes differently in training (batch statistics) and inference (running
        # averages). Score the same weights with batch statistics (each image its own batch), on a copy so
        # the running averages stay untouched.
        rows = evaluate_pairs(_BatchStatistics(model), pairs, s, "div2k", device=str(device))
        out["psnr_bn_train_mode"] = float(np.mean([r["psnr"] for r in rows]))
    if cfg.train.eval_self_ensemble:
        x8 = evaluate_pairs(model, pairs, s, "div2k", device=str(device), self_ensemble=True)
        out["psnr_x8"] = float(np.mean([r["psnr"] for r in x8]))
    return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in out.items()}


class _BatchStatistics(nn.Module):
    """A copy of `model` whose batch-norm layers stay in training mode (batch statistics) even under `.eval()`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = copy.deepcopy(model).train()
        self.multi_scale = getattr(model, "multi_scale", False)

    def train(self, mode: bool = True) -> "_BatchStatistics":
        self.training = mode
        self.inner.train(True)
        return self

    def forward(self, *args):
        return self.inner(*args)


def fingerprint(device: torch.device) -> dict[str, Any]:
    """What decides the float rounding of this computation (not part of the run key: one experiment on two
    machines is one run; `wdsr verify` compares it to choose bitwise or statistical checking)."""
    return _fingerprint.fingerprint(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
