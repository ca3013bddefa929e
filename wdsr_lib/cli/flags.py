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
            from wdsr_lib.data.sources import BENCHMARKS

            if cmd == "upscale":
                raise _refuse(["data_root"], "to `wdsr upscale`, which reads only its input image")
            if args.data not in ("div2k", *BENCHMARKS):
                raise _refuse(["data_root"], f"with --data {args.data} (only div2k and the benchmark names "
                                             f"{', '.join(BENCHMARKS)} are looked up under it)")
    elif cmd == "train" and "data_root" in given:
        from wdsr_lib.study.profiles import get_profile

        profile = get_profile(args.profile)
        if profile.data.source == "sample":
            raise _refuse(["data_root"], f"to profile {profile.name!r}, which trains on the bundled sample photos "
                                         "(DIV2K is read by --profile paper)")
    elif cmd == "reproduce" and getattr(args, "list_runs", False):
        extra = [n for n in ("notebooks", "figures_dir") if n in given]
        if extra:
            raise _refuse(extra, "with --list-runs, which only prints the `wdsr train` commands of missing runs")


def interrupted_message(args: argparse.Namespace) -> str:
    """What Ctrl-C left behind, and whether the same command resumes (only where something can be resumed)."""
    cmd = args.command
    if cmd == "train":
        try:
            from wdsr_lib.cli.main import config_from_args
            from wdsr_lib.store.runs import run_dir_for

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
    from wdsr_lib.store.runs import runs_dir

    run_dir = Path(args.run) if Path(args.run).is_dir() else runs_dir(args.results_dir) / args.run
    return run_dir / "model.pt"


_LOSSY = {"JPEG": "JPEG compression (saved at quality 95)", "GIF": "GIF's 256-colour palette",
          "WEBP": "lossy WebP compression"}


def output_format(output: Path) -> str:
    """Pillow's format name for the output's extension; ValueError naming the extension when there is none."""
    from PIL import Image

    image_format = Image.registered_extensions().get(output.suffix.lower())
    if image_format is None:
        raise ValueError(f"cannot write {output}: unknown file extension {output.suffix or '(none)'!r}; choose a "
                         "path ending in .png (or .jpg, .bmp, .tif).")
    return image_format


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
