"""The paper models behind one registry and one builder (docs/design.md, "Models").

`build_model(name, scale=2, **overrides)` or `build(model_config)`; the names are those of
`wdsr_lib.core.registry.MODELS`: "edsr" (baseline), "edsr_paper" (32 blocks / 256 features), "wdsr_a", "wdsr_b",
"mdsr" (baseline, 16 blocks), "mdsr_paper" (80 blocks). Inputs and outputs in [0, 255].
"""
from __future__ import annotations

from wdsr_lib.core.registry import NORMS
from wdsr_lib.models.build import (OUTPUT_HW, build, build_model, call_model, count_macs, count_macs_for_output,
                                   count_parameters)
from wdsr_lib.models.edsr import EDSR, MeanShift, ResBlock, Upsampler, edsr_baseline, edsr_paper
from wdsr_lib.models.mdsr import MDSR, mdsr, mdsr_paper
from wdsr_lib.models.norm import ConvBN, WeightNormConv2d, fold_normalization
from wdsr_lib.models.pretrained import LAYOUTS, WeightsError, detect_layout, load_pretrained
from wdsr_lib.models.receptive_field import receptive_field_radius
from wdsr_lib.models.wdsr import WDSR, WideBlockA, WideBlockB, wdsr_a, wdsr_b

__all__ = [
    "NORMS", "OUTPUT_HW", "build", "build_model", "call_model", "count_parameters", "count_macs",
    "count_macs_for_output", "fold_normalization",
    "EDSR", "MDSR", "WDSR", "ResBlock", "Upsampler", "MeanShift", "WideBlockA", "WideBlockB",
    "WeightNormConv2d", "ConvBN", "edsr_baseline", "edsr_paper", "mdsr", "mdsr_paper", "wdsr_a", "wdsr_b",
    "load_pretrained", "detect_layout", "LAYOUTS", "WeightsError", "receptive_field_radius",
]
