"""Image sources: aligned pairs, splits, layouts, the decode cache, and one clear sentence for every bad input."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest_data import isolated_cache, random_rgb, write_png, write_png16  # noqa: F401  (autouse fixture)
from wdsr_lib.data import SAMPLE_TRAIN, SAMPLE_VAL, DataError, imresize, load_pairs
from wdsr_lib.data import cache as cache_mod
from wdsr_lib.data import sources as sources_mod


def _fake_div2k(root, scale=2, train=("0001", "0002"), valid=("0801",), size=(30, 42)):
    """A tiny DIV2K tree in the official layout, LR made with our imresize (standing in for MATLAB's)."""
    for part, names in (("train", train), ("valid", valid)):
        for name in names:
            hr = random_rgb(*size, seed=int(name))
            write_png(root / f"DIV2K_{part}_HR" / f"{name}.png", hr)
            lr = imresize(hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale], 1 / scale)
            write_png(root / f"DIV2K_{part}_LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png", lr)
    return root


def test_sample_source_split_is_fixed_and_disjoint():
    assert set(SAMPLE_VAL) == {"chelsea", "coffee"}
    assert not set(SAMPLE_TRAIN) & set(SAMPLE_VAL)
    assert [p.name for p in load_pairs("sample", 2, "train")] == list(SAMPLE_TRAIN)
    assert [p.name for p in load_pairs("sample", 2, "val")] == list(SAMPLE_VAL)


@pytest.mark.parametrize("scale", [2, 3])
def test_sample_pairs_are_matlab_bicubic_aligned(scale):
    for pair in load_pairs("sample", scale, "val"):
        assert pair.hr.dtype == np.uint8 and pair.lr.dtype == np.uint8 and pair.hr.shape[2] == 3
        assert pair.hr.shape[:2] == (pair.lr.shape[0] * scale, pair.lr.shape[1] * scale)
        np.testing.assert_array_equal(imresize(np.asarray(pair.hr), 1 / scale), pair.lr)


def test_sample_hr_is_the_top_left_crop_of_the_photo():
    import skimage.data

    chelsea = skimage.data.chelsea()  # 300 x 451
    pair = load_pairs("sample", 2, "val")[0]
    assert pair.hr.shape == (300, 450, 3)
    np.testing.assert_array_equal(pair.hr, chelsea[:300, :450])


def test_folder_source_crops_to_scale_and_makes_bicubic_lr(tmp_path):
    for i, name in enumerate(["b", "a"]):
        write_png(tmp_path / "hr" / f"{name}.png", random_rgb(31, 45, seed=i))
    pairs = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert [p.name for p in pairs] == ["a", "b"]
    for p in pairs:
        assert p.hr.shape == (30, 44, 3) and p.lr.shape == (15, 22, 3)
        np.testing.assert_array_equal(imresize(np.asarray(p.hr), 1 / 2), p.lr)


def test_benchmark_name_resolves_under_root(tmp_path):
    write_png(tmp_path / "benchmark" / "Set5" / "HR" / "baby.png", random_rgb(24, 24))
    pairs = load_pairs("folder", 4, "val", root=str(tmp_path), folder="Set5")
    assert [p.name for p in pairs] == ["baby"] and pairs[0].lr.shape == (6, 6, 3)


def test_fake_div2k_loads_official_split_with_shipped_lr(tmp_path):
    root = _fake_div2k(tmp_path / "div2k", size=(31, 42))
    train = load_pairs("div2k", 2, "train", root=str(root))
    val = load_pairs("div2k", 2, "val", root=str(root))
    assert [p.name for p in train] == ["0001", "0002"] and [p.name for p in val] == ["0801"]
    shipped = np.asarray(Image.open(root / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png"))
    np.testing.assert_array_equal(val[0].lr, shipped)
    assert val[0].hr.shape == (30, 42, 3) and val[0].lr.shape == (15, 21, 3)


def test_div2k_root_defaults_to_env(tmp_path, monkeypatch):
    root = _fake_div2k(tmp_path / "elsewhere")
    monkeypatch.setenv("WDSR_DATA", str(root))
    assert [p.name for p in load_pairs("div2k", 2, "val")] == ["0801"]


def test_missing_div2k_names_layout_and_download_command(tmp_path):
    with pytest.raises(DataError) as e:
        load_pairs("div2k", 2, "train", root=str(tmp_path / "nothing"))
    msg = str(e.value)
    assert "DIV2K_train_HR/0001.png" in msg and "DIV2K_train_LR_bicubic/X2/0001x2.png" in msg
    assert f"wdsr data download div2k --root {tmp_path / 'nothing'}" in msg


def test_div2k_lr_hr_size_mismatch_names_the_pair(tmp_path):
    root = _fake_div2k(tmp_path / "div2k")
    write_png(root / "DIV2K_train_LR_bicubic" / "X2" / "0002x2.png", random_rgb(10, 10))
    with pytest.raises(DataError, match=r"0002\.png / 0002x2\.png"):
        load_pairs("div2k", 2, "train", root=str(root))


def test_div2k_missing_lr_file_is_named(tmp_path):
    root = _fake_div2k(tmp_path / "div2k")
    (root / "DIV2K_train_LR_bicubic" / "X2" / "0001x2.png").unlink()
    with pytest.raises(DataError, match="0001x2.png"):
        load_pairs("div2k", 2, "train", root=str(root))


def test_empty_and_missing_folders_are_one_sentence(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no images"):
        load_pairs("folder", 2, "val", folder=str(tmp_path / "empty"))
    with pytest.raises(DataError, match="does not exist"):
        load_pairs("folder", 2, "val", folder=str(tmp_path / "absent"))


def test_corrupt_png_is_named(tmp_path):
    good = write_png(tmp_path / "hr" / "good.png", random_rgb(20, 20))
    bad = tmp_path / "hr" / "broken.png"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match="broken.png"):
        load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))


