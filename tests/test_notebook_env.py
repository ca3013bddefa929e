"""Notebook parameters resolve against the project root under JupyterLab, papermill and nbval alike
(`wdsr_lib/study/notebook_env.py`); environment overrides apply only when set."""
import shutil
from pathlib import Path

import nbformat
import pytest

from wdsr_lib.study import notebook_env, plans
from wdsr_lib.cli import pipeline

OVERRIDES = ("WDSR_PROFILE", "WDSR_RESULTS_DIR", "WDSR_FIGURES_DIR", "WDSR_RESULTS", "WDSR_ROOT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _project(tmp_path: Path, name: str = "wdsr-study") -> Path:
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0"\n')
    return root


def test_overrides_apply_only_when_set(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    assert notebook_env.profile_from_env("quick") == "quick"
    clean_env.setenv("WDSR_PROFILE", "smoke")
    assert notebook_env.profile_from_env("quick") == "smoke"
    clean_env.setenv("WDSR_PROFILE", "")  # empty counts as unset
    assert notebook_env.profile_from_env("quick") == "quick"
    clean_env.setenv("WDSR_RESULTS_DIR", "/tmp/x")
    assert notebook_env.results_dir_from_env("results") == "/tmp/x"
    assert notebook_env.figures_dir_from_env("/abs/figures") == "/abs/figures"


def test_relative_paths_resolve_against_the_folder_holding_the_projects_pyproject(clean_env, tmp_path):
    root = _project(tmp_path)
    clean_env.chdir(root / "notebooks")  # where JupyterLab starts a kernel
    assert notebook_env.project_root() == root.resolve()
    assert notebook_env.results_dir_from_env("results") == str(root.resolve() / "results")
    assert notebook_env.figures_dir_from_env("figures") == str(root.resolve() / "figures")
    clean_env.setenv("WDSR_RESULTS_DIR", "scratch/results")  # a relative override resolves the same way
    assert notebook_env.results_dir_from_env("results") == str(root.resolve() / "scratch" / "results")


def test_the_repository_root_is_found_from_its_notebooks_folder(clean_env):
    clean_env.chdir(pipeline.NOTEBOOKS_DIR)
    assert notebook_env.project_root() == pipeline.NOTEBOOKS_DIR.parent.resolve()


def test_another_projects_pyproject_is_not_a_root_and_the_working_directory_is_the_fallback(clean_env, tmp_path):
    root = _project(tmp_path, name="someone-else")
    clean_env.chdir(root / "notebooks")
    assert notebook_env.project_root() == (root / "notebooks").resolve()


def test_wdsr_root_wins_and_must_be_a_folder(clean_env, tmp_path):
    root = _project(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    clean_env.chdir(root / "notebooks")
    clean_env.setenv("WDSR_ROOT", str(other))
    assert notebook_env.results_dir_from_env("results") == str(other.resolve() / "results")
    clean_env.setenv("WDSR_ROOT", str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError, match=r"\$WDSR_ROOT is .*missing.*not a folder"):
        notebook_env.project_root()


@pytest.mark.slow
def test_a_notebook_run_from_notebooks_with_default_parameters_uses_the_roots_store(clean_env, tmp_path):
    """As JupyterLab runs it: kernel cwd = notebooks/, no parameters injected, only the profile overridden."""
    from nbclient import NotebookClient

    root = _project(tmp_path)
    name = "02_fig3_normalization.ipynb"
    shutil.copy(pipeline.NOTEBOOKS_DIR / name, root / "notebooks" / name)
    clean_env.setenv("WDSR_PROFILE", "smoke")
    nb = nbformat.read(root / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "notebooks")}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[3].outputs)
    assert f"results in {root.resolve() / 'results'}" in printed
    done = {p.parent.name for p in (root / "results" / "runs").glob("*/DONE")}
    assert {r.name for r in plans.fig3("smoke")} <= done  # weight / batch / no norm, in the root's store
    (figure,) = (root / "figures").rglob("fig3_normalization.png")
    assert figure.stat().st_size > 5_000
    assert sorted(p.name for p in (root / "notebooks").iterdir()) == [name]  # no store, no figures here


def test_setup_applies_the_overrides_and_puts_figures_in_a_folder_per_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("WDSR_PROFILE", "smoke")
    monkeypatch.setenv("WDSR_RESULTS_DIR", str(tmp_path / "r"))
    monkeypatch.setenv("WDSR_FIGURES_DIR", str(tmp_path / "f"))
    assert notebook_env.setup("quick", "results", "figures") == ("smoke", str(tmp_path / "r"),
                                                                 str(tmp_path / "f" / "smoke"))
