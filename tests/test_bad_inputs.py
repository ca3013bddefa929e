"""The bad-input catalogue (docs/bad_inputs.md): every case gives one clear line, never a traceback.

Each case builds its bad input in a temporary folder and runs it through `wdsr` (in-process `cli.main`, exactly
what the console script runs; one case also as a real subprocess) or through the library where no command
reaches it. The test checks the outcome (exit code 2 and one `wdsr <cmd>: error:` line; or exit 0 with a
one-line warning; or the exception type) and a key phrase of the message. docs/bad_inputs.md is generated from
the messages observed here, so it quotes the code's real words:

    .venv/bin/python tests/test_bad_inputs.py        # regenerate docs/bad_inputs.md

and `test_catalogue_quotes_the_current_messages` fails when the two drift apart.
"""
from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import tempfile
import warnings
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager, Optional, Union
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_data import random_rgb, write_div2k, write_png, write_png16  # noqa: E402
from conftest import tiny_config  # noqa: E402

from wdsr_lib.cli import main as cli  # noqa: E402
from wdsr_lib.core.atomic import atomic_write_bytes  # noqa: E402
from wdsr_lib.core.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from wdsr_lib.data import PatchSampler, imresize, load_pairs  # noqa: E402
from wdsr_lib.engine import checkpoint as ck  # noqa: E402
from wdsr_lib.models import build, build_model  # noqa: E402
from wdsr_lib.study import plans  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_inputs.md"
MODEL = ["--model", "wdsr_a", "--n-resblocks", "1", "--n-feats", "8", "--block-feats", "16"]
TRAIN = ["train", "--profile", "smoke", *MODEL, "--precision", "fp32", "--no-progress"]

Setup = Callable[[Path], Union[list, Callable[[], object]]]


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, for the catalogue
    setup: Setup  # builds the input under a temporary folder; returns `wdsr` argv, or a library call
    expect: str  # "error" (exit 2 / raises), "warning" (works, one warning line), "ok" (works silently)
    phrase: str  # a key phrase the message must contain
    fix: str  # what the user should do
    around: Optional[Callable[[Path], ContextManager]] = None  # a condition around the command (env, a fault)


def weights(tmp: Path, name: str = "wdsr_a", **kw) -> Path:
    """A weights file (state dict) of the tiny WDSR-A of MODEL, or of another model."""
    kw = kw or {"n_resblocks": 1, "n_feats": 8, "block_feats": 16}
    path = tmp / f"{name}.pt"
    torch.save(build_model(name, 2, **kw).state_dict(), path)
    return path


def photo(tmp: Path, arr: np.ndarray | None = None, name: str = "in.png") -> Path:
    return write_png(tmp / name, random_rgb(20, 24) if arr is None else arr)


def upscale(tmp: Path, image: Path) -> list:
    return ["upscale", image, tmp / "out.png", "--checkpoint", weights(tmp), *MODEL]


def evaluate(tmp: Path, *data: str) -> list:
    return ["eval", "--checkpoint", weights(tmp), *MODEL, *data]


def folder(tmp: Path, files: dict) -> Path:
    d = tmp / "hr"
    d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (d / name).write_bytes(content)
        else:
            write_png(d / name, content)
    return d


def corrupt_png(tmp: Path) -> bytes:
    good = photo(tmp, random_rgb(40, 40), "good.png").read_bytes()
    return good[: len(good) // 2]


def fake_div2k(tmp: Path, lr_size=(14, 21)) -> Path:
    """DIV2K's layout with one validation image whose LR file has the wrong size."""
    root = tmp / "div2k"
    hr = random_rgb(30, 42)
    write_png(root / "DIV2K_valid_HR" / "0801.png", hr)
    write_png(root / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png", imresize(hr, 0.5)[: lr_size[0], : lr_size[1]])
    return root


def corrupt_checkpoint(tmp: Path) -> Callable[[], object]:
    d = tmp / "checkpoints"
    ck.save_checkpoint(d, 2, {"step": 2})
    newest = ck.save_checkpoint(d, 4, {"step": 4})
    newest.write_bytes(newest.read_bytes()[:-16])
    return lambda: ck.latest_good(d)


def tiny_images_for_the_patch(tmp: Path) -> Callable[[], object]:
    d = folder(tmp, {"small.png": random_rgb(16, 16)})  # HR 16 px; the smoke patch is 12 LR = 24 HR px
    return lambda: PatchSampler(load_pairs("folder", 2, "train", folder=str(d)), 12, 2, 16, seed=0)


def unfinished_run(tmp: Path) -> list:
    run = tmp / "results" / "runs" / "wdsr_a-x2-b1-weight-s0-0123456789ab"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    return ["upscale", photo(tmp), tmp / "out.png", "--run", run]


def results_file(tmp: Path) -> list:
    (tmp / "results").write_text("a file where the results folder should be")
    return [*TRAIN, "--iterations", "2", "--results-dir", tmp / "results"]


# --- issue 15: outputs, pixel types, --init-from, complete data, flags that cannot apply, validation, messages --

TINY_A = {"name": "wdsr_a", "n_resblocks": 1, "n_feats": 8, "block_feats": 16}


def stored_run(tmp: Path, model: dict = TINY_A, *, weights: bool = True, scale: int = 2) -> Path:
    """A DONE run in `<tmp>/results` holding (random) weights of `model`: what `--run` / `--init-from` name."""
    from wdsr_lib.core.config import ModelConfig
    from wdsr_lib.study.profiles import get_profile

    m = ModelConfig(scale=scale, **model)
    cfg = get_profile("smoke").run(m)
    run = tmp / "results" / "runs" / cfg.run_name()
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "key": cfg.key()}))
    (run / "summary.json").write_text(json.dumps(dict.fromkeys(
        ("complete", "iteration", "psnr", "psnr_y", "ssim_y", "bicubic_psnr", "params", "macs_per_lr_pixel"), 1)))
    (run / "history.csv").write_text("iteration,train_loss,val_psnr,lr,seconds\n2,0.1,20.0,0.001,0.1\n")
    if weights:
        torch.save(build(m).state_dict(), run / "model.pt")
    (run / "DONE").write_text("done\n")
    return run


def tiff(tmp: Path, arr: np.ndarray, name: str) -> Path:
    Image.fromarray(arr).save(tmp / name)
    return tmp / name


def symlinked_input(tmp: Path) -> list:
    src = photo(tmp)
    (tmp / "link.png").symlink_to(src)
    return ["upscale", src, tmp / "link.png", "--checkpoint", weights(tmp), *MODEL]


def existing_output(tmp: Path) -> list:
    photo(tmp, random_rgb(4, 4), name="out.png")  # a previous result, which must survive
    return upscale(tmp, photo(tmp))


@contextlib.contextmanager
def small_disk(tmp: Path, limit: int = 4000):
    """Writes beyond `limit` bytes fail with EFBIG, as a nearly full disk fails with ENOSPC (RLIMIT_FSIZE)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def cache_is_a_file(tmp: Path):
    (tmp / "cache-file").write_text("not a folder")
    return mock.patch.dict(os.environ, {"WDSR_CACHE": str(tmp / "cache-file")})


def out_of_memory(tmp: Path):
    failure = RuntimeError("[enforce fail at alloc_cpu.cpp:114] . DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 68719476736 bytes.")
    return mock.patch("wdsr_lib.engine.evaluate.sr_forward", side_effect=failure)


def init_from(tmp: Path, source: Path, *model: str) -> list:
    return [*TRAIN[:3], *model, "--precision", "fp32", "--no-progress", "--iterations", "2",
            "--results-dir", tmp / "results", "--init-from", source.name]


def partial_div2k(tmp: Path) -> list:
    root = write_div2k(tmp / "div2k", scales=(2,), ids={"train": range(1, 4), "valid": range(801, 803)})
    return ["train", "--profile", "paper", "--data-root", root, "--results-dir", tmp / "results", "--no-progress"]


# --- issue 26: records that know who they are, verification that cannot pass vacuously ----------------------

def run_upscale(tmp: Path, run: Path) -> list:
    return ["upscale", photo(tmp), tmp / "out.png", "--run", run.name, "--results-dir", tmp / "results"]


def swapped_record(tmp: Path) -> list:
    """`cp -a runs/<x3 run> runs/<x2 run>`: the x2 folder now holds another run's record."""
    import shutil

    x2, x3 = stored_run(tmp), stored_run(tmp, scale=3)
    shutil.rmtree(x2)
    shutil.copytree(x3, x2)
    return run_upscale(tmp, x2)


