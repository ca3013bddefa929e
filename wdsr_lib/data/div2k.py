"""The one check that a DIV2K copy is complete, used before anything trains on it (`wdsr train`, `wdsr reproduce`).

WDSR Sec. 4 / EDSR Sec. 4.1 train on DIV2K 0001-0800 and validate on images of 0801-0900; the store's key names
the data source, not its files, so a run trained on a partial copy would later pass for a paper run. Hence a
profile that names DIV2K gets all of it or nothing: every folder of the splits and scales it uses, exactly the
official image names (no more, no fewer), and each LR image exactly HR // scale in size (read from the file
headers only; a few seconds for the whole set).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from PIL import Image, UnidentifiedImageError

from wdsr_lib.data.errors import DataError

# The official splits: train 0001-0800, valid 0801-0900 (`wdsr_lib/data/download.py` fetches the same).
DIV2K_IDS: dict[str, range] = {"train": range(1, 801), "valid": range(801, 901)}
_SHOWN = 3  # names listed per problem


def _names(ids: range, suffix: str = "") -> list[str]:
    return [f"{i:04d}{suffix}.png" for i in ids]


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None


_CHECKED: dict[tuple, list[str]] = {}  # this process's answers, keyed by every file's name, size and mtime


def div2k_problems(root: str | Path, scales: Sequence[int], splits: Sequence[str] = ("train", "valid"),
                   check_sizes: bool = True) -> list[str]:
    """What keeps `root` from being the complete DIV2K for `scales` and `splits` (empty when complete).

    Remembered per process while no file changes (name, size, mtime), so the runs of one `wdsr reproduce` read
    the image headers once.
    """
    root = Path(root)
    folders = [root / f"DIV2K_{s}_HR" for s in splits] + [root / f"DIV2K_{s}_LR_bicubic" / f"X{x}"
                                                          for s in splits for x in scales]
    key = (str(root.resolve()), tuple(scales), tuple(splits), check_sizes,
           tuple(_listing_key(f) for f in folders))
    if key not in _CHECKED:
        _CHECKED[key] = _problems(root, scales, splits, check_sizes)
    return list(_CHECKED[key])


def _listing_key(folder: Path) -> tuple | None:
    if not folder.is_dir():
        return None
    with os.scandir(folder) as entries:
        return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries))


def _problems(root: Path, scales: Sequence[int], splits: Sequence[str], check_sizes: bool) -> list[str]:
    problems: list[str] = []
    absent: list[str] = []
    for split in splits:
        ids = DIV2K_IDS[split]
        hr_dir = root / f"DIV2K_{split}_HR"
        folders = [(hr_dir, _names(ids), None)]
        folders += [(root / f"DIV2K_{split}_LR_bicubic" / f"X{s}", _names(ids, f"x{s}"), s) for s in scales]
        for folder, expected, scale in folders:
            rel = folder.relative_to(root)
            if not folder.is_dir():
                absent.append(str(rel))
                continue
            have = {p.name for p in folder.iterdir() if p.suffix.lower() == ".png"}
            missing = [n for n in expected if n not in have]
            extra = sorted(have - set(expected))
            if not have:
                problems.append(f"{rel} is empty")
            elif missing:
                problems.append(f"{rel} holds {len(expected) - len(missing)} of its {len(expected)} images "
                                f"(missing {_listing(missing)})")
            if extra:
                problems.append(f"{rel} holds images that are not DIV2K's {split} split ({_listing(extra)})")
            if missing or extra or scale is None or not check_sizes:
                continue
            wrong = []
            for lr_name, hr_name in zip(expected, _names(ids)):
                hr, lr = _size(hr_dir / hr_name), _size(folder / lr_name)
                if hr is None or lr is None or lr != (hr[0] // scale, hr[1] // scale):
                    wrong.append(f"{lr_name} is {'unreadable' if lr is None else '%dx%d' % lr}" +
                                 ("" if hr is None else f", not {hr[0] // scale}x{hr[1] // scale}"))
            if wrong:
                problems.append(f"{rel} has {len(wrong)} images whose size is not HR // {scale} ({_listing(wrong)})")
    if absent:
        problems.insert(0, f"{', '.join(absent)} {'does' if len(absent) == 1 else 'do'} not exist")
    return problems


def check_div2k(root: str | Path, scales: Sequence[int], needed_by: str,
                splits: Sequence[str] = ("train", "valid"), point: str = "--data-root or $WDSR_DATA") -> None:
    """Raise DataError, in one sentence naming every gap and the fix, unless `root` holds the complete DIV2K.

    Args:
        root: the data root (`wdsr_lib.data.sources.default_root`).
        scales: the LR scales the caller trains or evaluates at.
        needed_by: who needs it, for the message ("profile 'paper'").
        point: what the caller reads the root from, for the message (`wdsr reproduce` has no --data-root).
    """
    root = Path(root)
    problems = div2k_problems(root, scales, splits)
    if not problems:
        return
    incomplete = [p.split(" ")[0] for p in problems if not p.endswith(" not exist")]
    remove = f"remove the incomplete {', '.join(incomplete)}, then " if incomplete else ""
    scale_args = " ".join(str(s) for s in sorted(set(scales)))
    what = ", ".join(f"{s} {DIV2K_IDS[s][0]:04d}-{DIV2K_IDS[s][-1]:04d}" for s in splits)
    raise DataError(f"{needed_by} needs DIV2K under {root} ({what}, HR and LR x{scale_args.replace(' ', ', x')}), "
                    f"but {'; '.join(problems)}; {remove}run "
                    f"`wdsr data download div2k --root {root} --scales {scale_args}` (or point {point} at a "
                    "complete copy).")
