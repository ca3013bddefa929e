"""Results store: load-or-train semantics, concurrent writers, collect(), damaged and unwritable stores."""
import json
import multiprocessing as mp
from dataclasses import replace

import pytest

from conftest import tiny_config
from wdsr_lib import store


def test_load_or_train_trains_once_then_loads(tmp_path):
    cfg = tiny_config(iterations=2)
    first = store.load_or_train(cfg, tmp_path, progress=False)
    assert first.trained and (first.run_dir / "DONE").exists()
    second = store.load_or_train(cfg, tmp_path, progress=False)
    assert not second.trained and second.summary == first.summary
    assert store.trained_runs(tmp_path) == [first.name]  # the ledger saw one training only
    assert json.loads((first.run_dir / "config.json").read_text())["key"] == cfg.key()


def test_done_run_returns_without_training(tmp_path, monkeypatch):
    cfg = tiny_config(iterations=2)
    store.load_or_train(cfg, tmp_path, progress=False)
    import wdsr_lib.engine.train as engine

    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("a DONE run was trained again"))
    assert store.load_or_train(cfg, tmp_path, progress=False).trained is False


def test_unfinished_run_resumes_from_its_checkpoint(tmp_path):
    from wdsr_lib.engine.train import train

    cfg = tiny_config(iterations=4)
    run_dir = store.run_dir_for(cfg, tmp_path)
    train(cfg, run_dir, progress=False, stop_after=2)
    assert not (run_dir / "DONE").exists()
    record = store.load_or_train(cfg, tmp_path, progress=False)
    assert record.trained and [h["iteration"] for h in record.history] == [2, 4]


def test_config_hash_changes_with_any_field_and_code_version(monkeypatch):
    cfg = tiny_config()
    assert cfg.key() == tiny_config().key()
    assert cfg.key() != replace(cfg, train=replace(cfg.train, seed=1)).key()
    assert cfg.key() != replace(cfg, data=replace(cfg.data, patch_size=13)).key()
    import wdsr_lib.config as config

    before = cfg.key()
    monkeypatch.setattr(config, "CODE_VERSION", "test-bump")
    assert cfg.key() != before


def _worker(results_dir, seeds):
    for seed in seeds:
        store.load_or_train(tiny_config(iterations=2, seed=seed), results_dir, progress=False)


@pytest.mark.slow
def test_four_processes_writing_one_store_leave_every_run_complete_and_done_once(tmp_path):
    ctx = mp.get_context("spawn")
    jobs = [ctx.Process(target=_worker, args=(tmp_path, order)) for order in
            ([0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1])]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(timeout=600)
        assert j.exitcode == 0
    runs = sorted((tmp_path / "runs").glob("*/DONE"))
    assert len(runs) == 3
    for done in runs:
        record = store.load_record(done.parent)  # complete: config, history and summary all parse
        assert record.history and record.summary["complete"]
        assert not list(done.parent.glob(".*.tmp"))
    ledger = store.trained_runs(tmp_path)
    assert sorted(ledger) == sorted(d.parent.name for d in runs)  # each run trained exactly once


def test_collect_returns_long_form_frame(tmp_path):
    store.load_or_train(tiny_config(iterations=2), tmp_path, progress=False)
    store.load_or_train(tiny_config(iterations=2, seed=1), tmp_path, progress=False)
    df = store.collect(tmp_path)
    assert set(df["seed"]) == {0, 1}
    assert {"train_loss", "val_psnr", "psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params"} <= set(df["metric"])
    curve = df[(df.metric == "val_psnr") & (df.seed == 0)]
    assert list(curve["iteration"]) == [2.0]


def test_unwritable_store_gives_a_clear_error_and_no_done(tmp_path):
    (tmp_path / "runs").write_text("not a directory")  # fails for root too, unlike chmod
    with pytest.raises(store.StoreError, match="cannot write the results store"):
        store.load_or_train(tiny_config(iterations=2), tmp_path, progress=False)
    assert not list(tmp_path.rglob("DONE"))


def test_write_error_during_record_leaves_no_done(tmp_path, full_disk):
    cfg = tiny_config(iterations=2)
    with pytest.raises(store.StoreError, match="No space left on device"):
        store.load_or_train(cfg, tmp_path, progress=False)
    assert not (store.run_dir_for(cfg, tmp_path) / "DONE").exists()
    full_disk()  # space freed
    assert store.load_or_train(cfg, tmp_path, progress=False).trained  # a rerun finishes the record


def test_runs_record_their_training_segments_and_the_elapsed_time_is_their_union(tmp_path):
    """A run killed after its first checkpoint and resumed records two segments; the profile's elapsed training
    time counts overlapping runs once (`frames.elapsed_training`)."""
    from wdsr_lib.engine.train import train
    from wdsr_lib.frames import union_length

    cfg = tiny_config()
    cfg = replace(cfg, train=replace(cfg.train, iterations=4, checkpoint_every=2, val_every=2))
    run_dir = tmp_path / "run"
    assert train(cfg, run_dir, stop_after=2)["complete"] is False
    summary = train(cfg, run_dir)
    segs = summary["segments"]
    assert len(segs) == 2 and all(a <= b for a, b in segs) and segs[0][1] <= segs[1][0]
    assert union_length([(0, 2), (1, 3), (5, 6)]) == 4 and union_length([(0, 5), (1, 2)]) == 5
    assert union_length([]) == 0


def test_elapsed_training_of_a_profile_counts_each_stored_run_once(smoke_store):
    from wdsr_lib import frames

    out = frames.elapsed_training("smoke", smoke_store)
    walls = [json.loads(p.read_text())["wall_seconds"] for p in smoke_store.glob("runs/*/summary.json")]
    assert out["timed"] == len(walls) > 1 and out["untimed"] == 0
    assert 0 < out["seconds"] <= sum(walls)  # trained one after another: the union is their own spans
