"""The `wdsr` command: models, train, eval, upscale, data, reproduce.

Every error a user can cause ends in one sentence on stderr and a non-zero exit; `--debug` shows the traceback.
`wdsr train` builds the same RunConfig a notebook builds (a profile plus overrides), so running the same command
again resumes an unfinished run or returns the stored result.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

from wdsr_lib.cli.flags import (add_run_arguments, apply_environment, config_from_args, given_flags,
                                interrupted_message, model_flags_given, reject_inapplicable)
from wdsr_lib.cli.flags import encode_checked, lossy_format, memory_hint, output_format, run_weights
from wdsr_lib.core.atomic import atomic_file, refuse_overwriting_inputs
from wdsr_lib.core.config import RunConfig
from wdsr_lib.store.runs import find_run
from wdsr_lib.study.profiles import PROFILES


def _cmd_models(args: argparse.Namespace) -> int:
    from wdsr_lib.models.table import format_table, model_table  # startup: torch only for the commands using it

    rows = [r for s in args.scales for r in model_table(s)]
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from wdsr_lib.engine.device import close_distributed  # startup: torch only for the commands using it
    from wdsr_lib.store.training import load_or_train

    cfg = config_from_args(args)
    try:
        record = load_or_train(cfg, args.results_dir, progress=not args.no_progress)
    finally:
        close_distributed()  # under torchrun; a no-op in a single process
    if record is None:  # a non-zero torchrun rank: rank 0 reports
        return 0
    s = record.summary
    verb = "trained" if record.trained else "loaded (already DONE)"
    print(f"{verb} {record.run_dir}: PSNR {s['psnr']:.3f} dB (DIV2K protocol: RGB, shave scale+6), "
          f"bicubic {s['bicubic_psnr']:.3f} dB, {s['params']:,} parameters")
    return 0


def _load_model(args: argparse.Namespace):
    """(model, scale) from `--run` (a store directory or name) or `--weights FILE` (alias `--checkpoint`)."""
    import torch  # startup: torch only for the commands using it

    from wdsr_lib.models import build
    from wdsr_lib.store.runs import check_weights, load_record

    if args.weights:
        return _load_weights_file(args)
    if args.run:
        run_dir = find_run(args.run, args.results_dir)
        if not (run_dir / "DONE").exists():
            resumable = any((run_dir / "checkpoints").glob("ckpt-*.pt"))
            raise ValueError(f"run {run_dir.name} is unfinished (no DONE marker); run its `wdsr train` command "
                             + ("again to resume and finish it." if resumable else
                                "to train it (it stopped before its first checkpoint, so it starts over)."))
        cfg = load_record(run_dir).config
        check_weights(run_dir)  # an empty model.pt, or another run's (weights.sha256), is damage
        weights = run_dir / "model.pt"
    else:  # argparse requires --run or --weights
        raise ValueError("give --run NAME or --weights FILE.")
    if not weights.exists():
        raise FileNotFoundError(f"the weights of run {run_dir.name} are missing ({weights}; model.pt is not kept "
                                f"in git); rebuild them with `wdsr rebuild {run_dir.name}`.")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0].strip()
        raise ValueError(f"{weights} is not a weights file this program can load safely ({reason.splitlines()[0]}); "
                         "give a model.pt written by `wdsr train`.") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint holds the weights under "model"
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ValueError(f"{weights} holds a {type(state).__name__}, not a dict of weight tensors (model.pt).")
    model = build(cfg.model)
    _check_weights(model, state, weights, cfg)
    model.load_state_dict(state)  # strict: every key and shape must match
    return model.eval(), cfg.model.scale


def _inference_device():
    """Where `wdsr eval` / `wdsr upscale` run the model: $WDSR_DEVICE, else this machine's GPU, else the CPU
    (`engine.device.pick_device`; a bad $WDSR_DEVICE is refused in one sentence naming it)."""
    from wdsr_lib.engine.device import pick_device  # startup: torch only for the commands using it

    return pick_device()


def _load_weights_file(args: argparse.Namespace):
    """(model, scale) from `--weights FILE`: our model.pt or checkpoint, or published EDSR-PyTorch / WDSR weights.

    The architecture is inferred from the tensors (`models.load_pretrained`); `--model`, `--scale` and the size
    flags, when given, must agree with them, and `--res-scale` (not stored in weights) overrides the preset's.
    """
    from wdsr_lib.models import load_pretrained  # startup: torch only for the commands using it

    model = load_pretrained(args.weights, name=args.model, scale=args.scale, **model_flags_given(args))
    return model, model.pretrained_config[1]


def _check_weights(model, state: dict, weights: Path, cfg: RunConfig) -> None:
    """One sentence instead of load_state_dict's page when `state` is not this model's (strict, never partial)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        first = (f"e.g. {shapes[0]} is {tuple(state[shapes[0]].shape)} in the file, {tuple(own[shapes[0]].shape)} "
                 "in the model" if shapes else f"e.g. {(missing or unexpected)[0]!r}")
        raise ValueError(f"{weights} does not hold weights of {cfg.short_name()} ({len(missing)} missing, "
                         f"{len(unexpected)} unexpected, {len(shapes)} mis-shaped tensors; {first}); give the "
                         "--model / --scale / size flags it was trained with, or use --run.")


