"""Distributed correctness without GPUs: collectives use tensors on the process group's device, as NCCL demands,
and batch-norm arms get SyncBatchNorm under DDP on GPUs (wdsr_lib/engine/device.py)."""
import pytest
import torch
import torch.distributed as dist

from wdsr_lib.engine import device as dev
from wdsr_lib.engine.device import DistInfo, all_reduce_mean, collective_device, sync_batch_norm
from wdsr_lib.engine.train import _mean_over_ranks
from wdsr_lib.models import build_model

NCCL_CPU_ERROR = "No backend type associated with device type cpu"  # what an NCCL-only group raises


class NcclLikeGroup:
    """Stands in for torch.distributed under NCCL: a collective accepts tensors on the group's device only and
    raises NCCL's error for any other (CPU) tensor. The group's device here is `meta`, the one non-CPU device a
    CPU-only machine has; the stub records each device it was handed."""

    def __init__(self, device: torch.device):
        self.device, self.devices = device, []

    def all_reduce(self, tensor, op=None, group=None, async_op=False):
        if tensor.device != self.device:
            raise RuntimeError(NCCL_CPU_ERROR)
        self.devices.append(tensor.device)

    def barrier(self, group=None, async_op=False, device_ids=None):
        self.devices.append(("barrier", tuple(device_ids or ())))


@pytest.fixture
def nccl_like(monkeypatch):
    group = NcclLikeGroup(torch.device("meta"))
    monkeypatch.setattr(dist, "all_reduce", group.all_reduce)
    monkeypatch.setattr(dist, "barrier", group.barrier)
    return group


def test_the_stub_rejects_a_cpu_tensor_as_nccl_does(nccl_like):
    with pytest.raises(RuntimeError, match=NCCL_CPU_ERROR):  # the pre-fix _mean_over_ranks did exactly this
        dist.all_reduce(torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("reduce", [lambda info: all_reduce_mean(2.5, info),
                                    lambda info: _mean_over_ranks([2.0, 3.0], info)])
def test_loss_reduction_hands_the_collective_a_tensor_on_the_group_device(nccl_like, reduce):
    info = DistInfo(rank=0, world_size=2, device=torch.device("meta"))
    # The stub does no arithmetic, so reading a meta tensor's value fails afterwards - past the collective,
    # which is the point: NCCL's error would have come first.
    with pytest.raises((RuntimeError, NotImplementedError)) as err:
        reduce(info)
    assert NCCL_CPU_ERROR not in str(err.value)
    assert nccl_like.devices == [torch.device("meta")]


def test_single_process_mean_needs_no_group():
    assert all_reduce_mean(2.5, DistInfo()) == 2.5
    assert _mean_over_ranks([1.0, 2.0, 4.5], DistInfo()) == 2.5


def test_group_device_follows_the_backend():
    gpu = torch.device("cuda", 3)
    assert collective_device("nccl", gpu) == gpu
    assert collective_device("gloo", gpu) == torch.device("cpu")
    assert DistInfo().device == torch.device("cpu")


def test_barrier_names_the_rank_gpu_under_nccl(nccl_like):
    dev.barrier(DistInfo(rank=1, world_size=2, device=torch.device("cuda", 1)))
    dev.barrier(DistInfo(rank=1, world_size=2, device=torch.device("cpu")))
    dev.barrier(DistInfo())  # a single process: no collective at all
    assert nccl_like.devices == [("barrier", (1,)), ("barrier", ())]


def test_batch_norm_arms_get_sync_batch_norm_under_ddp_on_gpus():
    model = build_model("wdsr_a", 2, n_resblocks=2, n_feats=8, block_feats=16, norm="batch")
    keys, params = list(model.state_dict()), list(model.parameters())
    gpus = DistInfo(rank=0, world_size=2, device=torch.device("cuda", 0))
    synced = sync_batch_norm(model, gpus, "batch")
    kinds = {type(m) for m in synced.modules()}
    assert torch.nn.SyncBatchNorm in kinds and torch.nn.BatchNorm2d not in kinds
    assert list(synced.state_dict()) == keys  # checkpoints and model.pt keep their keys
    assert all(a is b for a, b in zip(synced.parameters(), params))  # the optimiser's parameters
    plain = build_model("wdsr_a", 2, n_resblocks=1, n_feats=8, block_feats=16, norm="batch")
    for info, norm in ((DistInfo(0, 2, torch.device("cpu")), "batch"), (DistInfo(), "batch"), (gpus, "weight")):
        assert sync_batch_norm(plain, info, norm) is plain  # gloo (SyncBatchNorm is GPU-only), 1 process, WN
