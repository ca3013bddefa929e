"""PSNR and SSIM under the two named protocols of the study (docs/protocols.md).

- DIV2K protocol (WDSR Table 1 and README, EDSR Table 2): SR rounded to 8 bit, PSNR on RGB, border of
  scale + 6 pixels ignored.
- Benchmark protocol (EDSR Table 3, Set5/Set14/B100/Urban100): PSNR / SSIM on BT.601 Y, border of scale pixels.

PSNR follows EDSR-PyTorch `utility.calc_psnr` (quantise, optional Y, shave, 10 log10(255^2 / MSE)) but computes
in float64 and takes the channel and border from a named protocol instead of a dataset flag (docs/design.md). SSIM
follows Wang et al.'s MATLAB `ssim.m` (Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, L 255, 'valid'
filtering), as the MATLAB evaluation scripts of the EDSR/RCAN line use it.

Deviation: `ssim` never downsamples. The 2009+ `ssim.m` shrinks images by round(min(H, W) / 256) before
  measuring; the published benchmark scripts (and BasicSR's `calculate_ssim`) call it without that step, which
  is what we reproduce.
Deviation: quantisation rounds half up (MATLAB `uint8`, PIL) while EDSR-PyTorch uses torch.round (half to even);
  the two differ only on exact .5 values, which a float network output essentially never hits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from scipy import ndimage

Image = Union[np.ndarray, torch.Tensor]


def _to_hwc_float64(img: Image, what: str) -> np.ndarray:
    """(H, W, C) float64 view of an image in [0, 255].

    Args:
        img: numpy array (H, W, C) or (H, W), uint8 or float; or a torch tensor (C, H, W) or (1, C, H, W).
        what: "sr" or "hr", for error messages.
    """
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"{what} tensor must hold one image (1, C, H, W); got shape {tuple(t.shape)}.")
            t = t[0]
        if t.dim() != 3:
            raise ValueError(f"{what} tensor must be (C, H, W) or (1, C, H, W); got shape {tuple(t.shape)}.")
        arr = t.permute(1, 2, 0).to(torch.float64).numpy()
    else:
        arr = np.asarray(img).astype(np.float64)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ValueError(f"{what} array must be (H, W, C) or (H, W); got shape {arr.shape}.")
    return arr


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (MATLAB rgb2ycbcr x 255; docs/protocols.md).

    Args:
        img: (H, W, 3) array, R, G, B in [0, 255] (uint8 or float).

    Returns:
        (H, W) float64 Y in [16, 235], not rounded (as MATLAB rgb2ycbcr on double input).
    """
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"rgb_to_y needs an (H, W, 3) RGB image; got shape {arr.shape}.")
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    # Elementwise, not a matmul: BLAS rounding depends on memory layout, and identical images must give
    # bit-identical Y (PSNR inf) whether or not they are contiguous.
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def quantize(x: Image) -> Image:
    """Round and clip to 8-bit values, as SR outputs are before measuring (EDSR `utility.quantize`).

    Args:
        x: numpy array or tensor in [0, 255] (values outside are clipped).

    Returns:
        Same type: uint8 for numpy input, float tensor holding integers for tensor input.
    """
    if isinstance(x, torch.Tensor):
        return torch.floor(x.clamp(0, 255) + 0.5)
    return np.floor(np.clip(np.asarray(x, dtype=np.float64), 0, 255) + 0.5).astype(np.uint8)


