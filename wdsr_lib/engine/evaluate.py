"""Evaluation: SR inference (tiled, x8 self-ensemble) and per-image PSNR / SSIM under a named protocol.

Follows EDSR-PyTorch `trainer.test` (whole-image SR, quantise, measure) and its `forward_chop` / `forward_x8`,
rewritten as functions that take a model. Protocols are those of `docs/protocols.md` and `wdsr_lib.engine.metrics`.

Deviation: EDSR's `forward_chop` splits recursively into quadrants with a fixed 10-pixel shave; `sr_forward`
  uses a regular grid of `tile` pixels with `overlap` pixels of context, so the output equals the untiled one
  exactly once `overlap` covers the model's receptive-field radius.
Deviation: when the HR image is a few pixels larger than scale x LR (sizes not divisible by the scale), the HR
  is cropped to the SR size, as EDSR's test loader does (`hr[:ih * scale, :iw * scale]`).
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from wdsr_lib.core.progress import progress_bar
from wdsr_lib.data.imresize import imresize
from wdsr_lib.engine.metrics import get_protocol, psnr_protocol, quantize, ssim_protocol
from wdsr_lib.models import call_model, fold_normalization, receptive_field_radius


def _output_scale(x: Tensor, y: Tensor) -> int:
    """Integer upscaling factor of model output `y` for input `x`, checked on both axes."""
    sh, sw = y.shape[-2] / x.shape[-2], y.shape[-1] / x.shape[-1]
    if sh != sw or sh != int(sh) or sh < 1:
        raise ValueError(f"model output {tuple(y.shape)} is not an integer upscaling of input {tuple(x.shape)}.")
    return int(sh)


def _tiles(length: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def _forward_tiled(model: nn.Module, x: Tensor, scale: Optional[int], tile: Optional[int], overlap: int) -> Tensor:
    """Forward `x` (B, C, H, W) whole, or on a grid of `tile`-pixel tiles each read with `overlap` context pixels."""
    h, w = x.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return call_model(model, x, scale)
    out: Optional[Tensor] = None
    s = 1
    for y0, y1 in _tiles(h, tile):
        for x0, x1 in _tiles(w, tile):
            # Context on every side; at the image border the model sees its own padding, as it does untiled.
            iy0, iy1 = max(0, y0 - overlap), min(h, y1 + overlap)
            ix0, ix1 = max(0, x0 - overlap), min(w, x1 + overlap)
            patch = x[..., iy0:iy1, ix0:ix1]
            y = call_model(model, patch, scale)  # (B, C', s*(iy1-iy0), s*(ix1-ix0))
            if out is None:
                s = _output_scale(patch, y)
                out = y.new_empty(*y.shape[:2], s * h, s * w)  # (B, C', s*H, s*W)
            elif _output_scale(patch, y) != s:
                raise ValueError("model output scale changed between tiles.")
            out[..., s * y0 : s * y1, s * x0 : s * x1] = y[
                ..., s * (y0 - iy0) : s * (y1 - iy0), s * (x0 - ix0) : s * (x1 - ix0)
            ]
    assert out is not None
    return out


# The 8 elements of the dihedral group on the image plane: (k quarter turns, horizontal flip first).
_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


def _transform(x: Tensor, k: int, flip: bool) -> Tensor:
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1))


def _inverse(y: Tensor, k: int, flip: bool) -> Tensor:
    y = torch.rot90(y, -k, dims=(-2, -1))
    return y.flip(-1) if flip else y


def for_inference(model: nn.Module) -> nn.Module:
    """An inference copy of `model` for `wdsr eval` / `wdsr upscale`: weight norm and eval-mode batch norm folded
    into plain convs (`models.fold_normalization`), weights channels_last, and `sr_forward` feeds it
    channels_last inputs. Measured 1.3-1.65x faster whole-image inference on one CPU thread for EDSR and WDSR-A
    (docs/performance.md); its outputs equal the model's to float rounding (tests/test_evaluate.py). Not used
    while training: a different summation order would change the last bits of every logged validation PSNR."""
    net = fold_normalization(model).to(memory_format=torch.channels_last)
    net.inference_channels_last = True
    return net


@torch.no_grad()
def sr_forward(
    model: nn.Module,
    lr: Tensor,
    *,
    scale: Optional[int] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    self_ensemble: bool = False,
) -> Tensor:
    """Super-resolve a batch in fp32 eval mode, optionally tiled and with x8 self-ensemble (EDSR Sec. 4 "+").

    Args:
        model: SR network mapping (B, 3, H, W) in [0, 255] to (B, 3, s*H, s*W); left on its own device.
        lr: LR batch (B, 3, H, W), float in [0, 255] or uint8.
        scale: the upscaling factor, given to multi-scale models (MDSR, EDSR Sec. 3.3) by `call_model`;
            None: the model's default. Single-scale models ignore it.
        tile: LR tile size in pixels, or None for one whole-image pass.
        overlap: LR context pixels read on each side of a tile; the result equals the untiled one when this is
            at least the model's receptive-field radius, the default (`models.receptive_field_radius`).
        self_ensemble: average the inverse-transformed outputs of the 8 flips / rotations of the input.

    Returns:
        SR batch (B, 3, s*H, s*W), float32 in about [0, 255], neither clamped nor quantised.
    """
    if lr.dim() != 4:
        raise ValueError(f"lr must be a (B, C, H, W) batch; got shape {tuple(lr.shape)}.")
    if tile is not None and tile < 1:
        raise ValueError(f"tile must be a positive number of pixels or None; got {tile!r}.")
    if overlap is None:  # exact by construction: every output pixel sees its whole receptive field

        overlap = receptive_field_radius(model, scale) if tile is not None else 0
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 pixels; got {overlap!r}.")
    was_training = model.training
    model.eval()
    x = lr.to(torch.float32)
    if getattr(model, "inference_channels_last", False):  # `for_inference`: NHWC in, as its weights
        x = x.contiguous(memory_format=torch.channels_last)
    try:
        with torch.autocast(device_type=x.device.type, enabled=False):
            if not self_ensemble:
                return _forward_tiled(model, x, scale, tile, overlap).float()
            total = None
            for k, flip in _DIHEDRAL:
                y = _inverse(_forward_tiled(model, _transform(x, k, flip), scale, tile, overlap), k, flip)
                total = y.float() if total is None else total + y
            return total / len(_DIHEDRAL)
    finally:
        model.train(was_training)


def _quantized_uint8(y: Tensor) -> Tensor:
    """`metrics.quantize` in place (floor(clamp(y, 0, 255) + 0.5)), then uint8: no full-size float temporaries."""
    return y.clamp_(0, 255).add_(0.5).floor_().to(torch.uint8)


def sr_image_uint8(model: nn.Module, img: np.ndarray, *, scale: Optional[int] = None, tile: Optional[int] = None,
                   overlap: Optional[int] = None, self_ensemble: bool = False) -> np.ndarray:
    """`wdsr upscale`'s result: uint8 (s*H, s*W, 3) of the uint8 image `img` (H, W, 3), equal to quantising
    `sr_forward`'s, in memory that `tile` bounds.

    Untiled, the float output is quantised in place. With `tile`, each tile is super-resolved (and self-ensembled)
    alone and written, quantised, into a uint8 output, so no float array of the output's size ever exists: a
    6000x6000 input at x2 needs ~0.5 GB for its output, not the ~6 GB of a float output and its rounding
    temporaries. Each tile is read with `overlap` context pixels (default: the receptive-field radius), so the
    result equals the untiled one exactly (the ensemble's flips of a tile with its context are the untiled
    ensemble's flips, cut to the tile).
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]  # a writable uint8 copy (read-only input), cast per tile
    h, w = x.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        y = sr_forward(model, x.to(device=device, dtype=torch.float32), scale=scale, self_ensemble=self_ensemble)
        return _quantized_uint8(y)[0].permute(1, 2, 0).cpu().numpy()
    if tile < 1:
        raise ValueError(f"tile must be a positive number of pixels or None; got {tile!r}.")
    if overlap is None:
        overlap = receptive_field_radius(model, scale)
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 pixels; got {overlap!r}.")
    out: Optional[np.ndarray] = None
    s = 1
    for y0, y1 in _tiles(h, tile):
        for x0, x1 in _tiles(w, tile):
            iy0, iy1 = max(0, y0 - overlap), min(h, y1 + overlap)
            ix0, ix1 = max(0, x0 - overlap), min(w, x1 + overlap)
            patch = x[..., iy0:iy1, ix0:ix1].to(device=device, dtype=torch.float32)
            y = sr_forward(model, patch, scale=scale, self_ensemble=self_ensemble)
            if out is None:
                s = _output_scale(patch, y)
                out = np.empty((s * h, s * w, 3), np.uint8)
            elif _output_scale(patch, y) != s:
                raise ValueError("model output scale changed between tiles.")
            cut = y[..., s * (y0 - iy0): s * (y1 - iy0), s * (x0 - ix0): s * (x1 - ix0)]
            out[s * y0: s * y1, s * x0: s * x1] = _quantized_uint8(cut.contiguous())[0].permute(1, 2, 0).cpu().numpy()
    assert out is not None
    return out


