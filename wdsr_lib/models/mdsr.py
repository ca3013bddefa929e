"""MDSR, the multi-scale EDSR (Lim et al. 2017, Sec. 3.3, Fig. 5), after EDSR-PyTorch `model/mdsr.py`.

Legend: B batch, F `n_feats`, s scale, H x W the LR size; pixels in [0, 255].
A shared body serves x2, x3 and x4; each scale has its own pre-processing (two 5x5 residual blocks) and
upsampler; the scale is chosen per call (`forward(x, scale)`), one random scale per minibatch in training.
"""
from __future__ import annotations

import torch
from torch import nn

from wdsr_lib.models.edsr import MeanShift, ResBlock, Upsampler
from wdsr_lib.models.norm import check_norm, conv


class MDSR(nn.Module):
    """Multi-scale deep SR network (EDSR Sec. 3.3)."""

    multi_scale = True

    def __init__(self, scales: tuple[int, ...] = (2, 3, 4), n_resblocks: int = 16, n_feats: int = 64,
                 res_scale: float = 1.0, norm: str = "none", mean_shift: bool = True) -> None:
        super().__init__()
        check_norm(norm)
        if not scales or any(s not in (2, 3, 4) for s in scales):
            raise ValueError(f"MDSR scales must be drawn from 2, 3, 4; got {scales!r}.")
        self.scales = tuple(scales)
        self.scale = self.scales[0]
        self.sub_mean = MeanShift(-1) if mean_shift else nn.Identity()
        self.add_mean = MeanShift(+1) if mean_shift else nn.Identity()
        self.head = conv(3, n_feats, 3, norm, in_block=False)
        self.pre_process = nn.ModuleList(
            [nn.Sequential(ResBlock(n_feats, 5, 1.0, norm), ResBlock(n_feats, 5, 1.0, norm)) for _ in scales])
        self.body = nn.Sequential(*[ResBlock(n_feats, 3, res_scale, norm) for _ in range(n_resblocks)],
                                  conv(n_feats, n_feats, 3, norm, in_block=False))
        self.upsample = nn.ModuleList([Upsampler(s, n_feats, norm) for s in scales])
        self.tail = conv(n_feats, 3, 3, norm, in_block=False)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        scale = self.scale if scale is None else scale
        if scale not in self.scales:
            raise ValueError(f"this MDSR handles scales {self.scales}; got {scale!r}.")
        i = self.scales.index(scale)
        x = self.pre_process[i](self.head(self.sub_mean(x)))  # (B, F, H, W)
        x = x + self.body(x)
        x = self.upsample[i](x)  # (B, F, s*H, s*W)
        return self.add_mean(self.tail(x))  # (B, 3, s*H, s*W)


def mdsr(scale: int = 2, **overrides) -> MDSR:
    """MDSR baseline: 16 shared blocks, F=64, scales (2, 3, 4): 3,227,227 parameters ("3.2M", EDSR Table 1).

    `scale` is the default scale of `forward` when none is given.
    """
    model = MDSR(**{"n_resblocks": 16, "n_feats": 64, **overrides})
    return _with_default_scale(model, scale)


def mdsr_paper(scale: int = 2, **overrides) -> MDSR:
    """The paper's MDSR: 80 shared blocks, F=64: 7,954,011 parameters ("8.0M", EDSR Table 1)."""
    model = MDSR(**{"n_resblocks": 80, "n_feats": 64, **overrides})
    return _with_default_scale(model, scale)


def _with_default_scale(model: MDSR, scale: int) -> MDSR:
    if scale not in model.scales:
        raise ValueError(f"scale must be one of {model.scales}; got {scale!r}.")
    model.scale = scale
    return model
