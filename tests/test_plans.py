"""Run plans: equal-budget ablations really have equal parameters, all_runs is deduplicated and ordered."""
from pathlib import Path

import pytest

from wdsr_lib.study import frames, plans
from wdsr_lib.core.config import ModelConfig
from wdsr_lib.models import build_model, count_parameters
from wdsr_lib.study.profiles import get_profile


def _params(model: ModelConfig) -> int:
    return count_parameters(build_model(model.name, model.scale, **model.overrides()))


def test_wdsr_a_equal_budget_widths_are_the_papers():
    assert [plans.wdsr_a_equal_budget(r) for r in (1, 2, 4, 6, 8)] == [
        (64, 64), (45, 90), (32, 128), (26, 156), (23, 184)]


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_wdsr_a_ratio_sweep_has_equal_parameters(profile):
    runs = plans.select(plans.ablations(profile), study="wdsr_a_ratio")
    counts = {r.labels["r"]: _params(r.config.model) for r in runs}
    reference = counts[4]
    # F*w rounds to 4050..4232 (vs 64^2 = 4096) with integer widths, so the sweep is equal within 3.5%.
    assert all(abs(c / reference - 1) < 0.035 for c in counts.values()), counts


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_wdsr_b_expansion_sweep_has_equal_parameters_within_2_percent(profile):
    runs = plans.select(plans.ablations(profile), study="wdsr_b_expansion")
    counts = {r.labels["e"]: _params(r.config.model) for r in runs}
    assert set(counts) == {2, 4, 6, 9}
    assert all(abs(c / counts[6] - 1) < 0.02 for c in counts.values()), counts


def test_wdsr_b_equal_budget_keeps_the_official_point_and_exact_ranks():
    assert plans.wdsr_b_equal_budget(6) == 0.8
    for e in (2, 4, 9):
        low_rank = plans.wdsr_b_equal_budget(e)
        rank = int(64 * low_rank)
        assert rank == 64 * low_rank  # exact rank / F, no truncation surprise in WideBlockB
        block = 64 * 64 * (e + e * low_rank + 9 * low_rank)
        assert abs(block / (64 * 64 * 18) - 1) < 0.02


def test_table1_plan_covers_every_family_budget_and_seed():
    plan = plans.table1("cpu")
    p = get_profile("cpu")
    assert len(plan) == 3 * sum(len(p.budget("table1", b).seeds) for b in p.table1_blocks)
    assert len(plan) == 3 * (5 + 3)  # the cpu study: 5 seeds at 1 block, 3 at 3 blocks
    its = {(r.labels["blocks"], r.config.train.iterations, r.config.train.lr_halve_every) for r in plan}
    assert its == {(1, 10_000, 8_000), (3, 10_000, 8_000)}  # lr halved at 80%, the paper's 2e5 of 2.5e5
    assert {r.config.data.source for r in plan} == {"photos"} and len(plans.table1("cpu_v1")) == 3 * 5
    assert {r.config.model.resolved_norm for r in plan} == {"weight"}
    wdsr_a_1 = [r for r in plan if r.labels["family"] == "WDSR-A" and r.labels["blocks"] == 1][0]
    assert _params(wdsr_a_1.config.model) == 79_380  # 79,164 without the weight-norm gains
    params = frames.table1_params(plans.table1("smoke"))
    row = params[(params.family == "WDSR-A") & (params.blocks == 1)].iloc[0]
    assert (row.params_trained, row.params_paper_setting, row.paper_params_m) == (79_380, 79_164, 0.08)


def test_fig3_uses_the_paper_learning_rates_and_fig4_three_rates():
    paper = {r.labels["norm"]: r.config.lr for r in plans.fig3("quick") if r.labels["arm"] == "paper"}
    assert paper == {"weight": 1e-3, "batch": 1e-4, "none": 1e-4}
    confound = {(r.labels["norm"], r.config.lr) for r in plans.fig3("quick") if r.labels["arm"] == "confound"}
    assert confound == {("weight", 1e-4), ("none", 1e-3)}  # each norm also at the other's learning rate
    assert sorted(r.config.lr for r in plans.fig4("quick")) == [1e-5, 1e-4, 1e-3]


