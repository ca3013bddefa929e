"""Building a registered model and counting it: `build_model(name, scale, **overrides)`, `build(model_config)`,
`call_model` (single- and multi-scale alike), parameter and multiply-add counts."""
from __future__ import annotations

import copy

import torch
from torch import nn

from wdsr_lib.core.config import ModelConfig, check_scale
from wdsr_lib.core.registry import HYPERPARAMETERS, NORMS, get_spec

_POSITIVE = tuple(name for name, h in HYPERPARAMETERS.items() if h.positive)


def build_model(name: str, scale: int = 2, **overrides) -> nn.Module:
    """Build a paper model with the paper's defaults, overridden by keyword.

    Args:
        name: a name of `wdsr_lib.core.registry.MODELS` ("edsr", "edsr_paper", "wdsr_a", "wdsr_b", "mdsr",
            "mdsr_paper").
        scale: upscaling factor, 2, 3 or 4 (for MDSR the default scale of `forward`).
        **overrides: `n_resblocks`, `n_feats`, `res_scale`, `norm` ("weight" | "batch" | "none") for all;
            `mean_shift` (EDSR, MDSR), `block_feats` (WDSR-A), `expansion`, `low_rank`, `low_rank_relu`
            (WDSR-B), `scales` (MDSR).
    Raises:
        ValueError: unknown name, unsupported scale, unknown norm, an argument the model does not take, or a
            non-positive size.
    """
    spec = get_spec(name)  # unknown name: one sentence listing the registered ones
    check_scale(scale)
    unknown = set(overrides) - set(spec.accepts)
    if unknown:
        raise ValueError(f"model {name!r} does not take {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(spec.accepts)}.")
    if "norm" in overrides and overrides["norm"] not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}; got {overrides['norm']!r}.")
    for key in _POSITIVE:
        value = overrides.get(key)
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise ValueError(f"{key} must be positive; got {value!r}.")
    if name == "wdsr_b" and int(overrides.get("n_feats", 64) * overrides.get("low_rank", 0.8)) < 1:
        raise ValueError("wdsr_b: int(n_feats * low_rank) must be at least 1.")
    model = spec.build_function()(scale, **overrides)
    model.receptive_field_rule = spec.receptive_field  # how much context tiled inference needs (receptive_field.py)
    return model


def build(config: ModelConfig) -> nn.Module:
    """The `torch.nn.Module` a `ModelConfig` describes (fields left at None take the registry's defaults)."""
    return build_model(config.name, config.scale, **config.overrides())


def call_model(model: nn.Module, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
    """`model(x)`, or `model(x, scale)` for a multi-scale model (MDSR picks its branch per call, EDSR Sec. 3.3).

    The one place that knows which models take a scale: those with a true `multi_scale` attribute, looked up
    through a DistributedDataParallel (or torch.compile) wrapper. Single-scale models ignore `scale`; for MDSR,
    `scale=None` means its default scale.
    """
    inner = getattr(model, "module", model)  # DDP keeps the network in .module
    if getattr(inner, "multi_scale", False) or getattr(model, "multi_scale", False):
        return model(x, scale)
    return model(x)


def count_parameters(model: nn.Module) -> int:
    """Every parameter `parameters()` yields, fixed MeanShift convs included (as EDSR-PyTorch counts)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, lr_hw: tuple[int, int], scale: int | None = None) -> int:
    """Multiply-adds of the convolutions for one LR input of `lr_hw` = (H, W) pixels.

    Counts conv MACs only (out elements x in_ch/groups x kh x kw), the convention of the SR literature;
    additions of residuals, ReLUs and normalisation are left out. Shapes are propagated on the `meta`
    device, so no arithmetic runs and any size is instant.
    """
    h, w = lr_hw
    if h <= 0 or w <= 0:
        raise ValueError(f"lr_hw must be positive; got {lr_hw!r}.")
    meta = copy.deepcopy(model).to("meta").eval()
    total = 0

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = mod.kernel_size
        total += out.numel() * (mod.in_channels // mod.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        x = torch.empty(1, 3, h, w, device="meta")
        call_model(meta, x, scale)
    for handle in handles:
        handle.remove()
    return int(total)


OUTPUT_HW = (720, 1280)  # (H, W): every MAC figure of the study is for one 1280x720 output image


def count_macs_for_output(model: nn.Module, scale: int, output_hw: tuple[int, int] = OUTPUT_HW) -> int:
    """Conv multiply-adds to produce one `output_hw` (H, W) image at `scale` (default 1280x720)."""
    return count_macs(model, (output_hw[0] // scale, output_hw[1] // scale), scale)
