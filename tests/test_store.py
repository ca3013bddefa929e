"""Results store: load-or-train semantics, concurrent writers, collect(), damaged and unwritable stores."""
import json
import multiprocessing as mp
from dataclasses import replace

import pytest

from conftest import tiny_config
from wdsr_lib.store import runs as store
from wdsr_lib.store.training import load_or_train


def test_load_or_train_trains_once_then_loads(tmp_path):
    cfg = tiny_config(iterations=2)
    first = load_or_train(cfg, tmp_path, progress=False)
    assert first.trained and (first.run_dir / "DONE").exists()
    second = load_or_train(cfg, tmp_path, progress=False)
    assert not second.trained and second.summary == first.summary
    assert store.trained_runs(tmp_path) == [first.name]  # the ledger saw one training only
    assert json.loads((first.run_dir / "config.json").read_text())["key"] == cfg.key()


def test_done_run_returns_without_training(tmp_path, monkeypatch):
    cfg = tiny_config(iterations=2)
    load_or_train(cfg, tmp_path, progress=False)
    import wdsr_lib.engine.train as engine

    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("a DONE run was trained again"))
    assert load_or_train(cfg, tmp_path, progress=False).trained is False


def test_unfinished_run_resumes_from_its_checkpoint(tmp_path):
    from wdsr_lib.engine.train import train

    cfg = tiny_config(iterations=4)
    run_dir = store.run_dir_for(cfg, tmp_path)
    train(cfg, run_dir, progress=False, stop_after=2)
    assert not (run_dir / "DONE").exists()
    record = load_or_train(cfg, tmp_path, progress=False)
    assert record.trained and [h["iteration"] for h in record.history] == [2, 4]


def test_config_hash_changes_with_any_field_and_code_version(monkeypatch):
    cfg = tiny_config()
    assert cfg.key() == tiny_config().key()
    assert cfg.key() != replace(cfg, train=replace(cfg.train, seed=1)).key()
    assert cfg.key() != replace(cfg, data=replace(cfg.data, patch_size=13)).key()
    import wdsr_lib.core.config as config

    before = cfg.key()
    monkeypatch.setattr(config, "CODE_VERSION", "test-bump")
    assert cfg.key() != before


def _worker(results_dir, seeds):
    for seed in seeds:
        load_or_train(tiny_config(iterations=2, seed=seed), results_dir, progress=False)


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


def _session_worker(results_dir, session):
    import os

    os.environ["WDSR_SESSION"] = session
    load_or_train(tiny_config(iterations=2), results_dir, progress=False)


@pytest.mark.slow
def test_two_sessions_sharing_a_store_each_count_only_the_runs_they_trained(tmp_path):
    """Two `wdsr reproduce` calls on one store both need one run: one trains it, the other waits for its lock and
    loads it. The ledger tags each training with its $WDSR_SESSION, so exactly one of them counts it."""
    ctx = mp.get_context("spawn")
    jobs = [ctx.Process(target=_session_worker, args=(tmp_path, s)) for s in ("first", "second")]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(timeout=600)
        assert j.exitcode == 0
    name = tiny_config(iterations=2).run_name()
    assert store.trained_runs(tmp_path) == [name]
    counted = store.trained_runs(tmp_path, session="first") + store.trained_runs(tmp_path, session="second")
    assert counted == [name]  # before the tag, each session's "trained" counted every new ledger line
    assert store.trained_runs(tmp_path, session="other") == []


def test_a_ledger_that_cannot_be_appended_to_leaves_the_run_stored_and_says_so(tmp_path):
    """The ledger line is written after DONE; a full disk (here: a folder in the ledger's place) at that moment
    must not fail a run that is already stored, only the count of trained runs misses it."""
    (tmp_path / "runs" / "ledger.jsonl").mkdir(parents=True)
    with pytest.warns(UserWarning, match=r"could not append to .*ledger.jsonl .*is finished and stored"):
        record = load_or_train(tiny_config(iterations=2), tmp_path, progress=False)
    assert record.trained and (record.run_dir / "DONE").exists()


