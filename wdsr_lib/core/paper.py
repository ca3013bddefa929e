"""The papers' published numbers, each with where it is printed: the one table that plans, claims, the model
registry (published parameter counts) and the figures read. Torch-free.

A number the study compares against is written here once, with its source, and nowhere else: the claims' "paper"
texts are formatted from these values (`wdsr_lib.study.claims.CLAIMS`), Table 1's labels carry them
(`wdsr_lib.study.plans.table1`), `wdsr models` prints the parameter counts (`wdsr_lib.core.registry`), and
tests/test_registries.py checks every entry names its source.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# The sources cited below.
PAPERS = {
    "WDSR": "Yu et al. 2018, Wide Activation for Efficient and Accurate Image Super-Resolution, arXiv:1808.08718",
    "EDSR": "Lim et al. 2017, Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPR Workshops",
    "WDSR README": "the WDSR authors' code release, github.com/JiahuiYu/wdsr_ntire2018 (README)",
    "EDSR-PyTorch": "the EDSR authors' PyTorch code, github.com/sanghyun-son/EDSR-PyTorch",
}

# WDSR Table 1 (x2, DIV2K val, DIV2K protocol): {family: {blocks: (params in M, PSNR dB)}}.
TABLE1_SOURCE = "WDSR Table 1"
TABLE1: dict[str, dict[int, tuple[float, float]]] = {
    "EDSR": {1: (0.26, 33.210), 3: (0.41, 34.043), 5: (0.56, 34.284), 8: (0.78, 34.457)},
    "WDSR-A": {1: (0.08, 33.323), 3: (0.23, 34.163), 5: (0.37, 34.388), 8: (0.60, 34.541)},
    "WDSR-B": {1: (0.08, 33.434), 3: (0.23, 34.205), 5: (0.37, 34.409), 8: (0.60, 34.536)},
}
# WDSR README (x2, DIV2K protocol): the 16-block baselines, {family: (parameters, PSNR dB)}.
BASELINES_SOURCE = "WDSR README"
BASELINES: dict[str, tuple[int, float]] = {"EDSR": (1_372_318, 34.61), "WDSR-A": (1_190_100, 34.77)}
# EDSR Table 2 (x2, DIV2K val): SRResNet trained with L2 vs L1 (dB).
LOSS_SOURCE = "EDSR Table 2"
LOSS: dict[str, float] = {"l2": 34.40, "l1": 34.44}
# EDSR Table 2 (x2, DIV2K val): bicubic, the EDSR baseline, EDSR and EDSR+ (the x8 self-ensemble), dB.
EDSR_TABLE2_SOURCE = "EDSR Table 2"
BICUBIC_X2 = 31.01
EDSR_BASELINE_X2 = 34.55
SELF_ENSEMBLE_X2 = (35.03, 35.12)  # (EDSR, EDSR+)


@dataclass(frozen=True)
class ParameterCount:
    """A published parameter count: `exact` when the source prints every digit (tests/test_docs.py rebuilds the
    model and asserts it), else None with the rounded figure in `source`."""

    exact: Optional[int]
    source: str


PARAMETER_COUNTS: dict[str, ParameterCount] = {
    "edsr_baseline_wn": ParameterCount(BASELINES["EDSR"][0], BASELINES_SOURCE),
    "edsr_baseline": ParameterCount(1_369_883, "EDSR-PyTorch"),
    "edsr_paper": ParameterCount(None, "EDSR Table 1: 43M at x3/x4"),
    "mdsr_baseline": ParameterCount(None, "EDSR Table 1: 3.2M"),
    "mdsr_paper": ParameterCount(None, "EDSR Table 1: 8.0M"),
    "wdsr_a_baseline": ParameterCount(BASELINES["WDSR-A"][0], BASELINES_SOURCE),
    "wdsr_b_baseline": ParameterCount(None, "no published count"),
}

# Every source a number above cites (tests/test_registries.py: each starts with a key of PAPERS).
SOURCES = (TABLE1_SOURCE, BASELINES_SOURCE, LOSS_SOURCE, EDSR_TABLE2_SOURCE,
           *(c.source for c in PARAMETER_COUNTS.values() if c.exact is not None))


def table1_gaps(a: str, b: str) -> dict[int, float]:
    """{blocks: PSNR of family `a` minus family `b`} in WDSR Table 1 (dB, unrounded)."""
    return {n: TABLE1[a][n][1] - TABLE1[b][n][1] for n in TABLE1[a]}
