"""Which `wdsr` flags a command line gave, and the ones that cannot apply there (rejected, never ignored).

`wdsr eval` / `wdsr upscale` share the run flags of `wdsr train` so that `--weights FILE` can name an
architecture, but a trained model is used as it is: a training flag (`--lr`, `--seed`, ...) changes nothing
there, and with `--run` the stored run's own model is used, so `--scale 4` or `--n-resblocks 32` would be silently
ignored. Such flags are refused in one sentence that names them (`docs/bad_inputs.md`). Also: `--data-root` where no
data is read, `--results-dir` with `--weights`, `--tile-overlap` without `--tile`, `reproduce --list-runs` with
`--notebooks` / `--figures-dir`.
Also the messages that name what fixes a failure: Ctrl-C (resume only where there is something to resume) and
running out of memory (`--tile`).
"""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Optional, Sequence

_UNSET = object()

TRAINING_ONLY = ("profile", "seed", "iterations", "lr", "loss", "precision", "init_from", "eval_self_ensemble",
                 "workers")
MODEL_FLAGS = ("model", "scale", "n_resblocks", "n_feats", "res_scale", "block_feats", "expansion", "low_rank",
               "norm", "low_rank_relu", "mean_shift")


def flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def given_flags(args: argparse.Namespace, argv: Sequence[str]) -> set[str]:
    """The destinations of the options written on the command line (not left at their defaults).

    The command's own parser (`args.parser`, set by `cli.build_parser`) parses its part of `argv` again with
    every default replaced by a sentinel; whatever is not the sentinel was given.
    """
    sub: Optional[argparse.ArgumentParser] = getattr(args, "parser", None)
    if sub is None or args.command not in argv:
        return set()
    rest = list(argv[list(argv).index(args.command) + 1:])
    sub.set_defaults(**{k: _UNSET for k in vars(args) if k not in ("func", "parser", "command")})
    probe, _ = sub.parse_known_args(rest)
    return {k for k, v in vars(probe).items() if v is not _UNSET and k not in ("func", "parser", "command")}


def _refuse(names: Sequence[str], why: str) -> ValueError:
    listed = ", ".join(flag(n) for n in names)
    verb = "does" if len(names) == 1 else "do"
    return ValueError(f"{listed} {verb} not apply {why}; drop {'it' if len(names) == 1 else 'them'}.")


def reject_inapplicable(args: argparse.Namespace, given: set[str]) -> None:
    """Raise ValueError naming every given flag that `args.command` would ignore."""
    cmd = args.command
    if cmd in ("eval", "upscale"):
        training = [n for n in TRAINING_ONLY if n in given]
        if training:
            raise _refuse(training, f"to `wdsr {cmd}`, which uses a trained model as it is (they set how a run "
                                    "is trained)")
        model = [n for n in MODEL_FLAGS if n in given]
        if model and getattr(args, "run", None):
            raise _refuse(model, "with --run, which uses the stored run's own model (to use another model, give "
                                 "--run a run trained with these settings, or --weights FILE)")
        if "results_dir" in given and getattr(args, "weights", None):
            raise _refuse(["results_dir"], "with --weights FILE (only --run looks runs up in the store)")
        if "tile_overlap" in given and getattr(args, "tile", None) is None:
            raise _refuse(["tile_overlap"], "without --tile (an untiled image needs no overlap)")
        if "data_root" in given:
            from .data.sources import BENCHMARKS

            if cmd == "upscale":
                raise _refuse(["data_root"], "to `wdsr upscale`, which reads only its input image")
            if args.data not in ("div2k", *BENCHMARKS):
                raise _refuse(["data_root"], f"with --data {args.data} (only div2k and the benchmark names "
                                             f"{', '.join(BENCHMARKS)} are looked up under it)")
    elif cmd == "train" and "data_root" in given:
        from .profiles import get_profile

        profile = get_profile(args.profile)
        if profile.data.source == "sample":
            raise _refuse(["data_root"], f"to profile {profile.name!r}, which trains on the bundled sample photos "
                                         "(DIV2K is read by --profile paper)")
    elif cmd == "reproduce" and getattr(args, "list_runs", False):
        extra = [n for n in ("notebooks", "figures_dir", "store_only", "jobs") if n in given]
        if extra:
            raise _refuse(extra, "with --list-runs, which only prints the `wdsr train` commands of missing runs")
    elif cmd == "reproduce" and getattr(args, "store_only", False):
        extra = [n for n in ("jobs", "executor") if n in given]
        if extra:
            raise _refuse(extra, "with --store-only, which trains nothing (they choose how missing runs are "
                                 "trained)")


