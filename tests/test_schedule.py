"""Concurrent training (`wdsr reproduce --jobs N`): a run's numbers do not depend on N; init_from order holds."""
import json

import pytest

from wdsr_lib.study import plans
from wdsr_lib.study.schedule import train_all
from wdsr_lib.store.runs import load_record, run_dir_for


def _configs():
    plan = plans.edsr_comparison("smoke")  # includes an x4 run initialised from its x2 run
    return [r.config for r in plan if r.labels["study"] == "x4" and r.labels["arm"] != "x4 from scratch"]


@pytest.mark.slow
def test_two_jobs_store_the_same_numbers_as_one_and_respect_init_from(tmp_path):
    configs = _configs()
    one = train_all(configs, tmp_path / "one", jobs=1, log=lambda m: None)
    two = train_all(configs, tmp_path / "two", jobs=2, log=lambda m: None)
    assert sorted(one["trained"]) == sorted(two["trained"]) == sorted(c.run_name() for c in configs)
    for cfg in configs:
        a, b = load_record(run_dir_for(cfg, tmp_path / "one")), load_record(run_dir_for(cfg, tmp_path / "two"))
        strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a.history]
        assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b.history]  # bit for bit
        for key in ("psnr", "psnr_y", "ssim_y", "bicubic_psnr"):
            assert a.summary[key] == b.summary[key]
        assert a.summary["threads"] == b.summary["threads"] == cfg.train.threads == 1
        assert (run_dir_for(cfg, tmp_path / "two") / "train.log").read_text().startswith("20")
    x4 = next(c for c in configs if c.train.init_from)
    ledger = [json.loads(line)["run"] for line in (tmp_path / "two" / "runs" / "ledger.jsonl").read_text().splitlines()]
    assert ledger.index(x4.train.init_from) < ledger.index(x4.run_name())
    again = train_all(configs, tmp_path / "two", jobs=2, log=lambda m: None)
    assert again["trained"] == [] and len(again["loaded"]) == len(configs)


@pytest.mark.slow
def test_a_source_without_weights_is_rebuilt_and_checked_before_its_transfer_trains(tmp_path):
    """A fresh clone has the x2 source's record but not its model.pt (weights are not in git): retraining the
    x4 transfer first rebuilds the source's weights, checked bitwise against its record, then trains the x4 run
    as it was trained with the original weights."""
    import shutil

    configs = _configs()
    x4 = next(c for c in configs if c.train.init_from)
    source_dir = tmp_path / "runs" / x4.train.init_from
    first = train_all(configs, tmp_path, jobs=2, log=lambda m: None)
    assert sorted(first["trained"]) == sorted(c.run_name() for c in configs) and first["rebuilt"] == []
    weights = (source_dir / "model.pt").read_bytes()
    before = load_record(run_dir_for(x4, tmp_path))
    (source_dir / "model.pt").unlink()
    shutil.rmtree(run_dir_for(x4, tmp_path))
    lines = []
    again = train_all(configs, tmp_path, jobs=2, log=lines.append)
    assert again["rebuilt"] == [x4.train.init_from] and again["trained"] == [x4.run_name()]
    assert "first rebuilding the weights of 1" in lines[0]
    assert (source_dir / "model.pt").read_bytes() == weights
    after = load_record(run_dir_for(x4, tmp_path))
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(after.history) == strip(before.history) and after.summary["psnr"] == before.summary["psnr"]


def test_bad_job_counts_and_unknown_sources_are_refused(tmp_path):
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        train_all([], tmp_path, jobs=0)
    x4 = next(c for c in _configs() if c.train.init_from)
    with pytest.raises(ValueError, match="neither planned nor in the store"):
        train_all([x4], tmp_path, jobs=1)


def _children(pid):
    import os

    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="reads the process table from /proc")
def test_a_scheduler_killed_with_sigterm_takes_its_training_workers_with_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "sched.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from conftest import tiny_config\n"
        "from wdsr_lib.study.schedule import train_all\n"
        "if __name__ == '__main__':\n"
        f"    train_all([tiny_config(iterations=10**6, seed=s) for s in (0, 1)], {str(tmp_path / 'r')!r}, jobs=2)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((tmp_path / "r").glob("runs/*/checkpoints/*.pt"))) < 2:
            time.sleep(0.5)  # both runs are training
        workers = [c for c in _children(proc.pid) if "multiprocessing.spawn" in
                   Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")
                   and "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)  # no orphan keeps training (and holding its lock)
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers:  # never leave a test's orphans training
            if _alive(w):
                __import__("os").kill(w, signal.SIGKILL)
