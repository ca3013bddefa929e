"""Paper-style figures from the study's DataFrames (matplotlib, Agg): WDSR Fig. 3/4, Table 1, the ablations.

Every function takes a frame from `study.final_frame` / `study.history_frame`, returns a matplotlib Figure
with labelled axes, a legend and a title, and touches no files; `save_figure` writes PNG (150 dpi) and PDF.
Deviation: the paper's figures are on DIV2K; ours say which data they come from in the title, and the paper's
Table 1 numbers get their own panel, because sample-photo PSNRs are not comparable with DIV2K PSNRs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: notebooks under papermill and tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .atomic import atomic_file  # noqa: E402

FAMILY_STYLE = {"EDSR": ("tab:blue", "o"), "WDSR-A": ("tab:orange", "s"), "WDSR-B": ("tab:green", "^")}
DPI = 150


def save_figure(fig: plt.Figure, figures_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write `fig` as `<figures_dir>/<name>.png` (150 dpi) and `.pdf`; return both paths."""
    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        # No creation date in the PDF: a rerun from a warm store rewrites byte-identical figures.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        with atomic_file(path) as f:  # wdsr_lib/atomic.py: never a truncated figure
            fig.savefig(f, format=path.suffix[1:], dpi=DPI, bbox_inches="tight", metadata=metadata)
    return paths


def _data_note(frame: pd.DataFrame) -> str:
    sources = sorted(set(frame["source"].dropna())) if "source" in frame else []
    if sources == ["div2k"]:
        return "DIV2K val, RGB, shave s+6"
    return "sample photos (not comparable with DIV2K), RGB, shave s+6"


def _mean_curve(frame: pd.DataFrame, metric: str, keys: Sequence[str]) -> pd.DataFrame:
    """Mean (and std over seeds) of `metric` per iteration for each group of `keys`."""
    sub = frame[frame["metric"] == metric]
    return sub.groupby(list(keys) + ["iteration"])["value"].agg(["mean", "std", "count"]).reset_index()


def training_curves(history: pd.DataFrame, hue: str, title: str, hue_format: str = "{}",
                    order: Optional[Sequence] = None) -> plt.Figure:
    """WDSR Fig. 3 / 4: training L1 loss (left) and validation PSNR (right) vs iterations, one line per `hue`.

    Args:
        history: `study.history_frame` output (iteration, metric, value and the `hue` label column).
        hue: label column that tells the lines apart ("norm" for Fig. 3, "lr" for Fig. 4).
        hue_format: legend format of a hue value, e.g. "lr = {:g}".
    """
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4.2))
    levels = list(order) if order is not None else sorted(history[hue].dropna().unique(), key=str)
    for i, level in enumerate(levels):
        part = history[history[hue] == level]
        color = f"C{i}"
        for ax, metric in ((ax_loss, "train_loss"), (ax_psnr, "val_psnr")):
            curve = _mean_curve(part, metric, [hue])
            if curve.empty:
                continue
            ax.plot(curve["iteration"], curve["mean"], color=color, marker=".", label=hue_format.format(level))
            if (curve["count"] > 1).any():
                ax.fill_between(curve["iteration"], curve["mean"] - curve["std"].fillna(0),
                                curve["mean"] + curve["std"].fillna(0), color=color, alpha=0.2)
    ax_loss.set(xlabel="iteration", ylabel="training L1 loss (pixels, 0-255)", title="Training loss")
    ax_psnr.set(xlabel="iteration", ylabel="validation PSNR (dB)", title="Validation PSNR")
    for ax in (ax_loss, ax_psnr):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(f"{title}\n({_data_note(history)})")
    fig.tight_layout()
    return fig


