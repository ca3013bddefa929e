"""Data layer: MATLAB bicubic, (LR, HR) sources, decode cache, resumable patch sampling, DIV2K download.

Modules: ``imresize`` (MATLAB bicubic), ``sources`` (sample / div2k / folder pairs), ``cache`` (decode once,
memory maps), ``patches`` (PatchSampler, loader), ``download`` (DIV2K), ``decode`` (file -> uint8 RGB),
``errors`` (DataError).
"""

from wdsr_lib.data.download import download_div2k
from wdsr_lib.data.errors import DataError
from wdsr_lib.data.imresize import imresize
from wdsr_lib.data.patches import PatchSampler, loader
from wdsr_lib.data.sources import SAMPLE_TRAIN, SAMPLE_VAL, ImagePair, load_pairs

__all__ = [
    "imresize",
    "ImagePair",
    "load_pairs",
    "PatchSampler",
    "loader",
    "download_div2k",
    "DataError",
    "SAMPLE_TRAIN",
    "SAMPLE_VAL",
]
