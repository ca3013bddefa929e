"""The judging rules on synthetic histories (no training): convergence gate, intervals, tests, multiplicity."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wdsr_lib.study import claims, verdicts
from wdsr_lib.study.verdicts import (INCONCLUSIVE, NON_INFERIORITY, NOT_CONVERGED, NOT_REPRODUCED, REPRODUCED, Noise,
                               difference, judge, late_change, noise_level, run_stats)

ITERS = np.arange(500, 20_001, 500)


def curve(final_db, rising=False, sd=0.0, rng=None):
    """A validation curve that saturates at `final_db` (or is still rising by ~0.3 dB over the last 20%)."""
    t = ITERS / ITERS.max()
    v = final_db - 3.0 * np.exp(-t * 12) if not rising else final_db - 1.5 * (1 - t)
    if sd:
        v = v + rng.normal(0, sd, v.size)
    return v


def synthetic(effects, seeds=5, rising=False, sd=0.005, seed_sd=0.05, base=33.0, gen=0):
    """Table 1 frames as `frames.final_frame` / `history_frame` build them: family effects per budget."""
    rng = np.random.default_rng(gen)
    hist, final = [], []
    for blocks, fam_effects in effects.items():
        for s in range(seeds):
            offset = rng.normal(0, seed_sd)  # shared by the families of one seed: what pairing removes
            for family, effect in fam_effects.items():
                v = curve(base + offset + effect, rising, sd, rng)
                labels = {"family": family, "blocks": blocks, "seed": s}
                hist += [{**labels, "iteration": it, "metric": "val_psnr", "value": x} for it, x in zip(ITERS, v)]
                final.append({**labels, "run": f"{family}-{blocks}-{s}", "bicubic_psnr": 31.0, "params": 1e5,
                              **run_stats(ITERS, v)})
    return pd.DataFrame(final), pd.DataFrame(hist)


def by_id(cs):
    return {c.id: c for c in cs}


def test_a_true_effect_with_small_spread_on_converged_runs_is_reproduced():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}})
    c = by_id(claims.table1_claims(final, hist))["wdsr_a_beats_edsr"]
    assert c.verdict == REPRODUCED and c.judgement.converged
    assert c.judgement.n_seeds == 5 and c.judgement.ci_low_db > 0
    assert c.judgement.mean_db == pytest.approx(0.1, abs=0.01)


def test_at_every_budget_stays_inconclusive_while_a_planned_budget_is_missing():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}})
    assert by_id(claims.table1_claims(final, hist, budgets=(1,)))["wdsr_a_beats_edsr"].verdict == REPRODUCED
    c = by_id(claims.table1_claims(final, hist, budgets=(1, 3)))["wdsr_a_beats_edsr"]
    assert c.verdict == "inconclusive" and "Not yet in the store: 3 blocks" in c.ours
    assert c.judgement.mean_db == pytest.approx(0.1, abs=0.01)  # the 1-block numbers are still shown


def test_a_profile_with_fewer_budgets_than_the_paper_scopes_the_claim_text_to_them():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}})
    c = by_id(claims.table1_claims(final, hist, budgets=(1,)))["wdsr_a_beats_edsr"]
    assert c.claim == ("WDSR-A beats EDSR at every Table 1 parameter budget trained here (1 block of the paper's "
                       "1/3/5/8)")
    every = by_id(claims.table1_claims(final, hist, budgets=(1, 3, 5, 8)))["wdsr_a_beats_edsr"]
    assert every.claim == "WDSR-A beats EDSR at every Table 1 parameter budget"


def test_the_same_effect_on_curves_still_rising_is_inconclusive_not_converged():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}}, rising=True)
    assert not final["converged"].any()
    c = by_id(claims.table1_claims(final, hist))["wdsr_a_beats_edsr"]
    assert c.verdict == NOT_CONVERGED and c.judgement.converged is False
    assert c.judgement.mean_db == pytest.approx(0.1, abs=0.01)  # numbers still shown


def test_a_gap_still_moving_blocks_a_verdict_even_when_each_curve_looks_flat():
    it = ITERS.astype(float)
    a = 33.0 + 0.04 * (it > 16_000) * (it - 16_000) / 4000  # rises 0.04 dB: under the run tolerance
    b = 33.0 - 0.03 * (it > 16_000) * (it - 16_000) / 4000
    assert verdicts.is_converged(late_change(it, a)) and verdicts.is_converged(late_change(it, b))
    hist = pd.DataFrame([{"family": f, "blocks": 1, "seed": 0, "iteration": i, "metric": "val_psnr", "value": x}
                         for f, v in (("A", a), ("B", b)) for i, x in zip(it, v)])
    assert abs(verdicts.gap_change(hist, {"family": "A"}, {"family": "B"})) > verdicts.TOL_DB


def test_b_against_a_is_superiority_at_1_block_and_non_inferiority_deeper():
    """Table 1 shows B - A = +0.111 at 1 block (a gap: superiority) and +0.042 at 3 blocks ("similar":
    non-inferiority within half of A's gain over EDSR there, 0.06 dB)."""
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.0, "WDSR-B": -0.005},
                             3: {"EDSR": 0.0, "WDSR-A": 0.0, "WDSR-B": -0.005}}, sd=0.002)
    c = by_id(claims.table1_claims(final, hist))["wdsr_b_matches_a"]
    one, three = c.judgement.parts
    assert one["test"] == "superiority" and one["verdict"] == NOT_REPRODUCED  # a tight -0.005 is no win
    assert three["test"] == NON_INFERIORITY and three["margin_db"] == claims.ni_margin(3) == 0.06
    assert three["verdict"] == REPRODUCED and c.verdict == NOT_REPRODUCED  # every part must hold
    assert claims.ni_margin(1) == 0.056


