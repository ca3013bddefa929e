"""The run graph and its executors against the real engines: a local Ray cluster, a single-node Slurm cluster
started from Debian's packages (skipped, with the reason, where it cannot start), submitit's local executor.

Every executor must store the same numbers as the local pool (`schedule.train_all`), bit for bit."""
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from wdsr_lib.study import plans
from wdsr_lib.cli.main import main
from wdsr_lib.study.executors import execute, run_step, slurm_minutes
from wdsr_lib.study.rungraph import build
from wdsr_lib.study.schedule import train_all
from wdsr_lib.store.runs import load_record, run_dir_for

sys.path.insert(0, str(Path(__file__).parent))
import slurm_local  # noqa: E402


def _x4_pair():
    """The x2 -> x4 transfer pair of the smoke EDSR comparison (the x4 run starts from the x2 run)."""
    plan = plans.edsr_comparison("smoke")
    x4 = next(r.config for r in plan if r.config.train.init_from)
    x2 = next(r.config for r in plan if r.config.run_name() == x4.train.init_from)
    return [x2, x4]


def _configs():
    return [r.config for r in plans.table1("smoke")] + _x4_pair()


def _strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _assert_same_numbers(configs, a_dir, b_dir):
    for cfg in configs:
        a, b = load_record(run_dir_for(cfg, a_dir)), load_record(run_dir_for(cfg, b_dir))
        assert _strip(a.history) == _strip(b.history), cfg.run_name()  # bit for bit
        for key in ("psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params"):
            assert a.summary[key] == b.summary[key], (cfg.run_name(), key)


def _ledger(store):
    path = Path(store) / "runs" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_step_tags_the_ledger_line_of_its_run_with_the_session_it_is_given(tmp_path, monkeypatch):
    """A Ray worker or Slurm job does not inherit the submitter's environment: the session travels as an
    argument, is set for the step only, and marks the run it trained (`store.trained_runs(session=...)`)."""
    monkeypatch.delenv("WDSR_SESSION", raising=False)
    cfg = replace(_configs()[0], train=replace(_configs()[0].train, iterations=2))
    name, trained, _ = run_step("train", cfg.run_name(), cfg.to_dict(), str(tmp_path), session="s1")
    assert trained and [row.get("session") for row in _ledger(tmp_path)] == ["s1"]
    assert "WDSR_SESSION" not in os.environ  # restored after the step
    again = run_step("train", cfg.run_name(), cfg.to_dict(), str(tmp_path), session="s2")
    assert again[1] is False and len(_ledger(tmp_path)) == 1  # loaded, not trained: no line for s2


def test_the_graph_lists_steps_with_dependencies_resources_and_costs(tmp_path):
    configs = _x4_pair() + [_x4_pair()[0]]  # a duplicate is dropped
    graph = build(configs, tmp_path / "store", "smoke", gpus=0)
    x2, x4 = _x4_pair()
    assert [s.id for s in graph] == [f"train:{x2.run_name()}", f"train:{x4.run_name()}"]
    assert graph.steps[1].depends == (f"train:{x2.run_name()}",) and graph.steps[0].depends == ()
    assert graph.results_dir == str((tmp_path / "store").resolve())
    assert all(s.threads == 1 and s.gpus == 0 and s.seconds > 0 for s in graph)
    assert graph.steps[1].command[:2] == ("wdsr", "train") and "--init-from" in graph.steps[1].command
    assert slurm_minutes(graph.steps[0]) == 15 and slurm_minutes(graph.steps[0], 7) == 7
    with pytest.raises(ValueError, match="neither planned nor in the store"):
        build([x4], tmp_path / "store", "smoke")


