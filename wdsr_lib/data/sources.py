"""Sources of aligned (LR, HR) uint8 RGB image pairs: embedded sample photos, the committed photo set, DIV2K, or
any HR folder.

Every pair follows the papers' protocol (EDSR Sec. 4.1, WDSR Sec. 4, docs/protocols.md, docs/data.md): the HR image
is cropped top-left-anchored to a multiple of the scale, and the LR image is exactly HR / scale in size, made by
MATLAB's bicubic ``imresize`` (or, for DIV2K, the MATLAB-made LR images shipped with the data set).
Arrays are read-only memory maps from the decode cache (``cache.py``), so 800 DIV2K images cost no RAM.

Layouts under ``root`` (default ``$WDSR_DATA``, else ``./data``):
    DIV2K_train_HR/0001.png ... 0800.png          DIV2K_train_LR_bicubic/X2/0001x2.png ...
    DIV2K_valid_HR/0801.png ... 0900.png          DIV2K_valid_LR_bicubic/X2/0801x2.png ...
    benchmark/{Set5,Set14,B100,Urban100}/HR/*.png (EDSR-PyTorch's benchmark layout; LR made here)

Splits: "train", "val" and "test". The photo set ("photos", ``photoset.py``: 34 natural photographs committed as
PNG, 14 train / 4 val / 16 test by a fixed rule on their names) has three disjoint splits: "val" is validated during
training, "test" is scored only at the end of a run. The other sources have one held-out set, so for them "test"
returns exactly what "val" returns (sample: SAMPLE_VAL; div2k: 0801-0900; folder: the folder).

Deviation: numbers on the sample photos and the photo set are not comparable with DIV2K numbers (docs/data.md).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from wdsr_lib.core import env
from wdsr_lib.core.text import plural
from wdsr_lib.data import photoset
from wdsr_lib.data.cache import cached_array, decode_cached, file_key, lr_key
from wdsr_lib.data.decode import IMAGE_SUFFIXES, readable_suffixes
from wdsr_lib.data.errors import DataError
from wdsr_lib.data.imresize import imresize

# The scikit-image photos (skimage.data, no download needed). Validation holds two varied scenes (a cat's fur,
# a table top with a cup); all the others train. stereo_motorcycle contributes its left view only.
SAMPLE_TRAIN: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "stereo_motorcycle",
)
SAMPLE_VAL: tuple[str, ...] = ("chelsea", "coffee")
BENCHMARKS: tuple[str, ...] = ("Set5", "Set14", "B100", "Urban100")
BENCHMARK_SIZES: dict[str, int] = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}  # images per set
SPLITS: tuple[str, ...] = ("train", "val", "test")  # "test" = "val" for every source but "photos"


@dataclass(frozen=True)
class ImagePair:
    """One aligned training / evaluation pair: ``hr`` is (s*h, s*w, 3), ``lr`` is (h, w, 3), uint8 in [0, 255]."""

    name: str
    lr: np.ndarray
    hr: np.ndarray


def default_root(root: Optional[str] = None) -> Path:
    """The data root: the argument, else ``$WDSR_DATA``, else ``./data``."""
    return Path(root if root is not None else env.get("WDSR_DATA"))


def check_benchmark(name: str, found: int) -> None:
    """Raise DataError unless all of benchmark `name` was found: a mean labelled Set5 is over the whole set."""
    if found != BENCHMARK_SIZES[name]:
        raise DataError(f"{name} holds {found} images here, not its {BENCHMARK_SIZES[name]}; complete "
                        f"<root>/benchmark/{name}/HR (a mean over part of it is not the {name} number), or "
                        "pass the folder path to --data to evaluate exactly those images.")


def crop_to_scale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Top-left-anchored crop of ``hr`` so both sides are multiples of ``scale`` (a view, no copy)."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return hr[:h, :w]


def _make_pair(name: str, hr: np.ndarray, key: str, scale: int, cache_dir: Optional[str]) -> ImagePair:
    """Crop ``hr`` and pair it with its cached MATLAB-bicubic LR image."""
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise DataError(f"Image {name!r} ({hr.shape[1]}x{hr.shape[0]} px) is smaller than the scale x{scale}; "
                        "remove it or use a smaller scale.")
    hr = crop_to_scale(hr, scale)
    lr = cached_array(lr_key(key, scale), lambda: imresize(np.asarray(hr), 1 / scale), cache_dir)
    return ImagePair(name=name, lr=lr, hr=hr)


def _sample_image(name: str) -> np.ndarray:
    import skimage.data  # startup: scikit-image takes a second to import; only the sample source needs it

    img = getattr(skimage.data, name)()
    return img[0] if name == "stereo_motorcycle" else img  # (left, right, disparity)


def _sample_pairs(scale: int, split: str, cache_dir: Optional[str]) -> list[ImagePair]:
    import skimage  # startup: scikit-image takes a second to import; only the sample source needs it

    names = SAMPLE_TRAIN if split == "train" else SAMPLE_VAL
    pairs = []
    for name in names:
        key = f"sample-{name}-skimage{skimage.__version__}"
        hr = cached_array(key, lambda name=name: _sample_image(name), cache_dir)
        pairs.append(_make_pair(name, hr, key, scale, cache_dir))
    return pairs


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image  # startup: Pillow only where an image is read

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _photo_pairs(scale: int, split: str, cache_dir: Optional[str]) -> list[ImagePair]:
    """The committed photos of one split (photoset.PHOTOS), each checked against its registry sha256."""
    pairs = []
    for name in photoset.names(split):
        p = photoset.photo(name)
        path = photoset.PHOTO_DIR / f"{name}.png"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"Photo {path} cannot be read ({exc.strerror or exc}); rebuild the photo set with "
                            "`python tools/build_photos.py --write`.") from exc
        if hashlib.sha256(data).hexdigest() != p.png_sha256:
            raise DataError(f"Photo {path} is not the file the registry names (its sha256 differs from "
                            f"{p.png_sha256[:12]}...); restore it with `git checkout` or rebuild the photo set with "
                            "`python tools/build_photos.py --write`.")
        key = f"photos-{name}-{p.png_sha256[:20]}"  # the content's hash: a changed file is never served stale
        hr = cached_array(key, lambda data=data: _decode_png(data), cache_dir)  # the bytes just checked
        pairs.append(_make_pair(name, hr, key, scale, cache_dir))
    return pairs


def _image_files(folder: Path, warn: bool = False) -> list[Path]:
    """The image files of `folder`: every extension Pillow reads (`decode.readable_suffixes`: what `wdsr upscale`
    reads, WebP, GIF, TGA, ... too), sorted; with `warn`, the other files are counted in one warning, never
    skipped silently."""
    readable = readable_suffixes()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in readable]
    others = [p.name for p in files if p.suffix.lower() not in readable]
    if warn and images and others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        n, used = len(others), len(images)
        warnings.warn(f"{folder}: skipped {plural(n, 'file')} in no image format this program reads "
                      f"({shown}); {used} image{'s are' if used > 1 else ' is'} used.", stacklevel=3)
    return images


def _folder_pairs(folder: Path, scale: int, cache_dir: Optional[str]) -> list[ImagePair]:
    if not folder.is_dir():
        raise DataError(
            f"Image folder {folder} does not exist; pass a folder of HR images, or one of {', '.join(BENCHMARKS)} "
            f"laid out as <root>/benchmark/<name>/HR/*.png."
        )
    files = _image_files(folder, warn=True)
    if not files:
        raise DataError(f"Image folder {folder} holds no images (expected {', '.join(IMAGE_SUFFIXES)} files, or "
                        "any other format Pillow reads: .webp, .gif, .tga, ...).")
    keys = [file_key(f) for f in files]  # by content: one read of each file (cache.py)
    return [_make_pair(f.stem, decode_cached(f, cache_dir, k), k, scale, cache_dir) for f, k in zip(files, keys)]


def _div2k_missing(root: Path, scale: int) -> DataError:
    return DataError(
        f"DIV2K not found under {root}: expected {root}/DIV2K_train_HR/0001.png, "
        f"{root}/DIV2K_train_LR_bicubic/X{scale}/0001x{scale}.png and the DIV2K_valid_* twins "
        f"(0801-0900); download it with `wdsr data download div2k --root {root}`."
    )


def _div2k_pairs(root: Path, scale: int, split: str, cache_dir: Optional[str]) -> list[ImagePair]:
    part = "train" if split == "train" else "valid"  # official split: train 0001-0800, valid 0801-0900 (val, test)
    hr_dir = root / f"DIV2K_{part}_HR"
    lr_dir = root / f"DIV2K_{part}_LR_bicubic" / f"X{scale}"
    if not hr_dir.is_dir() or not lr_dir.is_dir():
        raise _div2k_missing(root, scale)
    files = [f for f in _image_files(hr_dir) if f.suffix.lower() == ".png"]
    if not files:
        raise DataError(f"{hr_dir} holds no PNG images; download DIV2K with `wdsr data download div2k --root {root}`.")
    pairs = []
    for f in files:
        lr_file = lr_dir / f"{f.stem}x{scale}.png"
        if not lr_file.is_file():
            raise DataError(f"DIV2K LR image {lr_file} for {f.name} is missing.")
        hr = crop_to_scale(decode_cached(f, cache_dir), scale)
        lr = decode_cached(lr_file, cache_dir)
        if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
            raise DataError(
                f"DIV2K pair {f.name} / {lr_file.name}: LR {lr.shape[1]}x{lr.shape[0]} times x{scale} does not "
                f"match HR {hr.shape[1]}x{hr.shape[0]} (cropped to a multiple of {scale})."
            )
        pairs.append(ImagePair(name=f.stem, lr=lr, hr=hr))
    return pairs


def load_pairs(
    source: str,
    scale: int,
    split: str,
    root: Optional[str] = None,
    folder: Optional[str] = None,
    cache_dir: Optional[str] = None,
) -> list[ImagePair]:
    """Load the aligned (LR, HR) pairs of one split of one source.

    Args:
        source: "sample" (skimage photos, split SAMPLE_TRAIN / SAMPLE_VAL), "photos" (the committed photo set,
            splits photoset.names(split)), "div2k" (official layout under ``root``, train 0001-0800 / val 0801-0900,
            shipped MATLAB LR) or "folder" (HR images, LR made here).
        scale: super-resolution factor s (2, 3, 4, ...); LR side = HR side / s.
        split: "train", "val" or "test"; "test" is "val" for every source but "photos"; ignored by "folder",
            where the folder is the split.
        root: data root for "div2k" and the benchmark names (default ``$WDSR_DATA``, else ``./data``).
        folder: for "folder": a path, or one of "Set5", "Set14", "B100", "Urban100" (= <root>/benchmark/<name>/HR).
        cache_dir: decode cache (default ``$WDSR_CACHE``, else ``~/.cache/wdsr``).

    Raises:
        DataError: missing or bad data, in one sentence that says how to fix it.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"load_pairs scale must be a positive integer; got {scale!r}.")
    if split not in SPLITS:
        raise ValueError(f"load_pairs split must be one of {SPLITS}; got {split!r}.")
    if source not in LOADERS:
        raise ValueError(f"load_pairs source must be one of {tuple(LOADERS)}; got {source!r}.")
    return LOADERS[source](scale, split, root, folder, cache_dir)


def _resolve_folder(folder: Optional[str], root: Optional[str]) -> Path:
    if folder is None:
        raise ValueError("load_pairs(source='folder') needs folder= (a path or one of Set5, Set14, B100, Urban100).")
    if folder in BENCHMARKS:
        return default_root(root) / "benchmark" / folder / "HR"
    return Path(folder)


# The loader of each source of `wdsr_lib.core.registry.DATA_SOURCES`: (scale, split, root, folder, cache_dir) ->
# pairs (tests/test_registries.py checks that every registered source has one).
LOADERS: dict[str, Callable[..., list[ImagePair]]] = {
    "sample": lambda scale, split, root, folder, cache_dir: _sample_pairs(scale, split, cache_dir),
    "photos": lambda scale, split, root, folder, cache_dir: _photo_pairs(scale, split, cache_dir),
    "div2k": lambda scale, split, root, folder, cache_dir: _div2k_pairs(default_root(root), scale, split, cache_dir),
    "folder": lambda scale, split, root, folder, cache_dir: _folder_pairs(_resolve_folder(folder, root), scale,
                                                                          cache_dir),
}
