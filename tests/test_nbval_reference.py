"""nbval compares something (issue 24): the committed references of the executed store-only notebooks are in step
with the notebooks' code, and a changed number in the store makes nbval fail (the passing run against the
committed store is `make test`'s nbval step)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from wdsr_lib.study import plans

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "data" / "nbval"


def test_references_exist_and_run_the_notebooks_code():
    assert sorted(p.parent.name for p in REFERENCES.glob("*/01_table1.ipynb")) == ["cpu_v1", "quick"]
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "nbval_reference.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_reference_keeps_its_tables_and_drops_only_volatile_parts():
    nb = json.loads((REFERENCES / "cpu_v1" / "01_table1.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert ["".join(c["source"]) for c in injected] == ['# Parameters\nprofile = "cpu_v1"\n']
    html = [o for c in nb["cells"] for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert html, "the reference lost its tables"
    assert not any("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
    assert "papermill" not in nb["metadata"]


def test_nbval_fails_when_a_stored_number_changes(tmp_path):
    """The cpu_v1 Table 1 notebook, re-executed against a store where one run's test PSNRs moved by 0.3 dB."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("*.pt", "executed", "browser_check"))
    run = results / "runs" / next(iter(plans.table1("cpu_v1"))).config.run_name()  # Table 1: EDSR, 1 block, seed 0
    assert (run / "DONE").is_file()
    summary = json.loads((run / "summary.json").read_text())
    summary["psnr"] += 0.3
    for row in summary.get("per_image", []):
        row["psnr"] += 0.3
    (run / "summary.json").write_text(json.dumps(summary))
    env = {"WDSR_STORE_ONLY": "1", "WDSR_RESULTS_DIR": str(results), "WDSR_FIGURES_DIR": str(tmp_path / "figures")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--nbval-sanitize-with", str(REFERENCES / "sanitize.cfg"), str(REFERENCES / "cpu_v1" / "01_table1.ipynb")],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=1500)
    assert done.returncode != 0, done.stdout[-2000:]
    assert "failed" in done.stdout


def test_every_sanitizer_is_read_by_nbval():
    """nbval reads `regex:` / `replace:` line pairs (an empty replacement needs its trailing space); a pair it
    cannot read would silently sanitize nothing."""
    from nbval.plugin import get_sanitize_patterns

    text = (REFERENCES / "sanitize.cfg").read_text()
    assert len(get_sanitize_patterns(text)) == text.count("\nregex: ") == 5
