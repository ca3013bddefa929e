"""`--store-only` (`WDSR_STORE_ONLY=1`): the notebooks train nothing and work on the runs the store holds."""
from conftest import tiny_config

from wdsr_lib.study import frames
from wdsr_lib.cli import pipeline
from wdsr_lib.study.plans import PLANS, Plan, PlannedRun
from wdsr_lib.store.runs import is_done
from wdsr_lib.store.training import load_or_train


def _plan():
    return Plan("table1", tuple(PlannedRun("table1", {"seed": s}, tiny_config(seed=s)) for s in (0, 1)))


def test_store_only_trains_nothing_and_keeps_the_runs_the_store_holds(tmp_path, monkeypatch):
    plan = _plan()
    load_or_train(plan.runs[0].config, tmp_path, progress=False)
    monkeypatch.setenv("WDSR_STORE_ONLY", "1")
    out = frames.run_plan(plan, tmp_path, progress=False)
    assert out["trained"] == [] and out["loaded"] == [plan.runs[0].name] and out["missing"] == [plan.runs[1].name]
    assert not is_done(plan.runs[1].config, tmp_path)
    kept = frames.available(plan, tmp_path)
    assert [r.name for r in kept] == [plan.runs[0].name] and kept.artefact == "table1"
    monkeypatch.setenv("WDSR_STORE_ONLY", "0")
    assert frames.available(plan, tmp_path) is plan
    out = frames.run_plan(plan, tmp_path, progress=False)
    assert out["trained"] == [plan.runs[1].name] and out["missing"] == []


def test_every_pipeline_notebook_names_its_plans():
    assert set(pipeline.NOTEBOOK_PLANS) == set(pipeline.NOTEBOOKS)
    assert {p for plans in pipeline.NOTEBOOK_PLANS.values() for p in plans} == set(PLANS)


def test_store_only_reproduce_on_an_empty_store_trains_nothing_and_says_what_is_missing(tmp_path):
    out = pipeline.reproduce("smoke", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                             log_output=False, store_only=True)
    assert out["trained"] == 0 and out["notebooks"] == {}  # no notebook has a run to draw on
    text = (tmp_path / "results" / "reports" / "smoke.md").read_text()
    assert "0 of " in text and "Not run (none of their runs is in the store yet): 01_table1.ipynb" in text
    assert not (tmp_path / "results" / "runs").exists() or not any((tmp_path / "results" / "runs").iterdir())


def test_an_empty_subset_keeps_the_plans_label_columns_and_the_final_metric_columns(tmp_path, monkeypatch):
    plan = Plan("fig4", tuple(PlannedRun("fig4", {"lr": 1e-4, "seed": s}, tiny_config(seed=s)) for s in (0, 1)))
    monkeypatch.setenv("WDSR_STORE_ONLY", "1")
    empty = frames.available(plan, tmp_path)
    assert len(empty) == 0 and empty.label_names == ("lr", "seed")
    final = frames.final_frame(empty, tmp_path)
    assert len(final) == 0 and {"run", "lr", "seed", "psnr", "psnr_x8", "psnr_bn_train_mode"} <= set(final)
    history = frames.history_frame(empty, tmp_path)
    assert len(history) == 0 and {"run", "lr", "seed", "iteration", "metric", "value"} <= set(history)


def test_store_only_notebooks_run_on_a_store_holding_only_part_of_their_runs(tmp_path):
    """Fig. 4 with only its weight-norm reference, EDSR comparisons with only the L1 run: both notebooks run to
    the end, and a claim with no data is inconclusive (never "not reproduced") and not called converged."""
    import json

    from wdsr_lib.study import plans

    results = tmp_path / "results"
    ref = plans.fig4_reference("smoke")
    l1 = [r for r in plans.edsr_comparison("smoke") if r.labels.get("loss") == "l1"]
    for r in (ref.runs[0], l1[0]):
        load_or_train(r.config, results, progress=False)
    out = pipeline.reproduce("smoke", results_dir=results, figures_dir=tmp_path / "figures", log_output=False,
                             store_only=True, notebooks=["03_fig4_bn_lr", "04_edsr_comparison"])
    assert out["trained"] == 0 and set(out["notebooks"]) == {"03_fig4_bn_lr.ipynb", "04_edsr_comparison.ipynb"}
    assert "stopped on the partial store" not in (results / "reports" / "smoke.md").read_text()
    claims = {c["id"]: c for c in json.loads((results / "claims" / "edsr_comparison.json").read_text())}
    base = claims["wdsr_baseline_beats_edsr"]
    assert base["verdict"] == "inconclusive" and base["n_seeds"] == 0 and base["converged"] is False
    fig4 = json.loads((results / "claims" / "fig4.json").read_text())
    assert fig4 and all(c["verdict"] == "inconclusive" and c["n_seeds"] == 0 for c in fig4)


def test_the_cpu_report_says_how_far_the_pilot_got(tmp_path):
    out = pipeline.reproduce("cpu", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                             log_output=False, store_only=True)
    assert out["trained"] == 0
    text = (tmp_path / "results" / "reports" / "cpu.md").read_text()
    assert "Pilot: no pilot run has reached its first checkpoint yet." in text
    assert "- Budget: pilot: 3 runs, 20,000 iterations, seeds [0]" in text