def _pair(final, a, b):
    return (verdicts.by_seed(final, family=a), verdicts.by_seed(final, family=b))


def test_pure_noise_is_inconclusive():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.0, "WDSR-B": 0.0}}, sd=0.003, seed_sd=0.0, gen=3)
    rng = np.random.default_rng(7)  # seed-to-seed differences of +-0.03 dB with mean zero
    final.loc[final.family == "WDSR-A", "endpoint"] += rng.normal(0, 0.03, 5)
    c = by_id(claims.table1_claims(final, hist))["wdsr_a_beats_edsr"]
    assert c.verdict == INCONCLUSIVE
    assert c.judgement.ci_low_db < 0 < c.judgement.ci_high_db


def test_one_seed_decides_only_beyond_a_measured_noise_level():
    noise = Noise(0.08, "test")
    assert judge(difference({0: 30.05}, {0: 30.0}), noise=noise).verdict == INCONCLUSIVE
    assert judge(difference({0: 30.10}, {0: 30.0}), noise=noise).verdict == REPRODUCED
    assert judge(difference({0: 29.90}, {0: 30.0}), noise=noise).verdict == NOT_REPRODUCED
    j = judge(difference({0: 30.10}, {0: 30.0}), noise=None)  # no measurement: never a verdict
    assert j.verdict == INCONCLUSIVE and j.noise_db is None
    assert judge(difference({0: 30.10}, {0: 30.0}), noise=noise).fields()["noise_db"] == 0.08


def test_noise_level_is_the_pooled_seed_sd_times_196_root_2():
    frame = pd.DataFrame({"family": ["A"] * 3 + ["B"] * 3, "endpoint": [1.0, 1.2, 1.1, 2.0, 2.1, 2.2]})
    n = noise_level(frame, ["family"])
    sd = math.sqrt((0.02 + 0.02) / 4)  # each group: squared deviations 0.01 + 0.01 + 0, 2 dof
    assert n.db == pytest.approx(1.96 * math.sqrt(2) * sd) and "4 degrees of freedom" in n.source
    assert noise_level(frame.iloc[[0, 3]], ["family"]) is None


def test_a_t_interval_matches_scipy():
    a, b = {0: 30.3, 1: 30.5, 2: 30.4}, {0: 30.1, 1: 30.2, 2: 30.25}
    d = difference(a, b)
    low, high = stats.t.interval(0.95, 2, loc=np.mean([0.2, 0.3, 0.15]), scale=stats.sem([0.2, 0.3, 0.15]))
    assert d.n == 3 and math.isclose(d.low, low) and math.isclose(d.high, high)


def test_holm_matches_statsmodels_and_skips_missing_p_values():
    adjusted = verdicts.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    assert adjusted["a"] == pytest.approx(0.03) and adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06) and math.isnan(adjusted["d"])  # step-down, monotone


def test_claim_entries_carry_every_machine_readable_field():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1},
                             3: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.12}}, seeds=3)
    for c in claims.table1_claims(final, hist):
        d = c.to_dict()
        for key in ("verdict", "n_seeds", "mean_db", "ci_low_db", "ci_high_db", "converged", "noise_db", "test",
                    "margin_db"):
            assert key in d
        assert d["verdict"] in verdicts.VERDICTS
        if d["verdict"] in (REPRODUCED, NOT_REPRODUCED):
            assert d["converged"] and (d["n_seeds"] >= 2 and d["ci_low_db"] is not None or d["noise_db"])
        assert len(d["parts"]) == 2


def test_jitter_ignores_a_rising_trend_and_measures_noise():
    t = np.linspace(0, 1, 200)
    assert verdicts.jitter(30 + 2 * t) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = 30 + 2 * t + rng.normal(0, 0.1, t.size)
    assert verdicts.jitter(noisy) == pytest.approx(0.1, rel=0.15)


def test_bicubic_claim_lists_every_run_below_bicubic():
    final, _ = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}}, seeds=2)
    final.loc[0, "endpoint"] = 30.5  # below the 31.0 floor
    c = claims.bicubic_claim(final)
    assert c.verdict == NOT_REPRODUCED and final.loc[0, "run"] in c.ours and c.judgement.n_seeds == 6
    final.loc[0, "endpoint"] = 33.0
    assert claims.bicubic_claim(final).verdict == REPRODUCED


def test_no_data_is_inconclusive_and_never_called_converged():
    j = judge(difference({}, {}))
    assert j.verdict == INCONCLUSIVE and j.n_seeds == 0 and j.converged is False


def _baselines(params_wdsr):
    rows = [{"run": f"{fam}-{s}", "study": "baseline", "family": fam, "seed": s, "blocks": 16,
             "params": p, "psnr": 33.0 + d, "psnr_x8": 33.1 + d, "endpoint": 33.0 + d, "converged": True,
             "late_change_db": 0.0, "loss": "l1", "arm": None}
            for s in range(3) for fam, d, p in (("EDSR", 0.0, 1_372_318), ("WDSR-A", 0.1, params_wdsr))]
    hist = pd.DataFrame([{**{k: r[k] for k in ("study", "family", "seed")}, "iteration": it, "metric": "val_psnr",
                          "value": r["endpoint"]} for r in rows for it in ITERS])
    return pd.DataFrame(rows), hist


def test_the_baseline_claim_needs_fewer_parameters_and_without_data_is_only_inconclusive():
    final, hist = _baselines(1_190_100)
    assert by_id(claims.edsr_comparison_claims(final, hist))["wdsr_baseline_beats_edsr"].verdict == REPRODUCED
    final, hist = _baselines(1_400_000)  # higher PSNR but more parameters: the claim's condition fails
    assert by_id(claims.edsr_comparison_claims(final, hist))["wdsr_baseline_beats_edsr"].verdict == NOT_REPRODUCED
    empty = by_id(claims.edsr_comparison_claims(final.iloc[:0], hist.iloc[:0]))
    c = empty["wdsr_baseline_beats_edsr"]
    assert c.verdict == INCONCLUSIVE and c.judgement.n_seeds == 0
    # a store without x4 runs still lists the x4 claim, so a partial report shows the whole family
    assert empty["x4_from_x2"].verdict == INCONCLUSIVE and empty["x4_from_x2"].judgement.n_seeds == 0


# --- seeds x images ---------------------------------------------------------------------------------------------

def _cells(effect=0.05, ns=5, ni=16, seed_sd=0.02, image_sd=0.08, noise=0.01, gen=0):
    rng = np.random.default_rng(gen)
    s, i = rng.normal(0, seed_sd, ns), rng.normal(0, image_sd, ni)
    return pd.DataFrame([{"seed": a, "image": f"im{b}", "diff": effect + s[a] + i[b] + rng.normal(0, noise)}
                         for a in range(ns) for b in range(ni)])


def test_the_crossed_interval_equals_the_two_way_anova_with_satterthwaite_df():
    cells = _cells()
    c = verdicts.crossed(cells)
    y = cells.pivot(index="seed", columns="image", values="diff").to_numpy()
    ns, ni = y.shape
    gm = y.mean()
    ms_s = ni * ((y.mean(1) - gm) ** 2).sum() / (ns - 1)
    ms_i = ns * ((y.mean(0) - gm) ** 2).sum() / (ni - 1)
    res = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + gm
    ms_e = (res ** 2).sum() / ((ns - 1) * (ni - 1))
    se = math.sqrt((ms_s + ms_i - ms_e) / (ns * ni))
    df = (ms_s + ms_i - ms_e) ** 2 / (ms_s ** 2 / (ns - 1) + ms_i ** 2 / (ni - 1) + ms_e ** 2 / ((ns - 1) * (ni - 1)))
    assert c.mean == pytest.approx(gm) and c.se == pytest.approx(se, rel=1e-3) and c.df == pytest.approx(df, rel=1e-2)
    half = stats.t.ppf(0.975, df) * se
    assert c.low == pytest.approx(gm - half, rel=1e-2) and c.covers == "seeds and images"


def test_one_photograph_carrying_an_effect_is_not_a_reproduction_over_images():
    """The first edition's trap: every seed agrees, but only one of the images moves."""
    cells = _cells(effect=0.0, image_sd=0.0, seed_sd=0.005, noise=0.002)
    cells.loc[cells["image"] == "im0", "diff"] += 0.4
    seeds_only = verdicts.interval(cells.groupby("seed")["diff"].mean())
    assert seeds_only.low > 0  # over seeds alone the effect looks certain
    j = judge(verdicts.crossed(cells), cells=cells)
    assert j.verdict == INCONCLUSIVE and j.ci_low_db < 0
    assert j.per_image[0]["image"] == "im0" and j.per_image[0]["positive"] == 5


def test_one_seed_over_many_images_needs_the_noise_level_too():
    cells = _cells(ns=1, effect=0.05, image_sd=0.01)
    c = verdicts.crossed(cells)
    assert c.covers.startswith("images only") and c.low > 0
    assert judge(c).verdict == INCONCLUSIVE
    assert judge(c, noise=Noise(0.03, "test")).verdict == REPRODUCED


def test_the_one_sided_gate_passes_a_falling_curve_and_stops_a_rising_one():
    it = np.arange(250, 10_001, 250, dtype=float)
    assert verdicts.run_stats(it, 33.0 - 0.2 * (it > 8000) * (it - 8000) / 2000)["converged"]
    assert not verdicts.run_stats(it, 33.0 + 0.2 * (it > 8000) * (it - 8000) / 2000)["converged"]


def test_the_gate_false_alarm_rate_matches_a_simulation_of_flat_noisy_curves():
    it = np.arange(250, 10_001, 250, dtype=float)
    rng = np.random.default_rng(1)
    sims = [verdicts.late_change(it, 33.0 + rng.normal(0, 0.03, it.size)) >= verdicts.TOL_DB for _ in range(4000)]
    predicted = verdicts.gate_false_alarm(0.03, it)
    assert np.mean(sims) == pytest.approx(predicted, abs=0.015) and 0.02 < predicted < 0.2
    sd, dof = verdicts.late_residual_sd(it, 33.0 + rng.normal(0, 0.03, it.size))
    assert dof == 6 and 0.01 < sd < 0.06


def _with_images(final, effects, ni=6, image_sd=0.05, gen=2):
    """Per-image final PSNR cells for synthetic Table 1 runs: the run's endpoint plus an image offset."""
    rng = np.random.default_rng(gen)
    offsets = rng.normal(0, image_sd, ni)
    rows = []
    for r in final.itertuples():
        for k in range(ni):
            rows.append({"run": r.run, "family": r.family, "blocks": r.blocks, "seed": r.seed, "image": f"im{k}",
                         "value": r.endpoint + offsets[k] + effects.get((r.family, k), 0.0)})
    return pd.DataFrame(rows)


def test_table1_claims_read_per_image_cells_and_carry_them_into_the_entry():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}})
    images = _with_images(final, {})
    c = by_id(claims.table1_claims(final, hist, images=images))["wdsr_a_beats_edsr"]
    d = c.to_dict()
    assert c.verdict == REPRODUCED and d["n_images"] == 6 and d["ci_covers"] == "seeds and images"
    assert len(d["per_image"]) == 6 and d["p_value"] < 0.05
    carried = _with_images(final, {("WDSR-A", 0): 0.6}, image_sd=0.0)  # only im0 moves
    carried.loc[carried["family"] == "WDSR-A", "value"] -= 0.1
    c = by_id(claims.table1_claims(final, hist, images=carried))["wdsr_a_beats_edsr"]
    assert c.verdict == INCONCLUSIVE and c.judgement.per_image[0]["image"] == "im0"


def test_faster_parts_need_no_convergence_and_say_so():
    final, hist = synthetic({1: {"EDSR": 0.0, "WDSR-A": 0.1, "WDSR-B": 0.1}}, rising=True)
    j = judge(difference({0: 1.0, 1: 1.1, 2: 1.05}, {0: 0.5, 1: 0.6, 2: 0.5}), converged=False,
              needs_convergence=False)
    assert j.verdict == REPRODUCED and j.converged and not j.needs_convergence


def test_stored_numbers_show_the_same_three_decimals_as_the_claim_text():
    # -0.1245489 reads -0.125; stored at 4 decimals (-0.1245) it read -0.124 in the README table beside it
    j = verdicts.Judgement(REPRODUCED, 3, -0.1245489, -0.1854, -0.0644, True, None, "superiority", 0.0)
    stored = j.fields()
    assert [f"{stored[k]:+.3f}" for k in ("mean_db", "ci_low_db", "ci_high_db")] == \
        [f"{v:+.3f}" for v in (j.mean_db, j.ci_low_db, j.ci_high_db)]
