"""Copy finished runs from one store into another (the study trains in a pinned checkout's store; its DONE runs
are copied into the main store as they land). The store is content-keyed, so a run folder means the same
computation wherever it lies: a run the destination already holds is left as it is, and checkpoints, logs and
locks stay behind.

    python tools/copy_runs.py ../study-2026-12-06/results results
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

KEEP = ("config.json", "history.csv", "summary.json", "model.pt")  # DONE is written last


def copy_runs(source: Path, dest: Path) -> list[str]:
    """Copy every DONE run of `source`/runs missing from `dest`/runs; returns the names copied."""
    copied = []
    (dest / "runs").mkdir(parents=True, exist_ok=True)
    for done in sorted((source / "runs").glob("*/DONE")):
        run = done.parent
        target = dest / "runs" / run.name
        if (target / "DONE").exists():
            continue
        tmp = dest / "runs" / f".{run.name}.copying"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name in KEEP:
            if (run / name).exists():
                shutil.copy2(run / name, tmp / name)
        shutil.copy2(done, tmp / "DONE")
        if target.exists():  # an unfinished folder of the same run (a partial copy or a local attempt)
            shutil.rmtree(target)
        tmp.rename(target)
        copied.append(run.name)
    return copied


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="results folder holding runs/ to copy from")
    ap.add_argument("dest", type=Path, help="results folder holding runs/ to copy into")
    args = ap.parse_args(argv)
    if not (args.source / "runs").is_dir():
        print(f"{args.source}/runs does not exist; pass the results folder of the store to copy from.",
              file=sys.stderr)
        return 2
    names = copy_runs(args.source, args.dest)
    print(f"copied {len(names)} run(s)" + (": " + ", ".join(names) if names else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
