"""Download and unpack DIV2K (Agustsson & Timofte, NTIRE 2017) from the official ETH Zurich CVL page.

Archives (docs/data.md): ``DIV2K_{train,valid}_HR.zip`` and ``DIV2K_{train,valid}_LR_bicubic_X{s}.zip``.
Each is streamed to ``<root>/<zip>.part`` with HTTP Range resume (a server answering 200 instead of 206 restarts
the file), checked with ``zipfile.testzip``, checked for the expected image count (800 train, 100 valid) and for
entries escaping the target folder, extracted into a temporary folder and moved into place with one rename, so
a folder that exists is complete. Folders already holding the expected count are skipped without any request.
The zip is deleted after a successful extraction. Standard library only (urllib).
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Mapping, Optional, Sequence

from wdsr_lib.data.errors import DataError
from wdsr_lib.core.progress import progress_bar  # the study's one progress bar (torch-free, like this module)

DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
DIV2K_COUNTS: Mapping[str, int] = {"train": 800, "valid": 100}
_CHUNK = 1 << 20


def div2k_archives(scales: Sequence[int], splits: Sequence[str] = ("train", "valid")) -> list[tuple[str, str, str]]:
    """(zip name, folder it unpacks to relative to root, split) for the HR and LR archives of ``scales``."""
    out = []
    for split in splits:
        out.append((f"DIV2K_{split}_HR.zip", f"DIV2K_{split}_HR", split))
        for s in scales:
            out.append((f"DIV2K_{split}_LR_bicubic_X{s}.zip", f"DIV2K_{split}_LR_bicubic/X{s}", split))
    return out


def _count_pngs(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.suffix.lower() == ".png") if folder.is_dir() else 0


def _fetch(url: str, part: Path, progress: bool, retries: int) -> None:
    """Stream ``url`` into ``part``, resuming from its current size with an HTTP Range request."""
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:
                if resp.status == 206:
                    mode, total = "ab", offset + int(resp.headers.get("Content-Length", 0))
                else:  # 200: the server ignored the range, start over
                    mode, offset, total = "wb", 0, int(resp.headers.get("Content-Length", 0))
                with open(part, mode) as f, progress_bar(
                    total=total or None, initial=offset, unit="B", unit_scale=True, desc=part.name[:-5],
                    disable=not progress,
                ) as bar:
                    while chunk := resp.read(_CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
            if total and part.stat().st_size < total:
                raise http.client.IncompleteRead(b"", total - part.stat().st_size)
            return
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # range starts at the end: the .part already holds the whole file
                return
            raise DataError(f"Downloading {url} failed with HTTP {e.code} {e.reason}.") from None
        except (http.client.HTTPException, ConnectionError, TimeoutError, urllib.error.URLError) as e:
            if attempt == retries:
                size = part.stat().st_size if part.exists() else 0
                raise DataError(
                    f"Downloading {url} was interrupted after {size} bytes ({e}); run the command again to resume."
                ) from None


def _check_zip(zpath: Path, folder: str, expected: int) -> None:
    """Integrity, path safety and image count of ``zpath``; raises DataError naming the problem."""
    try:
        with zipfile.ZipFile(zpath) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise DataError(f"{zpath} is not a valid zip archive ({e}); delete it and download again.") from None
    if bad is not None:
        raise DataError(f"{zpath} is corrupt (CRC error in {bad}); delete it and download again.")
    for name in names:
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise DataError(f"{zpath} holds the entry {name!r}, which would be written outside the data folder.")
    prefix = folder.rstrip("/") + "/"
    count = sum(1 for n in names if n.startswith(prefix) and n.lower().endswith(".png") and "/" not in n[len(prefix):])
    if count != expected:
        raise DataError(f"{zpath} holds {count} PNG images under {prefix}, expected {expected}.")


def _install(zpath: Path, root: Path, folder: str) -> None:
    """Extract ``zpath`` into a temporary folder under ``root`` and rename ``folder`` into place."""
    tmp = Path(tempfile.mkdtemp(prefix=".div2k-extract-", dir=root))
    try:
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmp)
        target = root / folder
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / folder, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download_div2k(
    root: str | os.PathLike,
    scales: Sequence[int] = (2, 3, 4),
    base_url: str = DIV2K_URL,
    progress: bool = True,
    expected_counts: Optional[Mapping[str, int]] = None,
    retries: int = 3,
) -> Path:
    """Download DIV2K HR and bicubic LR (``scales``) into ``root`` in the official layout; a no-op when complete.

    Args:
        root: data root; gets DIV2K_{train,valid}_HR/ and DIV2K_{train,valid}_LR_bicubic/X{s}/.
        scales: LR scales to fetch (2, 3, 4).
        base_url: folder URL holding the zips (default the official CVL page).
        progress: show a tqdm bar per archive.
        expected_counts: images per folder by split, default {"train": 800, "valid": 100}.
        retries: resumptions after a dropped connection, per archive.

    Returns:
        ``root`` as a Path.

    Raises:
        DataError: a failed or interrupted download, a corrupt zip, an unsafe entry or a wrong image count.
    """
    counts = dict(DIV2K_COUNTS if expected_counts is None else expected_counts)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    for zname, folder, split in div2k_archives(scales):
        target, expected = root / folder, counts[split]
        if target.exists():
            have = _count_pngs(target)
            if have == expected:
                continue
            raise DataError(f"{target} exists but holds {have} of {expected} PNG images; remove it and run again.")
        zpath, part = root / zname, root / (zname + ".part")
        if not zpath.exists():
            _fetch(base + zname, part, progress, retries)
            os.replace(part, zpath)
        try:
            _check_zip(zpath, folder, expected)
        except DataError:
            zpath.unlink(missing_ok=True)  # a bad archive must not be reused by the next run
            raise
        _install(zpath, root, folder)
        zpath.unlink()
    return root
