"""MDSR trained as EDSR Sec. 3.3 describes: one random scale per minibatch over x2/x3/x4 with a shared body; the
scale, like the patches, is a pure function of (seed, step), so an interrupted and resumed run equals the
uninterrupted one bitwise."""
import csv
import os
import subprocess
import sys
from collections import Counter
from functools import lru_cache

import pytest
import torch

from wdsr_lib.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from wdsr_lib.data import PatchSampler, load_pairs
from wdsr_lib.data.patches import MultiScaleSampler
from wdsr_lib.engine.device import DistInfo
from wdsr_lib.engine.train import multi_scale_sampler, seed_everything, train
from wdsr_lib.models import build

from conftest import tiny_config


def mdsr_config(iterations: int = 8) -> RunConfig:
    return RunConfig(
        model=ModelConfig(name="mdsr", scale=2, n_resblocks=1, n_feats=8),
        data=DataConfig(source="sample", patch_size=12, val_images=1, val_crop=48),
        train=TrainConfig(iterations=iterations, batch_size=4, val_every=2, checkpoint_every=2, lr_halve_every=4,
                          precision="fp32", seed=0),
    )


@lru_cache(maxsize=None)
def _pairs(scale):
    return load_pairs("sample", scale, "train")


def samplers(seed=0, rank=0, world_size=1, batch=4):
    return {s: PatchSampler(_pairs(s), 12, s, batch, seed, True, rank, world_size) for s in (2, 3, 4)}


def test_scale_per_minibatch_is_a_pure_uniform_function_of_seed_and_step():
    own = samplers()
    a, b = MultiScaleSampler(own, 0), MultiScaleSampler(samplers(), 0)
    draws = [a.scale_at(step) for step in range(3000)]
    assert draws == [b.scale_at(step) for step in range(3000)]  # another instance: same scales
    assert draws != [MultiScaleSampler(samplers(seed=1), 1).scale_at(s) for s in range(3000)]  # another seed
    assert all(abs(n / 3000 - 1 / 3) < 0.03 for n in Counter(draws).values()) and set(draws) == {2, 3, 4}
    for step in range(6):
        lr, hr = a.batch(step)
        s = a.scale_at(step)
        assert lr.shape == (4, 3, 12, 12) and hr.shape == (4, 3, 12 * s, 12 * s)  # EDSR: same LR patch size
        assert torch.equal(hr, own[s].batch(step)[1])  # that scale's own batch of the step


def test_ddp_ranks_draw_the_same_scale_and_split_its_batch():
    whole = MultiScaleSampler(samplers(batch=4), 0)
    ranks = [MultiScaleSampler(samplers(rank=r, world_size=2, batch=4), 0) for r in (0, 1)]
    for step in range(5):
        assert ranks[0].scale_at(step) == ranks[1].scale_at(step) == whole.scale_at(step)
        lr = torch.cat([r.batch(step)[0] for r in ranks])
        assert torch.equal(lr, whole.batch(step)[0])


def test_only_mdsr_trains_multi_scale():
    cfg = tiny_config()
    single = PatchSampler(_pairs(2), 12, 2, 4, 0)
    assert multi_scale_sampler(cfg, single, DistInfo()) is single  # every other model: untouched path
    assert all(single.scale_at(step) == 2 for step in range(10))
    multi = multi_scale_sampler(mdsr_config(), single, DistInfo())
    assert isinstance(multi, MultiScaleSampler) and multi.scales == (2, 3, 4) and multi.samplers[2] is single


def test_interrupted_and_resumed_mdsr_equals_uninterrupted_bitwise(tmp_path):
    cfg = mdsr_config(iterations=8)
    straight = train(cfg, tmp_path / "straight", progress=False)
    assert train(cfg, tmp_path / "resumed", progress=False, stop_after=3) == {"complete": False, "iteration": 3}
    resumed = train(cfg, tmp_path / "resumed", progress=False)
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(straight["history"]) == strip(resumed["history"])
    assert straight["psnr"] == resumed["psnr"]


def test_every_drawn_scale_trains_its_branch_and_the_shared_body(tmp_path):
    cfg = mdsr_config(iterations=6)
    drawn = {MultiScaleSampler(samplers(), 0).scale_at(step) for step in range(6)}
    train(cfg, tmp_path / "run", progress=False)
    seed_everything(cfg.train.seed)
    init = build(cfg.model).state_dict()  # what train() starts from
    final = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    changed = lambda prefix: any(not torch.equal(init[k], final[k]) for k in init if k.startswith(prefix))  # noqa
    assert changed("body.") and changed("head.")
    for i, s in enumerate((2, 3, 4)):
        assert changed(f"upsample.{i}.") == (s in drawn) and changed(f"pre_process.{i}.") == (s in drawn)
    assert drawn == {3, 4}  # seed 0: x2 is not drawn in 6 steps, so both outcomes are checked


@pytest.mark.slow
def test_mdsr_under_torchrun_follows_the_single_process_trajectory(tmp_path):
    """Two gloo ranks: every rank draws the same scale per step, DDP tolerates the idle branches' parameters."""
    common = ["--profile", "smoke", "--model", "mdsr", "--n-resblocks", "1", "--n-feats", "8", "--iterations", "6",
              "--precision", "fp32", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "wdsr_lib.cli", "train", *common, "--results-dir",
                             str(tmp_path / "single")], env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    # Each rank runs `wdsr train` and then reports whether it left the process group: a gloo group left to
    # interpreter teardown can abort a finished rank with SIGABRT ("terminate called without an active exception").
    rank_main = tmp_path / "rank_main.py"
    rank_main.write_text(
        "import os, sys\nimport torch.distributed as dist\nfrom wdsr_lib.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "left = os.path.join(os.environ['LEFT_DIR'], 'rank' + os.environ['RANK'])\n"
        "open(left, 'w').write(str(dist.is_initialized()))\n"
        "sys.exit(code)\n")
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(rank_main), "train", *common, "--results-dir", str(tmp_path / "ddp")],
                         env={**env, "LEFT_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["False", "False"]  # both left the group

    def losses(d):
        (history,) = (d / "runs").glob("*/history.csv")
        with open(history, newline="") as f:
            return [float(row["train_loss"]) for row in csv.DictReader(f)]

    a, b = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert len(a) == len(b) > 0 and all(abs(x - y) < 1e-3 * abs(x) for x, y in zip(a, b))