def test_collect_returns_long_form_frame(tmp_path):
    load_or_train(tiny_config(iterations=2), tmp_path, progress=False)
    load_or_train(tiny_config(iterations=2, seed=1), tmp_path, progress=False)
    df = store.collect(tmp_path)
    assert set(df["seed"]) == {0, 1}
    assert {"train_loss", "val_psnr", "psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params"} <= set(df["metric"])
    curve = df[(df.metric == "val_psnr") & (df.seed == 0)]
    assert list(curve["iteration"]) == [2.0]


def test_unwritable_store_gives_a_clear_error_and_no_done(tmp_path):
    (tmp_path / "runs").write_text("not a directory")  # fails for root too, unlike chmod
    with pytest.raises(store.StoreError, match="cannot write the results store"):
        load_or_train(tiny_config(iterations=2), tmp_path, progress=False)
    assert not list(tmp_path.rglob("DONE"))


def test_write_error_during_record_leaves_no_done(tmp_path, full_disk):
    cfg = tiny_config(iterations=2)
    with pytest.raises(store.StoreError, match="No space left on device"):
        load_or_train(cfg, tmp_path, progress=False)
    assert not (store.run_dir_for(cfg, tmp_path) / "DONE").exists()
    full_disk()  # space freed
    assert load_or_train(cfg, tmp_path, progress=False).trained  # a rerun finishes the record


def test_runs_record_their_training_segments_and_the_elapsed_time_is_their_union(tmp_path):
    """A run killed after its first checkpoint and resumed records two segments; the profile's elapsed training
    time counts overlapping runs once (`frames.elapsed_training`)."""
    from wdsr_lib.engine.train import train
    from wdsr_lib.study.frames import union_length

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
    from wdsr_lib.study import frames

    out = frames.elapsed_training("smoke", smoke_store)
    walls = [json.loads(p.read_text())["wall_seconds"] for p in smoke_store.glob("runs/*/summary.json")]
    assert out["timed"] == len(walls) > 1 and out["untimed"] == 0
    assert 0 < out["seconds"] <= sum(walls)  # trained one after another: the union is their own spans


# --- records that know who they are (issue 26) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    a = load_or_train(tiny_config(iterations=2), root, progress=False)
    b = load_or_train(tiny_config(iterations=2, seed=1), root, progress=False)
    return root, a.name, b.name


@pytest.fixture
def runs(two_runs, tmp_path):
    import shutil

    root, a, b = two_runs
    shutil.copytree(root, tmp_path / "s")
    return tmp_path / "s", a, b


def test_a_record_copied_under_another_name_is_damaged_naming_it(runs):
    import shutil

    root, a, b = runs
    shutil.rmtree(root / "runs" / a)
    shutil.copytree(root / "runs" / b, root / "runs" / a)
    with pytest.raises(store.DamagedRecord, match=f"damaged run record .*{a}: its folder name says {a}, but its "
                                                  f"config.json holds the run {b}.*wdsr rebuild {a}"):
        store.load_record(root / "runs" / a)
    with pytest.raises(store.DamagedRecord, match=a):
        store.collect(root)


def test_an_edited_stored_key_is_damaged(runs):
    root, a, _ = runs
    path = root / "runs" / a / "config.json"
    record = json.loads(path.read_text())
    record["key"] = "0123456789ab"
    path.write_text(json.dumps(record))
    with pytest.raises(store.DamagedRecord, match="stored key 0123456789ab"):
        store.load_record(root / "runs" / a)


def test_training_writes_a_weights_digest_and_checks_it(runs):
    import shutil

    root, a, b = runs
    assert (root / "runs" / a / store.WEIGHTS_DIGEST).read_text().endswith(f"  {a}\n")
    assert store.check_weights(root / "runs" / a)
    (root / "runs" / a / store.WEIGHTS_DIGEST).unlink()  # a record from before digests: unknown, not damage
    assert store.check_weights(root / "runs" / a)
    shutil.copyfile(root / "runs" / b / "model.pt", root / "runs" / a / "model.pt")
    shutil.copyfile(root / "runs" / b / store.WEIGHTS_DIGEST, root / "runs" / a / store.WEIGHTS_DIGEST)
    with pytest.raises(store.DamagedRecord, match=f"belongs to {b}"):
        store.check_weights(root / "runs" / a)


