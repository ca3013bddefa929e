"""Keep the executed store-only notebooks as nbval references (issue 24): `make test` re-executes each against a
copy of the committed store and nbval compares every text output (tables, verdicts, printed numbers) with the
reference, so "the committed artefacts regenerate from the committed store" is a test.

A reference is `results/executed/<profile>/NN.ipynb` as `wdsr reproduce --profile <profile> --store-only` wrote
it, with papermill's injected parameters reduced to the profile (so the test's $WDSR_RESULTS_DIR /
$WDSR_FIGURES_DIR apply), per-cell timing metadata dropped and image data dropped (nbval does not compare images
without nbdime; their text stays). Profiles: the finished ones whose store no longer changes.

    .venv/bin/wdsr reproduce --profile cpu_v1 --store-only && python tools/nbval_reference.py
    python tools/nbval_reference.py --check     # exit 1 when a reference's code differs from its notebook's
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("cpu_v1", "quick")
NOTEBOOKS = ("01_table1", "02_fig3_normalization", "03_fig4_bn_lr", "04_edsr_comparison", "05_ablations")
DEST = ROOT / "tests" / "data" / "nbval"
IMAGES = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf")


def _code(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def reference(executed: dict, profile: str) -> dict:
    nb = json.loads(json.dumps(executed))
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        cell["metadata"] = {"tags": tags} if tags else {}
        if "injected-parameters" in tags:
            cell["source"] = f'# Parameters\nprofile = "{profile}"\n'
            cell["outputs"] = []
        for out in cell.get("outputs", []):
            for key in IMAGES:
                out.get("data", {}).pop(key, None)
            out.pop("metadata", None) if out.get("output_type") != "stream" else None
    nb["metadata"] = {k: v for k, v in nb["metadata"].items() if k in ("kernelspec", "language_info")}
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare the references' code with the notebooks'")
    args = ap.parse_args(argv)
    stale = []
    for profile in PROFILES:
        for name in NOTEBOOKS:
            dest = DEST / profile / f"{name}.ipynb"
            source = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
            if args.check:
                if not dest.exists() or _code(json.loads(dest.read_text())) != _code(source):
                    stale.append(str(dest.relative_to(ROOT)))
                continue
            executed = ROOT / "results" / "executed" / profile / f"{name}.ipynb"
            nb = json.loads(executed.read_text())
            if _code(nb) != _code(source):
                sys.exit(f"{executed} was executed from other code than notebooks/{name}.ipynb; run "
                         f"`wdsr reproduce --profile {profile} --store-only` first.")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(json.dumps(reference(nb, profile), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            print(f"wrote {dest.relative_to(ROOT)}")
    if stale:
        print("stale nbval references (regenerate: wdsr reproduce --store-only, then tools/nbval_reference.py): "
              + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
