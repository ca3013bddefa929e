"""The CPU study pilot's figure (`figures/<profile>/pilot_gaps.png`): the Table 1 gaps of the pilot runs over
iterations (`study.pilot`), with the study's budget, the pilot's lr halving and the study's own endpoint gaps."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from wdsr_lib.study import pilot, plans
from wdsr_lib.viz import plots


def write(results_dir: str | os.PathLike = "results", figures_dir: str | os.PathLike = "figures",
          profile: str = "cpu") -> Optional[Path]:
    """Draw and save the pilot's gap figure; None while no pilot run has reached its first checkpoint."""
    hist = pilot.history(results_dir, profile)
    if hist.empty:
        return None
    partial = " (PARTIAL: unfinished runs read from their last checkpoint)" if hist["partial"].any() else ""
    fig = plots.gap_figure(hist, list(pilot.PAIRS), title=f"CPU study pilot: Table 1 gaps at 1 block, seed 0{partial}")
    _mark_the_study(fig.axes[0], results_dir, profile)
    plots.save_figure(fig, Path(figures_dir) / profile, "pilot_gaps")
    return Path(figures_dir) / profile / "pilot_gaps.png"


def _mark_the_study(ax, results_dir, profile: str) -> None:
    """On the pilot's gap panel: its lr halving, the study's budget, and the study's endpoint gaps there (seed mean
    with its 95% t-interval), each in its pair's colour."""
    runs = list(plans.pilot(profile))
    halve = runs[0].config.train.lr_halve_every if runs else None
    study = pilot.study_gaps(results_dir, profile)
    if halve:
        ax.axvline(halve, color="grey", linestyle=":", linewidth=1)
        ax.annotate("pilot's lr halved", (halve, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8, color="grey")
    if study["iterations"]:
        it = study["iterations"]
        ax.axvline(it, color="black", linestyle="--", linewidth=0.8)
        ax.annotate("study budget (lr halved at 80%)", (it, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -24), textcoords="offset points", fontsize=8)
        colours = {t.get_text(): h.get_color() for t, h in zip(ax.get_legend().texts, ax.get_legend().legend_handles)}
        for i, (pair, d) in enumerate(study["gaps"].items()):
            yerr = None if d.low is None else [[d.mean - d.low], [d.high - d.mean]]
            ax.errorbar([it + (i - 1) * 250], [d.mean], yerr=yerr, fmt="D", markersize=6, capsize=4,
                        color=colours.get(pair, "black"), markeredgecolor="black",
                        label=f"{pair}: study endpoint ({d.n} seeds, 95% CI)")
        handles, labels = ax.get_legend_handles_labels()
        labels = [lab if "study" in lab else f"{lab}: pilot, seed 0" for lab in labels]
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.figure.set_size_inches(13, 4.8)
        ax.figure.tight_layout()
