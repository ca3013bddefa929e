"""`wdsr verify` / `wdsr rebuild` on a smoke store: retraining reproduces every logged number bitwise, a tampered
record fails, and rebuild installs the weights the run had (wdsr_lib/study/verify.py)."""
import json
import shutil
from dataclasses import replace

import pytest
import torch

from conftest import tiny_config
from wdsr_lib.cli import main as cli
from wdsr_lib.store import runs as store
from wdsr_lib.store.training import load_or_train
from wdsr_lib.study import verify
from wdsr_lib.study.verify import compare_records, rebuild_run, select_runs, verify_runs


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    """Two finished tiny runs: an x2 WDSR-A and an x4 started from it (init_from), with their weights."""
    root = tmp_path_factory.mktemp("store")
    x2 = tiny_config(iterations=4)
    load_or_train(x2, root, progress=False)
    x4 = replace(tiny_config(iterations=4, scale=4), train=replace(tiny_config().train, iterations=4,
                                                                   init_from=x2.run_name()))
    load_or_train(x4, root, progress=False)
    return root, x2.run_name(), x4.run_name()


@pytest.fixture
def copy(smoke_store, tmp_path):
    root, x2, x4 = smoke_store
    shutil.copytree(root, tmp_path / "store")
    return tmp_path / "store", x2, x4


def test_untouched_store_verifies_bitwise(copy):
    root, x2, x4 = copy
    lines = []
    assert verify_runs(select_runs(root, runs=None), log=lines.append)
    passed = [line for line in lines if line.startswith("PASS")]
    assert len(passed) == 2 and all("(bitwise: fingerprints equal): all" in line for line in passed)
    assert all("logged numbers equal bitwise" in line for line in passed)
    assert any(x4 in line for line in passed) and any(x2 in line for line in passed)
    assert "all 2 retrained run(s) pass" in lines[-1]


def test_a_tampered_psnr_fails_naming_it(copy, capsys):
    root, x2, _ = copy
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    summary["psnr"] += 1e-9  # one PSNR edited, far below any printed precision
    path.write_text(json.dumps(summary))
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {x2} (bitwise: fingerprints equal): 1 of" in out and "in summary.psnr" in out
    # a tolerance above the edit accepts it, and says how large the difference was
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root), "--tolerance", "1e-6"]) == 0


def test_a_tampered_history_row_fails(copy):
    root, x2, _ = copy
    path = root / "runs" / x2 / "history.csv"
    lines = path.read_text().splitlines()
    row = lines[1].split(",")
    row[1] = repr(float(row[1]) * 1.0001)  # train_loss of the first validation row
    lines[1] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    assert "history[2].train_loss" in next(line for line in log if line.startswith("FAIL"))


def test_default_sample_is_the_cheapest_runs(copy):
    root, x2, x4 = copy
    assert [p.name for p in select_runs(root, runs=1)] == [x2]  # x4 costs its own training plus its source's
    assert [p.name for p in select_runs(root, runs=5)] == [x2, x4]


def test_rebuild_installs_the_weights_the_run_had(copy, capsys):
    root, x2, x4 = copy
    original = torch.load(root / "runs" / x4 / "model.pt", weights_only=True)
    for run in (x2, x4):
        (root / "runs" / run / "model.pt").unlink()
    assert cli.main(["rebuild", x4, "--results-dir", str(root)]) == 0
    rebuilt = torch.load(root / "runs" / x4 / "model.pt", weights_only=True)
    assert rebuilt.keys() == original.keys() and all(torch.equal(rebuilt[k], original[k]) for k in original)
    assert (root / "runs" / x2 / "model.pt").exists()  # its init_from source was rebuilt (and checked) too
    assert "installed" in capsys.readouterr().out
    assert cli.main(["rebuild", x4, "--results-dir", str(root)]) == 0  # already there: nothing to do
    assert "has its weights already" in capsys.readouterr().out


def test_rebuild_of_a_tampered_record_installs_nothing(copy):
    root, x2, _ = copy
    (root / "runs" / x2 / "model.pt").unlink()
    path = root / "runs" / x2 / "summary.json"
    path.write_text(path.read_text().replace('"params": ', '"params": 1'))
    with pytest.raises(ValueError, match="differs from its record .* in summary.params"):
        rebuild_run(x2, root, log=lambda _: None)
    assert not (root / "runs" / x2 / "model.pt").exists()
    assert cli.main(["rebuild", "no-such-run", "--results-dir", str(root)]) == 2


