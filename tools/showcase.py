"""Keep the showcase runs' weights in git: seed 0 of each WDSR Table 1 arm of the `cpu` profile
(`wdsr_lib.viz.qualitative.showcase_runs`), so the explorer and the qualitative figure show pictures on a fresh clone.

Weights are git-ignored (`*.pt`); this writes each finished showcase run's `weights.sha256` (its model.pt is the
one its record was measured on: both come from the same training) and adds both files with `git add -f`.
Runs still training are listed as missing; rerun as the study lands them.

    python tools/showcase.py            # add what is finished
    python tools/showcase.py --check    # list the showcase runs and whether git keeps their weights
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wdsr_lib.viz.qualitative import SHOWCASE_PROFILE, showcase_runs  # noqa: E402  (after the path insert)
from wdsr_lib.store.runs import WEIGHTS_DIGEST, check_weights, write_weights_digest  # noqa: E402


def tracked(path: Path) -> bool:
    found = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT, capture_output=True)
    return found.returncode == 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default=str(ROOT / "results"))
    ap.add_argument("--check", action="store_true", help="only list the showcase runs and what git keeps")
    args = ap.parse_args(argv)
    missing = 0
    for run in showcase_runs(args.results_dir):
        weights = run / "model.pt"
        if not ((run / "DONE").is_file() and weights.is_file()):
            print(f"{'missing':11} {run.name} (not finished here, or without model.pt)")
            missing += 1
            continue
        if not args.check:
            if not (run / WEIGHTS_DIGEST).exists():
                write_weights_digest(run)
            check_weights(run)  # DamagedRecord where model.pt does not match its digest
            subprocess.run(["git", "add", "-f", str(weights), str(run / WEIGHTS_DIGEST)], cwd=ROOT, check=True)
        state = "kept in git" if tracked(weights) else "not in git"
        print(f"{state:11} {run.name} ({weights.stat().st_size / 1e6:.1f} MB)")
    print(f"profile {SHOWCASE_PROFILE}: {missing} showcase run(s) not finished yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
