"""The notebooks: jupytext pairs in sync, structure (notebooks/README.md) and the whole smoke pipeline through
papermill, twice (cache hits)."""
import ast
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import jupytext
import nbformat
import pytest

from wdsr_lib.cli import pipeline
from wdsr_lib.store.runs import trained_runs
from wdsr_lib.study.claims import CLAIMS as REGISTERED
from wdsr_lib.study.verdicts import VERDICTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import notebook_pairs  # noqa: E402  (tools/notebook_pairs.py: a development tool, outside the package)

NOTEBOOKS = [pipeline.NOTEBOOKS_DIR / n for n in pipeline.NOTEBOOKS]
PAIRS = notebook_pairs.pairs()
EXPLORER = pipeline.NOTEBOOKS_DIR / "06_explore.ipynb"
FIGURES = ["table1_psnr_vs_params", "fig3_normalization", "fig4_bn_lr", "edsr_baselines", "edsr_l1_vs_l2",
           "edsr_x4_from_x2", "ablation_wdsr_a_ratio", "ablation_wdsr_b_expansion", "ablation_low_rank_relu"]
# Claims per artefact, from the registry (wdsr_lib/study/claims.py CLAIMS): a new claim needs no edit here.
CLAIMS = Counter(c.artefact for c in REGISTERED.values())


def _figures_shown(executed_dir):
    """Each study notebook's executed copy shows every figure it writes, inline under the cell that writes it."""
    for name in pipeline.NOTEBOOKS:
        nb = nbformat.read(executed_dir / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        writers = [c for c in code if "save_figure(" in c.source]
        shown = [c for c in writers if any("image/png" in o.get("data", {}) for o in c.outputs)]
        images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
        assert writers and len(shown) == len(writers) and images >= len(writers), \
            f"{name}: {len(shown)} of {len(writers)} figure cells show their figure ({images} PNG outputs)"


def _inputs(nb):
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def test_every_pipeline_notebook_is_a_jupytext_pair_and_the_builder_is_gone():
    assert {ipynb.name for _, ipynb in PAIRS} >= set(pipeline.NOTEBOOKS)
    assert all(py.is_file() and ipynb.is_file() for py, ipynb in PAIRS)
    assert not (pipeline.NOTEBOOKS_DIR / "build_notebooks.py").exists()


@pytest.mark.parametrize("py,ipynb", PAIRS, ids=lambda p: p.name)
def test_notebook_pair_is_in_sync(py, ipynb):
    text, nb = jupytext.read(py), nbformat.read(ipynb, as_version=4)
    assert _inputs(text) == _inputs(nb), f"{ipynb.name} is out of sync with {py.name}: run `make notebooks`"
    assert text.metadata["kernelspec"] == nb.metadata["kernelspec"]
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)


def test_sync_rewrites_an_edited_source_keeps_cell_ids_and_strips_outputs(tmp_path):
    for name in ("01_table1.py", "01_table1.ipynb", "jupytext.toml"):
        shutil.copy(pipeline.NOTEBOOKS_DIR / name, tmp_path / name)
    py, ipynb = tmp_path / "01_table1.py", tmp_path / "01_table1.ipynb"
    before = nbformat.read(ipynb, as_version=4)
    edited = "plan = plans.table1(profile, (1, 2))\n"
    py.write_text(py.read_text().replace("plan = plans.table1(profile, seeds)\n", edited))
    ran = nbformat.read(ipynb, as_version=4)
    ran.cells[3].outputs = [nbformat.v4.new_output("stream", text="profile quick")]
    ran.cells[3].execution_count = 1
    nbformat.write(ran, ipynb)
    assert notebook_pairs.out_of_sync(tmp_path) == [
        "01_table1.ipynb differs from 01_table1.py; run `make notebooks`.",
        "01_table1.ipynb carries outputs; run `make notebooks` to strip them."]
    assert notebook_pairs.sync(tmp_path) == [ipynb]
    after = nbformat.read(ipynb, as_version=4)
    assert notebook_pairs.out_of_sync(tmp_path) == []
    assert [c.id for c in after.cells] == [c.id for c in before.cells]
    assert after.cells[5].source.startswith("plan = plans.table1(profile, (1, 2))")
    unchanged = [i for i in range(len(before.cells)) if i != 5]
    assert [after.cells[i].source for i in unchanged] == [before.cells[i].source for i in unchanged]
    assert after.cells[1].metadata["tags"] == ["parameters"] and after.metadata == before.metadata
    assert not after.cells[3].outputs and after.cells[3].execution_count is None


