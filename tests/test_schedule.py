"""Concurrent training (`wdsr reproduce --jobs N`): a run's numbers do not depend on N; init_from order holds."""
import json

import pytest

from wdsr_lib import plans
from wdsr_lib.schedule import train_all
from wdsr_lib.store import load_record, run_dir_for


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


def test_bad_job_counts_and_unknown_sources_are_refused(tmp_path):
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        train_all([], tmp_path, jobs=0)
    x4 = next(c for c in _configs() if c.train.init_from)
    with pytest.raises(ValueError, match="neither planned nor in the store"):
        train_all([x4], tmp_path, jobs=1)
