"""The weights git keeps (issues 22 and 25): each committed model.pt is tied to its record by its digest, and is
either a showcase run (tools/showcase.py) or a run `make verify` re-scores."""
import subprocess
from pathlib import Path

from wdsr_lib.viz.qualitative import showcase_runs
from wdsr_lib.store.runs import WEIGHTS_DIGEST, check_weights, load_record, weights_rebuilt_elsewhere
from wdsr_lib.study.verify import select_runs

ROOT = Path(__file__).resolve().parents[1]


def _committed_weights() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "results/runs/*/model.pt"], cwd=ROOT, capture_output=True, text=True)
    return [ROOT / line for line in out.stdout.split()]


def test_committed_weights_are_their_records_own():
    weights = _committed_weights()
    assert weights, "git keeps no weights: the showcase and the verify runs should be committed"
    tracked = set(subprocess.run(["git", "ls-files", "results/runs"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.split())
    for w in weights:
        run = w.parent
        assert f"results/runs/{run.name}/{WEIGHTS_DIGEST}" in tracked, f"{run.name}: model.pt without its digest"
        assert check_weights(run) and not weights_rebuilt_elsewhere(run), run.name
        load_record(run)  # the record is whole and is the run its name says


def test_committed_weights_are_the_showcase_or_the_verify_runs():
    allowed = {p.name for p in showcase_runs(ROOT / "results")}
    allowed |= {p.name for p in select_runs(ROOT / "results", runs=2, profile="quick")}
    assert {w.parent.name for w in _committed_weights()} <= allowed