def _to_batch(img: np.ndarray, device: str) -> Tensor:
    """(H, W, 3) uint8 array -> (1, 3, H, W) float32 tensor in [0, 255]; a copy, so read-only memory maps
    of the decode cache pass without torch's non-writable-array warning."""
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].to(device=device, dtype=torch.float32)


def _crop_hr(hr: np.ndarray, shape: tuple[int, int], scale: int, name: str) -> np.ndarray:
    """Crop HR to the SR size when it exceeds it by less than `scale` (EDSR's test loader does the same)."""
    h, w = shape
    if hr.shape[0] < h or hr.shape[1] < w or hr.shape[0] - h >= scale or hr.shape[1] - w >= scale:
        raise ValueError(f"{name}: SR is {h}x{w} but HR is {hr.shape[0]}x{hr.shape[1]} at scale {scale}.")
    return hr[:h, :w]


def _progress(items, progress: bool, desc: str):
    return progress_bar(iterable=items, desc=desc) if progress else items


def evaluate_pairs(
    model: nn.Module,
    pairs: Iterable,
    scale: int,
    protocol: str,
    *,
    self_ensemble: bool = False,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict]:
    """Per-image PSNR / SSIM of `model` on (LR, HR) pairs under a named protocol (`docs/protocols.md`).

    Each whole LR image is super-resolved, the SR is rounded to 8 bit, and both metrics are computed with the
    protocol's channel and border ("div2k": RGB, scale + 6; "benchmark": Y, scale).

    Args:
        model: SR network on [0, 255] inputs; moved to `device` (in place, as nn.Module.to does).
        pairs: objects with `.name` (str), `.lr` and `.hr` (uint8 (H, W, 3) numpy arrays).
        scale: upscaling factor s; the model's output must be s times the LR.
        protocol: "div2k" or "benchmark".
        self_ensemble: x8 geometric self-ensemble (EDSR "+"); the DIV2K protocol numbers use none.
        tile, overlap: tiled inference in LR pixels (see `sr_forward`).
        device: torch device for inference.
        progress: show a tqdm bar on stderr.

    Returns:
        One dict per pair: {"image": name, "psnr": dB, "ssim": mean SSIM}.
    """
    return evaluate_protocols(model, pairs, scale, (protocol,), self_ensemble=self_ensemble, tile=tile,
                              overlap=overlap, device=device, progress=progress)[protocol]


