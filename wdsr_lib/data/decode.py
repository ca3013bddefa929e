"""Decode an image file into a uint8 RGB HxWx3 array, turning every bad input into one clear sentence.

Grayscale and palette images become RGB; RGBA drops alpha (with a warning); 16-bit PNGs are scaled to 8 bit
(with a warning), because the papers' models and PSNR protocol work on 8-bit RGB (REFERENCE.md section 4).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from wdsr_lib.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _png_bit_depth(path: Path) -> int | None:
    """Bit depth from a PNG's IHDR chunk (byte 24), or None for other formats."""
    with open(path, "rb") as f:
        head = f.read(25)
    if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n":
        return head[24]
    return None


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3), pixels in [0, 255].

    Raises:
        DataError: the file is missing, not an image, or corrupt (the message names it).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                warnings.warn(f"{path}: dropping the alpha channel (image is {mode}).", stacklevel=2)
            if mode.startswith("I;16") or mode == "I":
                arr = np.asarray(im).astype(np.float64)
                if mode != "I" or arr.max() > 255:
                    warnings.warn(f"{path}: 16-bit image converted to 8 bit.", stacklevel=2)
                    arr = arr / 257.0
                gray = np.clip(np.round(arr), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
            if mode != "RGB":
                im = im.convert("RGBA").convert("RGB") if mode in ("P", "PA") else im.convert("RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"Image file {path} does not exist.") from None
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image file PIL can read (expected PNG, JPEG, BMP or TIFF).") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path} is a corrupt or truncated image ({e}).") from None
    if _png_bit_depth(path) == 16:  # Pillow silently keeps the high byte of 16-bit RGB PNGs
        warnings.warn(f"{path}: 16-bit image converted to 8 bit.", stacklevel=2)
    return np.ascontiguousarray(arr)
