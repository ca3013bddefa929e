"""The cost estimate (wdsr_lib/study/costs.py): the linear fit recovers a known rate, and the estimate adds up."""
import math

import pytest

from wdsr_lib.study import costs, plans


def test_rate_seconds_and_the_estimate_add_up(tmp_path):
    rate = costs.Rate(overhead=0.01, per_mac=5e-11, runs=0)
    cfg = plans.table1("cpu").runs[0].config
    assert math.isclose(rate.seconds(cfg), cfg.train.iterations * (0.01 + 5e-11 * costs.step_macs(cfg)))
    # EDSR, 1 block, x2: 266,733 MACs per LR pixel, 24 px patches, batch 16
    assert costs.step_macs(cfg) == 266_733 * 24 * 24 * 16
    est = costs.estimate("cpu", tmp_path, rate, jobs=2)  # an empty store: everything is still to train
    assert est["runs"].sum() == len(plans.all_runs("cpu")) == est["to_train"].sum()
    total = sum(rate.seconds(c) for c in plans.all_runs("cpu")) / 3600
    assert math.isclose(est["run_hours"].sum(), total) and math.isclose(est["wall_hours_to_go"].sum(), total / 2)


def test_calibrate_needs_two_model_sizes(tmp_path):
    assert costs.calibrate("cpu", tmp_path) is None
    with pytest.raises(ValueError, match="no calibration"):
        costs.estimate("cpu", tmp_path)


def test_fit_recovers_a_known_rate():
    xs = [7.3e8, 7.7e8, 2.5e9, 2.5e9]
    ys = [0.012 + 6e-11 * x for x in xs]
    r = costs.fit(xs, ys)
    assert math.isclose(r.overhead, 0.012, rel_tol=1e-6) and math.isclose(r.per_mac, 6e-11, rel_tol=1e-6)
    assert r.runs == 4 and costs.fit([1e9, 1e9], [0.1, 0.2]) is None
