"""Faults lose nothing: kill -9 at random moments (inside checkpoint writes too), corrupt checkpoints, a killed
pipeline, four concurrent `wdsr train` processes on one store, and write errors (Issue 7).

Everything runs through the real `wdsr` command in subprocesses (CPU, fp32, one thread each) and compares the
final weights with an uninterrupted run's, bit for bit. Timing only decides *when* a kill lands, never whether a
test passes: every wait is bounded by a generous deadline.
"""
import contextlib
import csv
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from wdsr_lib.cli import main as cli
from wdsr_lib.study import plans
from wdsr_lib.store import runs as store

TINY = ["--profile", "smoke", "--model", "wdsr_a", "--n-resblocks", "1", "--n-feats", "8", "--block-feats", "16",
        "--precision", "fp32", "--no-progress"]
ITERS = 60  # smoke profile: validation every 2 iterations, a checkpoint every ITERS // 4 = 15 (Profile.run)
DEADLINE = 600  # seconds any single wait may take on a loaded 2-core machine


def _env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _argv(results: Path, iters: int = ITERS, seed: int = 0) -> list[str]:
    return [sys.executable, "-m", "wdsr_lib.cli", "train", *TINY, "--iterations", str(iters), "--seed", str(seed),
            "--results-dir", str(results)]


def _run_dir(results: Path, iters: int = ITERS, seed: int = 0) -> Path:
    args = cli.build_parser().parse_args(_argv(results, iters, seed)[3:])
    return store.run_dir_for(cli.config_from_args(args), results)


def _wdsr(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=_env(**env), timeout=DEADLINE)


def _history_without_seconds(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and "train_loss" in rows[0]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)


