"""Receptive-field radius in LR pixels: how much context a tile needs so tiled inference equals untiled.

An output pixel of a same-padded conv of kernel k depends on inputs within (k - 1) / 2 pixels. Along one path
the radii add up; after a pixel shuffle of factor f a conv of radius r reaches r / f LR pixels, which we round
up per conv (an upper bound). Parallel paths take the larger radius (WDSR's 5x5 skip beside the body, Sec. 3.4;
MDSR's per-scale branches, EDSR Sec. 3.3, count the branch of the requested scale). Examples at x2:
EDSR baseline 36 (head 1 + 16 blocks x 2 + body-end conv 1 + upsampler 1 + tail 1), WDSR-A baseline 34,
WDSR-B baseline 18 (one 3x3 per block).

`engine.evaluate.sr_forward` reads tiles with this much context by default, which makes tiled output equal the
untiled one by construction (up to float rounding: the convolutions run on different tensor sizes).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from torch import nn

from wdsr_lib.models.edsr import EDSR
from wdsr_lib.models.mdsr import MDSR
from wdsr_lib.models.wdsr import WDSR


def _conv_radius(module: nn.Module) -> int:
    """The summed radius of every conv inside `module`, taken as one sequential path (LR resolution)."""
    total = 0
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            total += (m.kernel_size[0] - 1) // 2 * m.dilation[0]
    return total


def _upsampler_radius(up: nn.Module) -> int:
    """Radius in LR pixels of a sub-pixel upsampler (conv, shuffle, conv, shuffle ...): convs after a
    shuffle of cumulative factor f count r / f, rounded up."""
    factor, total = 1, 0
    for m in up:
        if isinstance(m, nn.PixelShuffle):
            factor *= m.upscale_factor
        else:
            total += math.ceil(_conv_radius(m) / factor)
    return total


def _upsampler_factor(up: nn.Module) -> int:
    return math.prod(m.upscale_factor for m in up if isinstance(m, nn.PixelShuffle))


def _wdsr(model: WDSR, scale: Optional[int]) -> int:
    body = _conv_radius(model.head) + _conv_radius(model.body) + _conv_radius(model.tail)
    return max(body, _conv_radius(model.skip))  # the shuffle comes last: everything is at LR resolution


def _edsr(model: EDSR, scale: Optional[int]) -> int:
    lr_path = _conv_radius(model.sub_mean) + _conv_radius(model.head) + _conv_radius(model.body)
    up = _upsampler_radius(model.upsample)
    return lr_path + up + math.ceil(_conv_radius(model.tail) / _upsampler_factor(model.upsample))


def _mdsr(model: MDSR, scale: Optional[int]) -> int:
    i = model.scales.index(model.scale if scale is None else scale)
    lr_path = (_conv_radius(model.sub_mean) + _conv_radius(model.head) + _conv_radius(model.pre_process[i])
               + _conv_radius(model.body))
    up = model.upsample[i]
    return lr_path + _upsampler_radius(up) + math.ceil(_conv_radius(model.tail) / _upsampler_factor(up))


def _sequential(model: nn.Module, scale: Optional[int]) -> int:
    """Every conv on one path, pixel shuffles in registration order: an upper bound for feed-forward SR networks
    with same-padded convs (the rule of a registered model that names no other)."""
    factor, total = 1, 0
    for m in model.modules():
        if isinstance(m, nn.PixelShuffle):
            factor *= m.upscale_factor
        elif isinstance(m, nn.Conv2d):
            total += math.ceil((m.kernel_size[0] - 1) // 2 * m.dilation[0] / factor)
    return total


# The rules a registry entry names (`ModelSpec.receptive_field`); `build_model` tags each model with its rule.
RULES: dict[str, Callable[[nn.Module, Optional[int]], int]] = {
    "wdsr": _wdsr, "edsr": _edsr, "mdsr": _mdsr, "sequential": _sequential}
_BY_CLASS = ((WDSR, "wdsr"), (EDSR, "edsr"), (MDSR, "mdsr"))  # a model built without the registry


def receptive_field_radius(model: nn.Module, scale: Optional[int] = None) -> int:
    """LR pixels of context every output pixel depends on (per side).

    Args:
        model: a model of `build_model` (its registry entry's rule), or an EDSR, WDSR-A/B or MDSR built directly;
            any other network is treated as one sequential path through all its convs with the pixel shuffles in
            registration order (an upper bound for feed-forward SR networks with same-padded convs).
        scale: the MDSR branch (default: the model's default scale); ignored by single-scale models.
    """
    model = getattr(model, "module", model)  # DistributedDataParallel keeps the network in .module
    rule = getattr(model, "receptive_field_rule", None)
    if rule is None:
        rule = next((name for cls, name in _BY_CLASS if isinstance(model, cls)), "sequential")
    return RULES[rule](model, scale)
