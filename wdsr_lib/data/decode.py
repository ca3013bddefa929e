"""Decode an image file into a uint8 RGB HxWx3 array: every pixel type Pillow opens is read correctly or refused.

The papers' models and PSNR protocol work on 8-bit RGB (EDSR Sec. 4.1, WDSR Sec. 4). The rule per Pillow mode
(`docs/bad_inputs.md` lists the messages):

| mode | read as |
|---|---|
| RGB, RGBX, YCbCr | RGB (YCbCr by the JPEG transform) |
| L, 1 | the gray level (bilevel: 0 or 255) repeated into R, G, B; nothing is lost, no message |
| P | its palette colours; transparency dropped, with a warning only if some pixel is not opaque |
| RGBA, LA, PA, RGBa, La | the colour; alpha dropped, with a warning only if some pixel is not opaque |
| I;16, I;16B, I;16L (16-bit gray) | round(v / 257), with a warning |
| RGB from a 16-bit PNG / TIFF | Pillow keeps the high byte (v >> 8; at most one level from round(v / 257)), warning |
| I (32-bit integer) | as 16-bit when the file declares 16-bit samples; otherwise refused (its white level is unknown) |
| F (32-bit float), float TIFF | max <= 1: [0, 1] scaled by 255, else [0, 255] kept; rounded, warning (the rule) |
| F out of both ranges | negative, above 255 or not finite: refused |
| CMYK, LAB, HSV, other | refused: converting them needs colour management this program does not do |

Files with several frames (animated GIF / APNG / WebP, multi-page TIFF) are refused, never read as their first
frame alone. The EXIF orientation tag is applied (as every viewer does), so an upscaled photo keeps the orientation the
user sees. TIFFs Pillow cannot open (float or 16-bit RGB) are read with tifffile (a scikit-image dependency).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from wdsr_lib.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")  # the common ones, named in messages


def readable_suffixes() -> frozenset[str]:
    """Every file extension Pillow opens (WebP, GIF, TGA, ... as well as IMAGE_SUFFIXES): what `read_rgb`, and so
    `wdsr upscale`, reads; `wdsr eval --data DIR` reads the same set."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN) | set(
        IMAGE_SUFFIXES)


def _refuse_frames(im: Image.Image, path: Path) -> None:
    """An animated GIF / APNG / WebP, a multi-page TIFF: refused, never read as its first frame alone. (MPO, a
    camera JPEG with a preview or stereo twin, is read as its primary image, which is what viewers show.)"""
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        kind = {"GIF": "an animated GIF", "PNG": "an animated PNG, APNG", "WEBP": "an animated WebP",
                "TIFF": "a multi-page TIFF"}.get(im.format or "", f"a {frames}-frame {im.format} file")
        raise DataError(f"{path} holds {frames} frames ({kind}); only one still image can be read, and using its "
                        "first frame alone would silently drop the others: save the frame(s) you want as PNG files "
                        "and give each one.")


def _png_bit_depth(path: Path) -> int | None:
    """Bit depth from a PNG's IHDR chunk (byte 24), or None for other formats."""
    with open(path, "rb") as f:
        head = f.read(25)
    if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n":
        return head[24]
    return None


def _refuse(path: Path, what: str) -> DataError:
    return DataError(f"{path} {what}; convert it to 8-bit RGB first (for example to PNG with an image editor).")


