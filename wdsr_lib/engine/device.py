"""Where and in what precision a run computes: device choice, autocast dtype, DistributedDataParallel setup.

CUDA when present, else CPU (`docs/design.md`); fp32 unless a run asks for bf16 or fp16 autocast (fp16 with
gradient scaling, GPUs only); evaluation always fp32.
torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; NCCL on GPU, gloo on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import torch
import torch.distributed as dist

from wdsr_lib.core import env


def check_device_name(name: str, source: str = "$WDSR_DEVICE") -> torch.device:
    """The torch device `name` names, if this machine has it; else ValueError in one sentence naming `source`."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{source} must name a torch device such as cpu, cuda or cuda:1; got {name!r}.") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "this torch is a CPU-only build" if torch.version.cuda is None else "torch sees no CUDA GPU here"
            raise ValueError(f"{source} is {name!r}, but {why}; unset it to use the CPU, or run where a GPU is.")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{source} is {name!r}, but this machine has {count} CUDA GPU(s) (cuda:0 to "
                             f"cuda:{count - 1}).")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{source} is {name!r}, but MPS (Apple GPUs) is not available here; unset it.")
    elif device.type != "cpu":
        raise ValueError(f"{source} is {name!r}; this program runs on cpu, cuda or mps devices only.")
    return device


def check_launch() -> None:
    """$WDSR_DEVICE, $WORLD_SIZE, $RANK and $LOCAL_RANK describe a launch that can run, else ValueError in one
    sentence naming the variable (called before anything is written: `preflight.check_trainable`).

    A rank without a world (`RANK=1` alone) would train without the store's lock and write no record; a
    `WORLD_SIZE` above 1 without torchrun (no `MASTER_ADDR` / `MASTER_PORT`) would fail inside torch.distributed.
    """
    name = env.get("WDSR_DEVICE")
    if name:
        check_device_name(name)
    world, rank, local = env.get_int("WORLD_SIZE"), env.get_int("RANK"), env.get_int("LOCAL_RANK")
    if world < 1:
        raise ValueError(f"$WORLD_SIZE must be 1 or more; got {world}.")
    if not 0 <= rank < world:
        raise ValueError(f"$RANK is {rank} but $WORLD_SIZE is {world}: a rank must be from 0 to WORLD_SIZE - 1, and "
                         "ranks other than 0 exist only under torchrun; unset RANK (and WORLD_SIZE) to train in one "
                         "process.")
    if local < 0:
        raise ValueError(f"$LOCAL_RANK must be 0 or more; got {local}.")
    if world > 1 and not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
        raise ValueError(f"$WORLD_SIZE is {world} but $MASTER_ADDR / $MASTER_PORT are unset, so this process was not "
                         f"started by torchrun; start it with `torchrun --nproc_per_node {world} -m wdsr_lib.cli "
                         "train ...`, or unset WORLD_SIZE to train in one process.")


def pick_device(requested: Optional[str] = None) -> torch.device:
    """`requested` or $WDSR_DEVICE if given, else CUDA (this rank's GPU under torchrun) when present, else CPU."""
    if requested:
        return check_device_name(requested, "the device")
    name = env.get("WDSR_DEVICE")
    if name:
        return check_device_name(name)
    if torch.cuda.is_available():
        return torch.device("cuda", env.get_int("LOCAL_RANK"))
    return torch.device("cpu")


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """AMX tiles make bf16 convs faster than fp32 on a CPU; AVX512-BF16 alone does not (benchmarks/)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags


def autocast_dtype(device: torch.device, precision: str) -> Optional[torch.dtype]:
    """The autocast dtype for training, or None for plain fp32 (the papers' precision and the default).

    Args:
        precision: "fp32" (TF32 convolutions stay allowed on Ampere+ GPUs, PyTorch's default) | "bf16" | "fp16".
            Nothing is chosen from the hardware: the same config is the same computation on every machine.
    Raises:
        ValueError: an unknown precision, or fp16 on a CPU (autocast has no fp16 CPU path worth training in).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("precision fp16 needs a CUDA device; use --precision fp32 or bf16 on a CPU.")
        return torch.float16
    raise ValueError(f"precision must be fp32, bf16 or fp16; got {precision!r}.")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the torchrun group, and the device its collectives' tensors must live on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")  # the rank's GPU under NCCL (which rejects CPU tensors), else CPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group if there is one (NCCL on GPU, gloo on CPU)."""
    world = env.get_int("WORLD_SIZE")
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    device=collective_device(dist.get_backend(), device))


def close_distributed() -> None:
    """Leave the torchrun process group before the interpreter exits. A gloo group left to interpreter teardown
    can abort its rank with SIGABRT ("terminate called without an active exception"), failing a finished run."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def collective_device(backend: str, device: torch.device) -> torch.device:
    """Where a collective's tensors must be: NCCL reduces CUDA tensors only (a CPU tensor raises "No backend
    type associated with device type cpu" at the first collective); gloo reduces CPU tensors."""
    return device if backend == "nccl" else torch.device("cpu")


def all_reduce_mean(value: float, info: DistInfo) -> float:
    """The mean of `value` over the ranks, reduced as a float64 tensor on the group's device (`info.device`)."""
    mean = torch.tensor(float(value), dtype=torch.float64, device=info.device)
    if info.enabled:
        dist.all_reduce(mean)
        mean /= info.world_size
    return float(mean.item())


def sync_batch_norm(model: torch.nn.Module, info: DistInfo, norm: str) -> torch.nn.Module:
    """Batch-norm arms under DDP on GPUs: BatchNorm2d -> SyncBatchNorm, so the statistics are those of the
    global batch of 16 as in a single process (WDSR Sec. 3.3 / Fig. 3 trains BN on one batch).

    Only where SyncBatchNorm runs (CUDA / NCCL); on CPU (gloo) the statistics stay per rank. The parameters are
    the same objects (an optimiser built on `model` keeps working) and the state-dict keys are unchanged.
    """
    if info.enabled and norm == "batch" and info.device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def barrier(info: DistInfo) -> None:
    if info.enabled:
        if info.device.type == "cuda":  # NCCL: name the rank's GPU instead of letting it guess
            dist.barrier(device_ids=[info.device.index or 0])
        else:
            dist.barrier()