def apply_environment(args: argparse.Namespace) -> None:
    """The README's variables table (`wdsr_lib/env.py`) for every command: `$WDSR_RESULTS_DIR` is the store of
    each command that reads or writes one when `--results-dir` is not given (train, eval, upscale, reproduce,
    verify, rebuild), `$WDSR_FIGURES_DIR` the figure folder of `wdsr reproduce`, and `$WDSR_STORE_ONLY=1` makes
    `wdsr reproduce` store-only (refused with the flags that train). `$WDSR_PROFILE` is the notebooks' override
    only: a command's `--profile` is its own, so a different `$WDSR_PROFILE` gets one warning, not silence."""
    import warnings

    from . import env

    if hasattr(args, "results_dir") and args.results_dir is None:
        args.results_dir = env.get("WDSR_RESULTS_DIR")
    if hasattr(args, "figures_dir") and args.figures_dir is None:
        args.figures_dir = env.get("WDSR_FIGURES_DIR")
    if args.command == "reproduce" and not args.store_only and env.get_flag("WDSR_STORE_ONLY"):
        if args.jobs != 1 or args.executor != "local":
            raise ValueError("$WDSR_STORE_ONLY=1 makes `wdsr reproduce` train nothing, so --jobs / --executor cannot "
                             "apply; unset it (or drop them).")
        args.store_only = True
    for name, what in (("results_dir", "the results store"), ("figures_dir", "the figure folder")):
        folder = getattr(args, name, None)
        if folder and Path(folder).exists() and not Path(folder).is_dir():  # not [Errno 17] later, mid-run
            if name == "results_dir" and args.command in ("eval", "upscale") and not getattr(args, "run", None):
                continue  # --weights: no store is read
            raise ValueError(f"cannot write {what} at {folder}: it is a file, not a folder; give {flag(name)} a "
                             "folder (it is created if missing).")
    for name, what in (("input", "read the image from standard input"), ("output", "write to standard output")):
        if getattr(args, name, None) == "-":
            raise ValueError(f"`wdsr {args.command}` cannot {what} ('-'); give the path of an image file"
                             + (" ending in .png." if name == "output" else " (save it to a file first)."))
    profile = env.get("WDSR_PROFILE")
    if profile and getattr(args, "profile", None) and profile != args.profile and args.command in (
            "train", "reproduce", "verify"):
        warnings.warn(f"$WDSR_PROFILE ({profile}) applies to the notebooks' profile parameter only; `wdsr "
                      f"{args.command}` uses its --profile, {args.profile}.", stacklevel=2)


def interrupted_message(args: argparse.Namespace) -> str:
    """What Ctrl-C left behind, and whether the same command resumes (only where something can be resumed)."""
    cmd = args.command
    if cmd == "train":
        try:
            from .cli import config_from_args
            from .store import run_dir_for

            run_dir = run_dir_for(config_from_args(args), args.results_dir)
        except Exception:  # the command line itself was bad: nothing started
            return "interrupted; nothing was trained."
        checkpoints = sorted((run_dir / "checkpoints").glob("ckpt-*.pt"))
        if checkpoints:
            return (f"interrupted; {run_dir.name} keeps its checkpoint {checkpoints[-1].name}, so the same command "
                    "resumes from there.")
        return "interrupted before the first checkpoint; nothing was kept, the same command starts the run again."
    if cmd == "reproduce":
        return "interrupted; runs already DONE are kept and unfinished ones resume, so the same command continues."
    if cmd == "data":
        return "interrupted; the same command resumes the download where it stopped."
    return "interrupted; nothing was written."


