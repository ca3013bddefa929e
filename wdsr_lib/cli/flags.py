"""The run flags of `wdsr train` / `eval` / `upscale` and their RunConfig; which flags a command line gave, and the
ones that cannot apply there (rejected, never ignored).

The model flags are made from the model registry (`wdsr_lib.core.registry.HYPERPARAMETERS`: one flag per
hyperparameter, its type and help from there), so a new model's setting is a flag without an edit here.

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
import io
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from wdsr_lib.core import env
from wdsr_lib.core.config import LOSSES, MAX_WORKERS, PRECISIONS, SCALES, ModelConfig, RunConfig
from wdsr_lib.core.registry import HYPERPARAMETERS, model_names
from wdsr_lib.store.runs import find_run, run_dir_for
from wdsr_lib.study.commands import TRAIN_FLAGS, flag
from wdsr_lib.study.profiles import PROFILES, get_profile

_UNSET = object()

TRAINING_ONLY = ("profile", "seed", "iterations", *TRAIN_FLAGS, "workers")
MODEL_FLAGS = ("model", "scale", *HYPERPARAMETERS)


def _finite(value: str) -> float:
    """argparse type for float flags: `float` accepts 'nan' and 'inf', which no setting can use."""
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


def _bool_flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _model_flag(p: argparse.ArgumentParser, h) -> None:
    """The flag of one registry hyperparameter; absent, the model's paper default applies."""
    help_text = f"{h.help} (default: the model's)"
    if h.kind is bool:
        p.add_argument(h.flag, type=_bool_flag, default=None, metavar="BOOL", help=help_text)
    elif h.choices:
        p.add_argument(h.flag, choices=h.choices, default=None, help=help_text)
    else:
        p.add_argument(h.flag, type=_finite if h.kind is float else h.kind, default=None, help=help_text)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} (default: quick)")
    p.add_argument("--model", default="wdsr_a", choices=model_names())
    p.add_argument("--scale", type=int, default=2, choices=list(SCALES))
    for h in HYPERPARAMETERS.values():
        _model_flag(p, h)
    p.add_argument("--seed", type=int, default=None, help="default: the profile's first seed")
    p.add_argument("--iterations", type=int, default=None, help="default: the profile's")
    p.add_argument("--lr", type=_finite, default=None, help="default: 1e-3 with weight norm, 1e-4 without")
    p.add_argument("--loss", choices=list(LOSSES), default=None)
    p.add_argument("--precision", choices=list(PRECISIONS), default=None,
                   help="default fp32 (the papers'); bf16/fp16 autocast only on request")
    p.add_argument("--init-from", default=None, help="name of a finished run in the same store (x4 from x2)")
    p.add_argument("--eval-self-ensemble", type=_bool_flag, default=None, metavar="BOOL")
    p.add_argument("--data-root", default=None, help="DIV2K / benchmark root (default $WDSR_DATA or ./data)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of a `wdsr train` command line: the profile's settings plus the given overrides."""
    profile = get_profile(args.profile)
    if args.iterations is not None and args.iterations <= 0:  # name the flag, not TrainConfig's field
        raise ValueError(f"--iterations must be a positive number; got {args.iterations}.")
    if args.workers is not None and not 0 <= args.workers <= MAX_WORKERS:
        raise ValueError(f"--workers must be from 0 to {MAX_WORKERS}; got {args.workers:,}.")
    model = ModelConfig(name=args.model, scale=args.scale, **{name: getattr(args, name) for name in HYPERPARAMETERS})
    train = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    cfg = profile.run(model, args.seed, iterations=args.iterations, **train)
    data = {k: v for k, v in (("root", args.data_root), ("workers", args.workers)) if v is not None}
    return replace(cfg, data=replace(cfg.data, **data)) if data else cfg


def model_flags_given(args: argparse.Namespace) -> dict:
    """{hyperparameter: value} of the model flags given (for `--weights FILE`, which reads the rest from it)."""
    return {name: getattr(args, name) for name in HYPERPARAMETERS if getattr(args, name, None) is not None}


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
    """Raise ValueError naming every given flag that `args.command` would ignore, or a profile that is not one."""
    cmd = args.command
    if cmd in ("train", "reproduce"):
        get_profile(args.profile)  # "unknown profile 'x'; choose one of ...", before anything else runs
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
            from wdsr_lib.data.sources import BENCHMARKS  # startup: the data package loads torch

            if cmd == "upscale":
                raise _refuse(["data_root"], "to `wdsr upscale`, which reads only its input image")
            if args.data not in ("div2k", *BENCHMARKS):
                raise _refuse(["data_root"], f"with --data {args.data} (only div2k and the benchmark names "
                                             f"{', '.join(BENCHMARKS)} are looked up under it)")
    elif cmd == "train" and "data_root" in given:
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
    """The variables table (`wdsr_lib/core/env.py`, docs/usage.md) for every command: `$WDSR_RESULTS_DIR` is the
    store of each command that reads or writes one when `--results-dir` is not given (train, eval, upscale, reproduce,
    verify, rebuild), `$WDSR_FIGURES_DIR` the figure folder of `wdsr reproduce`, and `$WDSR_STORE_ONLY=1` makes
    `wdsr reproduce` store-only (refused with the flags that train). `$WDSR_PROFILE` is the notebooks' override
    only: a command's `--profile` is its own, so a different `$WDSR_PROFILE` gets one warning, not silence."""
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
    return find_run(args.run, args.results_dir, must_exist=False) / "model.pt"


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
    from PIL import Image  # startup: `wdsr --help` stays light; PIL only to name the output format

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
    import numpy as np  # startup: numpy and Pillow only for `wdsr upscale`
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
