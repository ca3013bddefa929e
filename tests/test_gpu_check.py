"""`make gpu-check` (tools/gpu_check.py): its CPU dry run (tiny shapes) runs every part and writes its reports."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_check_dry_run_runs_every_part_on_the_cpu(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--dry-run", "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "gpu-dry-run.json").read_text())
    assert result["dry_run"] and result["ok"] and result["device"] == "cpu"
    parts = result["parts"]
    assert set(parts) == {"peak", "steps", "torchrun", "syncbn", "nondeterminism", "reproduce"}
    assert {f"{m}/{p}/{c}" for m in ("edsr", "wdsr_a", "wdsr_b") for p in ("fp32", "tf32")
            for c in ("eager", "compiled")} == set(parts["steps"])
    assert all(r["gflops"] > 0 for r in parts["steps"].values())
    assert parts["torchrun"]["wdsr_train"]["world_size"] == 1 and parts["syncbn"]["wdsr_train"]["norm"] == "batch"
    group = parts["syncbn"]["process_group"]
    assert group["backend"] == "gloo" and group["all_reduce"] == [1.0] * 4 and group["sync_batch_norm_layers"] > 0
    assert parts["nondeterminism"]["identical_history"]  # on the CPU two identical runs are bitwise equal
    assert parts["reproduce"]["listed_steps"] > 0
    md = (tmp_path / "gpu-dry-run.md").read_text()
    assert md.startswith("# GPU check (dry run") and "| wdsr_b/tf32/compiled |" in md


def test_without_a_gpu_the_check_refuses_and_points_at_the_dry_run():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr
