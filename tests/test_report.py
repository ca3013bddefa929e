"""Claim files and the per-profile report, and the claims of Figs. 3/4, EDSR comparisons and ablations."""
import json

import numpy as np
import pandas as pd
import pytest

from wdsr_lib.study import claims, report
from wdsr_lib.study.verdicts import INCONCLUSIVE, REPRODUCED, run_stats

ITERS = np.arange(50, 1001, 50)


def _flat(level, rng=None, sd=0.0):
    v = level - 2.0 * np.exp(-ITERS / 100)
    return v + (rng.normal(0, sd, v.size) if rng is not None else 0)


def _frames(arms, seeds=3, sd=0.002, gen=0):
    """(final, history) for arms = [(labels, level)], converged curves with a per-seed offset."""
    rng = np.random.default_rng(gen)
    hist, final = [], []
    offsets = rng.normal(0, 0.05, seeds)
    for labels, level in arms:
        for s in range(seeds):
            v = _flat(level + offsets[s], rng, sd)
            hist += [{**labels, "seed": s, "iteration": i, "metric": "val_psnr", "value": x} for i, x in zip(ITERS, v)]
            final.append({**labels, "seed": s, "run": f"{labels}-{s}", "bicubic_psnr": 29.0, "params": 1e5,
                          **run_stats(ITERS, v)})
    return pd.DataFrame(final), pd.DataFrame(hist)


def _table1(deltas):
    arms = [({"family": f, "blocks": b}, 30.0 + d + extra) for b, d in deltas.items()
            for f, extra in (("EDSR", -d), ("WDSR-A", 0.0), ("WDSR-B", 0.1))]
    return _frames(arms)


def test_fig3_claims_compare_at_the_paper_lr_and_at_equal_lr():
    final, hist = _frames([({"norm": "weight", "lr": 1e-3}, 31.0), ({"norm": "batch", "lr": 1e-4}, 30.0),
                           ({"norm": "none", "lr": 1e-4}, 30.2), ({"norm": "weight", "lr": 1e-4}, 30.1),
                           ({"norm": "none", "lr": 1e-3}, 30.9)])
    got = {c.id: c for c in claims.fig3_claims(final, hist)}
    assert got["wn_faster_higher"].verdict == REPRODUCED
    # at equal lr WN wins at 1e-3 (31.0 vs none 30.9) and against BN at 1e-4 (30.1 vs 30.0), but loses to no
    # norm at 1e-4 (30.1 vs 30.2): the confound-free claim is not reproduced
    assert got["wn_faster_higher_equal_lr"].verdict == "not reproduced"
    assert len(got["wn_faster_higher_equal_lr"].judgement.parts) == 6


def test_fig4_claim_uses_jitter_which_reads_the_curve_and_needs_no_convergence():
    rng = np.random.default_rng(1)
    arms = [({"norm": "batch", "lr": lr}, 30.0) for lr in (1e-3, 1e-4, 1e-5)]
    final, hist = _frames(arms)
    bn = hist["norm"] == "batch"
    hist.loc[bn, "value"] += rng.normal(0, 0.3, int(bn.sum()))  # BN: 0.3 dB jitter around its trend
    ref_final, ref_hist = _frames([({"norm": "weight", "lr": 1e-3}, 31.0), ({"norm": "weight", "lr": 1e-4}, 30.5)])
    (c,) = claims.fig4_claims(final, hist, ref_final, ref_hist)
    assert c.verdict == REPRODUCED and c.details["bn_jitter"] == pytest.approx(0.3, rel=0.35)
    ref_final["converged"] = False  # jitter is measured around the trend: a rising reference still has one
    (c,) = claims.fig4_claims(final, hist, ref_final, ref_hist)
    assert c.verdict == REPRODUCED and not c.judgement.needs_convergence


def test_ablation_claims_use_fixed_arms():
    arms = [({"study": "wdsr_a_ratio", "r": r}, p) for r, p in ((1, 30.0), (2, 30.4), (4, 30.5), (6, 30.3), (8, 29.9))]
    arms += [({"study": "wdsr_b_expansion", "e": e}, p) for e, p in ((2, 30.0), (4, 30.2), (6, 30.4), (9, 30.41))]
    arms += [({"study": "low_rank_relu", "relu": r}, p) for r, p in ((False, 30.4), (True, 30.0))]
    final, hist = _frames(arms)
    got = {c.id: c.verdict for c in claims.ablation_claims(final, hist)}
    assert got == {"wdsr_a_ratio": REPRODUCED, "wdsr_b_expansion": REPRODUCED, "low_rank_relu_hurts": REPRODUCED}
    final.loc[final["r"] == 8, "endpoint"] += 0.6  # r = 8 now beats the middle: not "best at 2-4"
    assert {c.id: c.verdict for c in claims.ablation_claims(final, hist)}["wdsr_a_ratio"] == "not reproduced"