def test_list_runs_jsonl_prints_one_step_per_line_with_an_absolute_store(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--profile", "smoke", "--list-runs", "--results-dir", "rel", "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(plans.all_runs("smoke"))
    ids = [line["id"] for line in lines]
    for line in lines:
        assert set(line) >= {"id", "kind", "command", "shell", "results_dir", "depends", "resources",
                             "estimated_seconds"}
        assert line["results_dir"] == str(tmp_path / "rel") and line["command"][-1] == str(tmp_path / "rel")
        assert all(ids.index(d) < ids.index(line["id"]) for d in line["depends"])
    assert any(line["depends"] for line in lines)
    assert main(["reproduce", "--profile", "smoke", "--list-runs", "--results-dir", "rel"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text == [line["shell"] for line in lines]  # the default format: the same commands, one per line
    assert main(["reproduce", "--profile", "smoke", "--ray-address", "x"]) == 2
    assert "--ray-address does not apply with --executor local" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The configs trained by the local pool (one job): the numbers every executor must store."""
    store = tmp_path_factory.mktemp("local")
    configs = _configs()
    train_all(configs, store, jobs=1, log=lambda m: None)
    return configs, store


@pytest.fixture
def ray_cluster():
    """A real local Ray cluster (head node and its workers on this machine), shut down afterwards."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[cluster]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 ** 2, log_to_driver=False,
                 runtime_env={"env_vars": {"WDSR_DEVICE": "cpu"}})
    except Exception as exc:  # e.g. a sandbox without the shared memory Ray's object store needs
        print(f"\nRAY SKIPPED: {exc}", file=sys.stderr)
        pytest.skip(f"a local Ray cluster cannot start here: {type(exc).__name__}: {exc}")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_executor_stores_the_local_numbers_and_respects_init_from(ray_cluster, local_reference, tmp_path,
                                                                     monkeypatch):
    configs, reference = local_reference
    monkeypatch.setenv("WDSR_SESSION", "ray-session")  # as `wdsr reproduce` sets it: passed to every task
    result = execute(configs, tmp_path, executor="ray", log=lambda m: None)
    assert sorted(result["trained"]) == sorted({c.run_name() for c in configs})
    _assert_same_numbers(configs, reference, tmp_path)
    assert {row.get("session") for row in _ledger(tmp_path)} == {"ray-session"}
    ledger = [row["run"] for row in _ledger(tmp_path)]
    x2, x4 = _x4_pair()
    assert ledger.index(x2.run_name()) < ledger.index(x4.run_name())
    again = execute(configs, tmp_path, executor="ray", log=lambda m: None)
    assert again["trained"] == [] and sorted(again["loaded"]) == sorted({c.run_name() for c in configs})


@pytest.mark.slow
def test_a_ray_worker_killed_mid_run_is_resumed_by_the_rerun_exactly(ray_cluster, tmp_path):
    """SIGKILL the Ray worker training a run once it has written a whole checkpoint (no retry, so the kill sticks);
    the rerun through the Ray executor resumes the run from that checkpoint, and the stored numbers equal an
    uninterrupted run's; the run is trained to DONE once (one ledger entry), by two processes (two segments).
    (`executors` also gives each step `max_retries` for a lost node; that Ray mechanism is Ray's own.)"""
    base = next(r.config for r in plans.table1("smoke") if r.config.model.name == "wdsr_a")
    cfg = replace(base, train=replace(base.train, iterations=400, checkpoint_every=10))
    train_all([cfg], tmp_path / "ref", jobs=1, log=lambda m: None)
    store = tmp_path / "ray"
    run_dir = run_dir_for(cfg, store)
    graph = build([cfg], store, estimate=False, gpus=0)
    from wdsr_lib.study.executors import run_step

    task = ray_cluster.remote(run_step).options(num_cpus=1, max_retries=0)
    ref = task.remote("train", cfg.run_name(), cfg.to_dict(), graph.results_dir)
    deadline, killed = time.time() + 300, None
    while time.time() < deadline and killed is None:
        # a whole checkpoint: the file and its checksum, written after it (engine/checkpoint.py)
        ckpts = list((run_dir / "checkpoints").glob("ckpt-*.pt.sha256")) if (run_dir / "checkpoints").exists() else []
        if ckpts and (run_dir / ".lock").exists():
            pid = int((run_dir / ".lock").read_text().split()[0] or 0)
            if pid and not (run_dir / "DONE").exists():
                os.kill(pid, signal.SIGKILL)
                killed = pid
        time.sleep(0.05)
    assert killed, "the run finished (or never checkpointed) before it could be killed"
    with pytest.raises(Exception):
        ray_cluster.get(ref, timeout=30)  # the worker died (or is dying) and the task is not retried
    assert not (run_dir / "DONE").exists()
    result = execute([cfg], store, executor="ray", log=lambda m: None)
    assert result["trained"] == [cfg.run_name()]
    _assert_same_numbers([cfg], tmp_path / "ref", store)
    assert [row["run"] for row in _ledger(store)] == [cfg.run_name()]  # trained (to DONE) once
    assert len(load_record(run_dir).summary["segments"]) == 2  # two processes trained it: killed, then resumed


@pytest.mark.slow
def test_submitit_local_executor_runs_the_graph_after_the_sources(local_reference, tmp_path):
    submitit = pytest.importorskip("submitit", reason="submitit is not installed (pip install -e '.[cluster]')")
    configs, reference = local_reference
    pair = _x4_pair()
    ex = submitit.LocalExecutor(folder=str(tmp_path / "submitit"))
    lines = []
    result = execute(pair, tmp_path / "store", executor="slurm", submitit_executor=ex, log=lines.append)
    assert sorted(result["trained"]) == sorted(c.run_name() for c in pair)
    _assert_same_numbers(pair, reference, tmp_path / "store")
    submitted = [line for line in lines if line.startswith("submitted")]
    assert submitted[0].startswith(f"submitted train:{pair[0].run_name()}") and "after" in submitted[1]


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    folder = Path("/tmp") / f"wdsr-slurm-{os.getpid()}"  # short: unix socket paths are limited to 107 bytes
    try:
        cluster = slurm_local.start(folder)
    except slurm_local.Unavailable as exc:
        print(f"\nSLURM SKIPPED: {exc}", file=sys.stderr)
        pytest.skip(f"a local Slurm cluster cannot start here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_slurm_executor_submits_with_afterok_and_stores_the_local_numbers(slurm_cluster, local_reference, tmp_path,
                                                                         monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install -e '.[cluster]')")
    configs, reference = local_reference
    monkeypatch.setenv("SLURM_CONF", slurm_cluster.env["SLURM_CONF"])
    monkeypatch.setenv("WDSR_SESSION", "slurm-session")  # as `wdsr reproduce` sets it: passed to every job
    pair = _x4_pair()
    lines = []
    result = execute(pair, tmp_path / "store", executor="slurm", slurm_partition="debug", slurm_time=10,
                     slurm_folder=tmp_path / "slurm", log=lines.append)
    assert sorted(result["trained"]) == sorted(c.run_name() for c in pair)
    assert {row.get("session") for row in _ledger(tmp_path / "store")} == {"slurm-session"}
    _assert_same_numbers(pair, reference, tmp_path / "store")
    first = lines[0].split()[4]  # "submitted train:<x2> as job <id>"
    assert lines[1].endswith(f"after train:{pair[0].run_name()}")
    sbatch = next((tmp_path / "slurm").rglob("*submission.sh")).read_text()
    assert "--cpus-per-task=1" in sbatch and "--partition=debug" in sbatch
    dependent = [p.read_text() for p in (tmp_path / "slurm").rglob("*submission.sh")]
    assert any(f"--dependency=afterok:{first}" in text for text in dependent)


@pytest.mark.slow
def test_wdsr_reproduce_executor_ray_trains_the_plan_then_runs_the_notebooks(ray_cluster, local_reference, tmp_path,
                                                                             monkeypatch):
    """`wdsr reproduce --profile smoke --executor ray --ray-address ADDR` end to end (the plan narrowed to the
    Table 1 runs and an x2 -> x4 pair, so that it takes a minute): the runs go through the Ray cluster, the
    notebook finds them in the store, and the numbers are the local pool's."""
    configs, reference = local_reference
    monkeypatch.setattr(plans, "all_runs", lambda profile, seeds=None: list(configs))
    address = ray_cluster.get_runtime_context().gcs_address
    assert main(["reproduce", "--profile", "smoke", "--executor", "ray", "--ray-address", address,
                 "--results-dir", str(tmp_path / "r"), "--figures-dir", str(tmp_path / "f"),
                 "--notebooks", "01_table1"]) == 0
    _assert_same_numbers(configs, reference, tmp_path / "r")
    assert (tmp_path / "r" / "reports" / "smoke.md").exists()
    sessions = {row.get("session") for row in _ledger(tmp_path / "r")}
    assert len(sessions) == 1 and None not in sessions  # one reproduce, one tag, carried into the Ray tasks
