"""Validation before the store is touched; runs that did not train leave no trace; --init-from all or nothing.

(wdsr_lib/store/preflight.py, wdsr_lib/store/runs.py, wdsr_lib/store/init_from.py, wdsr_lib/data/div2k.py)
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import tiny_config  # noqa: E402
from conftest_data import write_div2k  # noqa: E402

from wdsr_lib.store import runs as store  # noqa: E402
from wdsr_lib.store.training import load_or_train  # noqa: E402
from wdsr_lib.core.config import DataConfig, ModelConfig  # noqa: E402
from wdsr_lib.data.errors import DataError  # noqa: E402
from wdsr_lib.engine import train as engine_train  # noqa: E402
from wdsr_lib.models import build  # noqa: E402
from wdsr_lib.store.init_from import init_weights_from, plan_transfer  # noqa: E402


def untouched(results: Path) -> bool:
    """No run folder and no ledger line (the `runs` folder itself may not even exist)."""
    runs = results / "runs"
    return not runs.exists() or (not any(p.is_dir() for p in runs.iterdir()) and store.trained_runs(results) == [])


def fake_run(results: Path, model: ModelConfig, name: str | None = None) -> Path:
    """A DONE run in the store with the weights of `model` (random init: only names and values matter here),
    under its own run name with a complete record (a source is checked to be the run its name says)."""
    cfg = replace(tiny_config(), model=model)
    run = results / "runs" / (name or cfg.run_name())
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "key": cfg.key()}))
    (run / "summary.json").write_text(json.dumps(dict.fromkeys(store.REQUIRED_SUMMARY, 1)))
    (run / "history.csv").write_text("iteration,train_loss,val_psnr,lr,seconds\n2,0.1,20.0,0.001,0.1\n")
    torch.manual_seed(3)
    torch.save(build(model).state_dict(), run / "model.pt")
    (run / "DONE").write_text("done\n")
    return run


TINY = dict(name="wdsr_a", n_resblocks=2, n_feats=8, block_feats=16)


@pytest.mark.parametrize("change, phrase", [
    (lambda c: replace(c, train=replace(c.train, lr=float("nan"))), "TrainConfig.lr must be a finite number; got nan"),
    (lambda c: replace(c, train=replace(c.train, lr=float("inf"))), "(the --lr flag)"),
    (lambda c: replace(c, model=replace(c.model, res_scale=float("nan"))), "ModelConfig.res_scale must be a finite"),
    (lambda c: replace(c, train=replace(c.train, seed=-1)), "seed must be an integer from 0 to 4294967295"),
    (lambda c: replace(c, train=replace(c.train, seed=2**32)), "(the --seed flag)"),
    (lambda c: replace(c, train=replace(c.train, init_from="no-such-run")), "there is no run of that name"),
    (lambda c: replace(c, data=DataConfig(source="div2k", patch_size=12, val_images=1)), "needs DIV2K under"),
    (lambda c: replace(c, data=DataConfig(source="folder", train_folder="absent", val_folder="absent")),
     "is not a folder"),
])
def test_a_bad_setting_fails_before_the_store_is_touched(tmp_path, monkeypatch, change, phrase):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "no-data"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        load_or_train(change(tiny_config()), tmp_path / "results", progress=False)
    assert phrase in str(err.value) and "\n" not in str(err.value)
    assert not isinstance(err.value, store.StoreError)  # never reported as an unwritable store
    assert untouched(tmp_path / "results")


def test_an_unknown_init_from_suggests_the_nearest_finished_run(tmp_path):
    fake_run(tmp_path, ModelConfig(**TINY), "wdsr_a-x2-b2-weight-s0-0123456789ab")
    cfg = replace(tiny_config(), train=replace(tiny_config().train, init_from="wdsr_a-x2-b2-weight-s0-0123456789"))
    with pytest.raises(ValueError, match=r"did you mean wdsr_a-x2-b2-weight-s0-0123456789ab\?"):
        load_or_train(cfg, tmp_path, progress=False)


def test_init_from_an_unfinished_run_or_one_without_weights_names_the_fix(tmp_path):
    run = fake_run(tmp_path, ModelConfig(**TINY))
    cfg = replace(tiny_config(scale=4), train=replace(tiny_config().train, init_from=run.name))
    (run / "model.pt").unlink()
    with pytest.raises(ValueError, match=f"rebuild them with `wdsr rebuild {run.name}`"):
        load_or_train(cfg, tmp_path, progress=False)
    (run / "DONE").unlink()
    with pytest.raises(ValueError, match="is unfinished"):
        load_or_train(cfg, tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [run.name]


def test_edsr_x4_from_a_wdsr_a_x2_run_fails_and_says_how_much_could_be_transferred(tmp_path):
    run = fake_run(tmp_path, ModelConfig(**TINY))
    target = ModelConfig(name="edsr", scale=4, n_resblocks=2, n_feats=8)
    cfg = replace(tiny_config(), model=target, train=replace(tiny_config().train, init_from=run.name))
    with pytest.raises(ValueError) as err:
        load_or_train(cfg, tmp_path, progress=False)
    message = str(err.value)
    assert f"--init-from {run.name} is a wdsr_a x2 run whose weights are not those of this edsr at x2" in message
    assert "tensors the scales share could be transferred" in message and "drop --init-from" in message
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [run.name]  # nothing new in the store


def test_x4_from_x2_transfers_every_shared_tensor_exactly_and_only_the_upsampler_is_fresh(tmp_path):
    run = fake_run(tmp_path, ModelConfig(**TINY))
    source = torch.load(run / "model.pt", weights_only=True)
    target = ModelConfig(**TINY, scale=4)
    transfer = plan_transfer(target, run)
    model = build(target)
    fresh_before = {k: v.clone() for k, v in model.state_dict().items()}
    init_weights_from(model, run, replace(tiny_config(), model=target))
    after = model.state_dict()
    assert sorted(transfer.fresh) == sorted(["tail.weight", "tail.bias", "tail.weight_g", "skip.weight", "skip.bias",
                                             "skip.weight_g"])  # WDSR's scale-specific convolutions
    for k, v in after.items():
        if k in transfer.fresh:
            assert torch.equal(v, fresh_before[k]), k
        else:
            assert torch.equal(v, source[k]), k
    assert len(transfer.state) == len(after) - 6
    assert f"transferred {len(after) - 6} tensors (rgb_mean, head, body); kept fresh 6" in transfer.summary()


def test_edsr_x4_from_edsr_x2_keeps_only_the_second_upsampler_stage_fresh(tmp_path):
    run = fake_run(tmp_path, ModelConfig(name="edsr", n_resblocks=1, n_feats=8))
    transfer = plan_transfer(ModelConfig(name="edsr", scale=4, n_resblocks=1, n_feats=8), run)
    assert transfer.fresh == ["upsample.2.weight", "upsample.2.bias"]


def test_an_incomplete_div2k_is_refused_with_its_counts_before_training(tmp_path, monkeypatch):
    root = write_div2k(tmp_path / "div2k", scales=(2,), ids={"train": range(1, 4), "valid": range(801, 803)})
    cfg = replace(tiny_config(), data=DataConfig(source="div2k", root=str(root), patch_size=12, val_images=10))
    with pytest.raises(DataError) as err:
        load_or_train(cfg, tmp_path / "results", progress=False)
    message = str(err.value)
    assert "DIV2K_train_HR holds 3 of its 800 images (missing 0004.png, 0005.png, 0006.png and 794 more)" in message
    assert "DIV2K_valid_HR holds 2 of its 100 images" in message
    assert f"`wdsr data download div2k --root {root} --scales 2`" in message and "remove the incomplete" in message
    assert untouched(tmp_path / "results")


def test_a_complete_div2k_passes_and_a_wrongly_sized_lr_image_does_not(tmp_path):
    from wdsr_lib.data.div2k import check_div2k, div2k_problems
    from conftest_data import write_png, random_rgb

    root = write_div2k(tmp_path, scales=(3,))
    check_div2k(root, [3], needed_by="test")
    write_png(root / "DIV2K_valid_LR_bicubic" / "X3" / "0900x3.png", random_rgb(2, 2))
    assert div2k_problems(root, [3]) == ["DIV2K_valid_LR_bicubic/X3 has 1 images whose size is not HR // 3 "
                                         "(0900x3.png is 2x2, not 4x2)"]


def test_a_run_failing_before_its_first_checkpoint_leaves_no_folder_and_no_ledger_line(tmp_path, monkeypatch):
    def fail(cfg, run_dir, **kw):
        assert (Path(run_dir) / "config.json").exists()
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_train, "train", fail)
    with pytest.raises(RuntimeError, match="boom"):
        load_or_train(tiny_config(), tmp_path, progress=False)
    assert untouched(tmp_path)


def test_only_runs_trained_to_done_are_in_the_ledger(tmp_path, monkeypatch):
    real = engine_train.train
    cfg = tiny_config(iterations=4)

    def killed_after_a_checkpoint(cfg, run_dir, **kw):
        real(cfg, run_dir, progress=False, stop_after=2)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_train, "train", killed_after_a_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        load_or_train(cfg, tmp_path, progress=False)
    run_dir = store.run_dir_for(cfg, tmp_path)
    assert any((run_dir / "checkpoints").glob("ckpt-*.pt")) and store.trained_runs(tmp_path) == []  # kept: resumable
    monkeypatch.setattr(engine_train, "train", real)
    assert load_or_train(cfg, tmp_path, progress=False).trained
    assert load_or_train(cfg, tmp_path, progress=False).trained is False
    assert store.trained_runs(tmp_path) == [run_dir.name]


HOLD = """
import sys, time
from pathlib import Path
from wdsr_lib.store import runs as store
run_dir = Path(sys.argv[1])
with store._locked(run_dir):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    if sys.argv[3] == "discard":
        store._discard_if_empty(run_dir)
