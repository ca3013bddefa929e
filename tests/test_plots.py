"""Figures: files written (PNG + PDF, non-trivial), axes labelled, one legend entry per line."""
import numpy as np
import pandas as pd

from wdsr_lib.viz import plots


def _history():
    rows = []
    for norm, base in (("weight", 30.0), ("batch", 28.0), ("none", 29.0)):
        for it in (10, 20, 30):
            rows.append({"norm": norm, "seed": 0, "iteration": it, "metric": "val_psnr", "value": base + it / 10,
                         "source": "sample"})
            rows.append({"norm": norm, "seed": 0, "iteration": it, "metric": "train_loss", "value": 10 - it / 10,
                         "source": "sample"})
    return pd.DataFrame(rows)


def test_training_curves_have_labelled_axes_and_a_legend_per_panel(tmp_path):
    fig = plots.training_curves(_history(), hue="norm", title="Figure 3", order=["weight", "batch", "none"])
    loss, psnr = fig.axes
    assert loss.get_xlabel() == "iteration" and "L1" in loss.get_ylabel()
    assert "PSNR" in psnr.get_ylabel()
    assert [t.get_text() for t in psnr.get_legend().get_texts()] == ["weight", "batch", "none"]
    assert "not comparable with DIV2K" in fig._suptitle.get_text()
    paths = plots.save_figure(fig, tmp_path / "figs", "fig3")
    assert [p.name for p in paths] == ["fig3.png", "fig3.pdf"]
    assert all(p.stat().st_size > 5_000 for p in paths)


def test_learning_rates_are_listed_in_the_legend_by_value_not_as_strings():
    """WDSR Fig. 4: "lr = 1e-05" sorts after "lr = 0.001" as a string; the legend reads 1e-5, 1e-4, 1e-3."""
    history = _history().rename(columns={"norm": "lr"})
    history["lr"] = history["lr"].map({"weight": 1e-3, "batch": 1e-4, "none": 1e-5})
    fig = plots.training_curves(history, hue="lr", hue_format="lr = {:g}", title="Figure 4")
    psnr = fig.axes[1]
    assert [t.get_text() for t in psnr.get_legend().get_texts()] == ["lr = 1e-05", "lr = 0.0001", "lr = 0.001"]


def test_a_saved_figure_as_a_cells_value_shows_its_png_once(tmp_path):
    """A notebook cell ending with `plots.save_figure(...)` displays the written PNG (and only that image)."""
    from IPython.core.formatters import DisplayFormatter

    paths = plots.save_figure(plots.training_curves(_history(), hue="norm", title="Figure 3"), tmp_path, "fig3")
    data, _ = DisplayFormatter().format(paths)
    assert data["image/png"] == (tmp_path / "fig3.png").read_bytes()
    assert data["text/plain"] == f"figure written: {tmp_path / 'fig3.png'}, {tmp_path / 'fig3.pdf'}"
    assert paths == [tmp_path / "fig3.png", tmp_path / "fig3.pdf"] and paths[0].name == "fig3.png"


def test_table1_figure_shows_ours_and_the_papers_numbers():
    rows = [{"family": f, "blocks": b, "seed": 0, "psnr": 30 + b / 10, "params": 1e5 * b, "paper_params_m": 0.1 * b,
             "paper_psnr": 33 + b / 10, "source": "sample"} for f in ("EDSR", "WDSR-A", "WDSR-B") for b in (1, 3)]
    ours, paper = plots.table1_figure(pd.DataFrame(rows)).axes
    assert "parameters" in ours.get_xlabel() and ours.get_ylabel().startswith("PSNR (dB, final")
    assert len(ours.get_legend().get_texts()) == 3 and len(paper.get_legend().get_texts()) == 3
    assert "DIV2K" in paper.get_title()


def test_ablation_and_bar_figures(tmp_path):
    final = pd.DataFrame({"r": [1, 2, 4], "seed": 0, "psnr": [30.0, 30.4, 30.5], "params": 6e5,
                          "bicubic_psnr": 29.0, "source": "sample"})
    (ax,) = plots.ablation_figure(final, "r", "expansion r", "WDSR-A", reference=4).axes
    assert ax.get_xlabel() == "expansion r" and ax.get_ylabel() == "PSNR (dB, final, test images)"
    assert ax.get_legend().get_texts()[-1].get_text() == "ours (one seed, no bars)"  # not "1 seeds"
    fig = plots.bar_figure(final.assign(label=["a", "b", "c"]), "label", "bars", floor=29.0)
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    assert low < 29.0 < high  # the bicubic floor stays visible
    assert all(p.exists() for p in plots.save_figure(fig, tmp_path, "bars"))