def test_tables_claims_and_report_files(tmp_path):
    frame = pd.DataFrame({"blocks": [1], "model": ["EDSR"], "PSNR | ours": [30.1]})
    paths = report.write_table(frame, tmp_path, "t", caption="Caption: protocol and data", profile="smoke")
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex"] and paths[0].parent.name == "smoke"
    assert "\\| ours" in paths[0].read_text() and "\\toprule" in paths[2].read_text()
    final, hist = _table1({1: 0.2})
    path = report.write_claims(tmp_path, "table1", claims.table1_claims(final, hist, data="sample photos"), "smoke")
    entries = json.loads(path.read_text())
    assert {"claim", "paper", "ours", "protocol", "data", "verdict", "n_seeds", "mean_db", "ci_low_db",
            "ci_high_db", "converged", "noise_db", "test", "margin_db"} <= set(entries[0])
    md = report.write_report(tmp_path, "smoke").read_text()
    assert (tmp_path / "reports" / "smoke.md").is_file()
    assert "WDSR-A beats EDSR" in md and "NOT comparable with DIV2K" in md and "Protocol:" in md
    assert "95% CI" in md and "Endpoint = the final model's PSNR on every test image" in md


def test_profiles_keep_their_own_claims_and_reports(tmp_path):
    final, hist = _table1({1: 0.2})
    report.write_claims(tmp_path, "table1", claims.table1_claims(final, hist), profile="quick")
    report.write_claims(tmp_path, "table1", claims.table1_claims(final, hist), profile="cpu")
    entries = json.loads((tmp_path / "claims" / "table1.json").read_text())
    assert sorted({e["profile"] for e in entries}) == ["cpu", "quick"] and len(entries) == 4
    report.write_claims(tmp_path, "table1", claims.table1_claims(final, hist)[:1], profile="quick")
    entries = json.loads((tmp_path / "claims" / "table1.json").read_text())
    assert [e["profile"] for e in entries].count("quick") == 1 and [e["profile"] for e in entries].count("cpu") == 2
    quick, cpu = report.write_report(tmp_path, "quick"), report.write_report(tmp_path, "cpu")
    assert quick != cpu and "profile `quick`" in quick.read_text() and "profile `cpu`" in cpu.read_text()
    assert INCONCLUSIVE in report.INCONCLUSIVE


def test_the_report_states_the_measured_and_the_whole_elapsed_training_time(tmp_path):
    elapsed = {"seconds": 3 * 3600.0, "timed": 20, "untimed": 16, "untimed_seconds": 4 * 3600.0}
    md = report.write_report(tmp_path, "cpu", elapsed=elapsed).read_text()
    assert "Elapsed wall time of training, measured: 3.00 h for 20 runs" in md
    assert "all stored runs: about 5.0 h" in md  # 3 h measured + 4 h summed run two at a time
    timed_only = report.write_report(tmp_path, "cpu", elapsed={**elapsed, "untimed": 0, "untimed_seconds": 0.0})
    assert "all stored runs" not in timed_only.read_text()


def _hold(final, hist, **where):
    """(final, history, missing): seed 2 of the rows matching `where` taken out of the store, as `missing`."""
    gone = (final["seed"] == 2) & np.logical_and.reduce([final[k] == v for k, v in where.items()])
    kept_hist = hist[~((hist["seed"] == 2) & np.logical_and.reduce([hist[k] == v for k, v in where.items()]))]
    return final[~gone], kept_hist, final.loc[gone]


def test_a_decided_claim_is_held_at_inconclusive_while_any_of_its_planned_runs_is_missing():
    arms = [({"study": "wdsr_a_ratio", "r": r}, p) for r, p in ((1, 30.0), (2, 30.4), (4, 30.5), (8, 29.9))]
    arms += [({"study": "wdsr_b_expansion", "e": e}, p) for e, p in ((2, 30.0), (4, 30.2), (6, 30.4), (9, 30.41))]
    arms += [({"study": "low_rank_relu", "relu": r}, p) for r, p in ((False, 30.4), (True, 30.0))]
    final, hist = _frames(arms)
    final, hist, missing = _hold(final, hist, study="wdsr_b_expansion", e=9)
    got = {c.id: c for c in claims.ablation_claims(final, hist, missing=missing)}
    held = got["wdsr_b_expansion"]
    assert held.verdict == INCONCLUSIVE and held.judgement.mean_db is not None
    assert '1 of 12 planned runs not yet in the store (the 11 present read "reproduced")' in held.ours
    # the runs present decide it without the missing one; the other claims of the artefact are complete
    assert {c.id: c.verdict for c in claims.ablation_claims(final, hist)}["wdsr_b_expansion"] == REPRODUCED
    assert got["wdsr_a_ratio"].verdict == got["low_rank_relu_hurts"].verdict == REPRODUCED
    assert "held" not in got["wdsr_a_ratio"].ours