def test_plans_share_runs_where_the_models_are_equal():
    t1 = {r.name for r in plans.table1("quick")}
    fig3_weight = [r.name for r in plans.fig3("quick") if r.labels["norm"] == "weight" and r.labels["lr"] == 1e-3][0]
    assert fig3_weight in t1  # quick: Fig. 3's model is Table 1's 8-block WDSR-A
    fig3_bn = [r.name for r in plans.fig3("quick") if r.labels["norm"] == "batch"][0]
    assert fig3_bn in {r.name for r in plans.fig4("quick")}  # BN at 1e-4 is in both figures
    ablation_refs = [r.name for r in plans.ablations("quick")
                     if r.labels.get("r") == 4 or r.labels.get("e") == 6 or r.labels.get("relu") is False]
    assert set(ablation_refs) <= t1


@pytest.mark.parametrize("profile", ["smoke", "quick", "cpu", "paper"])
def test_all_runs_is_deduplicated_and_in_dependency_order(profile):
    runs = plans.all_runs(profile)
    names = [f"{c.short_name()}-{c.key()}" for c in runs]
    assert len(names) == len(set(names))
    every = {r.name for plan in list(plans.PLANS.values()) + list(plans.EXTRA_PLANS.values()) for r in plan(profile)}
    assert set(names) == every == {r.name for r in plans.every_plan(profile)}
    for i, cfg in enumerate(runs):
        if cfg.train.init_from:
            assert cfg.train.init_from in names[:i], "an x4 run must come after the x2 run it starts from"
    assert sum(1 for c in runs if c.train.init_from) == len(get_profile(profile).budget("edsr_x4").seeds)


def test_cpu_x4_transfer_starts_from_its_own_2500_iteration_x2_edsr():
    x4 = plans.select(plans.edsr_comparison("cpu"), study="x4")
    sources = [r for r in x4 if r.labels["arm"] == "x2 (source)"]
    assert [r.config.train.iterations for r in sources] == [2_500] * 3  # weights on disk when x4 starts
    assert {r.config.train.init_from for r in x4 if r.labels["arm"] == "x4 from x2"} == {r.name for r in sources}
    assert {r.config.train.iterations for r in x4 if r.labels["scale"] == 4} == {2_500}
    assert {r.config.train.val_every for r in x4 if r.labels["scale"] == 4} == {62}  # 8 in the gate's window
    v1 = plans.select(plans.edsr_comparison("cpu_v1"), study="x4")
    assert {r.config.train.val_every for r in v1 if r.labels["scale"] == 4} == {125}  # the first edition's 4
    assert {r.config.train.val_every for r in plans.edsr_comparison("quick")} == {25}  # quick keeps its spacing
    assert not {r.name for r in sources} & {r.name for r in plans.table1("cpu")}


def test_cpu_ablations_train_the_ratios_its_profile_names():
    ratios = sorted({r.labels["r"] for r in plans.select(plans.ablations("cpu"), study="wdsr_a_ratio")})
    assert ratios == [1, 2, 4, 8]  # r = 6 cut at cpu; every other profile trains all of Sec. 3.1's ratios
    assert sorted({r.labels["r"] for r in plans.select(plans.ablations("quick"), study="wdsr_a_ratio")}) == list(
        plans.WDSR_A_RATIOS)


def test_dependency_order_moves_a_transfer_after_its_source():
    plan = plans.edsr_comparison("smoke")
    configs = list(reversed(plan.configs))
    ordered = plans.dependency_order(configs)
    names = [f"{c.short_name()}-{c.key()}" for c in ordered]
    x4 = [c for c in ordered if c.train.init_from][0]
    assert names.index(x4.train.init_from) < names.index(f"{x4.short_name()}-{x4.key()}")


def test_run_name_is_the_store_directory_name(tmp_path):
    from wdsr_lib.store.runs import run_dir_for

    for cfg in plans.all_runs("smoke"):
        assert plans.run_name(cfg) == run_dir_for(cfg, tmp_path).name