def swapped_weights(tmp: Path) -> list:
    from wdsr_lib.store.runs import write_weights_digest

    run = stored_run(tmp)
    write_weights_digest(run)
    torch.save(build_model("wdsr_a", 2, n_resblocks=1, n_feats=8, block_feats=16).state_dict(), run / "model.pt")
    return run_upscale(tmp, run)


def empty_weights(tmp: Path) -> list:
    run = stored_run(tmp)
    (run / "model.pt").write_bytes(b"")
    return run_upscale(tmp, run)


def pruned_summary(tmp: Path) -> list:
    run = stored_run(tmp)
    summary = json.loads((run / "summary.json").read_text())
    del summary["psnr"]
    (run / "summary.json").write_text(json.dumps(summary))
    return run_upscale(tmp, run)


def header_only_history(tmp: Path) -> list:
    run = stored_run(tmp)
    (run / "history.csv").write_text("iteration,train_loss,val_psnr,lr,seconds\n")
    return run_upscale(tmp, run)


def verify_into(tmp: Path, scratch: Path) -> list:
    run = stored_run(tmp)
    return ["verify", "--run", run.name, "--results-dir", tmp / "results", "--scratch", scratch]


def reused_scratch(tmp: Path) -> list:
    (tmp / "scratch" / "runs" / "wdsr_a-x2-b1-weight-s0-0123456789ab").mkdir(parents=True)
    return verify_into(tmp, tmp / "scratch")


def foreign_folder(tmp: Path) -> Callable[[], object]:
    from wdsr_lib.store import runs as store

    run = stored_run(tmp)
    record = json.loads((run / "config.json").read_text())
    record["config"]["train"]["warmup"] = 100  # a field another version of the code wrote
    (run / "config.json").write_text(json.dumps(record))
    return lambda: store.collect(tmp / "results")


def cut_ledger(tmp: Path) -> Callable[[], object]:
    from wdsr_lib.store import runs as store

    (tmp / "results" / "runs").mkdir(parents=True)
    (tmp / "results" / "runs" / "ledger.jsonl").write_text('{"run": "a", "event": "train"}\n{"run": "b", "ev')
    return lambda: store.trained_runs(tmp / "results")


def frames(tmp: Path, name: str, n: int = 3) -> Path:
    """A file of `n` frames: an animated GIF / APNG / WebP or a multi-page TIFF, by the extension of `name`."""
    first, *rest = [Image.fromarray(random_rgb(20, 24, seed=i)) for i in range(n)]
    first.save(tmp / name, save_all=True, append_images=rest)
    return tmp / name


def other_formats(tmp: Path) -> Path:
    """An evaluation folder of WebP, TGA, GIF and PNG images, and one text file."""
    d = folder(tmp, {"a.png": random_rgb(20, 24, seed=1), "notes.txt": b"not an image"})
    for i, name in enumerate(("b.webp", "c.tga", "d.gif"), 2):
        Image.fromarray(random_rgb(20, 24, seed=i)).save(d / name, **({"lossless": True} if "webp" in name else {}))
    return d


def environ(**values: str) -> Callable[[Path], ContextManager]:
    """`around`: the command runs with these environment variables set."""
    return lambda t: mock.patch.dict(os.environ, values)


@contextlib.contextmanager
def no_gpu(tmp: Path):
    """$WDSR_DEVICE=cuda on a machine whose torch sees no GPU (whatever this test machine has)."""
    with mock.patch.dict(os.environ, {"WDSR_DEVICE": "cuda"}), \
            mock.patch("torch.cuda.is_available", return_value=False):
        yield


SMALL_TRAIN = [*TRAIN, "--iterations", "2"]


def garbage_source(tmp: Path) -> list:
    run = stored_run(tmp)
    (run / "model.pt").write_bytes(b"garbage, not a pickle")
    return init_from(tmp, run, *MODEL, "--scale", "4")