def _float_to_uint8(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    """The float rule of the module docstring: [0, 1] scaled by 255, [0, 255] kept, anything else refused."""
    if not np.isfinite(arr).all():
        raise _refuse(path, f"holds {what} pixels that are NaN or infinite")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 255:
        raise _refuse(path, f"holds {what} pixels from {lo:g} to {hi:g}, which fit neither [0, 1] nor [0, 255]")
    scale, rule = (255.0, "[0, 1], scaled by 255") if hi <= 1 else (1.0, "[0, 255]")
    warnings.warn(f"{path}: {what} pixels (from {lo:g} to {hi:g}) read as values in {rule} and rounded to "
                  "8 bit.", stacklevel=3)
    return np.clip(np.round(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)


def _sixteen_to_uint8(arr: np.ndarray, path: Path) -> np.ndarray:
    warnings.warn(f"{path}: 16-bit image converted to 8 bit.", stacklevel=3)
    return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)


def _drop_alpha(rgba: np.ndarray, path: Path, mode: str) -> np.ndarray:
    if int(rgba[..., 3].min()) < 255:
        warnings.warn(f"{path}: dropping the alpha channel (image is {mode}).", stacklevel=3)
    return rgba[..., :3]


def _as_rgb(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr)


def _declared_bits(im: Image.Image, path: Path) -> int | None:
    """Bits per sample the file declares (TIFF tag 258, PNG IHDR), or None."""
    tags = getattr(im, "tag_v2", None)
    if tags is not None and 258 in tags:
        bits = tags[258]
        return int(bits[0] if isinstance(bits, tuple) else bits)
    return _png_bit_depth(path)


def _from_pillow(im: Image.Image, path: Path) -> np.ndarray:
    """uint8 RGB of an opened image, by the mode table of the module docstring."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "LA") and _declared_bits(im, path) == 16:  # Pillow kept each sample's high byte
        warnings.warn(f"{path}: 16-bit image converted to 8 bit.", stacklevel=3)
    if mode in ("RGB", "RGBX", "YCbCr"):
        return np.asarray(im.convert("RGB") if mode != "RGB" else im, dtype=np.uint8)
    if mode in ("L", "1"):
        return _as_rgb(np.asarray(im.convert("L"), dtype=np.uint8))
    if mode in ("P", "PA", "RGBA", "RGBa", "LA", "La"):
        im = im.convert("LA").convert("RGBA") if mode == "La" else im.convert("RGBA")
        return _drop_alpha(np.asarray(im, dtype=np.uint8), path, mode)
    if mode.startswith("I;16"):
        return _as_rgb(_sixteen_to_uint8(np.asarray(im), path))
    if mode == "I":
        bits = _declared_bits(im, path)
        if bits == 16:
            return _as_rgb(_sixteen_to_uint8(np.asarray(im), path))
        if bits == 8:
            return _as_rgb(np.asarray(im).astype(np.uint8))
        raise _refuse(path, f"holds {bits or 32}-bit integer pixels (mode I), whose white level is unknown")
    if mode == "F":
        return _as_rgb(_float_to_uint8(np.asarray(im), path, "32-bit float"))
    raise _refuse(path, f"is a {mode} image, which needs colour management to become RGB")


def _from_tifffile(path: Path) -> np.ndarray | None:
    """A TIFF Pillow cannot open (float or deep RGB), read with tifffile; None if that fails too."""
    try:
        import tifffile  # optional dependency: only for TIFFs Pillow cannot open

        arr = np.asarray(tifffile.imread(path))
    except Exception:  # not installed, or not a TIFF it reads either
        return None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, 2)  # planar (C, H, W)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise _refuse(path, f"holds an array of shape {arr.shape}, not a gray, RGB or RGBA image")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        convert = np.asarray
    elif arr.dtype == np.uint16:
        convert = lambda a: _sixteen_to_uint8(a, path)  # noqa: E731
    elif arr.dtype.kind == "f":
        convert = lambda a: _float_to_uint8(a, path, f"{arr.dtype.itemsize * 8}-bit float")  # noqa: E731
    else:
        raise _refuse(path, f"holds {arr.dtype} pixels, whose white level is unknown")
    if arr.ndim == 3 and arr.shape[2] == 4:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the colour's conversion warns once, below
            alpha = convert(arr[..., 3])
        return _drop_alpha(np.dstack([convert(arr[..., :3]), alpha]), path, "RGBA")
    return _as_rgb(convert(arr))


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3), pixels in [0, 255], by the rules of the module docstring.

    Raises:
        DataError: the file is missing, not an image, corrupt, or of a pixel type that is refused (the message
            names the file and the mode).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            _refuse_frames(im, path)
            im.load()
            if im.getexif().get(0x0112, 1) != 1:  # EXIF orientation: show it as viewers do
                im = ImageOps.exif_transpose(im)
            arr = _from_pillow(im, path)
    except FileNotFoundError:
        raise DataError(f"Image file {path} does not exist.") from None
    except PermissionError:
        raise DataError(f"{path} cannot be read (permission denied); check its permissions.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not an image file; give the path of one image.") from None
    except UnidentifiedImageError:
        arr = _from_tifffile(path) if path.suffix.lower() in (".tif", ".tiff") else None
        if arr is None:
            raise DataError(f"{path} is not an image file PIL can read (expected PNG, JPEG, BMP or TIFF).") from None
    except DataError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's guard against a tiny file that decodes to gigabytes
        raise DataError(f"{path} declares an image too large to decode safely ({e}); if it is a genuine image, "
                        "split it into smaller parts (each is upscaled alike).") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path} is a corrupt or truncated image ({e}).") from None
    return np.ascontiguousarray(arr)
