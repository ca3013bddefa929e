"""The `wdsr` command: train/resume/load, upscale a real photo, eval, one-sentence errors, models table."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from wdsr_lib.cli import main as cli
from wdsr_lib.store.runs import runs_dir
from wdsr_lib.study.commands import train_command

TINY = ["--profile", "quick", "--model", "edsr", "--n-resblocks", "1", "--n-feats", "32", "--norm", "weight",
        "--precision", "fp32", "--no-progress"]


def wdsr(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "wdsr_lib.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """An EDSR of one 32-feature block, trained briefly (800 iterations of the quick profile's 16 px LR patches) on the
    photos."""
    results = tmp_path_factory.mktemp("results")
    wdsr("train", *TINY, "--iterations", "800", "--results-dir", results)
    (run,) = [p for p in runs_dir(results).iterdir() if p.is_dir()]
    return results, run


@pytest.mark.slow
def test_briefly_trained_model_beats_bicubic_on_the_validation_photos(trained_run):
    _, run = trained_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["psnr"] > summary["bicubic_psnr"], summary


@pytest.mark.slow
def test_same_train_command_again_returns_the_stored_result(trained_run):
    results, run = trained_run
    out = wdsr("train", *TINY, "--iterations", "800", "--results-dir", results).stdout
    assert out.startswith("loaded (already DONE)") and run.name in out


@pytest.mark.slow
def test_upscale_a_real_photo_of_any_size(trained_run, tmp_path):
    import skimage.data

    results, run = trained_run
    photo = skimage.data.coffee()[:123, :201]  # odd sizes
    Image.fromarray(photo).save(tmp_path / "in.png")
    wdsr("upscale", tmp_path / "in.png", tmp_path / "out.png", "--run", run.name, "--results-dir", results)
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (246, 402, 3) and out.dtype == np.uint8
    wdsr("upscale", tmp_path / "in.png", tmp_path / "tiled.png", "--run", run, "--tile", "40", "--self-ensemble")
    assert np.asarray(Image.open(tmp_path / "tiled.png")).shape == (246, 402, 3)


@pytest.mark.slow
def test_eval_prints_per_image_and_mean(trained_run):
    results, run = trained_run
    out = wdsr("eval", "--run", run, "--data", "sample", "--protocol", "benchmark").stdout
    assert "chelsea" in out and "coffee" in out and "benchmark protocol" in out


@pytest.mark.parametrize("args, message", [
    (["train", "--profile", "nope"], "unknown profile"),
    (["train", "--profile", "smoke", "--n-feats", "0"], "n_feats must be a positive number"),
    (["train", "--profile", "paper", "--data-root", "/nonexistent"], "wdsr data download div2k"),
    (["upscale", "/nonexistent.png", "out.png", "--run", "nope"], "no run at nope"),
])
def test_errors_are_one_sentence_without_traceback(args, message):
    proc = wdsr(*args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_debug_flag_shows_the_traceback():
    proc = wdsr("train", "--debug", "--profile", "nope", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.parametrize("where", ["before", "after", "absent"])
def test_global_debug_flag_works_before_or_after_the_command(where, tmp_path):
    """`wdsr --debug CMD` (as git, pip and docker take global flags) and `wdsr CMD --debug` both show the
    traceback; without --debug the failure is one sentence."""
    command = ["upscale", tmp_path / "missing.png", tmp_path / "out.png", "--run", "nope", "--results-dir", tmp_path]
    argv = {"before": ["--debug", *command], "after": [*command, "--debug"], "absent": command}[where]
    proc = wdsr(*argv, check=False)
    assert proc.returncode != 0
    if where == "absent":
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("wdsr upscale: error: no run at nope") and len(proc.stderr.splitlines()) == 1
    else:
        assert "Traceback" in proc.stderr and "FileNotFoundError: no run at nope" in proc.stderr
    assert not (tmp_path / "out.png").exists()


def test_models_table_lists_presets_with_exact_counts(capsys):
    assert cli.main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    counts = {r["model"]: r["params"] for r in rows}
    assert counts["WDSR-A baseline"] == 1_190_100 and counts["EDSR baseline (WN)"] == 1_372_318
    assert all(r["gmacs_720p"] > 0 for r in rows)


def test_train_command_round_trips_through_the_parser():
    from wdsr_lib.core.config import ModelConfig
    from wdsr_lib.study.profiles import get_profile

    cfg = get_profile("quick").run(ModelConfig("wdsr_b", n_resblocks=3, low_rank=0.5, low_rank_relu=True),
                                   seed=2, iterations=120, lr=3e-4, loss="l2", eval_self_ensemble=True)
    words = train_command(cfg, "quick").split()[2:]
    args = cli.build_parser().parse_args(["train", *words])
    assert cli.config_from_args(args) == cfg