CASES = [
    Case("missing-data-root", "`wdsr eval --data div2k` with a data root that does not exist",
         lambda t: evaluate(t, "--data", "div2k", "--data-root", t / "nowhere"), "error", "needs DIV2K under",
         "Download DIV2K (`wdsr data download div2k --root DIR`) or point `--data-root` / `$WDSR_DATA` at it."),
    Case("missing-folder", "`wdsr eval --data DIR` with a folder that does not exist",
         lambda t: evaluate(t, "--data", t / "absent"), "error", "does not exist",
         "Check the path; benchmark names (Set5, ...) are looked up under `<root>/benchmark/<name>/HR`."),
    Case("empty-folder", "`wdsr eval --data DIR` with a folder holding no images",
         lambda t: evaluate(t, "--data", folder(t, {"notes.txt": b"no images here"})), "error", "holds no images",
         "Put HR images (.png, .jpg, .bmp, .tif) in the folder."),
    Case("corrupt-png", "a truncated PNG in an evaluation folder",
         lambda t: evaluate(t, "--data", folder(t, {"broken.png": corrupt_png(t)})), "error",
         "is a corrupt or truncated image", "Replace or delete the named file."),
    Case("non-image", "`wdsr upscale` of a text file named .png",
         lambda t: upscale(t, folder(t, {"notes.png": b"this is not a PNG"}) / "notes.png"), "error",
         "is not an image file PIL can read", "Give a PNG, JPEG, BMP or TIFF file."),
    Case("missing-image", "`wdsr upscale` of a file that does not exist",
         lambda t: upscale(t, t / "absent.png"), "error", "does not exist", "Check the path."),
    Case("16-bit-png", "`wdsr upscale` of a 16-bit RGB PNG",
         lambda t: upscale(t, write_png16(t / "deep.png", random_rgb(20, 24).astype(np.uint16) * 257)), "warning",
         "16-bit image converted to 8 bit",
         "Nothing: the image is scaled to 8 bit (the papers' models and PSNR work on 8-bit RGB)."),
    Case("grayscale", "`wdsr upscale` of a grayscale PNG",
         lambda t: upscale(t, photo(t, random_rgb(20, 24)[..., 0])), "ok", "",
         "Nothing: the gray channel is repeated into RGB, silently (no information is lost)."),
    Case("rgba", "`wdsr upscale` of an RGBA PNG",
         lambda t: upscale(t, photo(t, np.dstack([random_rgb(20, 24), np.full((20, 24), 128, np.uint8)]))),
         "warning", "dropping the alpha channel", "Nothing, unless the alpha matters: then composite it first."),
    Case("smaller-than-patch", "training images all smaller than the HR patch (library: `PatchSampler`)",
         tiny_images_for_the_patch, "error", "No image is at least 24x24 px",
         "Use larger images or a smaller `DataConfig.patch_size` (smaller images alone are skipped with a warning)."),
    Case("smaller-than-scale", "a 1x1 image in an x2 evaluation folder",
         lambda t: evaluate(t, "--data", folder(t, {"dot.png": random_rgb(1, 1)})), "error",
         "is smaller than the scale x2", "Remove the image; an HR image needs at least `scale` pixels a side."),
    Case("lr-hr-mismatch", "DIV2K LR image whose size is not HR / scale (library: `load_pairs`; the CLI's "
         "completeness check names it too)",
         lambda t: lambda: load_pairs("div2k", 2, "val", root=str(fake_div2k(t))), "error", "does not match HR",
         "Re-download the named LR file (`wdsr data download div2k`), or make it with MATLAB bicubic."),
    Case("unknown-model-cli", "`wdsr train --model nope`",
         lambda t: [*TRAIN[:3], "--model", "nope"], "error", "argument --model: invalid choice: 'nope'",
         "Use a listed name (`wdsr models` shows them with their sizes)."),
    Case("unknown-model-lib", "`build_model('nope')` (library)",
         lambda t: lambda: build_model("nope"), "error", "unknown model 'nope'", "Use a listed name."),
    Case("unsupported-scale", "`wdsr train --scale 5`",
         lambda t: [*TRAIN[:3], "--scale", "5"], "error", "argument --scale: invalid choice: 5",
         "Use 2, 3 or 4 (the papers' scales)."),
    Case("unsupported-scale-lib", "`ModelConfig(scale=5)` (library)",
         lambda t: lambda: ModelConfig(scale=5), "error", "scale must be 2, 3 or 4; got 5.",
         "Use 2, 3 or 4."),
    Case("unknown-norm", "`ModelConfig(norm='group')` (library; the CLI's `--norm` lists the choices)",
         lambda t: lambda: ModelConfig(norm="group"), "error", "ModelConfig.norm must be one of",
         "Use weight, batch or none (WDSR Sec. 3.3)."),
    Case("bad-number", "`wdsr train --n-feats 0` (any size, lr or patch that is not positive)",
         lambda t: [*TRAIN, "--n-feats", "0"], "error", "n_feats must be a positive number",
         "Give a positive value."),
    Case("zero-iterations", "`wdsr train --iterations 0`",
         lambda t: [*TRAIN, "--iterations", "0"], "error", "--iterations must be a positive number",
         "Give a positive count (omit the flag for the profile's)."),
    Case("unknown-profile", "`wdsr train --profile nope`",
         lambda t: ["train", "--profile", "nope"], "error", "unknown profile 'nope'",
         "Use smoke, quick, cpu or paper."),
    Case("nan-loss", "a learning rate that makes training diverge (`--lr 1e30`)",
         lambda t: [*TRAIN, "--iterations", "4", "--lr", "1e30", "--results-dir", t / "results"], "error",
         "NaN or infinite", "Lower `--lr` (a new run); weight norm is suggested only when it is off."),
    Case("unwritable-results", "a results directory that cannot be written (here: a file in its place)",
         results_file, "error", "cannot write the results store",
         "Free disk space or pass a writable `--results-dir`; nothing is marked DONE, rerun resumes."),
    Case("div2k-profile-without-div2k", "`wdsr train --profile paper` without DIV2K",
         lambda t: ["train", "--profile", "paper", "--data-root", t / "nowhere"], "error", "needs DIV2K under",
         "Run the printed `wdsr data download div2k` command, or pass `--data-root`."),
    Case("corrupt-checkpoint", "a truncated training checkpoint when resuming (library: `latest_good`)",
         corrupt_checkpoint, "warning", "does not match its checksum",
         "Nothing: the previous good checkpoint is used (if none is good, training restarts from 0 and says so)."),
    Case("garbage-weights", "`--checkpoint` file that is not a PyTorch file",
         lambda t: ["eval", "--checkpoint", folder(t, {"w.pt": b"garbage"}) / "w.pt", *MODEL],
         "error", "is not a weights file this program can load safely", "Give a model.pt written by `wdsr train`."),
    Case("foreign-weights", "`--checkpoint` holding another model's weights (EDSR given as WDSR-A)",
         lambda t: ["eval", "--checkpoint", weights(t, "edsr", n_resblocks=1, n_feats=8), *MODEL], "error",
         "does not hold weights of", "Give the model flags it was trained with, or use `--run`."),
    Case("not-a-state-dict", "`--checkpoint` holding a pickled list instead of weights",
         lambda t: torch.save([1, 2], t / "list.pt") or ["eval", "--checkpoint", t / "list.pt", *MODEL], "error",
         "not a dict of weight tensors", "Give a model.pt written by `wdsr train`."),
    Case("missing-weights", "`--checkpoint` that does not exist",
         lambda t: ["eval", "--checkpoint", t / "absent.pt", *MODEL], "error", "not found",
         "Check the path; model.pt is written when a run finishes."),
    Case("unfinished-run", "`wdsr upscale --run DIR` of a run that was killed before DONE",
         unfinished_run, "error", "is unfinished (no DONE marker)",
         "Rerun its `wdsr train` command: it resumes from its last checkpoint (or starts over if it had none)."),
    Case("unwritable-output", "`wdsr upscale` to a path inside a file",
         lambda t: ["upscale", photo(t), photo(t, name="f.png") / "out.png", "--checkpoint", weights(t), *MODEL],
         "error", "cannot write", "Choose a writable output path."),
    Case("unknown-output-format", "`wdsr upscale` to an unknown extension (out.xyz)",
         lambda t: ["upscale", photo(t), t / "out.xyz", "--checkpoint", weights(t), *MODEL], "error",
         "unknown file extension", "End the output name in .png (or .jpg, .bmp, .tif)."),
    Case("bad-tile", "`wdsr upscale --tile 0`",
         lambda t: [*upscale(t, photo(t)), "--tile", "0"], "error", "tile must be a positive number",
         "Give a positive LR tile side in pixels, or omit `--tile`."),
    Case("output-is-input", "`wdsr upscale same.png same.png` (the output would replace the input)",
         lambda t: upscale(t, photo(t))[:1] + [photo(t), photo(t)] + upscale(t, photo(t))[3:], "error",
         "would destroy the input", "Choose another output path; `--force` replaces the input on purpose."),
    Case("output-is-input-via-symlink", "`wdsr upscale in.png link.png` where link.png is a symlink to in.png",
         symlinked_input, "error", "would destroy the input",
         "Choose another output path (hard links and `..` spellings are caught too)."),
    Case("output-full-disk", "`wdsr upscale` onto an existing out.png while the disk fills up (here: a 4 kB "
         "file-size limit)", existing_output, "error", "cannot write",
         "Free disk space; the previous out.png is left whole and no partial file remains (the write is atomic).",
         around=small_disk),
    Case("output-without-extension", "`wdsr upscale in.png out` (no extension)",
         lambda t: ["upscale", photo(t), t / "out", "--checkpoint", weights(t), *MODEL], "error",
         "unknown file extension '(none)'", "End the output name in .png (checked before the model runs)."),
    Case("float-image", "`wdsr upscale` of a 32-bit float TIFF with values in [0, 1]",
         lambda t: upscale(t, tiff(t, np.random.default_rng(0).random((20, 24)).astype(np.float32), "f.tif")),
         "warning", "read as values in [0, 1], scaled by 255",
         "Nothing, if the values mean [0, 1] (max <= 1); values up to 255 are read as [0, 255], others refused."),
    Case("float-image-out-of-range", "`wdsr upscale` of a float TIFF with values up to 300",
         lambda t: upscale(t, tiff(t, np.full((20, 24), 300, np.float32), "f.tif")), "error",
         "which fit neither [0, 1] nor [0, 255]", "Rescale it to [0, 1] or [0, 255], or save it as 8-bit PNG."),
    Case("int32-image", "`wdsr upscale` of a 32-bit integer TIFF",
         lambda t: upscale(t, tiff(t, np.full((20, 24), 70000, np.int32), "i.tif")), "error",
         "32-bit integer pixels (mode I)", "Save it as 8- or 16-bit (PNG or TIFF)."),
    Case("cmyk-image", "`wdsr upscale` of a CMYK JPEG",
         lambda t: Image.new("CMYK", (24, 20), (0, 80, 160, 10)).save(t / "c.jpg") or upscale(t, t / "c.jpg"),
         "error", "is a CMYK image, which needs colour management",
         "Convert it to RGB with a colour-managed tool (its ICC profile), then upscale the RGB file."),
    Case("16-bit-gray", "`wdsr upscale` of a 16-bit grayscale PNG",
         lambda t: upscale(t, tiff(t, np.full((20, 24), 40000, np.uint16), "g16.png")), "warning",
         "16-bit image converted to 8 bit", "Nothing: round(v / 257), the gray repeated into RGB."),
    Case("folder-as-image", "`wdsr upscale` of a folder",
         lambda t: upscale(t, folder(t, {})), "error", "is a folder, not an image file", "Give one image file."),
    Case("init-from-other-model", "`wdsr train --model edsr --scale 4 --init-from <a WDSR-A x2 run>`",
         lambda t: init_from(t, stored_run(t), "--model", "edsr", "--scale", "4", "--n-resblocks", "1",
                             "--n-feats", "8"), "error", "whose weights are not those of this edsr",
         "Give `--init-from` a run of the same `--model` and size flags at another scale (EDSR Sec. 3.2)."),
    Case("init-from-unknown", "`wdsr train --init-from` a name that is not in the store",
         lambda t: init_from(t, stored_run(t).with_name("wdsr_a-x2-b1-typo"), *MODEL[:2], "--scale", "4",
                             *MODEL[2:]), "error", "there is no run of that name",
         "Copy the run name from `<results-dir>/runs` (the nearest name is suggested), or pass its `--results-dir`."),
    Case("init-from-without-weights", "`wdsr train --init-from` a DONE run whose model.pt is absent (fresh clone)",
         lambda t: init_from(t, stored_run(t, weights=False), *MODEL, "--scale", "4"), "error",
         "rebuild them with `wdsr rebuild", "Run the printed `wdsr rebuild <run>`, then the same `wdsr train`."),
    Case("incomplete-div2k", "`wdsr train --profile paper` with 3 train and 2 validation DIV2K images",
         partial_div2k, "error", "DIV2K_train_HR holds 3 of its 800 images",
         "Remove the incomplete folders and run the printed `wdsr data download div2k` (or point `--data-root` "
         "at a complete copy)."),
    Case("model-flags-with-run", "`wdsr upscale in.png out.png --run R --scale 4 --n-resblocks 32`",
         lambda t: ["upscale", photo(t), t / "out.png", "--run", stored_run(t), "--scale", "4", "--n-resblocks",
                    "32"], "error", "--scale, --n-resblocks do not apply with --run",
         "Drop them (the run's stored model is used), or choose a run trained with them."),
    Case("training-flag-in-eval", "`wdsr eval --run R --lr 1e-3 --seed 3`",
         lambda t: ["eval", "--run", stored_run(t), "--lr", "1e-3", "--seed", "3"], "error",
         "--seed, --lr do not apply to `wdsr eval`", "Drop them: eval and upscale use a trained model as it is."),
    Case("data-root-in-upscale", "`wdsr upscale ... --data-root d`",
         lambda t: [*upscale(t, photo(t)), "--data-root", t], "error", "--data-root does not apply to `wdsr upscale`",
         "Drop it: upscale reads only its input image."),
    Case("data-root-for-sample-profile", "`wdsr train --profile quick --data-root d`",
         lambda t: ["train", "--profile", "quick", "--data-root", t], "error",
         "--data-root does not apply to profile 'quick'", "Drop it, or train on DIV2K with `--profile paper`."),
    Case("tile-overlap-without-tile", "`wdsr upscale --tile-overlap 8` without `--tile`",
         lambda t: [*upscale(t, photo(t)), "--tile-overlap", "8"], "error", "--tile-overlap does not apply without",
         "Give `--tile` too, or drop `--tile-overlap`."),
    Case("list-runs-with-notebooks", "`wdsr reproduce --list-runs --notebooks 01_table1`",
         lambda t: ["reproduce", "--list-runs", "--notebooks", "01_table1"], "error",
         "--notebooks does not apply with --list-runs", "Drop `--notebooks` (or `--list-runs`)."),
    Case("negative-seed", "`wdsr train --seed -1`",
         lambda t: [*TRAIN, "--seed", "-1", "--results-dir", t / "results"], "error",
         "seed must be an integer from 0 to 4294967295", "Give a seed from 0 to 2**32 - 1; nothing is written."),
    Case("nan-lr", "`wdsr train --lr nan`", lambda t: [*TRAIN, "--lr", "nan"], "error",
         "argument --lr: expected a finite number, got 'nan'", "Give a positive finite learning rate."),
    Case("negative-workers", "`wdsr train --workers -1`", lambda t: [*TRAIN, "--workers", "-1"], "error",
         "--workers must be from 0 to 256", "Give 0 (load in the training process) or a positive count."),
    Case("huge-workers", "`wdsr train --workers 1e30` as an integer (before: the DataLoader forked until the "
         "machine hung)", lambda t: [*TRAIN, "--workers", str(10**30), "--results-dir", t / "results"], "error",
         "--workers must be from 0 to 256", "Give a count up to a few per CPU core; nothing was written."),
    Case("flag-the-model-lacks", "`wdsr train --model edsr --block-feats 64`",
         lambda t: [*TRAIN[:3], "--model", "edsr", "--block-feats", "64"], "error", "does not take block_feats",
         "Drop the flag: `--block-feats` is WDSR-A's (each model's flags are listed in the message)."),
    Case("run-without-weights", "`wdsr upscale --run R` of a DONE run without model.pt (weights are not in git)",
         lambda t: ["upscale", photo(t), t / "out.png", "--run", stored_run(t, weights=False)], "error",
         "rebuild them with `wdsr rebuild", "Run the printed `wdsr rebuild <run>` (retrains and checks the record)."),
    Case("unknown-run", "`wdsr upscale --run` a name that is not in the store",
         lambda t: ["upscale", photo(t), t / "out.png", "--run", "nope", "--results-dir", t / "results"], "error",
         "no run at nope", "Give a run folder, or a name from `<results-dir>/runs`."),
    Case("unwritable-cache", "`wdsr eval --data DIR` with `$WDSR_CACHE` pointing at a file",
         lambda t: evaluate(t, "--data", folder(t, {"a.png": random_rgb(20, 24)})), "error",
         "cannot write the decode cache", "Point `$WDSR_CACHE` at a writable folder with free space.",
         around=cache_is_a_file),
    Case("eval-partial-div2k", "`wdsr eval --data div2k` with 2 of the 100 validation images",
         lambda t: evaluate(t, "--data", "div2k", "--data-root",
                            write_div2k(t / "d", ids={"valid": range(801, 803)})), "error",
         "DIV2K_valid_HR holds 2 of its 100 images", "Complete DIV2K (`wdsr data download div2k`), or evaluate "
         "the images you have as a folder (`--data DIR`)."),
    Case("eval-partial-benchmark", "`wdsr eval --data Set5` with 3 of its 5 images",
         lambda t: evaluate(t, "--data", "Set5", "--data-root", t) if [
             write_png(t / "benchmark" / "Set5" / "HR" / f"{i}.png", random_rgb(20, 24, seed=i)) for i in range(3)]
         else None, "error", "Set5 holds 3 images here, not its 5",
         "Complete `<root>/benchmark/Set5/HR`, or pass the folder path to `--data` for exactly those images."),
    Case("lossy-output", "`wdsr upscale in.png out.jpg`",
         lambda t: ["upscale", photo(t), t / "out.jpg", "--checkpoint", weights(t), *MODEL], "warning",
         "JPEG compression (saved at quality 95) changes the result",
         "Nothing, if a JPEG is what you want; end the name in .png for the model's exact output."),
    Case("init-from-path", "`wdsr train --init-from results/runs/<run>` (a path instead of the run name)",
         lambda t: init_from(t, stored_run(t), *MODEL, "--scale", "4")[:-1] + [stored_run(t, scale=3)], "error",
         "must be the name of a run in the same store, not a path",
         "Give the folder name only: runs are looked up in `--results-dir`."),
    Case("swapped-record", "`cp -a runs/<x3 run> runs/<x2 run>`, then `wdsr upscale --run <x2 run>`",
         swapped_record, "error", "its folder name says",
         "Move the folder away and retrain it, or restore it from git and `wdsr rebuild` its weights."),
    Case("swapped-weights", "another run's `model.pt` copied into a run folder (weights.sha256 differs)",
         swapped_weights, "error", "its model.pt does not match weights.sha256",
         "`wdsr rebuild <run>` recreates the run's own weights (it rebuilds a damaged model.pt)."),
    Case("empty-weights", "an empty `model.pt` in a run folder, then `wdsr upscale --run`", empty_weights, "error",
         "its model.pt is empty", "`wdsr rebuild <run>` recreates the weights."),
    Case("pruned-summary", "a DONE run whose summary.json lost `psnr`, then `wdsr upscale --run`", pruned_summary,
         "error", "summary.json lacks psnr",
         "Restore the record from git (or retrain it); it is damaged, not missing."),
    Case("header-only-history", "a DONE run whose history.csv is only its header", header_only_history,
         "error", "history.csv holds no rows",
         "Restore the record from git (or retrain it); it is damaged, not missing."),
    Case("verify-inf-tolerance", "`wdsr verify --tolerance inf`",
         lambda t: ["verify", "--tolerance", "inf", "--results-dir", t / "results"], "error",
         "must be a finite number >= 0", "Give a finite tolerance, or none: the level is chosen per run."),
    Case("verify-scratch-store", "`wdsr verify --scratch <the store itself>`",
         lambda t: verify_into(t, t / "results"), "error", "is the store",
         "Give a new folder outside the store (or no --scratch: a temporary one)."),
    Case("verify-scratch-reused", "`wdsr verify --scratch DIR` with DIR/runs from an earlier verify",
         reused_scratch, "error", "already holds retrained runs", "Give a new or empty folder."),
    Case("foreign-run-folder", "a DONE folder whose config.json has a field this code does not know (library: "
         "`store.collect`, every reproduce)", foreign_folder, "warning", "written by another version of this code",
         "Move it out of the store; everything else is read (it is skipped)."),
    Case("cut-ledger-line", "`runs/ledger.jsonl` whose last line was cut short (library: `store.trained_runs`)",
         cut_ledger, "warning", "is not a whole JSON line", "Nothing: the line is skipped."),
    Case("eval-other-formats", "`wdsr eval --data DIR` with WebP, TGA and GIF images besides a PNG, and a text "
         "file", lambda t: evaluate(t, "--data", other_formats(t)), "warning", "skipped 1 file in no image format",
         "Nothing: every format `wdsr upscale` reads is evaluated (4 images here); other files are counted."),
    Case("animated-gif", "`wdsr upscale` of an animated GIF (3 frames)",
         lambda t: upscale(t, frames(t, "anim.gif")), "error", "holds 3 frames (an animated GIF)",
         "Save the frame(s) you want as PNG and upscale each; the first frame alone is never taken silently."),
    Case("apng", "`wdsr upscale` of an animated PNG (APNG)", lambda t: upscale(t, frames(t, "anim.png", 2)),
         "error", "holds 2 frames (an animated PNG, APNG)", "Save the frame(s) you want as still PNGs."),
    Case("multi-page-tiff", "`wdsr eval --data DIR` holding a 3-page TIFF",
         lambda t: evaluate(t, "--data", frames(folder(t, {}), "pages.tif").parent), "error",
         "holds 3 frames (a multi-page TIFF)", "Save each page as its own file."),
    Case("icon-output", "`wdsr upscale in.png out.ico` (ICO would store a resized icon)",
         lambda t: ["upscale", photo(t), t / "out.ico", "--checkpoint", weights(t), *MODEL], "error",
         "ICO holds icons of at most 256x256 px", "End the name in .png (`.icns` and `.cur` are refused too)."),
    Case("pdf-output", "`wdsr upscale in.png out.pdf`",
         lambda t: ["upscale", photo(t), t / "out.pdf", "--checkpoint", weights(t), *MODEL], "warning",
         "PDF's JPEG compression of its images changes the result",
         "Nothing, if a PDF is what you want; end the name in .png for the model's exact output."),
    Case("avif-output", "`wdsr upscale in.png out.avif` (any format that changes pixels: each output is read "
         "back and compared)", lambda t: ["upscale", photo(t), t / "out.avif", "--checkpoint", weights(t), *MODEL],
         "warning", "the AVIF format changes the result", "End the name in .png for the exact pixels."),
    Case("compile-2", "`WDSR_COMPILE=2 wdsr train ...` (a switch that is neither on nor off)",
         lambda t: [*SMALL_TRAIN, "--results-dir", t / "results"], "error", "$WDSR_COMPILE must be 1 or 0",
         "Set it to 1 (compile) or 0, or unset it.", around=environ(WDSR_COMPILE="2")),
    Case("device-banana", "`WDSR_DEVICE=banana wdsr train ...`",
         lambda t: [*SMALL_TRAIN, "--results-dir", t / "results"], "error",
         "$WDSR_DEVICE must name a torch device", "Give cpu, cuda or cuda:N, or unset it; nothing was written.",
         around=environ(WDSR_DEVICE="banana")),
    Case("device-cuda-without-gpu", "`WDSR_DEVICE=cuda wdsr train ...` where torch sees no GPU",
         lambda t: [*SMALL_TRAIN, "--results-dir", t / "results"], "error", "$WDSR_DEVICE is 'cuda', but",
         "Unset it (the CPU is used), or run where a GPU is; nothing was written.", around=no_gpu),
    Case("device-banana-upscale", "`WDSR_DEVICE=banana wdsr upscale ...` (eval and upscale ignored the variable "
         "before)", lambda t: upscale(t, photo(t)), "error", "$WDSR_DEVICE must name a torch device",
         "Give cpu, cuda or cuda:N, or unset it (eval and upscale then use the GPU if there is one, else the CPU).",
         around=environ(WDSR_DEVICE="banana")),
    Case("device-cuda-eval-without-gpu", "`WDSR_DEVICE=cuda wdsr eval ...` where torch sees no GPU",
         lambda t: evaluate(t, "--data", "sample"), "error", "$WDSR_DEVICE is 'cuda', but",
         "Unset it (the CPU is used), or run where a GPU is.", around=no_gpu),
    Case("world-without-torchrun", "`WORLD_SIZE=2 wdsr train ...` without torchrun",
         lambda t: [*SMALL_TRAIN, "--results-dir", t / "results"], "error",
         "$WORLD_SIZE is 2 but $MASTER_ADDR / $MASTER_PORT are unset",
         "Start it with the printed torchrun command, or unset WORLD_SIZE.",
         around=environ(WORLD_SIZE="2", MASTER_ADDR="", MASTER_PORT="")),
    Case("rank-without-world", "`RANK=1 wdsr train ...` without a world (no torchrun)",
         lambda t: [*SMALL_TRAIN, "--results-dir", t / "results"], "error", "$RANK is 1 but $WORLD_SIZE is 1",
         "Unset RANK; nothing was written (before: exit 0, weights without a record).",
         around=environ(RANK="1", WORLD_SIZE="")),
    Case("store-only-with-jobs", "`wdsr reproduce --store-only --jobs 4`",
         lambda t: ["reproduce", "--profile", "smoke", "--store-only", "--jobs", "4", "--results-dir",
                    t / "results"], "error", "--jobs does not apply with --store-only, which trains nothing",
         "Drop `--jobs` (it only sets how many runs train at once)."),
    Case("verify-run-with-profile", "`wdsr verify --run R --profile quick`",
         lambda t: ["verify", "--run", stored_run(t).name, "--profile", "quick", "--results-dir", t / "results"],
         "error", "--profile selects runs and does not apply to --run NAME", "Give one or the other."),
    Case("profile-variable-with-command", "`WDSR_PROFILE=quick wdsr reproduce --list-runs --profile smoke`",
         lambda t: ["reproduce", "--list-runs", "--profile", "smoke", "--results-dir", t / "results"], "warning",
         "$WDSR_PROFILE (quick) applies to the notebooks' profile parameter only",
         "Nothing: the command's `--profile` is used; unset the variable to silence the line.",
         around=environ(WDSR_PROFILE="quick")),
    Case("wdsr-b-tiny-expansion", "`wdsr train --model wdsr_b --expansion 0.001` (0 channels: SIGFPE before)",
         lambda t: [*TRAIN[:3], "--model", "wdsr_b", "--n-resblocks", "1", "--expansion", "0.001", "--results-dir",
                    t / "results"], "error", "gives the 1x1 expansion int(64 x 0.001) = 0 channels",
         "Give an expansion from 1/n_feats to 4096/n_feats (the paper's 6); nothing is written."),
    Case("huge-width", "`wdsr train --n-feats 100000` (a 360 GB allocation before)",
         lambda t: [*TRAIN[:3], "--n-feats", "100000", "--results-dir", t / "results"], "error",
         "must be from 1 to 4,096 channels", "Give a width the papers' range suggests (32 to 256)."),
    Case("huge-depth", "`wdsr train --model edsr --n-resblocks 1000000`",
         lambda t: [*TRAIN[:3], "--model", "edsr", "--n-resblocks", "1000000", "--results-dir", t / "results"],
         "error", "--n-resblocks must be from 1 to", "Give fewer blocks (the papers use 16 to 80)."),
    Case("huge-res-scale", "`wdsr train --res-scale 1e30` (before: a NaN loss, blamed on the learning rate)",
         lambda t: [*SMALL_TRAIN, "--res-scale", "1e30", "--results-dir", t / "results"],
         "error", "ModelConfig.res_scale (--res-scale) must be above 0 and at most 10",
         "Give 1 (the baselines) or 0.1 (EDSR's large model); nothing was written."),
    Case("repeated-seeds", "a notebook run with `seeds = [0, 0, 0]` (papermill `-y`; library: `plans.table1`)",
         lambda t: lambda: plans.table1("smoke", [0, 0, 0]), "error",
         "a repeated seed is the same run counted twice", "Give distinct seeds, e.g. `-y \"seeds: [0, 1, 2]\"`."),
    Case("no-seeds", "a notebook run with `-y \"seeds: []\"` (library: `plans.table1`; `KeyError: 'blocks'` before)",
         lambda t: lambda: plans.table1("smoke", []), "error", "seeds is empty",
         "Give at least one seed, or leave `seeds = None` for the profile's."),
    Case("store-only-paper-without-div2k", "`wdsr reproduce --profile paper --store-only` without DIV2K",
         lambda t: ["reproduce", "--profile", "paper", "--store-only", "--results-dir", t / "results"], "error",
         "with --store-only (pictures of the stored models) needs DIV2K under nowhere (valid 0801-0900",
         "Only the 100 validation images are needed (nothing trains); point `$WDSR_DATA` at them.",
         around=environ(WDSR_DATA="nowhere")),
    Case("init-from-garbage", "`wdsr train --init-from R` whose model.pt is garbage (raw UnpicklingError before)",
         garbage_source, "error", "/model.pt cannot be read (UnpicklingError",
         "Run the printed `wdsr rebuild <run>`: it recreates the source's weights."),
    Case("iterations-1e30", "`TrainConfig(iterations=1e30)` (library; a notebook's `-y \"iterations: 1.0e+30\"`)",
         lambda t: lambda: RunConfig(train=TrainConfig(iterations=1e30)),
         "error", "TrainConfig.iterations must be a whole number from 1 to 1,000,000,000",
         "Give a whole number of iterations."),
    Case("results-dir-file-reproduce", "`wdsr reproduce --results-dir <a file>` ([Errno 17] before)",
         lambda t: (t / "f").write_text("x") and ["reproduce", "--profile", "smoke", "--store-only",
                                                  "--results-dir", t / "f"], "error",
         "/f: it is a file, not a folder; give --results-dir a folder",
         "Give `--results-dir` a folder (created if missing)."),
    Case("stdin-input", "`wdsr upscale - out.png` (\"Image file - does not exist\" before)",
         lambda t: ["upscale", "-", t / "out.png", "--checkpoint", weights(t), *MODEL], "error",
         "cannot read the image from standard input ('-')", "Save the image to a file and give its path."),
    Case("decompression-bomb", "`wdsr upscale` of an image above Pillow's decompression-bomb limit (here lowered to "
         "1000 px)", lambda t: upscale(t, photo(t, random_rgb(40, 60))), "error",
         "in.png declares an image too large to decode safely",
         "Split a genuine huge image into parts and upscale each.",
         around=lambda t: mock.patch.object(Image, "MAX_IMAGE_PIXELS", 1000)),
    Case("full-disk-names-the-file", "a full disk under any atomic write (library: `atomic_write_bytes`; the "
         "figures, tables, claims and records of `wdsr reproduce`; here a 4 kB file-size limit)",
         lambda t: lambda: atomic_write_bytes(t / "table.csv", b"x" * 9000),
         "error", "table.csv", "Free disk space; the previous file is left whole.", around=small_disk),
    Case("empty-weights-file", "`wdsr upscale --weights empty.pt` (a 0-byte file; `EOFError` before)",
         lambda t: (t / "empty.pt").write_bytes(b"") or ["upscale", photo(t), t / "out.png", "--weights",
                                                         t / "empty.pt"], "error", "empty.pt is empty (0 bytes)",
         "Give a model.pt written by `wdsr train`."),
    Case("out-of-memory", "`wdsr upscale` of an image too large for memory (simulated allocator failure)",
         lambda t: upscale(t, photo(t)), "error", "pass --tile 256 (or smaller)",
         "Pass `--tile 256` (smaller if needed): tiles give the same result.", around=out_of_memory),
]


