"""The package's import graph: no cycles, and no layer importing a layer above it (docs/design.md, "Layers").

The graph is read from the source (`ast`): every `import` of a `wdsr_lib` module, at module top and inside
functions alike, so an import hidden in a function cannot hide a cycle. The layers, lowest first:

    core  <  models, data  <  engine  <  store  <  study  <  viz  <  cli

A module may import its own sub-package and any lower layer. `models` and `data` share a rank and do not import
each other. Every module must also import cleanly on its own, in a fresh interpreter.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wdsr_lib"
LAYERS = {"core": 0, "models": 1, "data": 1, "engine": 2, "store": 3, "study": 4, "viz": 5, "cli": 6}
# Modules that must not load torch, pandas or matplotlib at import time (`wdsr --help`, the torch-free config and
# registries, the plans behind `wdsr reproduce --list-runs`); checked in a fresh interpreter below.
TORCH_FREE = ("wdsr_lib.core.config", "wdsr_lib.core.registry", "wdsr_lib.core.paper", "wdsr_lib.core.progress",
              "wdsr_lib.store.runs", "wdsr_lib.study.profiles", "wdsr_lib.study.plans", "wdsr_lib.study.commands",
              "wdsr_lib.cli.main")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"}


def imports(path: Path, known: set[str]) -> dict[str, int]:
    """{imported wdsr_lib module: first line} of every import statement in `path` (top level and in functions).

    `from wdsr_lib.x import name` counts `wdsr_lib.x.name` when that is a module, else `wdsr_lib.x`."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known and "." in target:
                target = target.rpartition(".")[0]  # `import wdsr_lib.x.y` with y a name
            if target in known and target != name:
                found.setdefault(target, node.lineno)
    return found


def graph() -> dict[str, dict[str, int]]:
    mods = modules()
    return {name: imports(path, set(mods)) for name, path in mods.items()}


def layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 else "core"  # wdsr_lib/__init__.py: the version only
    return sub, LAYERS[sub]


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_every_sub_package_has_a_layer():
    subs = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} - {"notebooks"}
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules directly in wdsr_lib/ belong in a layer's sub-package: {flat}"
    assert not subs - set(LAYERS), f"sub-packages without a layer in tests/test_layers.py LAYERS: {subs - set(LAYERS)}"


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle) + " (move the shared code to the lower module)"


def test_no_layer_imports_a_higher_one():
    wrong = []
    for module, targets in graph().items():
        sub, rank = layer(module)
        for target, line in targets.items():
            tsub, trank = layer(target)
            if tsub != sub and trank >= rank:
                wrong.append(f"{module} (layer {sub}) imports {target} (layer {tsub}) at line {line}")
    assert not wrong, "a layer imports one at or above it:\n" + "\n".join(wrong)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}}) == []


def test_function_level_imports_say_why():
    """Imports sit at the top of a module unless a comment on the import (or the line above it) says why:
    startup cost, an optional dependency, or the torch-free promise of a low layer."""
    silent = []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            for node in body:
                block = lines[node.lineno - 2:node.end_lineno]
                # a comment on the statement, the line above, or any import of its block of imports (blank lines
                # between import lines belong to the block)
                first = node.lineno - 1
                while first > 0 and (lines[first - 1].strip().startswith(("import ", "from "))
                                     or not lines[first - 1].strip()):
                    first -= 1
                block += lines[max(first - 1, 0):node.lineno]
                if not any("#" in line for line in block):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(sorted(set(silent)))


def test_every_module_imports_alone_and_low_layers_stay_light():
    # Each module imported first, with no other module of the package loaded (third-party ones stay loaded, for
    # speed): an import that works only after another module was imported first fails here.
    code = ("import importlib, sys, traceback\n"
            "for n in sys.argv[1:]:\n"
            "    for m in [m for m in sys.modules if m == 'wdsr_lib' or m.startswith('wdsr_lib.')]:\n"
            "        del sys.modules[m]\n"
            "    try:\n"
            "        importlib.import_module(n)\n"
            "    except Exception as exc:\n"
            "        print(f'{n} does not import on its own: {type(exc).__name__}: {exc}')\n")
    proc = subprocess.run([sys.executable, "-c", code, *modules()], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    probe = ("import sys, importlib\n"
             "for n in sys.argv[1:]: importlib.import_module(n)\n"
             "print(' '.join(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe, *TORCH_FREE], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{', '.join(TORCH_FREE)} must not import {proc.stdout.strip()}"
