"""A non-editable install works on its own: the wheel carries the notebooks (package data), and `wdsr reproduce`
run from a scratch virtualenv, outside the repository, executes the whole smoke pipeline.

The scratch venv gets torch and the other dependencies by seeing this environment's site-packages through a
`.pth` line (a plain path: the editable install's finder there is not run), so nothing is downloaded.
"""
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from wdsr_lib.cli import pipeline

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 1800  # seconds for the whole smoke pipeline on a loaded 2-core machine


def test_pyproject_lists_every_package_and_ships_the_notebooks():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "wdsr_lib").rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert set(tool["packages"]) == on_disk | {"wdsr_lib.notebooks"}, "update [tool.setuptools] packages"
    assert tool["package-dir"]["wdsr_lib.notebooks"] == "notebooks"
    assert "*.ipynb" in tool["package-data"]["wdsr_lib.notebooks"]


def _source_tree(dest: Path) -> Path:
    """What a release contains, copied out of the working tree (so the build writes nothing into the checkout)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "wdsr_lib", dest / "wdsr_lib", ignore=ignore)
    shutil.copytree(ROOT / "notebooks", dest / "notebooks", ignore=ignore)
    return dest


def _scratch_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "_wdsr_test_parent_env.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WDSR_", "JUPYTER_", "PYTHON")) or k == "WDSR_CACHE"}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.slow
def test_wheel_installed_in_a_scratch_venv_runs_the_smoke_pipeline_outside_the_repo(tmp_path):
    src = _source_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(src)], check=True, timeout=600)
    (wheel,) = dist.glob("wdsr_study-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"wdsr_lib/notebooks/{n}" for n in pipeline.NOTEBOOKS} <= names
    assert "wdsr_lib/core/env.py" in names and "wdsr_lib/models/__init__.py" in names

    python = _scratch_venv(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env()
    where = subprocess.run(
        [str(python), "-c", "import wdsr_lib.cli.pipeline as p; "
         "from jupyter_client.kernelspec import KernelSpecManager"
         " as K; print(p.__file__); print(p.NOTEBOOKS_DIR); print(K().get_kernel_spec('python3').argv[0])"],
        cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split("\n")
    venv = str(tmp_path / "venv")
    assert where[0].startswith(venv) and where[1].startswith(venv), where  # the installed copy, not the checkout
    assert Path(where[2]).resolve() == python.resolve(), where  # the kernels run the scratch interpreter too

    run = subprocess.run([str(python.parent / "wdsr"), "reproduce", "--profile", "smoke", "--results-dir",
                          "results", "--figures-dir", "figures"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=DEADLINE)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout)
    assert result["trained"] > 0 and set(result["notebooks"]) == set(pipeline.NOTEBOOKS)
    assert Path(result["report"]).is_file() and Path(result["report"]).is_relative_to(work)
    assert all((Path(result["executed_dir"]) / n).is_file() for n in pipeline.NOTEBOOKS)
    assert len(list((work / "results" / "runs").glob("*/DONE"))) == result["trained"]
    assert list((work / "figures").rglob("*.png"))