def observe(case: Case, tmp: Path) -> tuple[str, str, str]:
    """Run `case`; return (outcome, the one message line, "cli" or "library"), outcome: error, warning or ok.

    Asserts the shape promised to users: no traceback, exit 2 with exactly one error line, or exit 0.
    """
    target = case.setup(tmp)
    with case.around(tmp) if case.around else contextlib.nullcontext():
        return _observe(target)


def _observe(target) -> tuple[str, str, str]:
    if callable(target):  # a library call
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                target()
            except (ValueError, RuntimeError, OSError) as exc:
                assert "\n" not in str(exc)
                return "error", f"{type(exc).__name__}: {exc}", "library"
        messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        return ("warning", f"UserWarning: {messages[0]}", "library") if messages else ("ok", "", "library")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            code = cli.main([str(a) for a in target])
        except SystemExit as exit_:  # argparse: a usage line, then one error line, exit 2
            code = exit_.code
    lines = err.getvalue().strip().splitlines()
    assert "Traceback" not in err.getvalue()
    errors = [line for line in lines if re.match(r"wdsr [a-z ]+: error: ", line)]
    warns = [line for line in lines if re.match(r"wdsr [a-z ]+: warning: ", line)]
    if code == 0:
        return ("warning", warns[0], "cli") if warns else ("ok", "", "cli")
    assert code == 2 and len(errors) == 1, (code, lines)
    return "error", errors[0], "cli"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gives_one_clear_line(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the repository, whatever a case does
    outcome, message, _ = observe(case, tmp_path)
    assert outcome == case.expect, message
    assert case.phrase in message
    if message.startswith("wdsr train: error:"):  # a failed training left no run folder and no ledger line
        for runs in tmp_path.rglob("runs"):
            assert all((d / "DONE").exists() for d in runs.iterdir() if d.is_dir()), list(runs.iterdir())
            assert not (runs / "ledger.jsonl").exists()


def test_a_full_disk_keeps_the_previous_output_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = next(c for c in CASES if c.id == "output-full-disk")
    before = None

    def setup(t):
        nonlocal before
        argv = existing_output(t)
        before = (t / "out.png").read_bytes()
        return argv

    assert observe(replace(case, setup=setup), tmp_path)[0] == "error"
    assert (tmp_path / "out.png").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_input_survives_an_upscale_onto_itself_and_force_replaces_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = upscale(tmp_path, photo(tmp_path))
    src = tmp_path / "in.png"
    before = src.read_bytes()
    with contextlib.redirect_stderr(io.StringIO()):
        assert cli.main([str(a) for a in [argv[0], src, src, *argv[3:]]]) == 2
    assert src.read_bytes() == before
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main([str(a) for a in [argv[0], src, src, *argv[3:], "--force"]]) == 0
    assert Image.open(src).size == (48, 40)  # the x2 result replaced the 24x20 input, as asked


@pytest.mark.parametrize("argv, said", [
    (["upscale", "a.png", "b.png", "--weights", "w.pt"], "interrupted; nothing was written."),
    ([*TRAIN, "--results-dir", "results"], "interrupted before the first checkpoint; nothing was kept"),
    (["reproduce", "--profile", "smoke"], "runs already DONE are kept and unfinished ones resume"),
])
def test_ctrl_c_promises_a_resume_only_where_there_is_one(tmp_path, monkeypatch, argv, said):
    monkeypatch.chdir(tmp_path)
    interrupt = mock.Mock(side_effect=KeyboardInterrupt)
    monkeypatch.setattr(cli, {"upscale": "_cmd_upscale", "train": "_cmd_train", "reproduce": "_cmd_reproduce"}
                        [argv[0]], interrupt)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main([str(a) for a in argv]) == 130
    assert said in err.getvalue() and "run the same command again to resume" not in err.getvalue()


def test_a_real_process_prints_one_line_and_exits_2_and_debug_shows_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "wdsr_lib.cli", *map(str, evaluate(tmp_path, "--data", tmp_path / "absent"))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    debug = subprocess.run([*argv, "--debug"], capture_output=True, text=True, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DataError" in debug.stderr


# --- issue 26, round three: inputs read completely or refused -------------------------------------------------

def test_an_image_replaced_with_its_old_mtime_is_not_served_from_the_decode_cache(tmp_path, monkeypatch):
    """`cp new.bmp old.bmp && touch -r saved old.bmp`: same path, size and mtime, other pixels (issue 26)."""
    monkeypatch.setenv("WDSR_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "hr" / "a.bmp"
    image.parent.mkdir()
    Image.fromarray(random_rgb(20, 24, seed=1)).save(image)
    stat = image.stat()
    first = load_pairs("folder", 2, "val", folder=str(image.parent))[0].hr.copy()
    Image.fromarray(random_rgb(20, 24, seed=2)).save(image)  # BMP: the same size in bytes
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert image.stat().st_size == stat.st_size and image.stat().st_mtime_ns == stat.st_mtime_ns
    second = load_pairs("folder", 2, "val", folder=str(image.parent))[0].hr
    np.testing.assert_array_equal(second, random_rgb(20, 24, seed=2))
    assert not np.array_equal(first, second)


def test_eval_reads_every_format_upscale_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main([str(a) for a in evaluate(tmp_path, "--data", other_formats(tmp_path))]) == 0
    rows = [line.split()[0] for line in out.getvalue().splitlines()]
    assert rows == ["a", "b", "c", "d", "mean"]  # PNG, WebP, TGA, GIF


def test_wdsr_results_dir_is_the_store_of_every_command(tmp_path, monkeypatch):
    """`WDSR_RESULTS_DIR=/x wdsr train` trained into ./results (issue 26); the README's table says every command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WDSR_RESULTS_DIR", str(tmp_path / "elsewhere"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main([str(a) for a in SMALL_TRAIN]) == 0
    assert not (tmp_path / "results").exists()
    (run,) = [d for d in (tmp_path / "elsewhere" / "runs").iterdir() if d.is_dir()]
    assert (run / "DONE").exists()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):  # upscale finds it there too
        assert cli.main(["upscale", str(photo(tmp_path)), str(tmp_path / "out.png"), "--run", run.name]) == 0
    assert "wrote" in out.getvalue()


def test_wdsr_store_only_and_figures_dir_apply_to_reproduce(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WDSR_STORE_ONLY", "1")
    monkeypatch.setenv("WDSR_FIGURES_DIR", str(tmp_path / "figs"))
    seen = {}
    monkeypatch.setattr("wdsr_lib.cli.pipeline.reproduce", lambda profile, **kw: seen.update(kw) or {})
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["reproduce", "--profile", "smoke"]) == 0
    assert seen["store_only"] is True and seen["figures_dir"] == str(tmp_path / "figs")


def test_an_explicit_papermill_parameter_wins_over_wdsr_profile(monkeypatch, capsys):
    """`WDSR_PROFILE=smoke papermill -p profile quick`: papermill's injected cell is explicit; it wins, said."""
    from types import SimpleNamespace

    from wdsr_lib.study import notebook_env

    monkeypatch.setenv("WDSR_PROFILE", "smoke")
    shell = SimpleNamespace(user_ns={"In": ["", 'profile = "quick"\n', '# Parameters\nprofile = "quick"\n']})
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    assert notebook_env.profile_from_env("quick") == "quick"
    assert "papermill was given profile = 'quick' explicitly" in capsys.readouterr().out
    shell.user_ns["In"] = ["", 'profile = "quick"\n']  # nbval: the notebook's default parameter
    assert notebook_env.profile_from_env("quick") == "smoke"
    assert "$WDSR_PROFILE (smoke) replaces this notebook's profile parameter ('quick')" in capsys.readouterr().out


def test_seeds_given_as_text_by_papermill_p_are_read_as_the_list():
    as_text = plans.table1("smoke", "[0, 1]")  # papermill -p seeds "[0, 1]" passes the text
    assert [r.config.run_name() for r in as_text] == [r.config.run_name() for r in plans.table1("smoke", [0, 1])]
    with pytest.raises(ValueError, match="must be a list of seeds"):
        plans.table1("smoke", 3)


def test_store_only_needs_only_the_validation_images_and_names_no_missing_flag(tmp_path, monkeypatch):
    from wdsr_lib.cli import pipeline
    from wdsr_lib.study.plans import all_runs
    from wdsr_lib.study.profiles import get_profile

    monkeypatch.setenv("WDSR_DATA", str(tmp_path))
    scales = tuple(sorted({cfg.model.scale for cfg in all_runs("paper")}))
    write_div2k(tmp_path, scales=scales, ids={"valid": range(801, 901)})
    pipeline.check_data(get_profile("paper"), store_only=True)  # no training images: fine, nothing trains
    with pytest.raises(ValueError) as err:
        pipeline.check_data(get_profile("paper"))
    assert "DIV2K_train_HR" in str(err.value) and "--data-root" not in str(err.value)


def test_list_runs_into_a_closed_pipe_exits_0_quietly(tmp_path):
    """`wdsr reproduce --list-runs | head`: the reader closed the pipe; exit 0, nothing on stderr (was exit 2)."""
    argv = [sys.executable, "-m", "wdsr_lib.cli", "reproduce", "--list-runs", "--profile", "quick",
            "--results-dir", str(tmp_path / "results")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdout.close()  # before the first line is written: its write meets a closed pipe
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0 and stderr == ""


@pytest.mark.parametrize("ensemble", [False, True])
def test_upscale_by_tiles_in_uint8_equals_the_untiled_result(ensemble):
    from wdsr_lib.engine.evaluate import sr_forward, sr_image_uint8
    from wdsr_lib.engine.metrics import quantize

    torch.manual_seed(0)
    model = build_model("wdsr_a", 2, n_resblocks=1, n_feats=8, block_feats=16).eval()
    img = random_rgb(37, 29, seed=3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    whole = quantize(sr_forward(model, x, self_ensemble=ensemble))[0].permute(1, 2, 0).numpy().astype(np.uint8)
    img.flags.writeable = False  # as read_rgb's arrays and the decode cache's memory maps are
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "non-writable NumPy array" warning would reach the user
        tiled = sr_image_uint8(model, img, tile=8, self_ensemble=ensemble)
    assert tiled.dtype == np.uint8 and np.array_equal(tiled, whole)


def test_tiles_bound_the_memory_of_the_whole_upscale(tmp_path):
    """`upscale --tile` kept a float copy of the whole output and three rounding temporaries (6 GB peak for
    6000x6000 at x2, issue 26): now the output is uint8, filled tile by tile. Measured as the growth of the peak
    RSS over an upscale of a 1500x1500 image (its x2 output in float: 108 MB; in uint8: 27 MB)."""
    image = write_png(tmp_path / "big.png", np.random.default_rng(0).integers(0, 256, (1500, 1500, 3), np.uint8))
    code = f"""
import resource, sys
from wdsr_lib.cli import main as cli
from wdsr_lib.data.decode import read_rgb
read_rgb({str(image)!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert cli.main(["upscale", {str(image)!r}, {str(tmp_path / 'out.bmp')!r}, "--weights", {str(weights(tmp_path))!r},
                 "--tile", "128"]) == 0
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    grown_mb = int(proc.stdout.strip().splitlines()[-1])
    assert grown_mb < 250, f"the peak grew by {grown_mb} MB"  # 356 MB before, 131 MB after (this 2-core box)


def test_verify_says_when_wdsr_compile_cannot_apply_to_a_record(monkeypatch):
    from wdsr_lib.study.verify import _say_if_compile_cannot_apply

    eager = tiny_config()
    monkeypatch.setenv("WDSR_COMPILE", "1")
    with pytest.warns(UserWarning, match=r"\$WDSR_COMPILE \(1\) does not apply here"):
        _say_if_compile_cannot_apply(eager)
    compiled = replace(eager, train=replace(eager.train, compile=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _say_if_compile_cannot_apply(compiled)  # the record's own setting: nothing to say
        monkeypatch.delenv("WDSR_COMPILE")
        _say_if_compile_cannot_apply(eager)  # unset: nothing to say


def test_verify_says_when_wdsr_device_cannot_apply_and_keeps_one_that_can(monkeypatch):
    from wdsr_lib.study.verify import _device_of

    monkeypatch.setenv("WDSR_DEVICE", "cuda:1")
    with pytest.warns(UserWarning, match=r"\$WDSR_DEVICE \(cuda:1\) does not apply here"):
        with _device_of({"device": "cpu"}):
            assert os.environ["WDSR_DEVICE"] == "cpu"
    assert os.environ["WDSR_DEVICE"] == "cuda:1"
    monkeypatch.setenv("WDSR_DEVICE", "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _device_of({"device": "cpu"}):
            assert os.environ["WDSR_DEVICE"] == "cpu"


# --- the catalogue ---------------------------------------------------------------------------------------------

def _normalise(message: str, tmp: Path) -> str:
    return message.replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>")


def catalogue() -> str:
    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as d, contextlib.chdir(d):
            outcome, message, via = observe(case, Path(d))
        shown = {"error": "exit 2" if via == "cli" else "raises", "warning": "works, warns", "ok": "works"}[outcome]
        text = f"`{_normalise(message, Path(d))}`" if message else "(no message)"
        rows.append(f"| {len(rows) + 1} | {case.what} | {shown} | {text.replace('|', '&#124;')} | {case.fix} |")
    return HEADER + "\n".join(rows) + "\n" + FOOTER


HEADER = """# Bad inputs: what `wdsr` says, and what to do

Generated by `.venv/bin/python tests/test_bad_inputs.py` from the messages the code really produces
(`tests/test_bad_inputs.py` checks each case, and that this file still quotes them). `<tmp>` stands for the
folder of the case. Every error is one line on stderr, `wdsr <command>: error: ...`, and exit code 2; warnings
are one line each, `wdsr <command>: warning: ...`; `--debug` shows the full traceback instead. Argument errors
(unknown `--model`, `--scale`, `--norm`) come from argparse: its usage line, then one error line, exit 2. Cases
marked "(library)" are reached from Python (notebooks, `wdsr_lib` calls), where the same sentence is the
exception's message.

| # | bad input | outcome | message | what to do |
|---|---|---|---|---|
"""

FOOTER = """
Guarantees behind these messages (`tests/test_atomic.py`, `tests/test_preflight.py`, `tests/test_decode_modes.py`):

- **Nothing lost.** Every file a command writes (upscaled images, the store's records, model.pt, checkpoints, the
  decode cache, tables, claims, figures) is written to a temp file in its own folder and renamed into place
  (`wdsr_lib/core/atomic.py`): a full disk, Ctrl-C or kill leaves the previous file whole and no partial new one.
  An output that is one of the command's inputs (by name, symlink, hard link or `..` spelling) is refused unless
  `--force`. An executed notebook replaces the last good copy only when its execution succeeds (a failed one is
  kept as `<notebook>.FAILED.ipynb`, and a full disk inside papermill names the notebook); a ledger line that
  cannot be appended after a run is stored is a warning, not a lost run (`tests/test_atomic_outputs.py`,
  `tests/test_store.py`).
- **Nothing silently wrong.** Every pixel type Pillow opens is decoded by the rule in `wdsr_lib/data/decode.py` or
  refused naming its mode; `--init-from` transfers every tensor the two scales share or fails; a profile that
  names DIV2K gets all of it (0001-0800, 0801-0900, LR exactly HR // scale) or does not start; flags that cannot
  apply are refused, never ignored. `wdsr eval --data DIR` reads every format `wdsr upscale` reads and counts
  the files it skips; files of several frames are refused, never read as their first frame; an output format
  that would store another size is refused, one that changes pixels is named in a warning (each output of an
  unfamiliar format is read back and compared); the decode cache is keyed by the file's bytes, not its mtime.
- **Variables as documented.** Every `WDSR_*` variable applies to the commands docs/usage.md's table names, or is
  refused (or warned about) in a sentence naming it; a bad value, a missing GPU or a torchrun variable without
  torchrun stops the command before anything is written.
- **Validation before the store is touched** (`wdsr_lib/store/preflight.py`): a bad setting leaves no run folder and no
  ledger line; a run that fails before its first checkpoint removes its folder; `store.trained_runs()` and the
  ledger list only runs trained to DONE.
- **Counts that are this command's own**: every process, Ray task and Slurm job a `wdsr reproduce` starts tags
  the ledger line of a run it trains with that reproduce's `$WDSR_SESSION`, so two reproduces sharing a store
  each report only the runs they trained (the other's are "loaded").
- **Messages name the fix**: a process that waits for another one's lock on the same run prints once
  `waiting: process <pid> is training <run> ...`, then waits; Ctrl-C says "the same command resumes" only where a
  checkpoint (or a finished run, or a partial download) is there to resume from.

Faults outside the inputs (kill -9 at any moment, corrupt checkpoints, concurrent writers, a disk that fills up
during training) are covered by `tests/test_faults.py`: a rerun of the same command resumes and gives the
uninterrupted run's weights bit for bit, and nothing half-written is ever marked DONE.
"""


@pytest.mark.slow  # reruns every case
def test_catalogue_quotes_the_current_messages():
    stale = "docs/bad_inputs.md is stale: run `.venv/bin/python tests/test_bad_inputs.py`"
    assert DOC.read_text() == catalogue(), stale


if __name__ == "__main__":
    import os

    os.environ.setdefault("WDSR_CACHE", tempfile.mkdtemp(prefix="wdsr-cache-"))
    DOC.write_text(catalogue())
    print(f"wrote {DOC} ({len(CASES)} cases)")