def run_weights(args: argparse.Namespace) -> Path:
    """The model.pt that `--run` names (a run directory, or a run name in --results-dir)."""
    from .store import runs_dir

    run_dir = Path(args.run) if Path(args.run).is_dir() else runs_dir(args.results_dir) / args.run
    return run_dir / "model.pt"


_LOSSY = {"JPEG": "JPEG compression (saved at quality 95)", "GIF": "GIF's 256-colour palette",
          "WEBP": "lossy WebP compression", "PDF": "PDF's JPEG compression of its images",
          "MPO": "JPEG compression (MPO is JPEG)"}
# Formats that store 8-bit RGB exactly as given (each checked by reading it back): not re-read on every upscale.
_EXACT = {"PNG", "BMP", "DIB", "TIFF", "PPM", "TGA", "QOI", "SGI", "IM", "PCX", "DDS", "JPEG2000"}
# Formats that would store another size than the model's output: refused before the model runs.
_RESIZING = {"ICO": "ICO holds icons of at most 256x256 px", "ICNS": "ICNS holds icons of fixed square sizes",
             "CUR": "CUR holds cursors of at most 256x256 px"}


def output_format(output: Path) -> str:
    """Pillow's format name for the output's extension; ValueError naming the extension when there is none."""
    from PIL import Image

    image_format = Image.registered_extensions().get(output.suffix.lower())
    if image_format is None:
        raise ValueError(f"cannot write {output}: unknown file extension {output.suffix or '(none)'!r}; choose a "
                         "path ending in .png (or .jpg, .bmp, .tif).")
    if image_format in _RESIZING:
        raise ValueError(f"cannot write {output}: {_RESIZING[image_format]}, so the upscaled image would be stored "
                         "resized, not as the model made it; choose a path ending in .png (or .jpg, .bmp, .tif).")
    return image_format


def encode_checked(output: Path, image_format: str, pixels) -> bytes:
    """The encoded output file, read back where Pillow can: refused when the format stored another size, one
    warning when it changed pixels (`lossy_format` warns for the known lossy formats before any encoding)."""
    import io
    import warnings

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    data = buf.getvalue()
    if image_format in _LOSSY or image_format in _EXACT:  # known: warned before, or checked once (no re-decode)
        return data
    try:
        with Image.open(io.BytesIO(data)) as back:
            size, stored = back.size, np.asarray(back.convert("RGB"))
    except Exception:  # a format Pillow writes but cannot read back: nothing to compare
        return data
    if size != (pixels.shape[1], pixels.shape[0]):
        raise ValueError(f"cannot write {output}: the {image_format} format stored {size[0]}x{size[1]} px instead of "
                         f"{pixels.shape[1]}x{pixels.shape[0]}; choose a path ending in .png (or .jpg, .bmp, .tif).")
    if not np.array_equal(stored, pixels):
        share = float(np.mean(np.any(stored != pixels, axis=2)))
        warnings.warn(f"{output}: the {image_format} format changes the result ({share:.0%} of the pixels differ "
                      "once read back); end the name in .png for the exact pixels.", stacklevel=2)
    return data


def lossy_format(output: Path, image_format: str) -> None:
    """Warn (one line) when the output format changes the model's pixels: not silently."""
    if image_format in _LOSSY:
        import warnings

        warnings.warn(f"{output}: {_LOSSY[image_format]} changes the result; end the name in .png for the "
                      "exact pixels.", stacklevel=2)


@contextlib.contextmanager
def memory_hint(what: str, tile: Optional[int]):
    """Turn an out-of-memory failure into one sentence that names --tile, the flag that fixes it."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        text = str(exc).lower()
        if not isinstance(exc, MemoryError) and "out of memory" not in text and "can't allocate" not in text:
            raise
        smaller = f"a smaller --tile than {tile}" if tile else "--tile 256 (or smaller)"
        raise RuntimeError(f"not enough memory to {what} in one piece; pass {smaller}, which processes the "
                           "image in LR tiles with the same result.") from exc
