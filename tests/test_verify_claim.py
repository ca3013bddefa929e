"""`wdsr verify --claim`: retrain the runs a Table 1 claim rests on and judge it again (wdsr_lib/study/verify.py)."""
import shutil

from wdsr_lib.cli import main as cli


def test_verify_claim_states_its_cost_then_reports_verdict_unchanged(smoke_store, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(smoke_store / "runs", results / "runs")
    before = {p.name: p.read_bytes() for p in (results / "runs").glob("*/summary.json")}
    code = cli.main(["verify", "--claim", "wdsr_a_beats_edsr", "--profile", "smoke", "--seeds", "1",
                     "--results-dir", str(results)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    first = out[0]
    assert first.startswith("verify --claim wdsr_a_beats_edsr (smoke): retraining 4 run(s), seed(s) 0; "
                            "estimated cost") and "min" in first
    assert sum(line.startswith("PASS  ") and "(bitwise: fingerprints equal)" in line for line in out) == 4
    assert out[-1].startswith("PASS  claim wdsr_a_beats_edsr (smoke): verdict unchanged (")
    assert {p.name: p.read_bytes() for p in (results / "runs").glob("*/summary.json")} == before  # store untouched


def test_verify_claim_refuses_what_it_cannot_judge(smoke_store, capsys):
    assert cli.main(["verify", "--claim", "no_such_claim", "--results-dir", str(smoke_store)]) == 2
    assert "re-judges the Table 1 claims" in capsys.readouterr().err
    assert cli.main(["verify", "--seeds", "2", "--results-dir", str(smoke_store)]) == 2
    assert "--seeds applies to --claim only" in capsys.readouterr().err
