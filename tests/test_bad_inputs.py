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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_data import random_rgb, write_png, write_png16  # noqa: E402

from wdsr_lib import cli  # noqa: E402
from wdsr_lib.data import DataError, PatchSampler, imresize, load_pairs  # noqa: E402
from wdsr_lib.engine import checkpoint as ck  # noqa: E402
from wdsr_lib.models import build_model  # noqa: E402

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


CASES = [
    Case("missing-data-root", "`wdsr eval --data div2k` with a data root that does not exist",
         lambda t: evaluate(t, "--data", "div2k", "--data-root", t / "nowhere"), "error", "DIV2K not found under",
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
    Case("lr-hr-mismatch", "DIV2K LR image whose size is not HR / scale",
         lambda t: evaluate(t, "--data", "div2k", "--data-root", fake_div2k(t)), "error", "does not match HR",
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
         lambda t: lambda: cli.ModelConfig(scale=5), "error", "ModelConfig.scale must be one of 2, 3, 4",
         "Use 2, 3 or 4."),
    Case("unknown-norm", "`ModelConfig(norm='group')` (library; the CLI's `--norm` lists the choices)",
         lambda t: lambda: cli.ModelConfig(norm="group"), "error", "ModelConfig.norm must be one of",
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
         "NaN or infinite", "Lower `--lr` (or keep weight norm); the last good checkpoint is kept, rerun resumes."),
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
         unfinished_run, "error", "is unfinished (no DONE marker)", "Rerun its `wdsr train` command: it resumes."),
    Case("unwritable-output", "`wdsr upscale` to a path inside a file",
         lambda t: ["upscale", photo(t), photo(t, name="f.png") / "out.png", "--checkpoint", weights(t), *MODEL],
         "error", "cannot write", "Choose a writable output path."),
    Case("unknown-output-format", "`wdsr upscale` to an unknown extension (out.xyz)",
         lambda t: ["upscale", photo(t), t / "out.xyz", "--checkpoint", weights(t), *MODEL], "error",
         "unknown file extension", "End the output name in .png (or .jpg, .bmp, .tif)."),
    Case("bad-tile", "`wdsr upscale --tile 0`",
         lambda t: [*upscale(t, photo(t)), "--tile", "0"], "error", "tile must be a positive number",
         "Give a positive LR tile side in pixels, or omit `--tile`."),
]


def observe(case: Case, tmp: Path) -> tuple[str, str, str]:
    """Run `case`; return (outcome, the one message line, "cli" or "library"), outcome: error, warning or ok.

    Asserts the shape promised to users: no traceback, exit 2 with exactly one error line, or exit 0.
    """
    target = case.setup(tmp)
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


def test_a_real_process_prints_one_line_and_exits_2_and_debug_shows_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "wdsr_lib.cli", *map(str, evaluate(tmp_path, "--data", tmp_path / "absent"))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    debug = subprocess.run([*argv, "--debug"], capture_output=True, text=True, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DataError" in debug.stderr


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
Faults outside the inputs (kill -9 at any moment, corrupt checkpoints, concurrent writers, a disk that fills up
during training) are covered by `tests/test_faults.py`: a rerun of the same command resumes and gives the
uninterrupted run's weights bit for bit, and nothing half-written is ever marked DONE.
"""


@pytest.mark.slow  # reruns every case
def test_catalogue_quotes_the_current_messages():
    assert DOC.read_text() == catalogue(), "docs/bad_inputs.md is stale: run `.venv/bin/python tests/test_bad_inputs.py`"


if __name__ == "__main__":
    import os

    os.environ.setdefault("WDSR_CACHE", tempfile.mkdtemp(prefix="wdsr-cache-"))
    DOC.write_text(catalogue())
    print(f"wrote {DOC} ({len(CASES)} cases)")
