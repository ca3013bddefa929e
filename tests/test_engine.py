"""Engine: exact resume, learning-rate schedule, NaN handling, checkpoints, autocast choice, DDP trajectory."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from wdsr_lib.engine import checkpoint as ck
from wdsr_lib.engine.device import autocast_dtype
from wdsr_lib.engine.train import TrainingDiverged, lr_at, train

ROOT = Path(__file__).resolve().parents[1]


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "model.pt", weights_only=True)


def test_resumed_run_equals_uninterrupted_run_bitwise(tmp_path):
    cfg = tiny_config(iterations=8)
    straight = train(cfg, tmp_path / "straight", progress=False)
    partial = train(cfg, tmp_path / "resumed", progress=False, stop_after=4)
    assert partial == {"complete": False, "iteration": 4}
    resumed = train(cfg, tmp_path / "resumed", progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(straight["history"]) == strip(resumed["history"])
    assert straight["psnr"] == resumed["psnr"]


def test_learning_rate_halves_on_schedule():
    cfg = tiny_config()  # lr 1e-3 (weight norm), halved every 4 iterations
    assert [lr_at(cfg, s) for s in (0, 3, 4, 7, 8)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    no_wn = replace(cfg, model=replace(cfg.model, norm="none"))
    assert lr_at(no_wn, 0) == 1e-4  # WDSR Sec. 4: 1e-4 without weight norm


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path):
    cfg = tiny_config(iterations=8)
    train(cfg, tmp_path / "run", progress=False, stop_after=2)
    bad = replace(cfg, train=replace(cfg.train, lr=1e30))  # same run dir, explosive learning rate
    with pytest.raises(TrainingDiverged, match="loss became|NaN or infinite"):
        train(bad, tmp_path / "run", progress=False)
    state = ck.latest_good(tmp_path / "run" / "checkpoints")
    assert state is not None and all(torch.isfinite(v).all() for v in state["model"].values())


def test_corrupt_checkpoint_falls_back_to_the_previous_good_one(tmp_path):
    d = tmp_path / "ckpt"
    ck.save_checkpoint(d, 2, {"step": 2, "w": torch.ones(3)})
    newest = ck.save_checkpoint(d, 4, {"step": 4, "w": torch.zeros(3)})
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated
    with pytest.warns(UserWarning, match="checksum"):
        state = ck.latest_good(d)
    assert state["step"] == 2


def test_no_good_checkpoint_restarts_cleanly_and_says_so(tmp_path):
    d = tmp_path / "ckpt"
    path = ck.save_checkpoint(d, 2, {"step": 2})
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning) as record:
        assert ck.latest_good(d) is None
    assert any("restarts from iteration 0" in str(w.message) for w in record)


def test_checkpoint_cannot_run_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    d = tmp_path / "ckpt"
    path = ck.save_checkpoint(d, 2, {"step": 2})
    data = pickle.dumps({"step": Evil()})
    path.write_bytes(data)
    import hashlib
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        ck.load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_rng_state_round_trips():
    import random

    import numpy as np

    state = ck.rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    ck.set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_autocast_dtype_is_what_the_run_asked_for_never_what_the_hardware_has(monkeypatch):
    from wdsr_lib.engine import device as dev

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for amx in (False, True):  # an AMX CPU must not change what "fp32" computes
        monkeypatch.setattr(dev, "cpu_has_amx", lambda amx=amx: amx)
        assert autocast_dtype(cpu, "fp32") is None
        assert autocast_dtype(cuda, "fp32") is None
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    assert autocast_dtype(cuda, "fp16") is torch.float16
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        autocast_dtype(cpu, "fp16")
    with pytest.raises(ValueError, match="precision must be"):
        autocast_dtype(cpu, "auto")


def test_bf16_autocast_training_runs_and_stays_close_to_fp32(tmp_path):
    cfg = tiny_config(iterations=4)
    fp32 = train(cfg, tmp_path / "fp32", progress=False)
    bf16 = train(replace(cfg, train=replace(cfg.train, precision="bf16")), tmp_path / "bf16", progress=False)
    assert bf16["autocast"] == "bfloat16"
    first_fp32, first_bf16 = fp32["history"][0]["train_loss"], bf16["history"][0]["train_loss"]
    assert abs(first_fp32 - first_bf16) < 0.05 * first_fp32


def test_channels_last_training_equals_contiguous_within_tolerance(tmp_path):
    cfg = tiny_config(iterations=2)
    a = train(cfg, tmp_path / "cl", progress=False)
    b = train(replace(cfg, train=replace(cfg.train, channels_last=False)), tmp_path / "nchw", progress=False)
    assert abs(a["psnr"] - b["psnr"]) < 1e-3


@pytest.mark.slow
def test_torchrun_two_processes_follow_the_single_process_trajectory(tmp_path):
    """Two gloo ranks with 2 samples each see exactly the single process's global batch of 4."""
    common = ["--profile", "smoke", "--model", "wdsr_a", "--n-resblocks", "1", "--n-feats", "8",
              "--block-feats", "16", "--iterations", "6", "--precision", "fp32", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "wdsr_lib.cli", "train", *common,
                             "--results-dir", str(tmp_path / "single")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "wdsr_lib.cli", "train", *common, "--results-dir", str(tmp_path / "ddp")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    hist = lambda d: list((d / "runs").glob("*/history.csv"))[0].read_text().splitlines()[1:]  # noqa: E731
    rows = lambda d: [[float(x) for x in line.split(",")[:3]] for line in hist(d)]  # noqa: E731
    for a, b in zip(rows(tmp_path / "single"), rows(tmp_path / "ddp"), strict=True):
        assert a[0] == b[0]
        # Same global batch, same gradients up to float summation order: the trajectories agree closely.
        assert abs(a[1] - b[1]) < 1e-3 * abs(a[1]) and abs(a[2] - b[2]) < 1e-2
    summary = json.loads(list((tmp_path / "ddp" / "runs").glob("*/summary.json"))[0].read_text())
    assert summary["world_size"] == 2
