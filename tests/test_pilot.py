"""The CPU study's pilot: its plan, gap curves and the settling rule (synthetic curves, no training)."""
import math

import numpy as np
import pandas as pd

from wdsr_lib.study import pilot, plans
from wdsr_lib.study.profiles import get_profile
from wdsr_lib.viz import pilot_figure


def test_the_pilot_is_seed_0_of_the_cpu_table1_at_1_block_for_20k_iterations():
    runs = pilot.planned("cpu")
    assert sorted(r.labels["family"] for r in runs) == ["EDSR", "WDSR-A", "WDSR-B"]
    for r in runs:
        t = r.config.train
        assert (r.labels["blocks"], t.seed, t.iterations, t.val_every, t.threads) == (1, 0, 20_000, 250, 1)
        assert r.config.data.val_crop is None and t.precision == "fp32"
        assert t.lr_halve_every == 16_000  # the paper's relative place: 2e5 of 2.5e5
    # twice the study's Table 1 budget at 1 block, so that the gaps at 10k can be compared with where they go
    cpu = get_profile("cpu")
    assert cpu.budget("table1", 1).iterations == 10_000 == cpu.budget("pilot").iterations // 2
    assert plans.pilot("quick").runs == () and plans.pilot("smoke").runs == ()  # only the CPU study has a pilot
    assert {r.name for r in runs} <= {c.run_name() for c in plans.all_runs("cpu")}  # `make study` trains it
    study = {r.labels["family"]: r.config for r in plans.table1("cpu")
             if r.labels["blocks"] == 1 and r.labels["seed"] == 0}
    for r in runs:  # the same run as the study's seed 0 but for its length (and so its lr halving)
        same = study[r.labels["family"]]
        assert r.config.model == same.model and r.config.data == same.data
        assert r.config.train.iterations != same.train.iterations


def test_gaps_and_settling_on_synthetic_curves():
    it = np.arange(500, 20_001, 500, dtype=float)
    edsr = 33 - 2 * np.exp(-it / 2000)
    a = edsr + np.where(it < 8000, -0.3 + 0.3 * it / 8000, 0.0) + 0.1  # settles at +0.1 from 8,000 on
    rows = [{"family": f, "iteration": i, "metric": "val_psnr", "value": v} for f, c in (("EDSR", edsr), ("WDSR-A", a))
            for i, v in zip(it, c)]
    g = pilot.gaps(pd.DataFrame(rows))
    assert list(g["pair"].unique()) == ["WDSR-A - EDSR"]  # WDSR-B absent: its pairs are left out
    st = pilot.settling(g).iloc[0]
    assert math.isclose(st.final_gap_db, 0.1, abs_tol=1e-9)
    assert 6000 < st.settled_from <= 8000 and st.last_iteration == 20_000
    moving = g.assign(gap_db=g["gap_db"] + g["iteration"] / 20_000)  # still rising by 0.025 dB per 500
    assert pilot.settling(moving).iloc[0].settled_from > 17_000


def test_the_pilot_report_and_figure_compare_it_with_the_studys_own_endpoints(tmp_path):
    """On a copy of the committed pilot and 1-block Table 1 records: the summary states the study's paired
    endpoint intervals and whether each pilot gap lies inside, and the figure marks them."""
    import shutil
    from pathlib import Path

    from wdsr_lib.store.runs import is_done, run_dir_for

    root = Path(__file__).resolve().parents[1] / "results"
    runs = list(plans.pilot("cpu")) + [r for r in plans.table1("cpu") if r.labels["blocks"] == 1]
    if not all(is_done(r.config, root) for r in runs):
        import pytest
        pytest.skip("the committed store lacks the pilot or Table 1 at 1 block")
    for r in runs:
        src = run_dir_for(r.config, root)
        dst = tmp_path / "results" / "runs" / src.name
        dst.mkdir(parents=True)
        for name in ("config.json", "history.csv", "summary.json", "DONE"):
            shutil.copy(src / name, dst / name)
    study = pilot.study_gaps(tmp_path / "results", "cpu")
    assert study["iterations"] == 10_000 and set(study["gaps"]) == {f"{a} - {b}" for a, b in pilot.PAIRS}
    assert all(d.n == 5 and d.low < d.mean < d.high for d in study["gaps"].values())
    text = pilot.summary(tmp_path / "results", "cpu")
    assert "The study's own endpoints at 10,000 iterations" in text and "of 3 pairs" in text
    assert "validation every 250 iterations" in text  # the pilot's own configs say how often it validated
    # one folder per profile: the cpu_v1 pilot (reproduced in the same store) cannot overwrite this one
    assert pilot.write(tmp_path / "results", "cpu") == tmp_path / "results" / "pilot" / "cpu" / "history.csv"
    assert pilot_figure.write(tmp_path / "results", tmp_path / "figures", "cpu") is not None
    assert (tmp_path / "figures" / "cpu" / "pilot_gaps.png").stat().st_size > 10_000
