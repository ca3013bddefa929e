"""MATLAB bicubic imresize against an independent per-pixel reference written from the published formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest_data import isolated_cache, random_rgb  # noqa: F401  (autouse fixture)
from wdsr_lib.data import imresize

SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4]


def _keys_cubic(t: float) -> float:
    """Keys (1981) cubic convolution, a = -0.5 (MATLAB's cubic())."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t <= 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def _mirror(i: int, n: int) -> int:
    """MATLAB's symmetric padding of a 1-based index: 0 -> 1, -1 -> 2, n+1 -> n, n+2 -> n-1."""
    while i < 1 or i > n:
        i = 1 - i if i < 1 else 2 * n + 1 - i
    return i


def _reference_1d(signal: np.ndarray, scale: float) -> np.ndarray:
    """Resize axis 0 of ``signal`` with explicit loops over output pixels (MATLAB contributions())."""
    n_in = signal.shape[0]
    n_out = math.ceil(round(n_in * scale, 9))
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros((n_out,) + signal.shape[1:])
    for x in range(1, n_out + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        acc, total = 0.0, 0.0
        for j in range(math.ceil(width) + 2):
            idx = left + j
            w = scale * _keys_cubic(scale * (u - idx)) if scale < 1 else _keys_cubic(u - idx)
            acc = acc + w * signal[_mirror(idx, n_in) - 1]
            total += w
        out[x - 1] = acc / total
    return out


def reference_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """Rows then columns (MATLAB's order for equal scale factors), in float64."""
    out = _reference_1d(img.astype(np.float64), scale)
    return np.swapaxes(_reference_1d(np.swapaxes(out, 0, 1), scale), 0, 1)


def _shape_for(scale: float) -> tuple[int, int, int]:
    return (13, 17, 3) if scale < 1 else (7, 9, 3)


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_float_matches_per_pixel_reference(scale):
    img = np.random.default_rng(1).random(_shape_for(scale)) * 255
    np.testing.assert_allclose(imresize(img, scale), reference_imresize(img, scale), atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_uint8_matches_reference_up_to_one_level(scale):
    img = random_rgb(*_shape_for(scale)[:2], seed=2)
    ours = imresize(img, scale)
    ref = np.clip(np.round(reference_imresize(img, scale)), 0, 255).astype(np.uint8)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert ours.dtype == np.uint8
    assert diff.max() <= 1
    assert (diff == 0).mean() >= 0.9999


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_output_size_is_ceil(scale):
    for h, w in [(13, 17), (12, 10), (5, 7)]:
        out = imresize(np.zeros((h, w)), scale)
        assert out.shape == (math.ceil(round(h * scale, 9)), math.ceil(round(w * scale, 9)))


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_keeps_constant_images_constant(scale):
    np.testing.assert_allclose(imresize(np.full((12, 11, 3), 77.0), scale), 77.0, atol=1e-9)
    assert (imresize(np.full((12, 11, 3), 200, np.uint8), scale) == 200).all()


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_torch_float32_batch_equals_numpy(scale):
    imgs = np.random.default_rng(3).random((2, 14, 10, 3)).astype(np.float32)  # pixels in [0, 1]
    batch = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()  # (2, 3, 14, 10)
    out = imresize(batch, scale)
    assert out.dtype == torch.float32
    for i in range(2):
        expected = imresize(imgs[i].astype(np.float64), scale)
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 4])
def test_imresize_torch_uint8_rounds_like_numpy(scale):
    img = random_rgb(15, 12, seed=5)
    out = imresize(torch.from_numpy(img).permute(2, 0, 1)[None], scale)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out[0].permute(1, 2, 0).numpy(), imresize(img, scale))


def test_pil_and_torch_bicubic_differ_from_matlab():
    """PIL's antialiased bicubic (also a = -0.5) is close but not equal; torch's (a = -0.75, no antialias) is far."""
    img = np.random.default_rng(6).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    ours = imresize(img, 1 / 2).astype(float)
    ref = np.clip(np.round(reference_imresize(img, 1 / 2)), 0, 255)
    pil = np.asarray(Image.fromarray(img).resize((32, 32), Image.BICUBIC)).astype(float)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].double()
    tch = torch.nn.functional.interpolate(t, size=(32, 32), mode="bicubic", align_corners=False)
    tch = tch.round().clamp(0, 255)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).mean() < 1e-3
    assert np.abs(ours - pil).mean() > 0.3
    assert np.abs(ours - tch).mean() > 5 * np.abs(ours - pil).mean()
