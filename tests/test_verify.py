"""`wdsr verify` / `wdsr rebuild` on a smoke store: retraining reproduces every logged number bitwise, a tampered
record fails, and rebuild installs the weights the run had (wdsr_lib/verify.py)."""
import json
import shutil
from dataclasses import replace

import pytest
import torch

from conftest import tiny_config
from wdsr_lib import cli, store
from wdsr_lib.verify import compare_records, rebuild_run, select_runs, verify_runs


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    """Two finished tiny runs: an x2 WDSR-A and an x4 started from it (init_from), with their weights."""
    root = tmp_path_factory.mktemp("store")
    x2 = tiny_config(iterations=4)
    store.load_or_train(x2, root, progress=False)
    x4 = replace(tiny_config(iterations=4, scale=4), train=replace(tiny_config().train, iterations=4,
                                                                   init_from=x2.run_name()))
    store.load_or_train(x4, root, progress=False)
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
    assert len(passed) == 2 and all("logged numbers equal bitwise" in line for line in passed)
    assert any(x4 in line for line in passed) and any(x2 in line for line in passed)
    assert "all 2 retrained run(s) match" in lines[-1]


def test_a_tampered_psnr_fails_naming_it(copy, capsys):
    root, x2, _ = copy
    path = root / "runs" / x2 / "summary.json"
    summary = json.loads(path.read_text())
    summary["psnr"] += 1e-9  # one PSNR edited, far below any printed precision
    path.write_text(json.dumps(summary))
    assert cli.main(["verify", "--run", x2, "--results-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {x2}: 1 of" in out and "in summary.psnr" in out
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
    assert same.compared == 4 and same.differences == [] and same.ok(0.0)  # timings and new fields ignored
    missing = compare_records(stored, [], {"psnr": 30.0}, [])
    assert missing.differences == [("summary.per_image[a].psnr", stored["per_image"][0]["psnr"], None)]
    assert not missing.ok(1.0)


def test_profile_selects_the_runs_of_its_plans(copy, monkeypatch):
    from wdsr_lib import plans
    from wdsr_lib.config import RunConfig

    root, x2, _ = copy
    cfg = RunConfig.from_dict(json.loads((root / "runs" / x2 / "config.json").read_text())["config"])
    monkeypatch.setattr(plans, "all_runs", lambda profile: [cfg])
    assert [p.name for p in select_runs(root, runs=None, profile="smoke")] == [x2]
    monkeypatch.setattr(plans, "all_runs", lambda profile: [])
    with pytest.raises(ValueError, match="no finished run of profile 'smoke'"):
        select_runs(root, profile="smoke")
    assert cli.main(["verify", "--runs", "0", "--results-dir", str(root)]) == 2
