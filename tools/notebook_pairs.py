"""The notebooks as jupytext pairs: `notebooks/NN_name.py` (py:percent) is the source, `NN_name.ipynb` what runs.

papermill (`wdsr reproduce`) and nbval execute the `.ipynb`; people edit and review the `.py` (readable diffs, can
be linted or run as a script). After editing a `.py`, re-sync its `.ipynb` with `make notebooks`
(`python tools/notebook_pairs.py`): jupytext's `--update` rewrites the inputs and keeps the notebook metadata
and the cell ids of unchanged cells, then every output is stripped so the committed `.ipynb` stays clean. In
JupyterLab (`make lab`) jupytext's contents manager opens either file as the pair and saves both; the folder's
`jupytext.toml` declares the pairing. `tests/test_notebooks.py` fails when a pair is out of sync.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

from wdsr_lib.cli.pipeline import NOTEBOOKS_DIR


def cell_inputs(nb) -> list[tuple[str, str, list]]:
    """What a pair must agree on: each cell's type, source and tags, in order."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def pairs(folder: Path = NOTEBOOKS_DIR) -> list[tuple[Path, Path]]:
    """The (`.py`, `.ipynb`) pairs of `folder`, by notebook name (`NN_*.py`)."""
    return [(py, py.with_suffix(".ipynb")) for py in sorted(Path(folder).glob("[0-9][0-9]_*.py"))]


def out_of_sync(folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """One line per pair whose `.ipynb` is missing or differs from its `.py` (cell types, sources, tags,
    kernel), or carries outputs; empty when every pair is in sync."""
    import jupytext
    import nbformat

    problems = []
    for py, ipynb in pairs(folder):
        if not ipynb.is_file():
            problems.append(f"{ipynb.name} is missing; run `make notebooks`.")
            continue
        text, nb = jupytext.read(py), nbformat.read(ipynb, as_version=4)
        if cell_inputs(text) != cell_inputs(nb):
            problems.append(f"{ipynb.name} differs from {py.name}; run `make notebooks`.")
        elif text.metadata.get("kernelspec") != nb.metadata.get("kernelspec"):
            problems.append(f"{ipynb.name} has another kernel than {py.name}; run `make notebooks`.")
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells):
            problems.append(f"{ipynb.name} carries outputs; run `make notebooks` to strip them.")
    return problems


def strip_outputs(paths: Iterable[Path]) -> None:
    """Clear outputs and execution counts in place, leaving sources, ids and metadata as they are."""
    import nbformat

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                cell.outputs, cell.execution_count, dirty = [], None, True
        if dirty:
            nbformat.write(nb, path)


def sync(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Rewrite every `.ipynb` of `folder` from its `.py` (jupytext `--update`), outputs stripped; returns them."""
    from jupytext.cli import jupytext as jupytext_cli

    found = pairs(folder)
    if not found:
        raise FileNotFoundError(f"No NN_name.py notebooks in {folder}.")
    jupytext_cli(["--quiet", "--update", "--to", "ipynb", *map(str, (py for py, _ in found))])
    written = [ipynb for _, ipynb in found]
    strip_outputs(written)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python tools/notebook_pairs.py [--check] [folder]`: sync the pairs, or only report (exit 1) drift."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    folder = Path(rest[0]) if rest else NOTEBOOKS_DIR
    if check:
        problems = out_of_sync(folder)
        print("\n".join(problems) or f"every notebook pair in {folder} is in sync")
        return 1 if problems else 0
    for path in sync(folder):
        print("synced", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
