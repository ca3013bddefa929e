"""Decode once: decoded and downscaled images kept as memory-mapped ``.npy`` files.

PNG decoding of a 2K DIV2K image takes ~50 ms, and EDSR-PyTorch offers a similar "bin" cache for the same
reason: the training hot path only slices memory maps. Entries are keyed by the *content* of the source file
(BLAKE2b of its bytes, in the file name, after the file's stem), never by its path or mtime: a file replaced by
another one with the old mtime (`touch -r`, a copy with `cp -p`, a checkout) is decoded again, not served stale,
and a file moved or copied elsewhere reuses its entry. Generated LR images are keyed by their HR key plus the
scale. Cost of hashing (measured on this project's 2-core CPU box, under load): reading and hashing the 34
embedded photos (`wdsr_lib/data/photos`, 13.5 MB of PNG) takes ~20 ms in all (~0.7 ms a photo), against ~0.36 s
to decode them; a 2K DIV2K PNG (~4 MB) hashes in ~7 ms, against its ~50 ms decode. Writes are atomic
(``wdsr_lib/core/atomic.py``), so concurrent processes or a killed run never leave a half-written entry.

Location: the ``cache_dir`` argument, else ``$WDSR_CACHE``, else ``~/.cache/wdsr``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from wdsr_lib.core import env
from wdsr_lib.core.atomic import atomic_file
from wdsr_lib.data.decode import read_rgb
from wdsr_lib.data.errors import CacheError


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: the argument, else ``$WDSR_CACHE``, else ``~/.cache/wdsr``."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(env.get("WDSR_CACHE")).expanduser()


_CHUNK = 1 << 20


def file_key(path: str | os.PathLike) -> str:
    """A key naming the current content of ``path``: its stem and the BLAKE2b digest of its bytes (80 bits).

    Not the path, size or mtime: an image replaced with its old mtime kept (`touch -r`) gets a new key. A file
    that cannot be read is left to the decoder (`read_rgb`), whose message names it.
    """
    p = Path(path)
    digest = hashlib.blake2b(digest_size=10)
    try:
        with open(p, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:  # missing, a folder, no permission: read_rgb says which, naming the file
        read_rgb(p)
        raise
    return f"{p.stem}-{digest.hexdigest()}"


def cached_array(key: str, compute: Callable[[], np.ndarray], cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Return the array stored under ``key`` (read-only memory map), computing and storing it on a miss."""
    root = default_cache_dir(cache_dir)
    target = root / f"{key}.npy"
    if target.exists():
        try:
            return np.load(target, mmap_mode="r")
        except (ValueError, OSError):  # unreadable entry (e.g. disk filled up mid-write elsewhere): redo it
            pass
    arr = np.ascontiguousarray(compute())
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_file(target) as f:  # wdsr_lib/core/atomic.py: a killed or failed write leaves no entry
            np.save(f, arr)
    except OSError as exc:  # not the results store's fault: name the setting that moves the cache
        raise CacheError(f"cannot write the decode cache at {root}: {exc.strerror or exc}; set $WDSR_CACHE to a "
                         "writable folder with free space (it holds decoded copies of the images only).") from exc
    return np.load(target, mmap_mode="r")


def decode_cached(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                  key: str | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of the image at ``path``, decoded at most once per content (``key``: its `file_key`,
    when the caller has it already)."""
    return cached_array(key or file_key(path), lambda: read_rgb(path), cache_dir)


def lr_key(hr_key: str, scale: int) -> str:
    """Cache key of the MATLAB-bicubic LR image made from the HR entry ``hr_key`` at ``scale``."""
    return f"{hr_key}-lrx{scale}"
