"""PSNR / SSIM against hand-computed cases and scikit-image (docs/design.md, "Tests"), and the named protocols."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from wdsr_lib.engine.metrics import PROTOCOLS, psnr, psnr_protocol, quantize, rgb_to_y, ssim, ssim_protocol


def _shave(img, s):
    return img[s:-s, s:-s] if s else img


def _skimage_ssim(a, b, channel_axis=None):
    # skimage filters with 'reflect' padding and then averages the SSIM map cropped by (win_size - 1) / 2 = 5
    # pixels, so every pixel it averages was computed from in-image data only: that is exactly MATLAB's
    # filter2(..., 'valid'). Its Gaussian (sigma 1.5, truncate 3.5 -> radius 5) is fspecial('gaussian', 11, 1.5).
    # We still crop the full map ourselves to make the comparison explicit.
    _, full = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255, channel_axis=channel_axis, full=True)
    return full[5:-5, 5:-5].mean()


@pytest.fixture(scope="module")
def photo_pair():
    """Astronaut crop as HR and a blurred, noisy, unquantised float copy as the SR stand-in."""
    hr = skdata.astronaut()[100:260, 150:330]  # (160, 180, 3) uint8
    rng = np.random.default_rng(0)
    sr = ndimage.gaussian_filter(hr.astype(np.float64), sigma=(1.0, 1.0, 0)) + rng.normal(0, 4, hr.shape)
    return sr, hr


@pytest.fixture(scope="module")
def random_pair():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (48, 40, 3), dtype=np.uint8), rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)


def test_rgb_to_y_matches_bt601_hand_values():
    img = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(img)[0], [235.0, 16.0, 81.481, 144.553, 40.966], atol=1e-9)
    assert rgb_to_y(img).dtype == np.float64


def test_identical_images_give_infinite_psnr_on_y_whatever_the_memory_layout():
    img = skdata.astronaut()[::2, ::3]  # a strided view
    assert psnr(np.ascontiguousarray(img), img, 0, y_only=True) == math.inf
    assert psnr(img.astype(np.float32), img, 4, y_only=False) == math.inf


def test_quantize_rounds_and_clips_to_8_bit():
    np.testing.assert_array_equal(quantize(np.array([-3.0, 10.4, 10.5, 254.6, 300.0])), [0, 10, 11, 255, 255])
    assert quantize(np.zeros(2)).dtype == np.uint8
    torch.testing.assert_close(quantize(torch.tensor([-1.0, 10.4, 255.7])), torch.tensor([0.0, 10.0, 255.0]))


def test_sr_is_quantised_before_measuring():
    hr = np.full((20, 20, 3), 10, dtype=np.uint8)
    sr = np.full((20, 20, 3), 10.4)
    assert psnr(sr, hr, scale_shave=2) == math.inf
    assert ssim(sr, hr, scale_shave=2) == pytest.approx(1.0, abs=1e-12)


def test_psnr_hand_computed_case_and_border_shave():
    hr = np.zeros((20, 20, 3), dtype=np.uint8)
    sr = np.full((20, 20, 3), 5, dtype=np.uint8)  # MSE = 25 -> 20 log10(255 / 5) dB
    assert psnr(sr, hr, scale_shave=2) == pytest.approx(20 * math.log10(51), abs=1e-12)
    sr[:2] = 200  # only pixels inside the shaved border change
    sr[:, -2:] = 0
    assert psnr(sr, hr, scale_shave=2) == pytest.approx(20 * math.log10(51), abs=1e-12)
    assert psnr(sr, hr, scale_shave=1) < psnr(sr, hr, scale_shave=2)


def test_ssim_ignores_pixels_inside_the_shave(random_pair):
    sr, hr = random_pair
    changed = sr.copy()
    changed[:3] = 0
    changed[:, -3:] = 255
    assert ssim(changed, hr, scale_shave=3, y_only=False) == ssim(sr, hr, scale_shave=3, y_only=False)


@pytest.mark.parametrize("shave", [0, 2, 8])
@pytest.mark.parametrize("which", ["random", "photo"])
def test_psnr_matches_skimage(which, shave, random_pair, photo_pair):
    sr, hr = random_pair if which == "random" else photo_pair
    q = quantize(sr)
    want_rgb = peak_signal_noise_ratio(_shave(hr, shave), _shave(q, shave), data_range=255)
    assert psnr(sr, hr, shave, y_only=False) == pytest.approx(want_rgb, abs=1e-6)
    want_y = peak_signal_noise_ratio(_shave(rgb_to_y(hr), shave), _shave(rgb_to_y(q), shave), data_range=255)
    assert psnr(sr, hr, shave, y_only=True) == pytest.approx(want_y, abs=1e-6)


@pytest.mark.parametrize("shave", [0, 2, 8])
@pytest.mark.parametrize("which", ["random", "photo"])
def test_ssim_matches_skimage(which, shave, random_pair, photo_pair):
    sr, hr = random_pair if which == "random" else photo_pair
    q = quantize(sr)
    want_y = _skimage_ssim(_shave(rgb_to_y(q), shave), _shave(rgb_to_y(hr), shave))
    assert ssim(sr, hr, shave, y_only=True) == pytest.approx(want_y, abs=1e-4)
    want_rgb = _skimage_ssim(_shave(q, shave).astype(np.float64), _shave(hr, shave).astype(np.float64), 2)
    assert ssim(sr, hr, shave, y_only=False) == pytest.approx(want_rgb, abs=1e-4)


def test_photo_ssim_is_a_plausible_value(photo_pair):
    sr, hr = photo_pair
    assert 0.5 < ssim(sr, hr, 2) < 0.99
    assert 25 < psnr(sr, hr, 2) < 40


def test_tensor_layouts_give_the_numpy_result(photo_pair):
    sr, hr = photo_pair
    chw = torch.from_numpy(sr).permute(2, 0, 1).float()
    hr_t = torch.from_numpy(hr).permute(2, 0, 1).float()
    want = psnr(sr.astype(np.float32), hr, 3)
    assert psnr(chw, hr_t, 3) == pytest.approx(want, abs=1e-9)
    assert psnr(chw[None], hr, 3) == pytest.approx(want, abs=1e-9)
    assert ssim(chw[None], hr_t[None], 3) == pytest.approx(ssim(sr.astype(np.float32), hr, 3), abs=1e-12)


def test_protocols_fix_channel_and_border(photo_pair):
    sr, hr = photo_pair
    assert PROTOCOLS["div2k"].shave(2) == 8 and not PROTOCOLS["div2k"].y_only
    assert PROTOCOLS["benchmark"].shave(4) == 4 and PROTOCOLS["benchmark"].y_only
    assert psnr_protocol(sr, hr, 3, "div2k") == psnr(sr, hr, 9, y_only=False)
    assert psnr_protocol(sr, hr, 3, "benchmark") == psnr(sr, hr, 3, y_only=True)
    assert ssim_protocol(sr, hr, 2, "div2k") == ssim(sr, hr, 8, y_only=False)
    assert ssim_protocol(sr, hr, 2, "benchmark") == ssim(sr, hr, 2, y_only=True)


def test_unknown_protocol_lists_the_valid_names(random_pair):
    sr, hr = random_pair
    with pytest.raises(ValueError, match="'div2k', 'benchmark'.*'set5'"):
        psnr_protocol(sr, hr, 2, "set5")
    with pytest.raises(ValueError, match="div2k"):
        ssim_protocol(sr, hr, 2, "Y")


def test_mismatched_shapes_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(10, 12, 3\).*\(10, 10, 3\)"):
        psnr(np.zeros((10, 12, 3)), np.zeros((10, 10, 3), dtype=np.uint8), 1)
    with pytest.raises(ValueError, match=r"\(20, 20, 3\).*\(20, 20, 1\)"):
        ssim(np.zeros((20, 20, 3)), np.zeros((20, 20), dtype=np.uint8), 1, y_only=False)


def test_bad_shave_is_refused(random_pair):
    sr, hr = random_pair
    with pytest.raises(ValueError, match="shave"):
        psnr(sr, hr, -1)
    with pytest.raises(ValueError, match="nothing"):
        psnr(sr, hr, 20)
