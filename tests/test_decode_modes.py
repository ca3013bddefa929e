"""wdsr_lib/data/decode.py: every pixel type Pillow opens is decoded exactly as its rule says, or refused.

Each test writes a small image of one kind with Pillow (or tifffile) in tmp_path and compares `read_rgb` with the
value the module docstring's rule gives, computed here independently with numpy.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_data import random_rgb, write_png16  # noqa: E402

from wdsr_lib.data.decode import read_rgb  # noqa: E402
from wdsr_lib.data.errors import DataError  # noqa: E402

RNG = np.random.default_rng(7)


def decode(path: Path) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr = read_rgb(path)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 and arr.flags.c_contiguous
    return arr, [str(w.message) for w in caught]


def gray3(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2)


def test_8_bit_rgb_and_gray_are_exact_and_silent(tmp_path):
    rgb = random_rgb(9, 11)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "l.png")
    assert decode(tmp_path / "rgb.png")[1] == [] and np.array_equal(decode(tmp_path / "rgb.png")[0], rgb)
    arr, said = decode(tmp_path / "l.png")
    assert said == [] and np.array_equal(arr, gray3(rgb[..., 1]))


def test_bilevel_is_0_or_255(tmp_path):
    bits = RNG.random((7, 10)) > 0.5
    Image.fromarray(bits).save(tmp_path / "b.png")
    arr, said = decode(tmp_path / "b.png")
    assert said == [] and np.array_equal(arr, gray3(np.where(bits, 255, 0).astype(np.uint8)))


def test_palette_gives_its_colours_and_warns_only_about_real_transparency(tmp_path):
    palette = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    index = RNG.integers(0, 256, (6, 8), dtype=np.uint8)
    im = Image.fromarray(index, mode="P")
    im.putpalette(palette.tobytes())
    im.save(tmp_path / "p.png")
    arr, said = decode(tmp_path / "p.png")
    assert said == [] and np.array_equal(arr, palette[index])
    im.save(tmp_path / "pt.png", transparency=int(index[0, 0]))  # one palette entry transparent
    arr, said = decode(tmp_path / "pt.png")
    assert np.array_equal(arr, palette[index]) and said == [f"{tmp_path / 'pt.png'}: dropping the alpha channel "
                                                             "(image is P)."]


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_dropped_with_a_warning_only_when_some_pixel_is_not_opaque(tmp_path, mode):
    rgb = random_rgb(6, 9)
    colour = rgb if mode == "RGBA" else rgb[..., :1]
    for alpha, warns in ((255, False), (40, True)):
        data = np.concatenate([colour, np.full((6, 9, 1), alpha, np.uint8)], axis=2)
        Image.fromarray(data, mode=mode).save(tmp_path / f"{alpha}.png")
        arr, said = decode(tmp_path / f"{alpha}.png")
        assert np.array_equal(arr, rgb if mode == "RGBA" else gray3(rgb[..., 0]))
        assert said == ([f"{tmp_path / f'{alpha}.png'}: dropping the alpha channel (image is {mode})."] if warns
                        else [])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_gray_is_rounded_from_v_over_257(tmp_path, suffix):
    deep = RNG.integers(0, 65536, (8, 12), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / f"g{suffix}")  # Pillow: mode I;16
    arr, said = decode(tmp_path / f"g{suffix}")
    assert np.array_equal(arr, gray3(np.floor(deep / 257 + 0.5).astype(np.uint8)))
    assert said == [f"{tmp_path / f'g{suffix}'}: 16-bit image converted to 8 bit."]


def test_16_bit_rgb_png_keeps_the_high_byte_and_says_16_bit(tmp_path):
    deep = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    arr, said = decode(write_png16(tmp_path / "deep.png", deep))
    assert np.array_equal(arr, (deep >> 8).astype(np.uint8))
    assert np.abs(arr.astype(int) - np.round(deep / 257)).max() <= 1
    assert said == [f"{tmp_path / 'deep.png'}: 16-bit image converted to 8 bit."]


def test_float_in_0_1_is_scaled_by_255_not_read_as_black(tmp_path):
    values = RNG.random((8, 10)).astype(np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")  # Pillow: mode F
    arr, said = decode(tmp_path / "f.tif")
    assert arr.max() > 200  # the bug: all zeros
    assert np.array_equal(arr, gray3(np.round(values.astype(np.float64) * 255).astype(np.uint8)))
    assert len(said) == 1 and "32-bit float" in said[0] and "[0, 1], scaled by 255" in said[0]


def test_float_in_0_255_is_kept_and_rounded(tmp_path):
    values = (RNG.random((8, 10)) * 254 + 1).astype(np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    arr, said = decode(tmp_path / "f.tif")
    assert np.array_equal(arr, gray3(np.round(values.astype(np.float64)).astype(np.uint8)))
    assert len(said) == 1 and "read as values in [0, 255]" in said[0]


@pytest.mark.parametrize("values, phrase", [(np.full((4, 4), 300.0), "from 300 to 300, which fit neither"),
                                            (np.full((4, 4), -0.5), "from -0.5 to -0.5, which fit neither"),
                                            (np.full((4, 4), np.nan), "NaN or infinite")])
def test_float_outside_both_ranges_is_refused(tmp_path, values, phrase):
    Image.fromarray(values.astype(np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=phrase) as err:
        read_rgb(tmp_path / "f.tif")
    assert "32-bit float" in str(err.value) and "convert it to 8-bit RGB first" in str(err.value)


def test_float_rgb_tiff_that_pillow_cannot_open_is_read_with_tifffile(tmp_path):
    tifffile = pytest.importorskip("tifffile")  # a scikit-image dependency, not ours
    values = RNG.random((6, 9, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "rgbf.tif", values, photometric="rgb")
    arr, said = decode(tmp_path / "rgbf.tif")
    assert np.array_equal(arr, np.round(values.astype(np.float64) * 255).astype(np.uint8))
    assert len(said) == 1 and "32-bit float" in said[0]


def test_32_bit_integer_is_refused_naming_the_mode(tmp_path):
    Image.fromarray(RNG.integers(0, 100_000, (5, 5)).astype(np.int32)).save(tmp_path / "i.tif")
    with pytest.raises(DataError, match=r"32-bit integer pixels \(mode I\), whose white level is unknown"):
        read_rgb(tmp_path / "i.tif")


@pytest.mark.parametrize("mode, suffix", [("CMYK", ".jpg"), ("CMYK", ".tif"), ("LAB", ".tif")])
def test_colour_spaces_that_need_colour_management_are_refused(tmp_path, mode, suffix):
    Image.new(mode, (6, 4), (10, 20, 30, 40)[: len(mode)]).save(tmp_path / f"c{suffix}")
    with pytest.raises(DataError, match=f"is a {mode} image, which needs colour management"):
        read_rgb(tmp_path / f"c{suffix}")


def test_ycbcr_jpeg_is_converted_by_the_jpeg_transform(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "j.jpg", quality=100)
    arr, said = decode(tmp_path / "j.jpg")
    assert said == [] and np.abs(arr.astype(int) - rgb).max() <= 3


@pytest.mark.parametrize("orientation, expected", [(1, lambda a: a), (3, lambda a: a[::-1, ::-1]),
                                                   (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a))])
def test_exif_orientation_is_applied(tmp_path, orientation, expected):
    rgb = random_rgb(6, 10)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(tmp_path / "o.png", exif=exif)
    arr, said = decode(tmp_path / "o.png")
    assert said == [] and np.array_equal(arr, expected(rgb))


def test_an_unreadable_file_is_not_called_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(random_rgb(4, 4)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(DataError, match=r"locked.png cannot be read \(permission denied\); check its permissions"):
        read_rgb(path)