def _cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np  # startup: numpy and torch only for the commands using them

    from wdsr_lib.data import load_pairs  # startup: torch only for the commands using it
    from wdsr_lib.data.div2k import check_div2k
    from wdsr_lib.data.sources import BENCHMARKS, check_benchmark, default_root
    from wdsr_lib.engine.evaluate import bicubic_baseline, evaluate_pairs, for_inference

    model, scale = _load_model(args)
    device = _inference_device()
    model = for_inference(model).to(device)  # folded, channels_last: same outputs to float rounding, faster
    if args.data in ("sample", "div2k"):
        if args.data == "div2k":  # a mean labelled DIV2K must be over all of 0801-0900 (wdsr_lib/data/div2k.py)
            check_div2k(default_root(args.data_root), [scale], "`wdsr eval --data div2k`", splits=("valid",))
        pairs = load_pairs(args.data, scale, "val", root=args.data_root)
    else:
        folder = args.data if args.data in BENCHMARKS else str(Path(args.data))
        pairs = load_pairs("folder", scale, "val", root=args.data_root, folder=folder)
        if args.data in BENCHMARKS:
            check_benchmark(args.data, len(pairs))
    with memory_hint(f"evaluate {args.data}", args.tile):
        rows = evaluate_pairs(model, pairs, scale, args.protocol, self_ensemble=args.self_ensemble, tile=args.tile,
                              overlap=args.tile_overlap, progress=True, device=str(device))
    bicubic = bicubic_baseline(pairs, scale, args.protocol)
    for r, b in zip(rows, bicubic):
        print(f"{r['image']:<24} PSNR {r['psnr']:8.3f}  SSIM {r['ssim']:.4f}   bicubic {b['psnr']:8.3f}")
    print(f"{'mean':<24} PSNR {np.mean([r['psnr'] for r in rows]):8.3f}  SSIM "
          f"{np.mean([r['ssim'] for r in rows]):.4f}   bicubic {np.mean([b['psnr'] for b in bicubic]):8.3f}"
          f"   ({args.protocol} protocol, x{scale}{', self-ensemble x8' if args.self_ensemble else ''})")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from wdsr_lib.data.decode import read_rgb  # startup: torch only for the commands using it
    from wdsr_lib.engine.evaluate import for_inference, sr_image_uint8

    output = Path(args.output)
    image_format = output_format(output)  # checked before the model runs, not after
    refuse_overwriting_inputs(output, [args.input, args.weights, args.run and run_weights(args)], args.force)
    model, scale = _load_model(args)
    model = for_inference(model).to(_inference_device())  # folded, channels_last: same outputs, faster
    img = read_rgb(args.input)  # uint8 (H, W, 3); names the file if it is not a readable image
    with memory_hint(f"upscale a {img.shape[1]}x{img.shape[0]} image", args.tile):
        # uint8 tile by tile: --tile bounds the memory of the whole upscale, not only of the model's passes
        out = sr_image_uint8(model, img, scale=scale, tile=args.tile, overlap=args.tile_overlap,
                             self_ensemble=args.self_ensemble)
    lossy_format(output, image_format)  # a warning when the format changes the model's pixels
    try:
        with memory_hint(f"encode a {out.shape[1]}x{out.shape[0]} image", args.tile):
            data = encode_checked(output, image_format, out)  # refused if the format resized it, warned if lossy
    except (OSError, ValueError) as exc:  # a format that cannot hold RGB
        if str(exc).startswith(f"cannot write {output}"):
            raise
        raise ValueError(f"cannot write {output}: {exc}; choose a path ending in .png (or another image "
                         "extension).") from exc
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(output) as f:  # the old file or the whole new one, never a truncated image
            f.write(data)
    except OSError as exc:  # a folder that is a file, a full disk, a format that cannot hold RGB
        blocker = next((p for p in output.parents if p.exists()), None)
        reason = (f"{blocker} is a file, not a folder" if blocker is not None and not blocker.is_dir()
                  else getattr(exc, "strerror", None) or exc)
        raise OSError(f"cannot write {output}: {reason}; choose a writable path ending in .png (or another "
                      "image extension).") from exc
    print(f"wrote {args.output}: {img.shape[1]}x{img.shape[0]} -> {out.shape[1]}x{out.shape[0]} (x{scale})")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from wdsr_lib.data import download_div2k  # startup: the data layer only for the command using it
    from wdsr_lib.data.sources import default_root

    root = default_root(args.root)
    download_div2k(root, scales=tuple(args.scales))
    print(f"DIV2K is complete under {root}")
    return 0