@pytest.mark.parametrize("damage", ["pruned summary", "header-only history", "all-NaN history"])
def test_a_damaged_record_is_damaged_everywhere_never_missing(runs, damage):
    root, a, _ = runs
    run = root / "runs" / a
    if damage == "pruned summary":
        summary = json.loads((run / "summary.json").read_text())
        del summary["psnr"]
        (run / "summary.json").write_text(json.dumps(summary))
        match = "summary.json lacks psnr"
    else:
        lines = (run / "history.csv").read_text().splitlines()
        if damage == "header-only history":
            lines = lines[:1]
            match = "history.csv holds no rows"
        else:
            head = lines[0].split(",")
            lines = [lines[0]] + [",".join("nan" if h.startswith("val_psnr") else v for h, v in
                                           zip(head, line.split(","))) for line in lines[1:]]
            match = "history.csv holds no finite val_psnr"
        (run / "history.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(store.DamagedRecord, match=f"damaged run record {run}: {match}"):
        store.collect(root)
    with pytest.raises(store.DamagedRecord, match=match):  # a plan that needs it: damaged, never retrained
        load_or_train(tiny_config(iterations=2), root, progress=False)


def test_a_foreign_folder_and_a_cut_ledger_line_are_skipped_with_a_warning(runs):
    import shutil

    root, a, b = runs
    foreign = root / "runs" / "wdsr_a-x2-b2-weight-s0-ffffffffffff"
    shutil.copytree(root / "runs" / a, foreign)
    record = json.loads((foreign / "config.json").read_text())
    record["config"]["train"]["warmup"] = 100  # a field of another version of this code
    (foreign / "config.json").write_text(json.dumps(record))
    ledger = root / "runs" / "ledger.jsonl"
    ledger.write_text(ledger.read_text() + '{"run": "x", "ev')
    with pytest.warns(UserWarning, match="was written by another version of this code .*warmup"):
        df = store.collect(root)
    assert set(df["run"]) == {a, b}
    with pytest.warns(UserWarning, match="ledger.jsonl line 3 is not a whole JSON line"):
        assert store.trained_runs(root) == [a, b]


def test_paper_keys_do_not_depend_on_where_div2k_lies(tmp_path, monkeypatch):
    from wdsr_lib.core.config import DataConfig

    cfg = replace(tiny_config(), data=DataConfig(source="div2k", root=str(tmp_path / "a")))
    moved = replace(cfg, data=replace(cfg.data, root=str(tmp_path / "elsewhere" / "DIV2K")))
    assert cfg.key() == moved.key() and cfg.canonical()["data"]["root"] == "DIV2K"
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "b"))
    assert replace(cfg, data=replace(cfg.data, root=None)).key() == cfg.key()
    folder = replace(cfg, data=DataConfig(source="folder", root=str(tmp_path), train_folder="t", val_folder="v"))
    assert folder.canonical()["data"]["root"] == str(tmp_path.resolve())  # a folder is identified by its path


@pytest.mark.parametrize("path", ["../../other/runs/x", "/abs/runs/x", "runs/x", ".."])
def test_init_from_takes_a_run_name_never_a_path(path):
    from wdsr_lib.core.config import TrainConfig

    with pytest.raises(ValueError, match="must be the name of a run in the same store, not a path"):
        TrainConfig(init_from=path)


def test_init_from_checks_its_sources_weights(runs):
    import shutil

    from wdsr_lib.store.init_from import plan_transfer

    root, a, b = runs
    target = replace(tiny_config().model, scale=4)
    assert plan_transfer(target, root / "runs" / a).state  # intact: transferred
    shutil.copyfile(root / "runs" / b / "model.pt", root / "runs" / a / "model.pt")
    with pytest.raises(store.DamagedRecord, match=f"{a}: its model.pt does not match weights.sha256"):
        plan_transfer(target, root / "runs" / a)
    (root / "runs" / a / store.WEIGHTS_DIGEST).unlink()  # unknown provenance: accepted (pre-digest records)
    (root / "runs" / a / "model.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ValueError, match=f"--init-from {a}: its weights .*model.pt cannot be read"):
        plan_transfer(target, root / "runs" / a)
