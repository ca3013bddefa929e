"""The committed photo set: registry complete, splits by the stated rule, files as registered, the `photos` source."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest_data import isolated_cache, random_rgb, write_png  # noqa: F401  (autouse fixture)
from wdsr_lib.core.config import DataConfig, RunConfig
from wdsr_lib.data import DataError, SAMPLE_VAL, imresize, load_pairs, photoset
from wdsr_lib.data.photoset import PHOTOS, Photo

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tools" / "build_photos.py"
SOURCE_CACHE = Path("~/.cache/wdsr/photo-sources").expanduser()


def _build_module():
    spec = importlib.util.spec_from_file_location("build_photos", BUILD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_registry_is_complete():
    assert len(PHOTOS) == 34
    assert len({p.name for p in PHOTOS}) == 34
    for p in PHOTOS:
        assert isinstance(p, Photo)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name), p.name
        for field in ("split", "author", "licence", "package", "version", "member"):
            assert isinstance(getattr(p, field), str) and getattr(p, field).strip(), (p.name, field)
        assert re.fullmatch(r"[0-9a-f]{64}", p.source_sha256), p.name
        assert re.fullmatch(r"[0-9a-f]{64}", p.png_sha256), p.name
        assert isinstance(p.factor, int) and p.factor >= 1, p.name
        assert 0 < p.width and 0 < p.height and max(p.width, p.height) <= photoset.MAX_SIDE, p.name
        assert p.licence in photoset.LICENCE_URLS, p.name
        assert p.package in photoset.DEBIAN_PACKAGES + photoset.PYPI_PACKAGES, p.name
        assert p.member.rsplit(".", 1)[-1] in ("jpg", "png"), p.name
    assert set(photoset.NOTES) <= {p.name for p in PHOTOS}
    assert len({(p.package, p.member) for p in PHOTOS}) == 34  # no source used twice


def test_splits_follow_the_stated_rule():
    order = sorted((p.name for p in PHOTOS), key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    rule = {n: "test" if i % 17 < 8 else "train" if i % 17 < 15 else "val" for i, n in enumerate(order)}
    for p in PHOTOS:
        assert p.split == rule[p.name] == photoset.split_of(p.name), p.name
    assert Counter(p.split for p in PHOTOS) == {"test": 16, "train": 14, "val": 4}
    splits = {s: set(photoset.names(s)) for s in photoset.SPLITS}
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])
    assert not (splits["val"] & splits["test"])
    assert set().union(*splits.values()) == {p.name for p in PHOTOS}
    with pytest.raises(ValueError, match="split"):
        photoset.names("valid")


def test_committed_files_match_the_registry():
    folder = photoset.PHOTO_DIR
    assert {f.stem for f in folder.glob("*.png")} == {p.name for p in PHOTOS}
    total = 0
    for p in PHOTOS:
        data = p.path.read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == p.png_sha256, f"{p.path.name} differs from the registry"
        with Image.open(p.path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (p.width, p.height)), p.name
            assert "icc_profile" not in im.info and "exif" not in im.info, p.name
    assert total < 25e6, f"the photo set is {total / 1e6:.1f} MB"


def test_credits_list_every_photo_and_are_what_the_registry_gives():
    credits = (photoset.PHOTO_DIR / "CREDITS.md").read_text(encoding="utf-8")
    for p in PHOTOS:
        row = next(line for line in credits.splitlines() if line.startswith(f"| `{p.name}.png` |"))
        for fact in (p.split, p.author, p.licence, p.package, p.version, p.member, p.source_sha256):
            assert fact in row, (p.name, fact)
    assert "i % 17 < 8" in credits  # the split rule is stated
    assert credits == _build_module().credits_text(), "run `python tools/build_photos.py --write`"


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_photos_source_loads_each_split(split):
    pairs = load_pairs("photos", 2, split)
    assert [p.name for p in pairs] == list(photoset.names(split))
    for pair in pairs:
        reg = photoset.photo(pair.name)
        assert pair.hr.dtype == np.uint8 and pair.lr.dtype == np.uint8
        assert pair.hr.shape == (reg.height // 2 * 2, reg.width // 2 * 2, 3)
        assert pair.lr.shape == (pair.hr.shape[0] // 2, pair.hr.shape[1] // 2, 3)


def test_photos_pairs_are_the_png_cropped_with_matlab_bicubic_lr():
    pair = load_pairs("photos", 3, "val")[0]
    with Image.open(photoset.photo(pair.name).path) as im:
        png = np.asarray(im)
    np.testing.assert_array_equal(pair.hr, png[: png.shape[0] // 3 * 3, : png.shape[1] // 3 * 3])
    np.testing.assert_array_equal(pair.lr, imresize(np.asarray(pair.hr), 1 / 3))


def test_photos_cache_key_carries_the_png_hash(isolated_cache):  # noqa: F811
    load_pairs("photos", 2, "val")
    for name in photoset.names("val"):
        sha = photoset.photo(name).png_sha256
        assert (isolated_cache / f"photos-{name}-{sha[:20]}.npy").is_file()


def test_tampered_photo_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "photos"
    shutil.copytree(photoset.PHOTO_DIR, copy)
    victim = copy / f"{photoset.names('val')[1]}.png"
    with Image.open(victim) as im:  # still a valid PNG: only the registry's hash can tell
        arr = np.asarray(im).copy()
    arr[0, 0] ^= 1
    Image.fromarray(arr).save(victim)
    monkeypatch.setattr(photoset, "PHOTO_DIR", copy)
    with pytest.raises(DataError, match=rf"{victim.name}.*python tools/build_photos.py --write"):
        load_pairs("photos", 2, "val")
    victim.unlink()
    with pytest.raises(DataError, match=rf"{victim.name}.*build_photos.py --write"):
        load_pairs("photos", 2, "val")
    assert len(load_pairs("photos", 2, "train")) == 14  # the untouched split still loads


def test_test_split_is_the_held_out_set_of_the_other_sources(tmp_path):
    assert [p.name for p in load_pairs("sample", 2, "test")] == list(SAMPLE_VAL)
    for part, name in (("train", "0001"), ("valid", "0801")):
        hr = random_rgb(20, 24, seed=int(name))
        write_png(tmp_path / f"DIV2K_{part}_HR" / f"{name}.png", hr)
        write_png(tmp_path / f"DIV2K_{part}_LR_bicubic" / "X2" / f"{name}x2.png", imresize(hr, 1 / 2))
    val, test = (load_pairs("div2k", 2, s, root=str(tmp_path)) for s in ("val", "test"))
    assert [p.name for p in test] == [p.name for p in val] == ["0801"]
    np.testing.assert_array_equal(test[0].lr, val[0].lr)
    folder = str(tmp_path / "DIV2K_train_HR")
    assert [p.name for p in load_pairs("folder", 2, "test", folder=folder)] == ["0001"]


def test_photos_run_key_drops_root_like_sample():
    a = RunConfig(data=DataConfig(source="photos", root="/somewhere")).canonical()
    b = RunConfig(data=DataConfig(source="photos")).canonical()
    assert a == b and a["data"]["root"] is None and a["data"]["source"] == "photos"
    assert RunConfig(data=DataConfig(source="sample", root="/x")).canonical()["data"]["root"] is None


def test_source_hash_mismatch_is_one_sentence_naming_the_file():
    bp = _build_module()
    p = photoset.photo("kleiber")
    with pytest.raises(bp.SourceError, match=r"Kleiber_by_Lukas_Baubkus\.jpg of lomiri-wallpapers-20\.04"):
        bp.check_source(p, b"not the photo")
    assert bp.factor_for(6028, 3391) == 8 and bp.factor_for(768, 500) == 1 and bp.factor_for(769, 10) == 2


@pytest.mark.slow
def test_build_check_rebuilds_every_png_bit_for_bit():
    """Fetches the pinned sources (~80 MB, cached in ~/.cache/wdsr/photo-sources) and rebuilds all 34 PNGs."""
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not available: the Debian sources cannot be fetched here")
    proc = subprocess.run([sys.executable, str(BUILD), "--check", "--cache-dir", str(SOURCE_CACHE)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 3:
        pytest.skip(f"the package registries cannot be reached: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert "34 photos rebuilt bit for bit" in proc.stdout
