"""Qualitative figures (`wdsr_lib/viz/qualitative.py`): the crop rule, PSNR per crop, the profile figure from a
smoke store, its skip when weights are absent, and the comparison for a user's own image."""
import shutil

import numpy as np
import pytest
import torch

from wdsr_lib.viz import qualitative
from wdsr_lib.data.sources import ImagePair


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_the_window_is_where_the_outputs_errors_differ_most():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    good = hr.copy()
    bad = hr.copy()
    bad[24:40, 40:56] = 255 - bad[24:40, 40:56]  # one model wrong in a 16x16 block only
    both_off = np.clip(hr.astype(int) + 20, 0, 255).astype(np.uint8)  # equal errors everywhere add no spread
    assert qualitative.choose_window(hr, [good, bad, both_off], 16, margin=4, stride=4) == (24, 40)
    # the first window in raster order wins a tie
    assert qualitative.choose_window(hr, [good, good], 16, margin=4, stride=4) == (4, 4)
    with pytest.raises(ValueError, match="does not fit a 80x64 image"):
        qualitative.choose_window(hr, [good, bad], 60, margin=4)
    with pytest.raises(ValueError, match="at least two outputs"):
        qualitative.choose_window(hr, [good], 16)


class _Shift(torch.nn.Module):
    """A stand-in SR model: nearest-neighbour x2 plus a constant offset (a known, different error per model)."""

    def __init__(self, offset):
        super().__init__()
        self.offset = offset

    def forward(self, x):
        return torch.repeat_interleave(torch.repeat_interleave(x, 2, dim=-1), 2, dim=-2) + self.offset


def test_each_panel_is_labelled_with_its_psnr_on_the_crop():
    rng = np.random.default_rng(1)
    lr = rng.integers(20, 230, (40, 48, 3), dtype=np.uint8)
    hr = np.repeat(np.repeat(lr, 2, 0), 2, 1)
    hr[30:50, 40:60] = 0  # a dark patch where both models err a lot, so the window is not arbitrary
    rows = qualitative.compare_rows([ImagePair("p", lr, hr)], {"A": _Shift(3.0), "B": _Shift(10.0)}, 2,
                                    ensemble="B", size=16)
    (row,) = rows
    top, left, side = row.box
    assert side == 16 and [p.label for p in row.panels] == ["HR", "bicubic", "A", "B", "B x8"]
    crop = (slice(top, top + 16), slice(left, left + 16))
    assert np.array_equal(row.panels[0].image, hr[crop]) and row.panels[0].psnr is None
    upsampled = np.repeat(np.repeat(lr.astype(int), 2, 0), 2, 1)
    assert row.panels[2].psnr == pytest.approx(_psnr(np.clip(upsampled[crop] + 3, 0, 255), hr[crop]), abs=1e-9)
    assert row.panels[3].psnr == pytest.approx(_psnr(np.clip(upsampled[crop] + 10, 0, 255), hr[crop]), abs=1e-9)
    assert row.panels[3].psnr < row.panels[2].psnr  # a larger offset, a lower PSNR
    assert row.panels[4].psnr == pytest.approx(row.panels[3].psnr, abs=1e-9)  # offsets commute with flips
    with pytest.raises(ValueError, match="ensemble must name one of the models"):
        qualitative.compare_rows([ImagePair("p", lr, hr)], {"A": _Shift(3.0)}, 2, ensemble="C")


@pytest.mark.slow
def test_profile_figure_is_written_from_the_store_and_skipped_without_weights(smoke_store, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(smoke_store, results)
    figures = tmp_path / "figures"
    png = qualitative.profile_figure("smoke", results, figures, images=1)
    assert png == figures / "qualitative_smoke.png" and png.stat().st_size > 20_000
    assert (figures / "qualitative_smoke.pdf").stat().st_size > 5_000
    before = png.read_bytes()
    runs = qualitative.profile_runs("smoke", results)
    assert sorted(runs) == ["EDSR", "WDSR-A", "WDSR-B"] and all("-b3-" in d.name for d in runs.values())
    (runs["WDSR-A"] / "model.pt").unlink()  # the deepest budget lacks a run's weights: the next one down is shown
    shallower = qualitative.profile_runs("smoke", results)
    assert all("-b1-" in d.name for d in shallower.values())
    (shallower["WDSR-A"] / "model.pt").unlink()  # no budget has all three: skipped, naming the deepest's runs
    assert qualitative.profile_runs("smoke", results) == runs
    assert qualitative.profile_figure("smoke", results, figures) is None
    out = capsys.readouterr().out
    assert f"skipped: no finished run with weights (model.pt) for {runs['WDSR-A'].name}" in out
    assert "wdsr rebuild <run name>" in out
    assert png.read_bytes() == before  # the existing figure is kept


@pytest.mark.slow
def test_the_ensemble_on_the_crop_equals_the_whole_image_ensemble_there(smoke_store):
    from wdsr_lib.data import load_pairs
    from wdsr_lib.models import load_pretrained

    model = load_pretrained(qualitative.profile_runs("smoke", smoke_store)["WDSR-B"] / "model.pt")
    lr = load_pairs("sample", 2, "val")[0].lr[:60, :70]
    whole = qualitative.upscale(model, lr, 2, self_ensemble=True).astype(int)
    for box in [(0, 0, 24), (37, 51, 30), (96, 100, 24)]:  # at the top-left corner, inside, at the bottom-right
        top, left, size = box
        crop = qualitative.ensemble_crop(model, lr, 2, box).astype(int)
        assert crop.shape == (size, size, 3)
        assert np.abs(crop - whole[top:top + size, left:left + size]).max() <= 1  # 8-bit rounding of float noise


@pytest.mark.slow
def test_compare_image_runs_a_users_photo_through_stored_runs(smoke_store, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(2)
    photo = tmp_path / "mine.png"
    Image.fromarray(rng.integers(0, 256, (61, 75, 3), dtype=np.uint8)).save(photo)
    results = tmp_path / "results"
    shutil.copytree(smoke_store, results)
    runs = qualitative.profile_runs("smoke", results)
    (runs["EDSR"] / "model.pt").unlink()
    fig = qualitative.compare_image(photo, [runs["EDSR"], runs["WDSR-B"].name, runs["WDSR-A"]], results,
                                    ensemble=runs["WDSR-B"], figures_dir=tmp_path / "out", name="mine")
    titles = [ax.get_title().split("\n")[0] for ax in fig.axes]
    assert titles == ["mine.png", "HR", "bicubic", "WDSR-B b3", "WDSR-A b3", "WDSR-B b3 x8"]
    assert f"left out (no model.pt; `wdsr rebuild <run name>` recreates it): {runs['EDSR'].name}" in \
        capsys.readouterr().out
    assert (tmp_path / "out" / "mine.png").is_file()
    with pytest.raises(FileNotFoundError, match="none of the runs has its weights"):
        qualitative.compare_image(photo, [runs["EDSR"]], results)
