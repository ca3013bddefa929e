"""wdsr_lib/cli/flags.py: which flags a command line gave (abbreviated, `=`-joined or not at all), which are refused."""
from __future__ import annotations

import pytest

from wdsr_lib.cli import main as cli
from wdsr_lib.cli.flags import given_flags, interrupted_message, reject_inapplicable


def parse(argv: list[str]):
    args = cli.build_parser().parse_args(argv)
    return args, given_flags(args, argv)


def test_given_flags_sees_abbreviations_and_equals_and_not_defaults():
    args, given = parse(["upscale", "a.png", "b.png", "--run", "R", "--n-res", "32", "--scale=4"])
    assert {"n_resblocks", "scale", "run", "input", "output"} <= given
    assert not given & {"model", "norm", "lr", "profile", "results_dir", "tile", "self_ensemble", "force"}
    args, given = parse(["--debug", "train", "--profile", "quick", "--lr", "1e-3"])
    assert {"profile", "lr"} <= given and "seed" not in given and "results_dir" not in given


def test_a_default_spelled_out_counts_as_given():
    """`--profile quick` names the default, but it was written, so it is judged like any given flag."""
    args, given = parse(["eval", "--run", "R", "--profile", "quick"])
    with pytest.raises(ValueError, match="--profile does not apply to `wdsr eval`"):
        reject_inapplicable(args, given)


@pytest.mark.parametrize("argv", [
    ["upscale", "a.png", "b.png", "--weights", "w.pt", "--model", "wdsr_a", "--scale", "2", "--n-feats", "8"],
    ["eval", "--run", "R", "--data", "Set5", "--data-root", "d"],
    ["eval", "--run", "R", "--data", "div2k", "--data-root", "d", "--tile", "64", "--tile-overlap", "8"],
    ["train", "--profile", "paper", "--data-root", "d"],
    ["reproduce", "--list-runs", "--profile", "smoke", "--results-dir", "r"],
    ["upscale", "a.png", "b.png", "--run", "R", "--force", "--self-ensemble"],
])
def test_flags_that_apply_are_accepted(argv):
    reject_inapplicable(*parse(argv))


@pytest.mark.parametrize("argv, message", [
    (["eval", "--run", "R", "--data", "sample", "--data-root", "d"], "--data-root does not apply with --data sample"),
    (["eval", "--run", "R", "--data", "my/folder", "--data-root", "d"], "--data-root does not apply with --data"),
    (["upscale", "a.png", "b.png", "--weights", "w.pt", "--results-dir", "r"],
     "--results-dir does not apply with --weights FILE"),
    (["reproduce", "--list-runs", "--figures-dir", "f"], "--figures-dir does not apply with --list-runs"),
    (["upscale", "a.png", "b.png", "--run", "R", "--norm", "batch", "--mean-shift", "false"],
     "--norm, --mean-shift do not apply with --run"),
])
def test_flags_that_cannot_apply_are_refused_by_name(argv, message):
    with pytest.raises(ValueError) as err:
        reject_inapplicable(*parse(argv))
    assert message in str(err.value) and str(err.value).endswith(("drop it.", "drop them."))


def test_ctrl_c_during_training_names_the_checkpoint_it_resumes_from(tmp_path):
    argv = ["train", "--profile", "smoke", "--results-dir", str(tmp_path)]
    args, _ = parse(argv)
    assert interrupted_message(args).startswith("interrupted before the first checkpoint; nothing was kept")
    run_dir = cli_run_dir(args)
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "ckpt-00000002.pt").write_bytes(b"")
    assert interrupted_message(args) == (f"interrupted; {run_dir.name} keeps its checkpoint ckpt-00000002.pt, so the "
                                         "same command resumes from there.")
    assert interrupted_message(parse(["data", "download", "div2k"])[0]).endswith("resumes the download where it "
                                                                                 "stopped.")


def cli_run_dir(args):
    from wdsr_lib.store.runs import run_dir_for

    return run_dir_for(cli.config_from_args(args), args.results_dir)