def test_compare_records_is_stored_driven():
    stored = {"psnr": 30.0, "per_image": [{"image": "a", "psnr": float("nan")}], "train_seconds": 1.0}
    same = compare_records(stored, [{"iteration": 2.0, "val_psnr": 1.5, "seconds": 0.3}],
                           {**stored, "train_seconds": 9.0, "extra": 1},
                           [{"iteration": 2, "val_psnr": 1.5, "seconds": 0.7}])
    assert same.compared == 5 and same.differences == [("summary.extra", None, 1)]  # timings ignored
    assert not same.ok(0.0) and same.missing()  # a field the record lacks fails: it may have been pruned
    missing = compare_records(stored, [], {"psnr": 30.0}, [])
    assert missing.differences == [("summary.per_image[a].psnr", stored["per_image"][0]["psnr"], None)]
    assert not missing.ok(1.0)


def test_profile_selects_the_runs_of_its_plans(copy, monkeypatch):
    from wdsr_lib.study import plans
    from wdsr_lib.core.config import RunConfig

    root, x2, _ = copy
    cfg = RunConfig.from_dict(json.loads((root / "runs" / x2 / "config.json").read_text())["config"])
    monkeypatch.setattr(plans, "all_runs", lambda profile: [cfg])
    assert [p.name for p in select_runs(root, runs=None, profile="smoke")] == [x2]
    monkeypatch.setattr(plans, "all_runs", lambda profile: [])
    with pytest.raises(ValueError, match="no finished run of profile 'smoke'"):
        select_runs(root, profile="smoke")
    assert cli.main(["verify", "--runs", "0", "--results-dir", str(root)]) == 2


# --- two levels (issue 22): bitwise where the fingerprints match, statistical where they do not ----------------

def _sibling(root, name, seed, delta):
    """A stored seed of the same arm as `name`: its record with the seed changed and its PSNRs moved by `delta`
    (a tight arm, as real seeds of a converged profile are; keys and names consistent)."""
    from wdsr_lib.core.config import RunConfig

    src = root / "runs" / name
    record = json.loads((src / "config.json").read_text())
    cfg = RunConfig.from_dict(record["config"])
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    dest = root / "runs" / cfg.run_name()
    dest.mkdir()
    record.update(config=cfg.to_dict(), canonical=cfg.canonical(), key=cfg.key())
    (dest / "config.json").write_text(json.dumps(record))
    summary = json.loads((src / "summary.json").read_text())
    summary["psnr"] += delta
    (dest / "summary.json").write_text(json.dumps(summary))
    lines = (src / "history.csv").read_text().splitlines()
    head, last = lines[0].split(","), lines[-1].split(",")
    col = head.index("val_psnr")
    last[col] = repr(float(last[col]) + delta)
    (dest / "history.csv").write_text("\n".join(lines[:-1] + [",".join(last)]) + "\n")
    (dest / "DONE").write_text("x\n")


@pytest.fixture
def arm(copy):
    """The x2 run with four more stored seeds of its arm, spread by a few hundredths of a dB."""
    root, x2, x4 = copy
    for seed, delta in ((1, 0.012), (2, -0.018), (3, 0.007), (4, -0.004)):
        _sibling(root, x2, seed, delta)
    return root, x2


@pytest.fixture
def foreign(monkeypatch):
    """This machine's fingerprint as another CPU's (what a stranger's machine reports)."""
    from wdsr_lib.engine import fingerprint as fp

    real = fp.fingerprint

    def other(device="cpu"):
        return {**real(device), "cpu_model": "AMD EPYC 9654 (family/model/stepping 25/17/1, flags 0badf00d)",
                "cpu_capability": "DEFAULT"}

    monkeypatch.setattr(fp, "fingerprint", other)


def test_a_foreign_machine_passes_statistically_naming_the_band(arm, foreign):
    root, x2 = arm
    log = []
    assert verify_runs(select_runs(root, names=(x2,)), log=log.append)
    line = next(line for line in log if x2 in line)
    assert line.startswith(f"PASS  {x2} (statistical: fingerprints differ in cpu_model, cpu_capability) final PSNR")
    assert "inside the 99% band" in line and "from 4 other stored seeds" in line
    assert "last validation PSNR" in line


