"""WDSR-A and WDSR-B (Yu et al. 2018, "Wide Activation for Efficient and Accurate Image Super-Resolution").

Follows the official code (JiahuiYu/wdsr_ntire2018, `wdsr_a.py`, `wdsr_b.py`) layer for layer.
Legend: B batch, F `n_feats`, w = r*F `block_feats`, s scale, H x W the LR size; pixels in [0, 255].
Deviation: the official code hard-codes expansion 6 and low-rank 0.8 in WDSR-B; here they are arguments
(`expansion`, `low_rank`) so that the Sec. 3.1/3.2 ablations can sweep them.
Deviation: WDSR-B's default width is F=64 (the "natural" Table 1 setting, whose block costs what an EDSR-64
block costs); the paper's Table 1 WDSR-B column (0.08/0.23/0.37/0.60M) is not reproduced by any setting we
know of: ours gives 84,250 / 233,318 / 382,386 / 605,988 at 1/3/5/8 blocks with weight norm (docs/parameter_counts.md).
"""
from __future__ import annotations

import torch
from torch import nn

from wdsr_lib.core.config import check_scale
from wdsr_lib.models.edsr import DIV2K_RGB_MEAN
from wdsr_lib.models.norm import check_norm, conv


class WideBlockA(nn.Module):
    """WDSR-A block: x + res_scale * conv3x3_{w->F}(relu(conv3x3_{F->w}(x))) (WDSR Sec. 3.1, Fig. 1 middle)."""

    def __init__(self, n_feats: int, block_feats: int, res_scale: float = 1.0, norm: str = "weight") -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(n_feats, block_feats, 3, norm),  # (B, F, H, W) -> (B, w, H, W): wide activation
            nn.ReLU(inplace=True),
            conv(block_feats, n_feats, 3, norm),  # (B, w, H, W) -> (B, F, H, W)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class WideBlockB(nn.Module):
    """WDSR-B block: 1x1 expand, ReLU, linear low-rank 1x1, 3x3 (WDSR Sec. 3.2, Fig. 1 right)."""

    def __init__(self, n_feats: int, expansion: float = 6, low_rank: float = 0.8, res_scale: float = 1.0,
                 norm: str = "weight", low_rank_relu: bool = False) -> None:
        super().__init__()
        wide, rank = int(n_feats * expansion), int(n_feats * low_rank)
        if wide < 1 or rank < 1:  # a 0-channel conv kills the interpreter with SIGFPE, not an exception
            raise ValueError(f"WDSR-B with n_feats {n_feats} needs expansion and low_rank of at least 1/{n_feats}; "
                             f"got {expansion:g} and {low_rank:g} (int(n_feats x each) would be 0 channels).")
        layers: list[nn.Module] = [
            conv(n_feats, wide, 1, norm),  # (B, F, H, W) -> (B, e*F, H, W)
            nn.ReLU(inplace=True),
            conv(wide, rank, 1, norm),  # (B, e*F, H, W) -> (B, l*F, H, W): linear, no activation
        ]
        if low_rank_relu:  # the ablation of Sec. 3.2: "adding ReLU ... significantly reduces accuracy"
            layers.append(nn.ReLU(inplace=True))
        layers.append(conv(rank, n_feats, 3, norm))  # (B, l*F, H, W) -> (B, F, H, W)
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class WDSR(nn.Module):
    """WDSR network (WDSR Sec. 3.4, Fig. 2): body in LR space, 5x5 skip, one pixel shuffle, no convs after it."""

    def __init__(self, blocks: list[nn.Module], scale: int, n_feats: int, norm: str,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__()
        check_norm(norm)
        check_scale(scale)
        self.scale = scale
        out = 3 * scale * scale
        # (x - mean*255) / 127.5, as the official code does; a buffer, so not counted as parameters.
        self.register_buffer("rgb_mean", torch.tensor(rgb_mean).view(1, 3, 1, 1) * 255.0)
        self.head = conv(3, n_feats, 3, norm, in_block=False)
        self.body = nn.Sequential(*blocks)
        self.tail = conv(n_feats, out, 3, norm, in_block=False)
        self.skip = conv(3, out, 5, norm, in_block=False)  # Sec. 3.4: one 5x5 conv replaces the linear path
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.rgb_mean) / 127.5
        s = self.skip(x)  # (B, 3, H, W) -> (B, 3*s*s, H, W)
        x = self.tail(self.body(self.head(x)))  # (B, F, H, W) ... -> (B, 3*s*s, H, W)
        x = self.shuffle(x + s)  # (B, 3, s*H, s*W)
        return x * 127.5 + self.rgb_mean


def wdsr_a(scale: int = 2, n_resblocks: int = 16, n_feats: int = 32, block_feats: int = 128,
           res_scale: float = 1.0, norm: str = "weight") -> WDSR:
    """WDSR-A (WDSR Sec. 3.1); the README's baseline: 16 blocks, F=32, w=128 (r=4), weight norm.

    x2: 1,190,100 parameters (1,187,484 without weight norm). Table 1's 0.08/0.23/0.37/0.60M are the
    1/3/5/8-block counts without the weight-norm gains (79,164 / 226,940 / 374,716 / 596,380).
    """
    blocks = [WideBlockA(n_feats, block_feats, res_scale, norm) for _ in range(n_resblocks)]
    return WDSR(blocks, scale, n_feats, norm)


def wdsr_b(scale: int = 2, n_resblocks: int = 16, n_feats: int = 64, expansion: float = 6,
           low_rank: float = 0.8, res_scale: float = 1.0, norm: str = "weight",
           low_rank_relu: bool = False) -> WDSR:
    """WDSR-B (WDSR Sec. 3.2): 1x1 expansion e=6, linear low-rank l=0.8, weight norm.

    x2 with F=64: 84,250 / 233,318 / 382,386 / 605,988 parameters at 1/3/5/8 blocks (1,202,260 at 16).
    The paper's Table 1 WDSR-B column (0.08/0.23/0.37/0.60M) matches WDSR-A's; no WDSR-B width we know of
    gives it, so ours differs by +0.003M to +0.012M (README, "Parameter counts").
    """
    blocks = [WideBlockB(n_feats, expansion, low_rank, res_scale, norm, low_rank_relu)
              for _ in range(n_resblocks)]
    return WDSR(blocks, scale, n_feats, norm)
