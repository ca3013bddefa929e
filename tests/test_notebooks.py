"""The notebooks: structure (STYLE.md 7) and the whole smoke pipeline through papermill, twice (cache hits)."""
import ast
import json

import nbformat
import pytest

from wdsr_lib import pipeline
from wdsr_lib.store import trained_runs

NOTEBOOKS = [pipeline.NOTEBOOKS_DIR / n for n in pipeline.NOTEBOOKS]
FIGURES = ["table1_psnr_vs_params", "fig3_normalization", "fig4_bn_lr", "edsr_baselines", "edsr_l1_vs_l2",
           "edsr_x4_from_x2", "ablation_wdsr_a_ratio", "ablation_wdsr_b_expansion", "ablation_low_rank_relu"]
CLAIMS = {"table1": 2, "fig3": 1, "fig4": 1, "edsr_comparison": 5, "ablations": 3}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert cells[1].metadata.get("tags") == ["parameters"]
    params = ast.parse(cells[1].source)
    assert all(isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) for s in params.body)
    assert {t.id for s in params.body for t in s.targets} == {"profile", "results_dir", "figures_dir", "seeds"}
    assert cells[-2].cell_type == "markdown" and "Verdict" in cells[-2].source
    assert "format_verdicts" in cells[-1].source
    for cell in cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None  # committed stripped
            tree = ast.parse(cell.source)
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While))
                           for n in ast.walk(tree)), "logic belongs in the library"


@pytest.mark.slow
def test_smoke_pipeline_writes_every_artefact_and_a_second_run_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WDSR_PROFILE", "quick")  # must be ignored: papermill's parameters win
    results, figures = tmp_path / "results", tmp_path / "figures"
    first = pipeline.reproduce("smoke", results, figures, log_output=False)
    assert first["trained"] == len(trained_runs(results)) > 0
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (figures / f"{name}.{ext}").stat().st_size > 5_000, name
    for table in ("table1", "baselines"):
        for ext in ("md", "csv", "tex"):
            assert (results / "tables" / f"{table}.{ext}").stat().st_size > 100
    table1 = (results / "tables" / "table1.csv").read_text().splitlines()
    assert len(table1) == 1 + 3 * 2  # EDSR, WDSR-A, WDSR-B at the smoke budgets (1, 3 blocks)
    for artefact, n in CLAIMS.items():
        entries = json.loads((results / "claims" / f"{artefact}.json").read_text())
        assert len(entries) == n
        for e in entries:
            assert e["verdict"] in ("reproduced", "not reproduced", "inconclusive")
            assert e["protocol"] and "NOT comparable with DIV2K" in e["data"]
    report = (results / "report.md").read_text()
    assert "profile `smoke`" in report and report.count("### ") == sum(CLAIMS.values())
    assert all((results / "executed" / "smoke" / n).is_file() for n in pipeline.NOTEBOOKS)

    ledger = trained_runs(results)
    second = pipeline.reproduce("smoke", results, figures, log_output=False)
    assert second["trained"] == 0 and trained_runs(results) == ledger