def test_non_image_file_is_named(tmp_path):
    write_png(tmp_path / "hr" / "good.png", random_rgb(20, 20))
    (tmp_path / "hr" / "readme.jpg").write_text("this is not a JPEG")
    with pytest.raises(DataError, match=r"readme\.jpg is not an image"):
        load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))


def test_grayscale_becomes_rgb(tmp_path):
    gray = random_rgb(20, 22)[..., 0]
    write_png(tmp_path / "hr" / "g.png", gray)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grayscale is silent
        (pair,) = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert pair.hr.shape == (20, 22, 3)
    for c in range(3):
        np.testing.assert_array_equal(pair.hr[..., c], gray)


def test_rgba_drops_alpha_with_warning(tmp_path):
    rgb = random_rgb(20, 22)
    rgba = np.concatenate([rgb, np.full((20, 22, 1), 128, np.uint8)], axis=2)
    write_png(tmp_path / "hr" / "a.png", rgba)
    with pytest.warns(UserWarning, match="alpha"):
        (pair,) = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    np.testing.assert_array_equal(pair.hr, rgb)


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_becomes_8bit_with_warning(tmp_path, channels):
    arr = (random_rgb(20, 22)[..., :channels].astype(np.uint16) * 257)  # exact 8-bit values in 16 bits
    write_png16(tmp_path / "hr" / "deep.png", arr)
    with pytest.warns(UserWarning, match="16-bit"):
        (pair,) = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert pair.hr.dtype == np.uint8
    np.testing.assert_array_equal(pair.hr, np.broadcast_to((arr // 257).astype(np.uint8), (20, 22, 3)))


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="source"):
        load_pairs("imagenet", 2, "train")
    with pytest.raises(ValueError, match="split"):
        load_pairs("sample", 2, "valid")


def test_second_load_hits_the_decode_and_lr_cache(tmp_path, monkeypatch):
    for i in range(3):
        write_png(tmp_path / "hr" / f"{i}.png", random_rgb(16, 18, seed=i))
    decodes, resizes = [], []
    real_read, real_resize = cache_mod.read_rgb, sources_mod.imresize
    monkeypatch.setattr(cache_mod, "read_rgb", lambda p: decodes.append(p) or real_read(p))
    monkeypatch.setattr(sources_mod, "imresize", lambda im, s: resizes.append(s) or real_resize(im, s))
    first = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    second = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert len(decodes) == 3 and len(resizes) == 3
    assert all(isinstance(p.hr.base, np.memmap) or isinstance(p.hr, np.memmap) for p in second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.lr, b.lr)
    # a changed file (new content, size and mtime) is decoded again; the others still hit
    write_png(tmp_path / "hr" / "1.png", random_rgb(20, 18, seed=9))
    os.utime(tmp_path / "hr" / "1.png", ns=(1, 1))
    third = load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert len(decodes) == 4 and third[1].hr.shape == (20, 18, 3)


def test_cache_location_follows_argument_then_env(tmp_path, isolated_cache):  # noqa: F811  (the fixture)
    write_png(tmp_path / "hr" / "x.png", random_rgb(8, 8))
    load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"))
    assert any(isolated_cache.glob("x-*.npy"))
    load_pairs("folder", 2, "val", folder=str(tmp_path / "hr"), cache_dir=str(tmp_path / "mine"))
    assert len(list((tmp_path / "mine").glob("*.npy"))) == 2  # HR and its x2 LR
    assert not list((tmp_path / "mine").glob("*.tmp"))