def evaluate_protocols(model: nn.Module, pairs: Iterable, scale: int, protocols: Sequence[str], *,
                       self_ensemble: bool = False, tile: Optional[int] = None, overlap: Optional[int] = None,
                       device: str = "cpu",
                       progress: bool = False) -> dict[str, list[dict]]:
    """`evaluate_pairs` under several protocols at once: each image is super-resolved once and scored under each.

    Args:
        protocols: protocol names ("div2k", "benchmark"); the other arguments are those of `evaluate_pairs`.

    Returns:
        {protocol: one dict per pair, as `evaluate_pairs` returns}.
    """
    for protocol in protocols:
        get_protocol(protocol)  # fail on an unknown name before any inference
    model.to(device)
    rows: dict[str, list[dict]] = {protocol: [] for protocol in protocols}
    for pair in _progress(list(pairs), progress, f"eval x{scale} {'+'.join(protocols)}"):
        lr = _to_batch(pair.lr, device)
        sr = sr_forward(model, lr, scale=scale, tile=tile, overlap=overlap,
                        self_ensemble=self_ensemble)  # (1, 3, s*H, s*W)
        if _output_scale(lr, sr) != scale:
            raise ValueError(f"{pair.name}: model upscales x{_output_scale(lr, sr)}, expected x{scale}.")
        sr_img = quantize(sr[0].permute(1, 2, 0).cpu().numpy())  # (s*H, s*W, 3) uint8
        for protocol in protocols:
            rows[protocol].append(_score(pair, sr_img, scale, protocol))
    return rows


def _score(pair, img: np.ndarray, scale: int, protocol: str) -> dict:
    """PSNR and SSIM of an 8-bit upscaled `img` against the pair's HR (cropped to the SR size)."""
    hr = _crop_hr(np.asarray(pair.hr), img.shape[:2], scale, pair.name)
    return {"image": pair.name, "psnr": psnr_protocol(img, hr, scale, protocol),
            "ssim": ssim_protocol(img, hr, scale, protocol)}


def bicubic_baseline(pairs: Iterable, scale: int, protocol: str) -> list[dict]:
    """Per-image PSNR / SSIM of MATLAB-bicubic upscaling of the LR (the "Bicubic" row of EDSR Table 3).

    Args:
        pairs: objects with `.name`, `.lr`, `.hr` (uint8 (H, W, 3) numpy arrays).
        scale: upscaling factor s.
        protocol: "div2k" or "benchmark".

    Returns:
        One dict per pair: {"image": name, "psnr": dB, "ssim": mean SSIM}.
    """
    # Lazy: evaluating a model must not need the data stack. Import from the submodule so the name is the
    # function whether or not the package __init__ re-exports it.

    get_protocol(protocol)
    rows = []
    for pair in pairs:
        up = imresize(np.asarray(pair.lr), scale)  # (s*H, s*W, 3) uint8, MATLAB bicubic
        rows.append(_score(pair, up, scale, protocol))
    return rows
