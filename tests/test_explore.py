"""The explorer's library (`wdsr_lib/viz/explore.py`): labels, filters, seed-band curves, variants, pickers."""
import math

import pytest

from wdsr_lib.viz import explore
from wdsr_lib.study import plans
from wdsr_lib.core.config import ModelConfig
from wdsr_lib.study.profiles import get_profile
from wdsr_lib.store.runs import collect, load_record, runs_dir


def test_describe_names_every_setting_that_tells_runs_apart_and_never_the_seed():
    p = get_profile("smoke")
    assert explore.describe(p.run(plans.edsr_config(3), seed=4)) == "EDSR, x2, 3 blocks, weight norm"
    variant = ModelConfig(name="wdsr_b", n_resblocks=3, expansion=4.0, low_rank=0.5, norm="batch")
    assert explore.describe(p.run(variant, lr=1e-3, loss="l2")) == \
        "WDSR-B, x2, 3 blocks, e=4, l=0.5, batch norm, L2, lr 0.001"
    assert explore.describe(p.run(plans.wdsr_b_config(3))) == "WDSR-B, x2, 3 blocks, weight norm"  # defaults unnamed
    assert explore.describe(p.run(plans.edsr_config(3, norm="none"), lr=1e-4)) == "EDSR, x2, 3 blocks, none norm"
    assert explore.short_label(p.run(variant)) == "WDSR-B b3 e=4 l=0.5 batch norm"
    b3 = plans.wdsr_b_config(3, 4.0, plans.wdsr_b_equal_budget(4.0))
    assert explore.short_label(p.run(b3)) == "WDSR-B b3 e=4 l=1.08"
    assert explore.short_label(p.run(plans.wdsr_a_config(1))) == "WDSR-A b1"


def test_profile_of_is_the_profile_whose_data_settings_trained_the_run():
    for name in ("smoke", "quick", "cpu", "paper"):
        assert explore.profile_of(get_profile(name).run(plans.edsr_config(1))) == name
    odd = get_profile("quick").run(plans.edsr_config(1))
    from dataclasses import replace
    assert explore.profile_of(replace(odd, data=replace(odd.data, patch_size=20))) == "custom"


def test_runs_frame_adds_family_profile_and_label_to_collect(smoke_store):
    frame = explore.runs_frame(smoke_store)
    base = collect(smoke_store)
    assert len(frame) == len(base) and list(frame.columns[:len(base.columns)]) == list(base.columns)
    per_run = frame.drop_duplicates("run").set_index("run")
    assert len(per_run) == 9 and set(per_run["profile"]) == {"smoke"}
    for run, row in per_run.iterrows():
        cfg = load_record(runs_dir(smoke_store) / run).config
        assert row["label"] == explore.describe(cfg)
        assert row["family"] == {"edsr": "EDSR", "wdsr_a": "WDSR-A", "wdsr_b": "WDSR-B"}[cfg.model.name]


def test_choose_filters_by_value_or_list_and_says_what_the_store_has(smoke_store):
    frame = explore.runs_frame(smoke_store)
    chosen = explore.choose(frame, model=["edsr", "wdsr_b"], blocks=1, norm="weight", profile="smoke", seed=None)
    assert sorted(chosen["run"].unique()) == sorted(r for r in frame["run"].unique()
                                                    if r.startswith(("edsr-x2-b1-", "wdsr_b-x2-b1-")))
    assert set(chosen["seed"]) == {0, 1}
    assert explore.choose(frame, seed=[1])["run"].nunique() == 3
    with pytest.raises(ValueError, match=r"no stored run matches model='mdsr'.*\['edsr', 'wdsr_a', 'wdsr_b'\]"):
        explore.choose(frame, model="mdsr")
    with pytest.raises(ValueError, match="cannot filter on 'colour'"):
        explore.choose(frame, colour="red")
    with pytest.raises(ValueError, match="holds no finished runs"):
        explore.choose(frame.iloc[0:0], model="edsr")


def test_final_table_pools_seeds_per_label_and_marks_the_new_run(smoke_store):
    frame = explore.choose(explore.runs_frame(smoke_store), blocks=1)
    new = sorted(frame["run"].unique())[0]
    table = explore.final_table(frame, highlight=new).set_index("label")
    final = frame[frame["iteration"].isna() & (frame["metric"] == "psnr")]
    for label, group in final.groupby("label"):
        assert table.loc[label, "psnr"] == pytest.approx(group["value"].mean(), abs=1e-12)
        assert table.loc[label, "seeds"] == 2
    assert table["psnr"].is_monotonic_decreasing
    assert table["new"].sum() == 1 and table.loc[frame[frame["run"] == new]["label"].iloc[0], "new"]
    assert explore.final_table(frame.iloc[0:0]).empty


