"""Helpers shared by the data-layer tests (imported explicitly; pytest does not auto-load this module)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every data test gets its own decode cache and data root, never ~/.cache/wdsr or ./data."""
    monkeypatch.setenv("WDSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "data-root"))
    return tmp_path / "cache"


def random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth-ish random uint8 RGB image (noise plus a gradient), HxWx3."""
    rng = np.random.default_rng(seed)
    grad = np.linspace(0, 120, w)[None, :, None] + np.linspace(0, 80, h)[:, None, None]
    return np.clip(grad + rng.integers(0, 120, (h, w, 3)), 0, 255).astype(np.uint8)


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def write_png16(path: Path, arr: np.ndarray) -> Path:
    """A minimal 16-bit PNG writer (PIL cannot write 16-bit RGB): arr is uint16 HxWx1 or HxWx3."""
    h, w, c = arr.shape
    color_type = {1: 0, 3: 2}[c]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def write_div2k(root: Path, scales=(2,), ids=None, hr_shape=(8, 12)) -> Path:
    """A DIV2K copy in the official layout with tiny images: HR `hr_shape` (h, w), LR = HR // s (nearest).

    `ids` maps a split ("train", "valid") to the image numbers to write (default: all of 0001-0800 / 0801-0900).
    """
    from wdsr_lib.data.div2k import DIV2K_IDS

    ids = ids or DIV2K_IDS
    for split, numbers in ids.items():
        for i in numbers:
            hr = random_rgb(*hr_shape, seed=i)
            write_png(root / f"DIV2K_{split}_HR" / f"{i:04d}.png", hr)
            for s in scales:
                lr = hr[: hr_shape[0] // s * s : s, : hr_shape[1] // s * s : s]  # exactly HR // s a side
                write_png(root / f"DIV2K_{split}_LR_bicubic" / f"X{s}" / f"{i:04d}x{s}.png", lr)
    return root