def test_cpu_artefacts_run_at_1_block_and_reuse_table1_runs_as_reference_arms():
    """The cpu budgets (docs/cpu_study.md): Figs. 3/4, ablations, L1/L2 at 1 block, 10k iterations, 3 seeds;
    their reference arms are Table 1's runs; x4 at 2.5k from a 2.5k x2; the 16-block baselines one seed of 500."""
    t1 = {r.name for r in plans.table1("cpu")}
    for plan in (plans.fig3("cpu"), plans.fig4("cpu"), plans.ablations("cpu")):
        assert {r.config.model.n_resblocks for r in plan} == {1}
        assert {(r.config.train.iterations, r.config.train.seed) for r in plan} == {(10_000, s) for s in (0, 1, 2)}
    wn = [r.name for r in plans.fig3("cpu") if r.labels["norm"] == "weight" and r.labels["lr"] == 1e-3]
    assert len(wn) == 3 and set(wn) <= t1
    comp = plans.edsr_comparison("cpu")
    l1 = [r.name for r in comp if r.labels["study"] == "loss" and r.labels["loss"] == "l1"]
    assert len(l1) == 3 and set(l1) <= t1
    x4 = [r.config for r in comp if r.labels["study"] == "x4"]
    assert {c.train.iterations for c in x4 if c.model.scale == 4} == {2_500} and len(x4) == 9
    base = [r.config for r in comp if r.labels["study"] == "baseline"]
    assert {(c.model.n_resblocks, c.train.iterations, c.train.seed) for c in base} == {(16, 500, 0)}


@pytest.mark.parametrize("profile", ["quick", "cpu"])
def test_every_judged_run_validates_often_enough_for_the_convergence_gate(profile):
    """The gate (verdicts.late_change) reads the validations inside the last 20% and needs 3 of them; a run with
    fewer is "not converged" whatever its curve does (the cpu x4 runs of 1,000 iterations validated every 100:
    2 points after iteration 800). Not judged on their own curves: the 16-block baselines, one seed of 500
    iterations, labelled "not decidable on CPU", and the x2 source of the x4 transfer, which gives its weights."""
    from wdsr_lib.study.verdicts import MIN_LATE_POINTS, WINDOW

    for run in _labelled(profile):
        if run.labels.get("study") == "baseline" or run.labels.get("arm") == "x2 (source)":
            continue
        t = run.config.train
        late = [it for it in range(t.val_every, t.iterations + 1, t.val_every) if it > t.iterations * (1 - WINDOW)]
        assert len(late) >= MIN_LATE_POINTS, (run.name, t.iterations, t.val_every)


def _labelled(profile):
    for plan in (plans.table1(profile), plans.fig3(profile), plans.fig4(profile), plans.ablations(profile),
                 plans.edsr_comparison(profile), plans.pilot(profile)):
        yield from plan


def test_gate_spacing_keeps_a_spacing_that_suffices_and_adds_points_where_it_does_not():
    assert plans.gate_spacing(10_000, 500) == 500  # 8,500 .. 10,000: 4 points
    assert plans.gate_spacing(300, 25) == 25  # quick: 250, 275, 300
    assert plans.gate_spacing(1_000, 500) == 50  # 500 would leave only 1,000 itself
    assert plans.gate_spacing(2_500, 250, min_points=8) == 62  # cpu's x4: 8 points after 2,000
    assert plans.gate_spacing(10_000, 250, min_points=8) == 250  # cpu's 10k runs: 8,250 .. 10,000
    assert plans.gate_spacing(2_500, 500) == 125
    assert plans.gate_spacing(4, 2) == 2  # too short to matter (smoke)


PLANNED = Path(__file__).parent / "data" / "planned_runs"


@pytest.mark.parametrize("profile", sorted(p.stem for p in PLANNED.glob("*.txt")))
def test_every_profile_plans_the_run_names_it_always_had(profile):
    """Run keys are the store's identity: a refactor that changes one orphans a finished run (the cpu study's
    second edition trains from a pinned commit and is copied in by name). The expected names were listed when
    each profile's runs were first trained; a deliberate change rewrites the file and says why in its commit."""
    expected = (PLANNED / f"{profile}.txt").read_text().split()
    got = sorted(plans.run_name(c) for c in plans.all_runs(profile))
    assert got == expected, (f"profile {profile}: {len(set(got) - set(expected))} new and "
                             f"{len(set(expected) - set(got))} missing run names against tests/data/planned_runs")