def test_run_dirs_give_one_run_per_label_at_its_lowest_seed_unless_every_seed(smoke_store):
    frame = explore.choose(explore.runs_frame(smoke_store), blocks=1)
    dirs = explore.run_dirs(frame, smoke_store)
    assert [d.name.rsplit("-", 1)[0] for d in dirs] == \
        ["edsr-x2-b1-weight-s0", "wdsr_a-x2-b1-weight-s0", "wdsr_b-x2-b1-weight-s0"]
    assert all(d.parent == runs_dir(smoke_store) and (d / "DONE").is_file() for d in dirs)
    assert sorted(d.name for d in explore.run_dirs(frame, smoke_store, every_seed=True)) == \
        sorted(frame["run"].unique())


def test_curves_figure_draws_the_seed_mean_with_a_band_per_label(smoke_store):
    frame = explore.choose(explore.runs_frame(smoke_store), blocks=1, model="edsr")
    fig = explore.curves_figure(frame)
    ax = fig.axes[0]
    val = frame[(frame["metric"] == "val_psnr")].groupby("iteration")["value"].mean()
    line = ax.lines[0]
    assert list(line.get_xdata()) == list(val.index)
    assert [float(y) for y in line.get_ydata()] == pytest.approx(list(val), abs=1e-9)
    assert len(ax.collections) >= 1  # the 95% band of two seeds
    assert ax.get_legend().get_texts()[0].get_text() == "EDSR, x2, 1 blocks, weight norm (2 seeds)"
    with pytest.raises(ValueError, match="log no 'psnr_z' curve"):
        explore.curves_figure(frame, metric="psnr_z")


def test_a_variant_trains_once_into_the_store_then_loads(tmp_path, capsys):
    cfg = explore.variant_config(ModelConfig(name="wdsr_b", n_resblocks=1, expansion=4.0, low_rank=0.5), "smoke")
    assert cfg == get_profile("smoke").run(ModelConfig(name="wdsr_b", n_resblocks=1, expansion=4.0, low_rank=0.5))
    first = explore.train_variant(cfg, tmp_path, progress=False)
    second = explore.train_variant(cfg, tmp_path, progress=False)
    out = capsys.readouterr().out.splitlines()
    assert first.trained and not second.trained and first.name == second.name == cfg.run_name()
    assert out[0].startswith(f"trained: {cfg.run_name()} (WDSR-B, x2, 1 blocks, e=4, l=0.5, weight norm; PSNR ")
    assert out[1].startswith(f"loaded from the store: {cfg.run_name()}")
    assert not math.isnan(first.summary["psnr"])


def test_pickers_offer_every_stored_value_and_fall_back_without_ipywidgets(smoke_store, monkeypatch, capsys):
    frame = explore.runs_frame(smoke_store)
    pytest.importorskip("ipywidgets")  # third-party, optional: the lab extra
    box = explore.pickers(frame)
    selectors = box.children[0].children
    assert [s.description for s in selectors] == list(explore.FILTERS)
    assert {s.description: list(s.options) for s in selectors} == explore.options(frame)
    assert selectors[1].options == (1, 3) and selectors[4].options == (0, 1)
    message, image = box.children[1], box.children[2]
    first = bytes(image.value)
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and message.value == ""
    selectors[0].value = ("edsr",)  # picking one model redraws the curves
    assert bytes(image.value)[:8] == b"\x89PNG\r\n\x1a\n" and bytes(image.value) != first
    selectors[1].value = ()  # nothing chosen: the reason is shown, the last figure stays
    assert message.value.startswith("no stored run matches blocks=[]")
    import builtins
    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert explore.pickers(frame) is None
    assert "ipywidgets is not installed" in capsys.readouterr().out


def test_show_turns_a_figure_or_png_into_an_inline_image(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    image = explore.show(fig)
    assert image.format == "png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # closed: a notebook does not draw it twice
    path = tmp_path / "x.png"
    path.write_bytes(image.data)
    assert explore.show(path).data == image.data and explore.show(None) is None
