"""The parameter / MAC table of every registry preset (`wdsr models`), the published counts beside ours."""
from __future__ import annotations

from wdsr_lib.core.registry import presets
from wdsr_lib.models.build import build_model, count_macs_for_output, count_parameters


def model_table(scale: int = 2) -> list[dict]:
    """One row per preset: label, model, overrides, our parameter count, the paper's, MACs (G) for 720p out."""
    rows = []
    for label, name, overrides, paper, source in presets():
        model = build_model(name, scale, **overrides)
        params = count_parameters(model)
        macs = count_macs_for_output(model, scale)
        rows.append({"model": label, "name": name, "overrides": overrides, "scale": scale, "params": params,
                     "paper_params": paper if scale == 2 else None, "source": source, "gmacs_720p": macs / 1e9})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'model':<22}{'x':>3}{'params':>13}{'paper':>13}{'GMACs@720p':>12}  source",
             "-" * 90]
    for r in rows:
        paper = f"{r['paper_params']:,}" if r["paper_params"] else "-"
        lines.append(f"{r['model']:<22}{r['scale']:>3}{r['params']:>13,}{paper:>13}{r['gmacs_720p']:>12.1f}"
                     f"  {r['source']}")
    return "\n".join(lines)