def _assert_same_result(run_dir: Path, reference: Path) -> None:
    """Final weights bitwise equal (tensors and file bytes), the same history and the same final metrics.

    Every history column is compared exactly (train_loss too: checkpoints carry the open validation window's
    losses) except `seconds`, which is wall time.
    """
    a, b = _weights(run_dir), _weights(reference)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"
    assert (run_dir / "model.pt").read_bytes() == (reference / "model.pt").read_bytes()
    assert _history_without_seconds(run_dir) == _history_without_seconds(reference)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (run_dir, reference))
    assert (sa["psnr"], sa["psnr_y"], sa["ssim_y"]) == (sb["psnr"], sb["psnr_y"], sb["ssim_y"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every fault test must reproduce bit for bit."""
    results = tmp_path_factory.mktemp("reference")
    proc = _wdsr(_argv(results))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("trained ")
    return _run_dir(results)


def _checkpoints(run_dir: Path) -> list[int]:
    """Steps of the checkpoints whose checksum file exists (the ones a resume can use)."""
    ckpts = run_dir / "checkpoints"
    return sorted(int(p.name[5:13]) for p in ckpts.glob("ckpt-*.pt") if p.with_name(p.name + ".sha256").exists())


def _wait(proc: subprocess.Popen, condition, deadline: float) -> bool:
    """Poll until `condition()` holds (True) or the process exits by itself (False)."""
    while time.time() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the training process")


def _kill9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: DataLoader workers too, were there any
    proc.wait(timeout=60)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children first found first."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _kill9_tree(proc: subprocess.Popen) -> None:
    """kill -9 a process and everything it started, as a crash or the OOM killer would. Jupyter kernels run in
    their own session, so killing papermill's process group alone would leave the kernel training on."""
    tree = _descendants(proc.pid)
    _kill9(proc)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_rerun_gives_the_uninterrupted_weights_bitwise(tmp_path, reference):
    seed = int(os.environ.get("WDSR_FAULT_SEED", time.time_ns() % 2**32))  # set it to replay a failure
    rng = random.Random(seed)
    results = tmp_path / "results"
    run_dir = _run_dir(results)
    ckpt_dir = run_dir / "checkpoints"
    # Moments: a random time after launch (maybe still importing, maybe mid-iteration), inside the
    # temp-file-to-rename window of a checkpoint (the test-only hook in engine/checkpoint.py holds it open for 2 s),
    # inside that window of a checksum file (the checkpoint is renamed, its checksum is not: the resume must skip
    # it), and a random moment just after a new checkpoint landed. A non-write kill lands at the latest when a new
    # checkpoint appears, so the run advances at most one checkpoint (of 4) per kill and cannot finish early.
    plan = ["random", "ckpt-write", "after-checkpoint", "sha-write", "ckpt-write", "random"]
    kills, logs = [], []
    deadline = time.time() + DEADLINE
    for moment in plan:
        # Every attempt holds each checkpoint and checksum write open for 2 s, so checkpoints land seconds apart
        # even on an idle machine (where the tiny run's 60 iterations take well under a second) and a kill
        # "just after a checkpoint" cannot overtake the next one or the end of the run.
        slow = {"WDSR_TEST_SLOW_CHECKPOINT_WRITE": "2"}
        before = max(_checkpoints(run_dir), default=0) if run_dir.exists() else 0
        new_checkpoint = lambda b=before: max(_checkpoints(run_dir), default=0) > b  # noqa: E731
        log = tmp_path / f"attempt{len(logs)}.log"
        logs.append(log)
        with open(log, "w") as out:
            proc = subprocess.Popen(_argv(results), stdout=out, stderr=subprocess.STDOUT, env=_env(**slow),
                                    start_new_session=True)
        if moment == "random":
            at = time.time() + rng.uniform(0.5, 8.0)
            hit = _wait(proc, lambda: time.time() > at or new_checkpoint(), deadline)
        elif moment == "ckpt-write":
            hit = _wait(proc, lambda: any(ckpt_dir.glob(f".ckpt-*.pt.{proc.pid}.tmp")), deadline)
            time.sleep(rng.uniform(0.0, 1.0))  # still inside the 2 s window
        elif moment == "sha-write":
            hit = _wait(proc, lambda: any(ckpt_dir.glob(f".ckpt-*.pt.sha256.{proc.pid}.tmp")), deadline)
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            hit = _wait(proc, new_checkpoint, deadline)
            time.sleep(rng.uniform(0.0, 0.3))
        if hit and proc.poll() is None:
            _kill9(proc)
            kills.append((moment, _checkpoints(run_dir)))
        else:
            proc.wait(timeout=DEADLINE)
        assert not (run_dir / "DONE").exists(), f"the run finished before kill {len(kills) + 1}: {kills}"
    assert len(kills) >= 5, (seed, kills)
    assert {"ckpt-write", "sha-write"} <= {m for m, _ in kills}, (seed, kills)
    print(f"WDSR_FAULT_SEED={seed}: kills (moment, usable checkpoints after it): {kills}")

    final = _wdsr(_argv(results))  # the same command again: resumes and finishes
    assert final.returncode == 0, final.stderr
    assert final.stdout.splitlines()[-1].startswith("trained ")
    _assert_same_result(run_dir, reference)
    text = "".join(p.read_text() for p in logs) + final.stdout + final.stderr
    assert "resuming" in text and "no checksum file" in text  # the checksum-less checkpoint was skipped, loudly
    assert not list(ckpt_dir.glob(".*.tmp"))  # killed writers' temp files are swept by the next checkpoint


def _copy_checkpoints(reference: Path, results: Path) -> Path:
    """A store holding the reference run's checkpoints (steps 45 and 60) but no result: an unfinished run."""
    run_dir = results / "runs" / reference.name
    run_dir.mkdir(parents=True)
    shutil.copy(reference / "config.json", run_dir / "config.json")
    shutil.copytree(reference / "checkpoints", run_dir / "checkpoints")
    assert _checkpoints(run_dir) == [ITERS * 3 // 4, ITERS]
    return run_dir


@pytest.mark.slow
def test_truncated_newest_checkpoint_is_skipped_with_a_warning_and_the_previous_one_resumes(tmp_path, reference):
    run_dir = _copy_checkpoints(reference, tmp_path)
    newest = run_dir / "checkpoints" / f"ckpt-{ITERS:08d}.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    proc = _wdsr(_argv(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "skipping bad checkpoint" in proc.stderr and "does not match its checksum" in proc.stderr
    assert f"resuming {run_dir.name} at iteration {ITERS * 3 // 4}" in proc.stdout
    _assert_same_result(run_dir, reference)


@pytest.mark.slow
def test_no_good_checkpoint_restarts_from_zero_says_so_and_still_gives_the_same_weights(tmp_path, reference):
    run_dir = _copy_checkpoints(reference, tmp_path)
    for path in (run_dir / "checkpoints").glob("ckpt-*.pt"):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, wrong checksum
        path.write_bytes(bytes(data))
    proc = _wdsr(_argv(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("skipping bad checkpoint") == 2
    assert "training restarts from iteration 0" in proc.stderr and "resuming" not in proc.stdout
    _assert_same_result(run_dir, reference)


@pytest.mark.slow
def test_killed_pipeline_rerun_retrains_nothing_that_was_done(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    argv = [sys.executable, "-m", "wdsr_lib.cli", "reproduce", "--profile", "smoke", "--notebooks", "01_table1",
            "--results-dir", str(results), "--figures-dir", str(figures)]
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    done = lambda: sorted(p.parent.name for p in (results / "runs").glob("*/DONE"))  # noqa: E731
    assert _wait(proc, lambda: len(done()) >= 2, time.time() + DEADLINE), (tmp_path / "killed.log").read_text()
    _kill9_tree(proc)  # papermill and its kernel, in the middle of a later run or between runs
    log.close()
    time.sleep(1)  # let the killed processes go
    done_before, ledger_before = done(), store.trained_runs(results)
    # notebook 01 under smoke trains Table 1 (6 runs) and the noise seeds (3 more seeds of the 1-block models)
    expected = {r.name for r in plans.table1("smoke")} | {r.name for r in plans.noise("smoke")}
    assert len(expected) == 12 and 2 <= len(done_before) < len(expected)

    rerun = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=DEADLINE)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    retrained = store.trained_runs(results)[len(ledger_before):]
    assert not set(retrained) & set(done_before), "a DONE run was trained again"
    assert set(done()) == expected and set(retrained) == set(done()) - set(done_before)
    for name in done():
        assert store.load_record(results / "runs" / name).summary["complete"]
    assert json.loads(rerun.stdout)["trained"] == len(retrained)


@pytest.mark.slow
def test_four_concurrent_wdsr_train_processes_on_overlapping_runs_train_each_once(tmp_path):
    orders = ([0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1])
    outputs: list[subprocess.CompletedProcess] = []
    lock = threading.Lock()

    def worker(seeds):
        for seed in seeds:
            proc = _wdsr(_argv(tmp_path, iters=4, seed=seed))
            with lock:
                outputs.append(proc)

    threads = [threading.Thread(target=worker, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE)
    assert len(outputs) == 12 and all(p.returncode == 0 for p in outputs), [p.stderr for p in outputs]
    verbs = [p.stdout.split()[0] for p in outputs]
    assert verbs.count("trained") == 3 and verbs.count("loaded") == 9
    runs = sorted((tmp_path / "runs").glob("*/DONE"))
    assert len(runs) == 3
    for done in runs:
        record = store.load_record(done.parent)
        assert record.summary["complete"] and [h["iteration"] for h in record.history] == [2, 4]
        assert not list(done.parent.rglob(".*.tmp"))
    assert sorted(store.trained_runs(tmp_path)) == sorted(d.parent.name for d in runs)  # each trained once


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_results_dir_that_is_a_file_fails_in_one_line_and_marks_nothing_done(tmp_path):
    results = tmp_path / "results"
    results.write_text("a file where the store should be")  # unwritable even for root, unlike chmod
    line = _one_line_error(_wdsr(_argv(results, iters=2)))
    assert line.startswith("wdsr train: error: cannot write the results store") and "--results-dir" in line
    assert not list(tmp_path.rglob("DONE"))


def _file_size_limit(limit: int):
    """preexec_fn: a per-process file size limit (RLIMIT_FSIZE binds root too); writes past it fail with EFBIG."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write() instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_write_error_mid_training_fails_in_one_line_leaves_no_done_and_a_rerun_finishes(tmp_path, reference):
    # A disk that fills up: checkpoints (~90 KB) no longer fit, small files still do. The decode cache is warm
    # (the reference run filled it), so the first write that fails is the first checkpoint's.
    results = tmp_path / "results"
    proc = subprocess.run(_argv(results), capture_output=True, text=True, env=_env(), timeout=DEADLINE,
                          preexec_fn=_file_size_limit(40_000))
    line = _one_line_error(proc)
    assert "cannot write the results store" in line and "File too large" in line, line
    run_dir = _run_dir(results)
    assert not (run_dir / "DONE").exists() and not (run_dir / "model.pt").exists()
    assert not list(run_dir.rglob(".*.tmp"))  # the failed atomic write removed its temp file
    again = _wdsr(_argv(results))  # disk freed: the same command finishes the run
    assert again.returncode == 0, again.stderr
    _assert_same_result(run_dir, reference)


@pytest.mark.slow
def test_full_disk_while_writing_the_record_through_the_cli_leaves_no_done(tmp_path, full_disk, capsys):
    argv = _argv(tmp_path, iters=2)[3:]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wdsr train: error: cannot write the results store")
    assert "No space left on device" in err[0]
    run_dir = _run_dir(tmp_path, iters=2)
    assert (run_dir / "history.csv").exists() and not (run_dir / "DONE").exists()
    full_disk()  # space freed
    assert cli.main(argv) == 0 and (run_dir / "DONE").exists()
    assert "trained" in capsys.readouterr().out


def test_slow_write_hook_still_writes_whole_checkpoints_and_stale_temp_files_are_swept(tmp_path, monkeypatch):
    from wdsr_lib.engine import checkpoint as ck

    monkeypatch.setenv("WDSR_TEST_SLOW_CHECKPOINT_WRITE", "0.1")
    ck.save_checkpoint(tmp_path, 2, {"step": 2})
    assert ck.latest_good(tmp_path)["step"] == 2
    stale = tmp_path / ".ckpt-00000001.pt.99999999.tmp"  # a killed writer's leftover
    stale.write_bytes(b"partial")
    monkeypatch.delenv("WDSR_TEST_SLOW_CHECKPOINT_WRITE")
    ck.save_checkpoint(tmp_path, 3, {"step": 3})
    assert not stale.exists() and ck.latest_good(tmp_path)["step"] == 3


@pytest.mark.slow
def test_same_command_and_seed_give_the_same_numbers_and_weights_bitwise_on_cpu(tmp_path, reference):
    """docs/determinism.md: CPU fp32 training is a pure function of the command line (seed included)."""
    again = _wdsr(_argv(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    run_dir = _run_dir(tmp_path / "again")
    _assert_same_result(run_dir, reference)
    assert run_dir.name == reference.name  # same config, same store key
    a, b = (json.loads((d / "summary.json").read_text()) for d in (run_dir, reference))
    for key in ("psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params", "macs_per_lr_pixel", "per_image"):
        assert a[key] == b[key], key
    other = _wdsr(_argv(tmp_path / "other", seed=1))  # and the seed does matter
    assert other.returncode == 0, other.stderr
    theirs, ours = _weights(_run_dir(tmp_path / "other", seed=1)), _weights(reference)
    assert not all(torch.equal(theirs[k], ours[k]) for k in ours)


@pytest.mark.slow
def test_resume_inside_a_validation_window_keeps_the_logged_train_loss(tmp_path):
    from dataclasses import replace

    from conftest import tiny_config
    from wdsr_lib.engine.train import train

    cfg = tiny_config(iterations=4)
    cfg = replace(cfg, train=replace(cfg.train, val_every=2, checkpoint_every=3))  # checkpoint at 3, inside (2, 4]
    straight = train(cfg, tmp_path / "straight", progress=False)
    train(cfg, tmp_path / "resumed", progress=False, stop_after=3)
    resumed = train(cfg, tmp_path / "resumed", progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
