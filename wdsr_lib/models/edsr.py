"""EDSR (Lim et al. 2017, "Enhanced Deep Residual Networks for Single Image Super-Resolution", Sec. 3.1-3.2).

Follows EDSR-PyTorch (thstkdgus35/EDSR-PyTorch, `model/edsr.py`, `model/common.py`) layer for layer.
Legend: B batch, F `n_feats`, s scale, H x W the LR size; pixels in [0, 255].
Deviation: `norm="weight"` wraps every learnable conv in weight norm, the EDSR setting of the WDSR README
(1,372,318 parameters); EDSR itself uses no normalisation (the default).
"""
from __future__ import annotations

import torch
from torch import nn

from wdsr_lib.core.config import check_scale
from wdsr_lib.models.norm import check_norm, conv

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # EDSR-PyTorch `rgb_mean`, measured on DIV2K train


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv adding `sign * mean * 255` per channel (EDSR-PyTorch `common.MeanShift`, 12 parameters)."""

    def __init__(self, sign: int, rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * 255.0 * torch.tensor(rgb_mean)
        for p in self.parameters():
            p.requires_grad = False  # fixed, yet counted by parameters(), as in EDSR-PyTorch


class ResBlock(nn.Module):
    """EDSR residual block without BN: x + res_scale * conv(relu(conv(x))) (EDSR Sec. 3.1, Fig. 2c)."""

    def __init__(self, n_feats: int, kernel_size: int = 3, res_scale: float = 1.0, norm: str = "none") -> None:
        super().__init__()
        self.body = nn.Sequential(conv(n_feats, n_feats, kernel_size, norm), nn.ReLU(inplace=True),
                                  conv(n_feats, n_feats, kernel_size, norm))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)  # (B, F, H, W)


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler (EDSR Fig. 3): x2/x3 one conv F->s^2*F + PixelShuffle(s); x4 two x2 stages."""

    def __init__(self, scale: int, n_feats: int, norm: str = "none") -> None:
        check_scale(scale)
        factors = (2, 2) if scale == 4 else (scale,)
        layers: list[nn.Module] = []
        for f in factors:
            layers += [conv(n_feats, f * f * n_feats, 3, norm, in_block=False), nn.PixelShuffle(f)]
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR single-scale network: head, B residual blocks, conv, global skip, upsampler, tail (EDSR Fig. 3)."""

    def __init__(self, scale: int = 2, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0,
                 norm: str = "none", mean_shift: bool = True) -> None:
        super().__init__()
        check_norm(norm)
        self.scale = scale
        self.sub_mean = MeanShift(-1) if mean_shift else nn.Identity()
        self.add_mean = MeanShift(+1) if mean_shift else nn.Identity()
        self.head = conv(3, n_feats, 3, norm, in_block=False)
        self.body = nn.Sequential(*[ResBlock(n_feats, 3, res_scale, norm) for _ in range(n_resblocks)],
                                  conv(n_feats, n_feats, 3, norm, in_block=False))
        self.upsample = Upsampler(scale, n_feats, norm)
        self.tail = conv(n_feats, 3, 3, norm, in_block=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x))  # (B, 3, H, W) -> (B, F, H, W)
        x = x + self.body(x)  # global residual, (B, F, H, W)
        x = self.upsample(x)  # (B, F, s*H, s*W)
        return self.add_mean(self.tail(x))  # (B, 3, s*H, s*W)


def edsr_baseline(scale: int = 2, **overrides) -> EDSR:
    """EDSR baseline (EDSR Sec. 4.2): 16 blocks, 64 features, res_scale 1, no norm.

    x2: 1,369,883 parameters (1,372,318 with weight norm, WDSR README); x3 1,554,523 and x4 1,517,595,
    the "1.5M" of EDSR Table 1.
    """
    return EDSR(scale, **{"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0, **overrides})


def edsr_paper(scale: int = 2, **overrides) -> EDSR:
    """The paper's large EDSR (EDSR Sec. 3.2): 32 blocks, 256 features, residual scaling 0.1.

    x2: 40,729,627 parameters; x3 43,680,027 and x4 43,089,947, the "43M" of EDSR Table 1.
    """
    return EDSR(scale, **{"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1, **overrides})