def _parameters(nb) -> set:
    assert nb.cells[1].metadata.get("tags") == ["parameters"]
    params = ast.parse(nb.cells[1].source)
    assert all(isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) for s in params.body)
    return {t.id for s in params.body for t in s.targets}


def test_the_explorer_is_thin_stripped_and_resolves_its_paths_like_the_others():
    nb = nbformat.read(EXPLORER, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert _parameters(nb) == {"profile", "results_dir", "figures_dir", "seeds", "image", "pictures_profile"}
    setup = nb.cells[3].source
    for name in ("profile", "results_dir", "figures_dir"):
        assert f"{name} = notebook_env.{name}_from_env({name})" in setup
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While))
                           for n in ast.walk(ast.parse(cell.source))), "logic belongs in the library"
    assert EXPLORER.name not in pipeline.NOTEBOOKS  # interactive: not part of `wdsr reproduce`


@pytest.mark.slow
def test_the_explorer_runs_headless_at_smoke_trains_its_variant_once_and_reports_missing_pictures(tmp_path):
    import papermill as pm

    results, figures = tmp_path / "results", tmp_path / "figures"
    params = {"profile": "smoke", "results_dir": str(results), "figures_dir": str(figures)}
    for run in (1, 2):
        pm.execute_notebook(str(EXPLORER), str(tmp_path / f"06_run{run}.ipynb"), parameters=params,
                            kernel_name="python3", cwd=str(pipeline.NOTEBOOKS_DIR), progress_bar=False)
    assert len(trained_runs(results)) == 1  # the variant, trained by the first run only
    (variant,) = trained_runs(results)
    assert variant.startswith("wdsr_b-x2-b3-weight-s0-")
    nb = nbformat.read(tmp_path / "06_run2.ipynb", as_version=4)
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"loaded from the store: {variant} (WDSR-B, x2, 3 blocks, e=4, l=" in text
    assert "qualitative figure for profile 'cpu' skipped" in text  # no showcase run in this scratch store
    pngs = [c for c in nb.cells if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(pngs) == 2  # the curves and the variant on a held-out photo
    assert not (pipeline.NOTEBOOKS_DIR / "results").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert _parameters(nb) == {"profile", "results_dir", "figures_dir", "seeds"}
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
    for name in FIGURES + ["table1_gaps"]:
        for ext in ("png", "pdf"):
            assert (figures / "smoke" / f"{name}.{ext}").stat().st_size > 5_000, name
    for table in ("table1", "baselines"):
        for ext in ("md", "csv", "tex"):
            assert (results / "tables" / "smoke" / f"{table}.{ext}").stat().st_size > 100
    table1 = (results / "tables" / "smoke" / "table1.csv").read_text().splitlines()
    assert len(table1) == 1 + 3 * 2  # EDSR, WDSR-A, WDSR-B at the smoke budgets (1, 3 blocks)
    for artefact, n in CLAIMS.items():
        entries = json.loads((results / "claims" / f"{artefact}.json").read_text())
        assert len(entries) == n
        for e in entries:
            assert e["verdict"] in VERDICTS and e["profile"] == "smoke"
            assert e["protocol"] and "NOT comparable with DIV2K" in e["data"]
            assert e["verdict"] not in ("reproduced", "not reproduced")  # 4 iterations never converge
    report = (results / "reports" / "smoke.md").read_text()
    assert "profile `smoke`" in report and report.count("### ") == sum(CLAIMS.values())
    assert all((results / "executed" / "smoke" / n).is_file() for n in pipeline.NOTEBOOKS)
    _figures_shown(results / "executed" / "smoke")

    ledger = trained_runs(results)
    second = pipeline.reproduce("smoke", results, figures, log_output=False)
    assert second["trained"] == 0 and trained_runs(results) == ledger
    _figures_shown(results / "executed" / "smoke")