def test_a_record_edited_by_03_db_fails_bitwise_and_statistically(arm, monkeypatch):
    root, x2 = arm
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    summary["psnr"] += 0.3
    path.write_text(json.dumps(summary))
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)  # the recording machine: bitwise
    assert any(line.startswith(f"FAIL  {x2} (bitwise: fingerprints equal)") and "summary.psnr" in line
               for line in log)
    from wdsr_lib.engine import fingerprint as fp

    real = fp.fingerprint
    monkeypatch.setattr(fp, "fingerprint", lambda device="cpu": {**real(device), "cpu_capability": "DEFAULT"})
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    line = next(line for line in log if x2 in line)
    assert line.startswith(f"FAIL  {x2} (statistical: fingerprints differ in cpu_capability)")
    assert "its weights re-scored here give psnr" in line and "the record's numbers are not its weights'" in line
    (root / "runs" / x2 / "model.pt").unlink()  # a record without weights: the seed band alone judges it
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    line = next(line for line in log if x2 in line)
    assert "final PSNR of the record" in line and "the record does not look like a run of this config" in line


def test_a_03_db_edit_inside_a_wide_seed_band_is_caught_by_the_records_weights(copy, foreign):
    """The quick profile's seeds spread by tenths of a dB, so its 99% band (about +-0.7 dB) holds an edit of
    0.3 dB; the record's own weights, re-scored on any machine, do not."""
    root, x2, _ = copy
    for seed, delta in ((1, 0.25), (2, -0.3), (3, 0.2), (4, -0.15)):
        _sibling(root, x2, seed, delta)
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    summary["psnr"] += 0.3
    summary["per_image"][0]["psnr"] += 0.3 * len(summary["per_image"])  # a consistent edit: mean and image
    path.write_text(json.dumps(summary))
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    line = next(line for line in log if x2 in line)
    assert line.startswith(f"FAIL  {x2} (statistical: fingerprints differ in cpu_model, cpu_capability) its "
                           "weights re-scored here give psnr")
    untouched = [line for line in log if line.startswith("PASS")]
    assert not untouched, log


def test_untouched_weights_are_re_scored_within_the_tolerance(copy, capsys):
    root, x2, _ = copy
    log = []
    assert verify_runs(select_runs(root, names=(x2,)), log=log.append)
    assert "its weights re-scored here give its final PSNRs within 0.01 dB" in next(line for line in log if x2 in line)


def test_a_single_seed_arm_is_judged_with_the_pooled_seed_noise(arm, foreign):
    root, x2 = arm
    from wdsr_lib.study.verify import prediction_band

    band = prediction_band([], (0.02, 8, 2), 30.0)
    assert band.low < 30.0 < band.high and "pooled seed SD 0.020 dB" in band.source
    assert round(band.high - 30.0, 3) == round(3.355 * 0.02 * 2 ** 0.5, 3)  # t(0.995, 8) sd sqrt(2)
    wide = prediction_band([30.0, 30.1, 29.9])
    from scipy import stats

    assert wide.high - 30.0 == pytest.approx(stats.t.ppf(0.995, 2) * 0.1 * (1 + 1 / 3) ** 0.5)


# --- verification that cannot pass vacuously (issue 26) ------------------------------------------------------

def test_a_pruned_summary_fails_with_a_sentence(copy):
    root, x2, _ = copy
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    del summary["psnr"], summary["psnr_y"]
    path.write_text(json.dumps(summary))
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    assert any(line.startswith(f"FAIL  {x2}: damaged run record") and "lacks psnr, psnr_y" in line for line in log)


def test_a_field_missing_from_the_record_fails(copy):
    root, x2, _ = copy
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    del summary["per_image"]
    path.write_text(json.dumps(summary))
    log = []
    assert not verify_runs(select_runs(root, names=(x2,)), log=log.append)
    assert any("the record lacks" in line and "per_image" in line for line in log)