def test_bar_figure_with_pairs_draws_the_per_seed_differences_and_their_interval():
    rows = [{"loss": loss, "seed": s, "psnr": 32.0 + d, "endpoint": 32.0 + d, "bicubic_psnr": 31.0,
             "source": "sample"}
            for s, gap in ((0, 0.04), (1, 0.06), (2, 0.05)) for loss, d in (("l1", gap), ("l2", 0.0))]
    fig = plots.bar_figure(pd.DataFrame(rows), "loss", "L1 vs L2", floor=31.0, paired=("l1", "l2"))
    bars, diffs = fig.axes
    points = diffs.collections[0].get_offsets()[:, 1]
    assert sorted(points.round(6)) == [0.04, 0.05, 0.06]  # one point per seed: l1 - l2
    assert diffs.get_xticklabels()[0].get_text() == "l1 - l2"
    marker, caps, _ = diffs.containers[0]
    assert abs(marker.get_ydata()[0] - 0.05) < 1e-9
    half = 4.302653 * 0.01 / 3 ** 0.5  # t(0.975, 2 df) x SD / sqrt(3): the verdicts' interval
    assert sorted(round(float(c.get_ydata()[0]), 5) for c in caps) == [round(0.05 - half, 5), round(0.05 + half, 5)]
    one_seed = pd.DataFrame([r for r in rows if r["seed"] == 0])
    assert len(plots.bar_figure(one_seed, "loss", "L1 vs L2", paired=("l1", "l2")).axes) == 1  # no pairs to test


def test_gap_figure_draws_one_panel_per_budget_with_a_line_per_pair():
    import numpy as np

    rows = [{"family": f, "blocks": b, "seed": s, "iteration": it, "metric": "val_psnr",
             "value": 30 + 0.1 * (f == "WDSR-A") + 0.01 * s + it / 1e4, "source": "sample"}
            for f in ("EDSR", "WDSR-A") for b in (1, 3) for s in (0, 1, 2) for it in np.arange(100, 1001, 100)]
    fig = plots.gap_figure(pd.DataFrame(rows), [("WDSR-A", "EDSR"), ("WDSR-B", "EDSR")], title="gaps")
    axes = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in axes] == ["blocks = 1", "blocks = 3"]
    for ax in axes:
        assert ax.get_ylabel() == "validation PSNR gap (dB)" and ax.get_xlabel() == "iteration"
        line = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 10][0]
        assert np.allclose(line.get_ydata(), 0.1)  # the A - EDSR gap; the missing WDSR-B pair draws nothing
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["WDSR-A - EDSR"]


def test_the_curve_band_is_the_t_interval_of_the_seed_mean_the_verdicts_use():
    import numpy as np

    from wdsr_lib.study.verdicts import interval

    offsets = {0: 0.0, 1: 0.3, 2: -0.1, 3: 0.5}
    rows = [{"norm": "weight", "seed": s, "iteration": it, "metric": m, "value": 30 + o + it / 100,
             "source": "sample"} for s, o in offsets.items() for it in (10, 20, 30) for m in ("val_psnr", "train_loss")]
    fig = plots.training_curves(pd.DataFrame(rows), hue="norm", title="bands")
    band = fig.axes[1].collections[0].get_paths()[0].vertices
    d = interval([30 + o + 0.2 for o in offsets.values()])  # at iteration 20
    at20 = band[np.isclose(band[:, 0], 20)][:, 1]
    assert np.allclose(sorted(at20), [d.low, d.high])
    assert "t-interval" in fig._suptitle.get_text()


def test_final_score_figures_plot_what_the_verdicts_read():
    """Table 1 and the ablations plot the final PSNR on the test images (verdicts rule 1), not the validation
    endpoint, wherever the runs have it."""
    final = pd.DataFrame({"r": [1, 2], "seed": 0, "psnr": [30.0, 31.0], "endpoint": [20.0, 21.0], "params": 6e5,
                          "bicubic_psnr": 29.0, "source": "sample"})
    (ax,) = plots.ablation_figure(final, "r", "expansion r", "WDSR-A").axes
    ys = [y for line in ax.get_lines() for y in line.get_ydata()]
    assert 30.0 in ys and 20.0 not in ys
    assert plots.final_score(final.assign(psnr=float("nan"))) == "endpoint"


def test_the_verdict_panel_shows_the_interval_over_seeds_and_images_when_given_the_images():
    from wdsr_lib.study.verdicts import crossed

    rng = np.random.default_rng(0)
    cells, final = [], []
    for s in range(3):
        for loss, d in (("l1", 0.05), ("l2", 0.0)):
            values = 32.0 + d + rng.normal(0, 0.05, 4)
            run = f"{loss}-{s}"
            cells += [{"run": run, "loss": loss, "seed": s, "image": f"p{i}", "value": v} for i, v in enumerate(values)]
            final.append({"run": run, "loss": loss, "seed": s, "psnr": values.mean(), "endpoint": 30.0,
                          "bicubic_psnr": 31.0, "source": "sample"})
    images, final = pd.DataFrame(cells), pd.DataFrame(final)
    fig = plots.bar_figure(final, "loss", "L1 vs L2", floor=31.0, paired=("l1", "l2"), images=images)
    _, diffs = fig.axes
    wide = images.pivot_table(index=["seed", "image"], columns="loss", values="value")
    want = crossed((wide["l1"] - wide["l2"]).rename("diff").reset_index())
    marker, caps, _ = diffs.containers[0]
    assert abs(marker.get_ydata()[0] - want.mean) < 1e-9
    assert sorted(round(float(c.get_ydata()[0]), 9) for c in caps) == [round(want.low, 9), round(want.high, 9)]
    assert "test images" in diffs.get_ylabel() and "4 images" in diffs.get_legend().get_texts()[-1].get_text()
    per_seed = final.pivot_table(index="seed", columns="loss", values="psnr")
    points = diffs.collections[0].get_offsets()[:, 1]
    assert np.allclose(sorted(points), sorted(per_seed["l1"] - per_seed["l2"]))  # the test PSNR, not the endpoint