def test_every_artefact_holds_its_claims_while_runs_are_missing():
    final, hist = _table1({1: 0.3, 3: 0.3})
    assert {c.verdict for c in claims.table1_claims(final, hist)} == {REPRODUCED}
    final, hist, missing = _hold(final, hist, family="EDSR", blocks=3)
    got = {c.id: c.verdict for c in claims.table1_claims(final, hist, missing=missing)}
    assert got == {"wdsr_a_beats_edsr": INCONCLUSIVE, "wdsr_b_matches_a": REPRODUCED}  # B vs A has all its runs

    final, hist = _frames([({"norm": "weight", "lr": 1e-3}, 31.0), ({"norm": "batch", "lr": 1e-4}, 30.0),
                           ({"norm": "none", "lr": 1e-4}, 30.2), ({"norm": "weight", "lr": 1e-4}, 30.1),
                           ({"norm": "none", "lr": 1e-3}, 30.9)])
    final, hist, missing = _hold(final, hist, norm="none", lr=1e-3)  # only the equal-lr claim uses this arm
    got = {c.id: c.verdict for c in claims.fig3_claims(final, hist, missing=missing)}
    assert got == {"wn_faster_higher": REPRODUCED, "wn_faster_higher_equal_lr": INCONCLUSIVE}

    rng = np.random.default_rng(1)
    final, hist = _frames([({"norm": "batch", "lr": 1e-4}, 30.0)], seeds=4)
    hist["value"] += rng.normal(0, 0.3, len(hist))
    ref_final, ref_hist = _frames([({"norm": "weight", "lr": 1e-3}, 31.0), ({"norm": "weight", "lr": 1e-4}, 30.5)],
                                  seeds=4)
    assert claims.fig4_claims(final, hist, ref_final, ref_hist)[0].verdict == REPRODUCED
    ref_final, ref_hist, missing = _hold(ref_final, ref_hist, norm="weight", lr=1e-4)
    (c,) = claims.fig4_claims(final, hist, ref_final, ref_hist, missing=missing)
    assert c.verdict == INCONCLUSIVE
    assert '1 of 12 planned runs not yet in the store (the 11 present read "reproduced")' in c.ours

    final, hist = _frames([({"study": "loss", "loss": "l1"}, 30.3), ({"study": "loss", "loss": "l2"}, 30.0)])
    final = final.assign(blocks=1, family="EDSR", arm=None)
    final, hist, missing = _hold(final, hist, study="loss", loss="l2")
    (c,) = [c for c in claims.edsr_comparison_claims(final, hist, missing=missing) if c.id == "l1_not_worse_than_l2"]
    assert c.verdict == INCONCLUSIVE and "1 of 6 planned runs" in c.ours
    assert c.ours.startswith("EDSR (1 block, WN) L1 minus L2")  # core.text.plural: not "1 blocks"


def test_missing_frame_lists_the_planned_runs_the_store_lacks(tmp_path):
    from wdsr_lib.store.runs import run_dir_for
    from wdsr_lib.study import frames, plans

    plan = plans.ablations("smoke", [0])
    assert list(frames.missing_frame(plan, tmp_path)["run"]) == [r.name for r in plan]
    done = plan.runs[0]
    run_dir_for(done.config, tmp_path).mkdir(parents=True)
    (run_dir_for(done.config, tmp_path) / "DONE").write_text("")
    missing = frames.missing_frame(plan, tmp_path)
    assert list(missing["run"]) == [r.name for r in plan.runs[1:]] and "study" in missing.columns


def test_an_arm_is_shown_in_the_score_its_differences_are_taken_of():
    arms = [({"study": "wdsr_a_ratio", "r": r}, p) for r, p in ((1, 30.0), (2, 30.4), (4, 30.5), (8, 29.9))]
    final, hist = _frames(arms)
    (c,) = claims.ablation_claims(final, hist)  # no test scores in this store: the validation endpoint, named
    r1 = final.loc[final["r"] == 1, "endpoint"].mean()
    assert c.ours.startswith(f"validation endpoint PSNR: r=1: {r1:.3f} dB")
    final["psnr"] = final["endpoint"] + 0.5 + 0.1 * final["r"]  # the final model's test PSNR differs from it
    (c,) = claims.ablation_claims(final, hist)
    r1, r8 = (final.loc[final["r"] == r, "psnr"].mean() for r in (1, 8))
    assert c.ours.startswith(f"final PSNR on the test images: r=1: {r1:.3f} dB") and f"r=8: {r8:.3f} dB" in c.ours
