"""Where a notebook's parameters point: environment overrides and the project root (`notebooks/README.md`).

Each notebook's `parameters` cell holds plain literals (`profile = "quick"`, `results_dir = "results"`,
`figures_dir = "figures"`); its setup cell passes them through the three functions below, so that one rule holds
under every way a notebook is run:

- **Overrides.** `$WDSR_PROFILE`, `$WDSR_RESULTS_DIR` and `$WDSR_FIGURES_DIR`, when set, replace the notebook's
  own default parameter (nbval in `make test` points them at the smoke profile and a scratch store). A parameter
  given explicitly to papermill (`papermill -p profile quick`, `-y`, `-f`: papermill's injected "# Parameters"
  cell) wins over the variable: the explicit word is the later, more specific one. Either way, a variable and a
  parameter that differ print one line saying which is used. `wdsr reproduce` hides the variables from its
  kernels, so its parameters win there too.
- **Relative paths resolve against the project root**, never the kernel's working directory: JupyterLab starts a
  kernel in `notebooks/`, papermill and nbval in wherever they were told; `"results"` means `<root>/results` in
  all of them. The root is `$WDSR_ROOT` when set, else the nearest folder at or above the working directory
  that holds this project's `pyproject.toml` (name `wdsr-study`), else the working directory itself (e.g. a
  notebook copied out of an installed package). Absolute paths are kept as given.

Torch-free; the variables are listed with the others in `wdsr_lib/core/env.py`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from wdsr_lib.core import env

PROJECT_NAME = "wdsr-study"
_NAME_LINE = re.compile(r'^name\s*=\s*"([^"]+)"', re.MULTILINE)


def _set(name: str) -> Optional[str]:
    """The variable's value when it (or its deprecated alias) is set and non-empty, else None."""
    names = [name] + [old for old, new in env.DEPRECATED.items() if new == name]
    return env.get(name) if any(os.environ.get(n) for n in names) else None


def _is_project(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    match = _NAME_LINE.search(pyproject.read_text(errors="replace"))
    return match is not None and match.group(1) == PROJECT_NAME


def project_root(start: Optional[str | os.PathLike] = None) -> Path:
    """The folder relative notebook paths resolve against (see the module docstring), absolute.

    Args:
        start: where the search for `pyproject.toml` begins (default: the working directory).
    Raises:
        NotADirectoryError: `$WDSR_ROOT` is set but is not a folder.
    """
    explicit = _set("WDSR_ROOT")
    if explicit is not None:
        root = Path(explicit).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"$WDSR_ROOT is {explicit!r}, which is not a folder; point it at the project "
                                     "root (the folder holding pyproject.toml) or unset it.")
        return root
    here = Path(start if start is not None else os.getcwd()).resolve()
    return next((folder for folder in (here, *here.parents) if _is_project(folder)), here)


def resolve(path: str | os.PathLike, start: Optional[str | os.PathLike] = None) -> str:
    """`path` made absolute: kept when absolute, else joined to `project_root(start)` (`~` expanded)."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else project_root(start) / p)


def injected_by_papermill(parameter: str) -> bool:
    """Whether this kernel ran papermill's injected-parameters cell (its source starts "# Parameters") assigning
    `parameter`: an explicit `papermill -p NAME VALUE` (or `-y` / `-f`), as opposed to the notebook's default."""
    try:
        from IPython import get_ipython  # optional dependency: only inside a Jupyter kernel
    except ImportError:
        return False
    shell = get_ipython()
    history = getattr(shell, "user_ns", {}).get("In", []) if shell is not None else []
    assign = re.compile(rf"^{re.escape(parameter)}\s*=", re.MULTILINE)
    return any(src.lstrip().startswith("# Parameters") and assign.search(src) for src in history
               if isinstance(src, str))


def _override(variable: str, parameter: str, value: str) -> str:
    """`value` of `parameter`, or $`variable` when set, by the rule of the module docstring (said when they
    differ)."""
    given = _set(variable)
    if given is None or given == value:
        return value
    if injected_by_papermill(parameter):
        print(f"${variable} ({given}) is not used: papermill was given {parameter} = {value!r} explicitly.")
        return value
    print(f"${variable} ({given}) replaces this notebook's {parameter} parameter ({value!r}).")
    return given


def profile_from_env(profile: str) -> str:
    """The profile a notebook runs: an explicit papermill parameter, else $WDSR_PROFILE when set (nbval, `make
    test`), else the parameter."""
    return _override("WDSR_PROFILE", "profile", profile)


def results_dir_from_env(results_dir: str) -> str:
    """The results store a notebook uses (as `profile_from_env`, with $WDSR_RESULTS_DIR), resolved (`resolve`)."""
    return resolve(_override("WDSR_RESULTS_DIR", "results_dir", results_dir))


def figures_dir_from_env(figures_dir: str) -> str:
    """The figure folder a notebook writes to (as `profile_from_env`, with $WDSR_FIGURES_DIR), resolved."""
    return resolve(_override("WDSR_FIGURES_DIR", "figures_dir", figures_dir))


def setup(profile: str, results_dir: str, figures_dir: str) -> tuple[str, str, str]:
    """A pipeline notebook's (profile, results store, figure folder) after the overrides above, printed.

    Figures go to `<figures_dir>/<profile>/`, so the profiles' figures stand side by side.
    """
    profile = profile_from_env(profile)
    results_dir = results_dir_from_env(results_dir)
    figures_dir = str(Path(figures_dir_from_env(figures_dir)) / profile)
    print(f"profile {profile}; results in {results_dir}; figures in {figures_dir}")
    return profile, results_dir, figures_dir
