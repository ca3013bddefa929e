"""Verdict logic on hand-made frames: t-intervals, the single-seed noise rule, drawdown, files and report."""
import json
import math

import pandas as pd
import pytest
from scipy import stats

from wdsr_lib import report
from wdsr_lib.report import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED


def test_difference_matches_a_scipy_t_interval():
    a, b = {0: 30.3, 1: 30.5, 2: 30.4}, {0: 30.1, 1: 30.2, 2: 30.25}
    d = report.difference(a, b)
    diffs = [0.2, 0.3, 0.15]
    low, high = stats.t.interval(0.95, 2, loc=sum(diffs) / 3, scale=stats.sem(diffs))
    assert d.n == 3 and math.isclose(d.low, low) and math.isclose(d.high, high)
    assert report.verdict(d) == REPRODUCED


def test_interval_straddling_zero_is_inconclusive_and_below_zero_not_reproduced():
    assert report.verdict(report.difference({0: 1.0, 1: -1.0, 2: 0.5}, {0: 0, 1: 0, 2: 0})) == INCONCLUSIVE
    assert report.verdict(report.difference({0: -1.0, 1: -1.2, 2: -0.9}, {0: 0, 1: 0, 2: 0})) == NOT_REPRODUCED


@pytest.mark.parametrize("diff,expected", [(0.04, INCONCLUSIVE), (-0.04, INCONCLUSIVE), (0.06, REPRODUCED),
                                           (-0.06, NOT_REPRODUCED)])
def test_one_seed_uses_the_noise_threshold(diff, expected):
    assert report.verdict(report.difference({0: 30 + diff}, {0: 30.0})) == expected


def test_differences_pair_by_seed_and_missing_data_is_inconclusive():
    assert report.difference({0: 1.0, 5: 9.0}, {0: 0.0, 1: 0.0}).n == 1
    assert report.verdict(report.difference({}, {0: 1.0})) == INCONCLUSIVE


def test_combine():
    assert report.combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert report.combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert report.combine([INCONCLUSIVE, NOT_REPRODUCED]) == NOT_REPRODUCED
    assert report.combine([]) == INCONCLUSIVE


def test_max_drawdown():
    assert report.max_drawdown([30, 31, 29.5, 30.5, 32, 31.8]) == pytest.approx(1.5)
    assert report.max_drawdown([1, 2, 3]) == 0.0


def _table1_frame(deltas):
    rows = []
    for blocks, delta in deltas.items():
        for seed in (0, 1, 2):
            for family, psnr in (("EDSR", 30.0), ("WDSR-A", 30.0 + delta), ("WDSR-B", 30.0 + delta + 0.1)):
                rows.append({"family": family, "blocks": blocks, "seed": seed, "psnr": psnr + 0.01 * seed,
                             "bicubic_psnr": 29.0, "params": 1e5 * blocks, "paper_params_m": 0.1,
                             "paper_psnr": 33.0})
    return pd.DataFrame(rows)


def test_table1_claims_need_every_budget():
    claims = {c.id: c for c in report.table1_claims(_table1_frame({1: 0.2, 3: 0.3}))}
    # identical offsets per seed: zero spread, so the interval collapses onto the mean
    assert claims["wdsr_a_beats_edsr"].verdict == REPRODUCED
    assert claims["wdsr_b_matches_a"].verdict == REPRODUCED
    claims = {c.id: c for c in report.table1_claims(_table1_frame({1: 0.2, 3: -0.3}))}
    assert claims["wdsr_a_beats_edsr"].verdict == NOT_REPRODUCED
    assert "3 blocks" in claims["wdsr_a_beats_edsr"].ours


def _history(curves):
    rows = []
    for labels, values in curves:
        for i, v in enumerate(values):
            rows.append({**labels, "seed": 0, "iteration": 10 * (i + 1), "metric": "val_psnr", "value": v})
            rows.append({**labels, "seed": 0, "iteration": 10 * (i + 1), "metric": "train_loss", "value": 10 - v / 10})
    return pd.DataFrame(rows)


def test_fig3_and_fig4_claims_from_curves():
    h3 = _history([({"norm": "weight", "lr": 1e-3}, [28, 30, 31, 31.5]),
                   ({"norm": "batch", "lr": 1e-4}, [26, 27, 28, 28.2]),
                   ({"norm": "none", "lr": 1e-4}, [27, 28, 29, 29.5])])
    (c3,) = report.fig3_claims(h3)
    assert c3.verdict == REPRODUCED
    h4 = _history([({"norm": "batch", "lr": 1e-3}, [26, 27, 25, 27]),
                   ({"norm": "batch", "lr": 1e-4}, [26, 28, 28.5, 27.0, 28.9, 27.9]),
                   ({"norm": "batch", "lr": 1e-5}, [25, 25.5, 26, 26.2])])
    (c4,) = report.fig4_claims(h4, h3[h3.norm == "weight"])
    assert c4.verdict == REPRODUCED and c4.details["bn_drawdown"] == pytest.approx(1.0)  # 28.9 -> 27.9 in the last half
    (c4_stable,) = report.fig4_claims(h4[h4.lr != 1e-4].assign(), h3[h3.norm == "weight"])
    assert c4_stable.verdict == INCONCLUSIVE  # no BN 1e-4 curve: no data


def test_ablation_claims():
    rows = [{"study": "wdsr_a_ratio", "r": r, "seed": 0, "psnr": p}
            for r, p in ((1, 30.0), (2, 30.4), (4, 30.5), (6, 30.3), (8, 29.9))]
    rows += [{"study": "wdsr_b_expansion", "e": e, "seed": 0, "psnr": p}
             for e, p in ((2, 30.0), (4, 30.2), (6, 30.4), (9, 30.41))]
    rows += [{"study": "low_rank_relu", "relu": relu, "seed": 0, "psnr": p} for relu, p in ((False, 30.4), (True, 30.0))]
    claims = {c.id: c.verdict for c in report.ablation_claims(pd.DataFrame(rows))}
    assert claims == {"wdsr_a_ratio": REPRODUCED, "wdsr_b_expansion": REPRODUCED, "low_rank_relu_hurts": REPRODUCED}


def test_tables_claims_and_report_files(tmp_path):
    frame = pd.DataFrame({"blocks": [1], "model": ["EDSR"], "PSNR | ours": [30.1]})
    paths = report.write_table(frame, tmp_path, "t", caption="Caption: protocol and data")
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex"]
    assert "\\| ours" in paths[0].read_text() and "\\toprule" in paths[2].read_text()
    claims = report.table1_claims(_table1_frame({1: 0.2}), data="sample photos")
    path = report.write_claims(tmp_path, "table1", claims)
    entries = json.loads(path.read_text())
    assert {"claim", "paper", "ours", "protocol", "data", "verdict"} <= set(entries[0])
    md = report.write_report(tmp_path, "smoke").read_text()
    assert "WDSR-A beats EDSR" in md and "NOT comparable with DIV2K" in md and "Protocol:" in md
    assert "not comparable with DIV2K" in md


def test_report_leaves_out_claims_another_profile_wrote(tmp_path):
    claims = report.table1_claims(_table1_frame({1: 0.2}))
    report.write_claims(tmp_path, "table1", claims, profile="quick")
    report.write_claims(tmp_path, "fig3", report.fig3_claims(_history([({"norm": "weight"}, [1, 2])])), "smoke")
    md = report.write_report(tmp_path, "smoke").read_text()
    assert "Weight norm" in md and "WDSR-A beats EDSR" not in md
