"""The normalisation switch of WDSR Sec. 3.3: weight norm, batch norm or none, applied per convolution.

- `"weight"`: every convolution is reparameterised as `w = g * v / ||v||` with one gain `g` per output
  channel (Salimans & Kingma 2016; WDSR Eq. 6), initialised to `g = ||v||` so that a freshly built
  weight-normed conv computes exactly what the plain conv it wraps computes. Fixed layers (EDSR's MeanShift)
  are never normalised: the WDSR README's 1,372,318 for EDSR counts a gain on every learnable conv only.
- `"batch"`: a BatchNorm2d follows each convolution *inside the residual blocks* (the placement of
  SRResNet, which EDSR Sec. 3.1 removed and WDSR Sec. 3.3 / Fig. 3 brings back for comparison). Head, tail,
  upsampler and skip convolutions stay plain: they map to and from image space, where normalising the
  activations would have to be undone by the affine BN parameters.
- `"none"`: plain convolutions (EDSR's choice).

Deviation: we implement weight norm as a Conv2d subclass instead of `torch.nn.utils.weight_norm`, so that the
normalised weight is computed once per forward, folds into a plain conv for inference (`fold_normalization`)
and survives `channels_last` and autocast without hooks. Parameters are named `weight` (v) and `weight_g` (g).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from wdsr_lib.core.registry import NORMS


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}; got {norm!r}.")
    return norm


class WeightNormConv2d(nn.Conv2d):
    """Conv2d with weight normalisation, `w = g * v / ||v||` per output channel (WDSR Sec. 3.3, Eq. 6)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # g = ||v|| at initialisation: the reparameterised conv starts as the plain conv (Salimans & Kingma).
        self.weight_g = nn.Parameter(self._v_norm().detach().clone())

    def _v_norm(self) -> torch.Tensor:
        return torch.linalg.vector_norm(self.weight.flatten(1), dim=1)  # (out,)

    def normalized_weight(self) -> torch.Tensor:
        # One fused kernel forward and backward (the op behind torch.nn.utils.weight_norm) instead of five
        # small ones: on a busy 2-core CPU each small op costs milliseconds of thread wake-up (docs/performance.md).
        return torch._weight_norm(self.weight, self.weight_g.view(-1, 1, 1, 1), 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class ConvBN(nn.Sequential):
    """A convolution followed by BatchNorm2d (the `"batch"` arm of WDSR Fig. 3)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__(conv, nn.BatchNorm2d(conv.out_channels))


def conv(in_ch: int, out_ch: int, kernel_size: int, norm: str = "none", *, in_block: bool = True) -> nn.Module:
    """A same-padded conv with the requested normalisation.

    Args:
        in_ch, out_ch: channel counts.
        kernel_size: odd kernel side (1, 3 or 5 in these papers).
        norm: "weight" | "batch" | "none".
        in_block: True inside a residual block (the only place batch norm is inserted, see module docstring).
    """
    check_norm(norm)
    if norm == "weight":
        return WeightNormConv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
    layer = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
    if norm == "batch" and in_block:
        return ConvBN(layer)
    return layer


def _plain_copy(src: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Conv2d:
    out = nn.Conv2d(src.in_channels, src.out_channels, src.kernel_size, stride=src.stride,
                    padding=src.padding, dilation=src.dilation, groups=src.groups, bias=True)
    out = out.to(device=weight.device, dtype=weight.dtype)
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias if bias is not None else torch.zeros_like(out.bias))
    out.weight.requires_grad_(src.weight.requires_grad)
    out.bias.requires_grad_(src.weight.requires_grad)
    return out


@torch.no_grad()
def _fold(module: nn.Module) -> nn.Module:
    if isinstance(module, WeightNormConv2d):
        return _plain_copy(module, module.normalized_weight(), module.bias)
    if isinstance(module, ConvBN):
        conv_, bn = _fold(module[0]), module[1]
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        factor = gamma / std
        weight = conv_.weight * factor.view(-1, 1, 1, 1)
        bias = (conv_.bias - bn.running_mean) * factor + beta
        return _plain_copy(conv_, weight, bias)
    for name, child in module.named_children():
        setattr(module, name, _fold(child))
    return module


def fold_normalization(model: nn.Module) -> nn.Module:
    """An inference copy with weight norm folded into plain conv weights and eval-mode BN into its conv.

    The copy is in eval mode; the original is untouched. Outputs agree with `model.eval()` to float rounding.
    """
    return _fold(copy.deepcopy(model).eval()).eval()


def weight_norm_formula(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """WDSR Eq. 6 written out, for tests: w = g * v / ||v|| with the norm over all but the output dim."""
    return F.normalize(v.flatten(1), dim=1).view_as(v) * g.view(-1, *([1] * (v.dim() - 1)))