def table1_figure(final: pd.DataFrame, params: Optional[pd.DataFrame] = None) -> plt.Figure:
    """WDSR Table 1 as PSNR vs parameters: ours (left, mean +- std over seeds) and the paper's (right, hollow).

    One line per model family, a marker per block count, annotated with the number of blocks.
    """
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(11, 4.2))
    for family, (color, marker) in FAMILY_STYLE.items():
        part = final[final["family"] == family]
        if part.empty:
            continue
        g = part.groupby("blocks").agg(params=("params", "mean"), psnr=("psnr", "mean"),
                                       std=("psnr", "std")).reset_index().sort_values("blocks")
        ax.errorbar(g["params"] / 1e6, g["psnr"], yerr=g["std"].fillna(0), color=color, marker=marker,
                    capsize=3, label=family)
        for _, row in g.iterrows():
            ax.annotate(f"{int(row['blocks'])}", (row["params"] / 1e6, row["psnr"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8, color=color)
        paper = part.drop_duplicates("blocks").dropna(subset=["paper_psnr"]).sort_values("blocks")
        if not paper.empty:
            ax_paper.plot(paper["paper_params_m"], paper["paper_psnr"], color=color, marker=marker,
                          markerfacecolor="none", linestyle="--", label=f"{family} (paper)")
    ax.set(xlabel="parameters (M, as trained with weight norm)", ylabel="PSNR (dB)",
           title=f"Ours ({_data_note(final)})")
    ax_paper.set(xlabel="parameters (M, paper)", ylabel="PSNR (dB)", title="WDSR paper Table 1 (DIV2K val)")
    for a in (ax, ax_paper):
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend()
    fig.suptitle("WDSR Table 1: accuracy at equal parameter budgets (numbers = residual blocks)")
    fig.tight_layout()
    return fig


def ablation_figure(final: pd.DataFrame, x: str, xlabel: str, title: str,
                    reference: Optional[float] = None) -> plt.Figure:
    """PSNR vs an ablation variable `x` (WDSR-A r, WDSR-B e), mean +- std over seeds, parameters annotated."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    g = final.groupby(x).agg(psnr=("psnr", "mean"), std=("psnr", "std"), params=("params", "mean")).reset_index()
    g = g.sort_values(x)
    ax.errorbar(g[x], g["psnr"], yerr=g["std"].fillna(0), marker="o", capsize=3, label="ours")
    for _, row in g.iterrows():
        if np.isfinite(row["params"]):
            ax.annotate(f"{row['params'] / 1e3:.0f}k", (row[x], row["psnr"]), textcoords="offset points",
                        xytext=(4, -12), fontsize=8)
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle=":", label="paper's choice")
    ax.set(xlabel=xlabel, ylabel="PSNR (dB)", title=f"{title}\n({_data_note(final)})")
    ax.set_xticks(list(g[x]))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def bar_figure(final: pd.DataFrame, label: str, title: str, metrics: Sequence[str] = ("psnr",),
               metric_labels: Optional[dict] = None, floor: Optional[float] = None) -> plt.Figure:
    """Grouped bars of final PSNR-like metrics per `label` value (baselines, L1/L2, x8), bicubic as a floor line."""
    metric_labels = metric_labels or {}
    g = final.groupby(label)[list(metrics)].mean()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    width = 0.8 / len(metrics)
    xs = np.arange(len(g))
    for i, metric in enumerate(metrics):
        ax.bar(xs + i * width - 0.4 + width / 2, g[metric], width, label=metric_labels.get(metric, metric))
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="black", linestyle="--", label="bicubic")
    values = g.to_numpy(dtype=float).ravel()
    if floor is not None and np.isfinite(floor):
        values = np.append(values, floor)
    values = values[np.isfinite(values)]
    if values.size:  # zoom on the differences, bicubic line included
        ax.set_ylim(values.min() - 1.0, values.max() + 0.5)
    ax.set_xticks(xs, [str(v) for v in g.index])
    ax.set(xlabel=label, ylabel="PSNR (dB)", title=f"{title}\n({_data_note(final)})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    fig.tight_layout()
    return fig


def val_curves(history: pd.DataFrame, hue: str, title: str) -> plt.Figure:
    """Validation PSNR vs iterations, one line per `hue` (EDSR Fig. 4: x4 from x2 vs from scratch)."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, level in enumerate(sorted(history[hue].dropna().unique(), key=str)):
        curve = _mean_curve(history[history[hue] == level], "val_psnr", [hue])
        ax.plot(curve["iteration"], curve["mean"], color=f"C{i}", marker=".", label=str(level))
    ax.set(xlabel="iteration", ylabel="validation PSNR (dB)", title=f"{title}\n({_data_note(history)})")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    return fig