def _executor_options(args: argparse.Namespace) -> dict:
    """`wdsr reproduce`'s --ray-* / --slurm-* options as `executors.execute` keywords (refused with another
    executor)."""
    given = {k: v for k, v in vars(args).items() if (k.startswith("ray_") or k.startswith("slurm_")) and v is not None}
    wrong = [k for k in given if not k.startswith(args.executor + "_")]
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        verb = "does" if len(wrong) == 1 else "do"
        raise ValueError(f"{flags} {verb} not apply with --executor {args.executor}; drop them or choose the executor.")
    return given


def _cmd_reproduce(args: argparse.Namespace) -> int:
    executor_options = _executor_options(args)
    if args.list_runs:  # the run graph (wdsr_lib/study/rungraph.py): a `wdsr rebuild` / `wdsr train` line per step
        from wdsr_lib.study.plans import all_runs  # startup: the study only for the command using it
        from wdsr_lib.study.rungraph import build

        graph = build(all_runs(args.profile), args.results_dir, args.profile, estimate=args.format == "jsonl")
        for step in graph:
            print(json.dumps(step.to_json(graph.results_dir)) if args.format == "jsonl" else step.shell)
        return 0
    elif args.format != "text":
        raise ValueError("--format applies only with --list-runs.")
    from wdsr_lib.cli.pipeline import reproduce  # startup: papermill and pandas only for `wdsr reproduce`

    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}.")
    result = reproduce(args.profile, results_dir=args.results_dir, figures_dir=args.figures_dir,
                       notebooks=args.notebooks, jobs=args.jobs, store_only=args.store_only,
                       **({"executor": args.executor, "executor_options": executor_options}
                          if args.executor != "local" else {}))
    print(json.dumps(result, indent=1, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    # Global flags go before or after the command (`wdsr --debug upscale ...` = `wdsr upscale ... --debug`): the
    # commands' copy defaults to SUPPRESS, so a subparser never overwrites a value the top-level parser set.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
    parser = argparse.ArgumentParser(prog="wdsr", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", parents=[common], help="every preset with parameters and MACs (720p output)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--scales", type=int, nargs="+", default=[2], choices=[2, 3, 4])
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("train", parents=[common], help="train (or resume, or load) one run")
    add_run_arguments(p)
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train, parser=p)

    for name, func, text in (("eval", _cmd_eval, "PSNR / SSIM of a trained model on a data set"),
                             ("upscale", _cmd_upscale, "super-resolve your own image of any size")):
        p = sub.add_parser(name, parents=[common], help=text)
        if name == "upscale":
            p.add_argument("input")
            p.add_argument("output")
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--run", help="a run directory, or a run name in --results-dir")
        src.add_argument("--weights", "--checkpoint", dest="weights", metavar="FILE",
                         help="a weights file: model.pt, a training checkpoint, or published EDSR-PyTorch / WDSR "
                              "(NTIRE 2018) weights; the architecture is read from it")
        add_run_arguments(p)
        p.set_defaults(model=None, scale=None)  # with --weights: read from the file unless given
        p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
        p.add_argument("--self-ensemble", action="store_true", help="geometric x8 self-ensemble (EDSR '+')")
        p.add_argument("--tile", type=int, default=None, help="LR tile side for images that do not fit in memory")
        p.add_argument("--tile-overlap", type=int, default=None, metavar="PX",
                       help="LR context pixels per tile side (default: the model's receptive-field radius, "
                            "which makes tiled output equal untiled)")
        if name == "eval":
            p.add_argument("--data", default="sample", help="sample | div2k | Set5 | Set14 | B100 | Urban100 | DIR")
            p.add_argument("--protocol", default="benchmark", choices=["div2k", "benchmark"])
        if name == "upscale":
            p.add_argument("--force", action="store_true", help="allow the output to replace the input image")
        p.set_defaults(func=func, parser=p)

    p = sub.add_parser("data", parents=[common], help="data sets")
    dsub = p.add_subparsers(dest="data_command", required=True)
    d = dsub.add_parser("download", parents=[common], help="download a data set (resumable)")
    d.add_argument("dataset", choices=["div2k"])
    d.add_argument("--root", default=None, help="default $WDSR_DATA or ./data")
    d.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], choices=[2, 3, 4])
    d.set_defaults(func=_cmd_download)

    p = sub.add_parser("reproduce", parents=[common], help="run the notebooks of a profile (papermill)")
    p.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} (default: quick)")
    p.add_argument("--results-dir", default=None, help="the store (default: $WDSR_RESULTS_DIR or results)")
    p.add_argument("--figures-dir", default=None, help="default: $WDSR_FIGURES_DIR or figures")
    p.add_argument("--list-runs", action="store_true", help="print a `wdsr train` command per missing run")
    p.add_argument("--notebooks", nargs="+", default=None, metavar="NAME",
                   help="a subset of the notebooks, e.g. 01_table1 (default: all, in pipeline order)")
    p.add_argument("--jobs", type=int, default=1,
                   help="train this many runs at once first (each with its config's pinned thread count)")
    p.add_argument("--store-only", action="store_true",
                   help="train nothing: figures, tables, verdicts and report from the runs already in the store "
                        "(missing runs are named in the report, their verdicts inconclusive)")
    p.add_argument("--format", choices=["text", "jsonl"], default="text",
                   help="with --list-runs: text (a command per line) or jsonl (one JSON object per step: id, "
                        "command, absolute store, depends, resources, estimated seconds; docs/cluster.md)")
    p.add_argument("--executor", choices=["local", "ray", "slurm"], default="local",
                   help="what trains the runs first: local (a process pool of --jobs), ray or slurm "
                        "(docs/cluster.md; the store must be on a filesystem every node sees)")
    p.add_argument("--ray-address", default=None, metavar="ADDR", help="with --executor ray: the cluster to join")
    p.add_argument("--slurm-partition", default=None, help="with --executor slurm: the partition")
    p.add_argument("--slurm-gpus", type=int, default=None, metavar="N", help="with --executor slurm: GPUs per run")
    p.add_argument("--slurm-time", type=int, default=None, metavar="MIN",
                   help="with --executor slurm: time limit per run (default 1.5 x its cost estimate + 10 min)")
    p.add_argument("--slurm-folder", default=None, metavar="DIR",
                   help="with --executor slurm: submitit's logs (default <results-dir>/slurm)")
    p.set_defaults(func=_cmd_reproduce, parser=p)
    from wdsr_lib.study.verify import add_commands  # startup: wdsr verify, wdsr rebuild (wdsr_lib/study/verify.py)

    add_commands(sub, common)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush into a closed pipe says nothing."""

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's StringIO)
        pass


def main(argv: Optional[list[str]] = None) -> int:
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    args = build_parser().parse_args(argv)
    shown = warnings.showwarning
    if not args.debug:  # warnings (alpha dropped, 16-bit, bad checkpoint skipped) as one line each, too
        def show(message, category, filename, lineno, file=None, line=None):
            print(f"wdsr {args.command}: warning: {_one_line(message)}", file=file or sys.stderr)
        warnings.showwarning = show
    try:
        reject_inapplicable(args, given_flags(args, argv))  # flags that cannot apply: refused, never ignored
        apply_environment(args)  # $WDSR_RESULTS_DIR, $WDSR_FIGURES_DIR, $WDSR_STORE_ONLY where no flag is given
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught below, not in the interpreter's last flush
        return code
    except KeyboardInterrupt:
        print(f"wdsr {args.command}: {interrupted_message(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `wdsr reproduce --list-runs | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except Exception as exc:  # one sentence for the user; the traceback only with --debug
        if args.debug:
            raise
        kind = "" if isinstance(exc, (ValueError, OSError, RuntimeError)) else f"{type(exc).__name__}: "
        print(f"wdsr {args.command}: error: {kind}{_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