def test_scratch_is_never_reused_nor_the_store(copy, tmp_path, capsys):
    root, x2, _ = copy
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root), "--scratch", str(tmp_path / "s")]) == 0
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root), "--scratch", str(tmp_path / "s")]) == 2
    assert "already holds retrained runs" in capsys.readouterr().err
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root), "--scratch", str(root)]) == 2
    assert "is the store" in capsys.readouterr().err


def test_infinite_tolerance_and_zero_runs_fail(copy, capsys):
    root, x2, _ = copy
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root), "--tolerance", "inf"]) == 2
    assert "finite" in capsys.readouterr().err
    log = []
    assert not verify_runs([], log=log.append)
    assert "0 runs verified" in log[-1]


def test_a_cyclic_init_from_is_refused_with_a_sentence(copy, monkeypatch):
    root, x2, x4 = copy
    path = root / "runs" / x2 / "config.json"
    path.write_text(path.read_text().replace('"init_from": null', f'"init_from": "{x4}"'))
    log = []
    assert not verify_runs([root / "runs" / x4], log=log.append)  # returns: no endless loop
    assert any(line.startswith(f"FAIL  {x4}: damaged run record") and x2 in line for line in log)  # x2's key
    from wdsr_lib.study.verify import _dependencies

    monkeypatch.setattr(verify, "load_record", lambda run_dir: None)  # even past the identity check
    with pytest.raises(store.StoreError, match=r"init_from chain is a cycle \(.* -> .* -> "):
        _dependencies(root / "runs" / x4)


def test_a_swapped_record_fails_naming_the_folder(copy):
    root, x2, x4 = copy
    shutil.rmtree(root / "runs" / x2)
    shutil.copytree(root / "runs" / x4, root / "runs" / x2)  # cp -a runs/<x4> runs/<x2>
    with pytest.raises(store.DamagedRecord, match=f"{x2}.*holds the run {x4}.*wdsr rebuild"):
        store.load_record(root / "runs" / x2)
    log = []
    assert not verify_runs([root / "runs" / x2], log=log.append)
    assert any(line.startswith(f"FAIL  {x2}: damaged run record") for line in log)


def test_swapped_or_empty_weights_are_damaged(copy, tmp_path, capsys):
    root, x2, _ = copy
    other = load_or_train(tiny_config(iterations=4, seed=1), root, progress=False)  # same shapes, seed 1
    assert (other.run_dir / store.WEIGHTS_DIGEST).exists()
    run = root / "runs" / x2
    store.write_weights_digest(run)  # (the module fixture's runs predate nothing; make the digest explicit)
    shutil.copyfile(other.run_dir / "model.pt", run / "model.pt")
    with pytest.raises(store.DamagedRecord, match="does not match weights.sha256"):
        store.check_weights(run)
    img = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (16, 16), (90, 120, 30)).save(img)
    assert cli.main(["upscale", str(img), str(tmp_path / "out.png"), "--run", x2, "--results-dir", str(root)]) != 0
    assert "does not match weights.sha256" in capsys.readouterr().err
    (run / "model.pt").write_bytes(b"")
    with pytest.raises(store.DamagedRecord, match="model.pt is empty"):
        store.check_weights(run)
    assert cli.main(["rebuild", x2, "--results-dir", str(root)]) == 0  # damaged, so rebuilt, never "has its weights"
    out = capsys.readouterr().out
    assert "has its weights already" not in out and "installed" in out
    assert store.check_weights(run)


def test_weights_rebuilt_on_another_machine_are_marked_and_not_re_scored(arm, foreign, capsys):
    """A statistical rebuild installs one more seed of the run, not the weights the record measured: its digest
    says so, and verify does not hold the record's numbers against them."""
    from wdsr_lib.store.runs import check_weights, weights_rebuilt_elsewhere

    root, x2 = arm
    (root / "runs" / x2 / "model.pt").unlink()
    assert cli.main(["rebuild", x2, "--results-dir", str(root)]) == 0
    assert "not bitwise the record's: one more seed of the run" in capsys.readouterr().out
    run = root / "runs" / x2
    assert check_weights(run) and weights_rebuilt_elsewhere(run).startswith("statistical: fingerprints differ")
    log = []
    assert verify_runs(select_runs(root, names=(x2,)), log=log.append)
    assert "its weights were rebuilt on another machine" in next(line for line in log if x2 in line)