"""


@pytest.mark.parametrize("then", ["keep", "discard"])
def test_a_process_waiting_on_a_lock_says_so_once_and_starts_over_if_the_folder_went(tmp_path, capsys, then):
    run_dir = tmp_path / "runs" / "r"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), "2", then], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    t = time.time()
    with store._locked(run_dir):
        waited = time.time() - t
        assert (run_dir / ".lock").read_text().strip() == str(__import__("os").getpid())
    holder.wait(timeout=60)
    err = capsys.readouterr().err.strip().splitlines()
    assert waited > 1 and len(err) == 1
    assert err[0].startswith(f"waiting: process {holder.pid} is training r (it holds {run_dir / '.lock'})")


def test_an_os_error_outside_the_store_keeps_its_own_message(tmp_path, monkeypatch):
    """Only a failure to write the store is reported as one (a data file it cannot read names that file)."""
    def unreadable(cfg, run_dir, **kw):
        raise PermissionError(13, "Permission denied", str(tmp_path / "data" / "0001.png"))

    monkeypatch.setattr(engine_train, "train", unreadable)
    with pytest.raises(PermissionError, match="0001.png"):
        load_or_train(tiny_config(), tmp_path / "results", progress=False)

    def full(cfg, run_dir, **kw):
        raise OSError(28, "No space left on device", str(Path(run_dir) / "checkpoints" / "ckpt-00000002.pt"))

    monkeypatch.setattr(engine_train, "train", full)
    with pytest.raises(store.StoreError, match="cannot write the results store .*No space left on device"):
        load_or_train(tiny_config(), tmp_path / "results", progress=False)
    assert untouched(tmp_path / "results")