def _prepare(sr: Image, hr: Image, shave: int, y_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quantised SR and HR as (H, W, C) float64, optionally Y only, with `shave` pixels cut from each side."""
    if isinstance(shave, bool) or not isinstance(shave, (int, np.integer)) or shave < 0:
        raise ValueError(f"scale_shave must be a non-negative int; got {shave!r}.")
    a = _to_hwc_float64(quantize(sr), "sr")
    b = _to_hwc_float64(hr, "hr")
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: sr {a.shape} vs hr {b.shape} (as H, W, C).")
    if y_only:
        a, b = rgb_to_y(a)[:, :, None], rgb_to_y(b)[:, :, None]
    h, w = a.shape[:2]
    if 2 * shave >= min(h, w):
        raise ValueError(f"shave {shave} leaves nothing of a {h}x{w} image.")
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr(sr: Image, hr: Image, scale_shave: int, y_only: bool = False) -> float:
    """PSNR in dB between a quantised SR image and its HR reference (EDSR `calc_psnr`, in float64).

    Args:
        sr: SR image in [0, 255]: uint8/float numpy (H, W, 3), or tensor (3, H, W) / (1, 3, H, W). Quantised first.
        hr: HR image, same size, same conventions.
        scale_shave: pixels ignored on each border (scale for the benchmark protocol, scale + 6 for DIV2K).
        y_only: measure on BT.601 Y instead of RGB.

    Returns:
        10 log10(255^2 / MSE); inf for identical images.
    """
    a, b = _prepare(sr, hr, scale_shave, y_only)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor of MATLAB fspecial('gaussian', size, sigma), which is separable and sums to 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """MATLAB filter2(g' * g, img, 'valid'): separable correlation, then drop every output touching the border."""
    r = len(g) // 2
    out = ndimage.correlate1d(img, g, axis=0, mode="constant")
    out = ndimage.correlate1d(out, g, axis=1, mode="constant")
    return out[r:-r, r:-r]


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM map of one channel, Wang et al. ssim.m with K = (0.01, 0.03), L = 255."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(sr: Image, hr: Image, scale_shave: int, y_only: bool = True) -> float:
    """MATLAB-style SSIM (Wang et al. 2004, ssim.m): Gaussian 11x11 window, sigma 1.5, 'valid' filtering.

    Args:
        sr: SR image in [0, 255], same conventions as `psnr`. Quantised first.
        hr: HR image, same size.
        scale_shave: pixels ignored on each border before filtering.
        y_only: measure on BT.601 Y (benchmark protocol); otherwise the mean over the R, G, B channels.

    Returns:
        Mean SSIM in [-1, 1]; 1 for identical images.
    """
    a, b = _prepare(sr, hr, scale_shave, y_only)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after the shave; got {a.shape[0]}x{a.shape[1]}.")
    return float(np.mean([_ssim_channel(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol of docs/protocols.md: which channel and how many border pixels to ignore.

    Args:
        name: "div2k" or "benchmark".
        y_only: measure on BT.601 Y (True) or RGB (False).
        extra_shave: border in pixels beyond the scale (6 for DIV2K, 0 for benchmarks).
    """

    name: str
    y_only: bool
    extra_shave: int

    def shave(self, scale: int) -> int:
        """Border in pixels ignored on each side at this scale."""
        return int(scale) + self.extra_shave


PROTOCOLS: dict[str, Protocol] = {
    # WDSR Table 1 / README, EDSR Table 2: RGB, border scale + 6.
    "div2k": Protocol("div2k", y_only=False, extra_shave=6),
    # EDSR Table 3 (Set5, Set14, B100, Urban100): Y, border scale.
    "benchmark": Protocol("benchmark", y_only=True, extra_shave=0),
}


def get_protocol(protocol: str) -> Protocol:
    """The named protocol; raises ValueError listing the valid names."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}; got {protocol!r}.")
    return PROTOCOLS[protocol]


def psnr_protocol(sr: Image, hr: Image, scale: int, protocol: str) -> float:
    """PSNR under a named protocol ("div2k": RGB, shave scale + 6; "benchmark": Y, shave scale)."""
    p = get_protocol(protocol)
    return psnr(sr, hr, p.shave(scale), y_only=p.y_only)


def ssim_protocol(sr: Image, hr: Image, scale: int, protocol: str) -> float:
    """SSIM under a named protocol ("div2k": mean over RGB, shave scale + 6; "benchmark": Y, shave scale)."""
    p = get_protocol(protocol)
    return ssim(sr, hr, p.shave(scale), y_only=p.y_only)
