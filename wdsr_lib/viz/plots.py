"""Paper-style figures from the study's DataFrames (matplotlib, Agg): WDSR Fig. 3/4, Table 1, the ablations.

Every function takes a frame from `frames.final_frame` / `frames.history_frame`, returns a matplotlib Figure
with labelled axes, a legend and a title, and touches no files; `save_figure` writes PNG (150 dpi) and PDF, and its
value shows the PNG inline when a notebook cell ends with it.
Deviation: the paper's figures are on DIV2K; ours say which data they come from in the title, and the paper's
Table 1 numbers get their own panel, because sample-photo PSNRs are not comparable with DIV2K PSNRs.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: notebooks under papermill and tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wdsr_lib.core.atomic import atomic_file  # noqa: E402
from wdsr_lib.core.paper import TABLE1  # noqa: E402
from wdsr_lib.core.registry import DATA_SOURCES, FAMILIES  # noqa: E402
from wdsr_lib.core.text import plural  # noqa: E402
from wdsr_lib.study.verdicts import (by_seed, crossed, final_score, image_cells, interval,  # noqa: E402
                                     paired_cells, t_band)

DPI = 150


class SavedFigure(list):
    """The paths `save_figure` wrote ([png, pdf]); as a notebook cell's value it shows the PNG inline.

    matplotlib runs on Agg here (no inline backend, so no figure is ever shown twice); a study notebook ends a
    figure cell with `plots.save_figure(...)` and Jupyter (JupyterLab, papermill's executed copies) displays the
    written PNG under the cell through `_repr_png_`. Anywhere else it is the plain list of paths.
    """

    def _repr_png_(self) -> Optional[bytes]:
        png = next((p for p in self if p.suffix == ".png"), None)
        return png.read_bytes() if png is not None and png.is_file() else None

    def __repr__(self) -> str:
        return f"figure written: {', '.join(str(p) for p in self)}"


def save_figure(fig: plt.Figure, figures_dir: str | os.PathLike, name: str) -> SavedFigure:
    """Write `fig` as `<figures_dir>/<name>.png` (150 dpi) and `.pdf`; return both paths (shown inline as the
    PNG when a notebook cell ends with this call; see `SavedFigure`)."""
    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = SavedFigure([out / f"{name}.png", out / f"{name}.pdf"])
    for path in paths:
        # No creation date in the PDF: a rerun from a warm store rewrites byte-identical figures.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        with atomic_file(path) as f:  # wdsr_lib/core/atomic.py: never a truncated figure
            fig.savefig(f, format=path.suffix[1:], dpi=DPI, bbox_inches="tight", metadata=metadata)
    return paths


def _data_note(frame: pd.DataFrame) -> str:
    sources = sorted(set(frame["source"].dropna())) if "source" in frame else []
    source = DATA_SOURCES.get(sources[0]) if len(sources) == 1 else None
    return (source or DATA_SOURCES["sample"]).figure_note


def _seed_note(seeds: int) -> str:
    return "one seed, no band" if seeds <= 1 else f"mean of {seeds} seeds, band = 95% t-interval over seeds"


def _half(values) -> float:
    """Half-width of the 95% t-interval of a seed mean (0 for one seed): the error bars' size."""
    d = interval(values)
    return float(d.high - d.mean) if d.high is not None else 0.0


def _seaborn():
    import seaborn as sns  # startup: seaborn takes a second to import; only this figure uses it

    sns.set_theme(style="whitegrid", context="notebook")
    return sns


def training_curves(history: pd.DataFrame, hue: str, title: str, hue_format: str = "{}",
                    order: Optional[Sequence] = None, style: Optional[str] = None) -> plt.Figure:
    """WDSR Fig. 3 / 4: training L1 loss (left) and validation PSNR (right) vs iterations, one line per `hue`
    (and `style`), seed-averaged with a 95% confidence band (seaborn) when there are several seeds.

    Args:
        history: `frames.history_frame` output (iteration, metric, value and the label columns).
        hue: label column that tells the lines apart ("norm" for Fig. 3, "lr" for Fig. 4).
        hue_format: legend format of a hue value, e.g. "lr = {:g}".
        style: a second label column drawn as the line style (e.g. "lr" in Fig. 3).
    """
    sns = _seaborn()
    frame = history[history["metric"].isin(["train_loss", "val_psnr"])].copy()
    if order is None:  # by value, so learning rates read 1e-5, 1e-4, 1e-3 rather than in string order
        order = sorted(frame[hue].dropna().unique(), key=lambda v: (isinstance(v, str), v))
    frame[hue] = frame[hue].map(lambda v: hue_format.format(v))
    if style is not None:
        frame[style] = frame[style].map(lambda v: f"{style} = {v:g}" if isinstance(v, float) else f"{style} = {v}")
    levels = [hue_format.format(v) for v in order]
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric, ylabel, name in ((ax_loss, "train_loss", "training L1 loss (pixels, 0-255)", "Training loss"),
                                     (ax_psnr, "val_psnr", "validation PSNR (dB)", "Validation PSNR")):
        part = frame[frame["metric"] == metric]
        if part.empty:
            continue
        sns.lineplot(data=part, x="iteration", y="value", hue=hue, hue_order=[v for v in levels
                                                                             if v in set(part[hue])],
                     style=style, errorbar=t_band, marker=".", ax=ax)
        ax.set(xlabel="iteration", ylabel=ylabel, title=name)
        if metric == "val_psnr":  # zoom on the converged part: the first validations sit far below
            tail = part[part["iteration"] >= part["iteration"].max() * 0.1]["value"]
            if len(tail):
                ax.set_ylim(tail.min() - 0.2, tail.max() + 0.2)
            if ax.get_legend() is not None:
                sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        elif ax.get_legend() is not None:
            ax.get_legend().remove()  # one legend, beside the right panel
    seeds = history["seed"].nunique() if "seed" in history else 1
    fig.suptitle(f"{title}\n({_data_note(history)}; {_seed_note(seeds)})")
    fig.tight_layout()
    return fig


def gap_figure(history: pd.DataFrame, pairs: Sequence[tuple[str, str]], by: str = "blocks",
               family: str = "family", title: str = "") -> plt.Figure:
    """Paired validation-PSNR gaps a - b against iterations (one panel per `by` value), seed-averaged with a
    95% band: where the Table 1 orderings settle (WDSR Table 1; the CPU study's pilot)."""
    sns = _seaborn()
    val = history[history["metric"] == "val_psnr"]
    panels = sorted(val[by].dropna().unique())
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(max(9, 6 * len(panels)), 4.5), squeeze=False)
    for ax, level in zip(axes[0], panels):
        sub = val[val[by] == level].pivot_table(index=["seed", "iteration"], columns=family, values="value")
        rows = []
        for a, b in pairs:
            if a in sub and b in sub:
                g = (sub[a] - sub[b]).dropna().reset_index(name="gap")
                rows.append(g.assign(pair=f"{a} - {b}"))
        if rows:
            sns.lineplot(data=pd.concat(rows), x="iteration", y="gap", hue="pair", errorbar=t_band, marker=".",
                         ax=ax)
            ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="iteration", ylabel="validation PSNR gap (dB)", title=f"{by} = {level}")
    seeds = history["seed"].nunique() if "seed" in history else 1
    fig.suptitle(f"{title}\n({_data_note(history)}; {_seed_note(seeds)})")
    fig.tight_layout()
    return fig


def table1_figure(final: pd.DataFrame, params: Optional[pd.DataFrame] = None) -> plt.Figure:
    """WDSR Table 1 as PSNR vs parameters: ours (left: the final PSNR on the test images, what the verdicts
    read (`verdicts` rule 1), seed mean with its 95% t-interval; the validation endpoint where a store has no
    final PSNR) and the paper's (right, hollow). One line per model family, a marker per block count, annotated
    with the blocks."""
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(11, 4.2))
    metric = final_score(final)
    for family in TABLE1:  # the families of WDSR Table 1, in their colours (core.registry.FAMILIES)
        color, marker = FAMILIES[family].color, FAMILIES[family].marker
        part = final[final["family"] == family]
        if part.empty:
            continue
        rows = []
        for blocks, grp in part.groupby("blocks"):
            rows.append({"blocks": blocks, "params": grp["params"].mean(), "psnr": interval(grp[metric]).mean,
                         "half": _half(grp[metric])})
        g = pd.DataFrame(rows).sort_values("blocks")
        ax.errorbar(g["params"] / 1e6, g["psnr"], yerr=g["half"], color=color, marker=marker,
                    capsize=3, label=family)
        for _, row in g.iterrows():
            ax.annotate(f"{int(row['blocks'])}", (row["params"] / 1e6, row["psnr"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8, color=color)
        paper = part.drop_duplicates("blocks").dropna(subset=["paper_psnr"]).sort_values("blocks")
        if not paper.empty:
            ax_paper.plot(paper["paper_params_m"], paper["paper_psnr"], color=color, marker=marker,
                          markerfacecolor="none", linestyle="--", label=f"{family} (paper)")
    ax.set(xlabel="parameters (M, as trained with weight norm)",
           ylabel=f"PSNR (dB, {'endpoint' if metric == 'endpoint' else 'final, test images'}; bars: 95% CI)")
    ax.set_title("Ours: " + textwrap.fill(_data_note(final), 60), fontsize=10)
    ax_paper.set(xlabel="parameters (M, paper)", ylabel="PSNR (dB)", title="WDSR paper Table 1 (DIV2K val)")
    for a in (ax, ax_paper):
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend()
    fig.suptitle("WDSR Table 1: accuracy at equal parameter budgets (numbers = residual blocks)")
    fig.tight_layout()
    return fig


def _bar_note(seeds: int) -> str:
    return "one seed, no bars" if seeds <= 1 else f"{seeds} seeds, bars = 95% t-interval"


def ablation_figure(final: pd.DataFrame, x: str, xlabel: str, title: str,
                    reference: Optional[float] = None) -> plt.Figure:
    """PSNR vs an ablation variable `x` (WDSR-A r, WDSR-B e): the final PSNR on the test images (what the
    verdicts read; the validation endpoint where a store has none), mean over seeds with its 95% t-interval,
    parameters annotated."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    m = final_score(final)
    g = final.groupby(x).agg(psnr=(m, "mean"), params=("params", "mean"), seeds=(m, "count")).reset_index()
    g["half"] = [_half(final.loc[final[x] == v, m]) for v in g[x]]
    g = g.sort_values(x)
    ax.errorbar(g[x], g["psnr"], yerr=g["half"], marker="o", capsize=3,
                label=f"ours ({_bar_note(int(g['seeds'].max()) if len(g) else 0)})")
    for _, row in g.iterrows():
        if np.isfinite(row["params"]):
            ax.annotate(f"{row['params'] / 1e3:.0f}k", (row[x], row["psnr"]), textcoords="offset points",
                        xytext=(4, -12), fontsize=8)
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle=":", label="paper's choice")
    ax.set(xlabel=xlabel, ylabel=f"PSNR (dB, {'endpoint' if m == 'endpoint' else 'final, test images'})",
           title=f"{title}\n({_data_note(final)})")
    ax.set_xticks(list(g[x]))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def bar_figure(final: pd.DataFrame, label: str, title: str, metrics: Sequence[str] = ("psnr",),
               metric_labels: Optional[dict] = None, floor: Optional[float] = None,
               paired: Optional[tuple[Any, Any]] = None, images: Optional[pd.DataFrame] = None) -> plt.Figure:
    """Grouped bars of final PSNR-like metrics per `label` value (baselines, L1/L2, x8): seed means with their 95%
    t-interval (none for one seed), bicubic as a floor line.

    `paired=(a, b)` adds a right panel with what the verdict tests: the per-seed difference a - b of the final
    PSNR on the test images (the validation endpoint where a store has none), and its mean with the verdict's 95%
    interval against 0 - over seeds and test images (`verdicts.crossed`) when `images` (`frames.image_frame`)
    is given, else over seeds - so that a 0.05 dB effect is visible next to bars on a scale that holds bicubic."""
    metric_labels = {"psnr": "final PSNR", **(metric_labels or {})}
    g = final.groupby(label)[list(metrics)].mean()
    diffs = _paired_differences(final, label, paired) if paired is not None else {}
    cells = None
    if diffs and images is not None:  # the verdict's cells: per-image test PSNR of these runs, a - b
        rows = images[images["run"].isin(final["run"])] if "run" in final else images
        cells = paired_cells(*(image_cells(rows, **{label: v}) for v in paired))
    if diffs:
        fig, (ax, dx) = plt.subplots(1, 2, figsize=(9.5, 4.2), gridspec_kw={"width_ratios": (3, 2)})
    else:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
    width = 0.8 / len(metrics)
    xs = np.arange(len(g))
    n_seeds = final["seed"].nunique() if "seed" in final else 1
    for i, metric in enumerate(metrics):
        half = [_half(final.loc[final[label] == v, metric]) for v in g.index]
        ax.bar(xs + i * width - 0.4 + width / 2, g[metric], width, yerr=half, capsize=3,
               label=f"{metric_labels.get(metric, metric)} ({_seed_note(n_seeds)})")
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="black", linestyle="--", label="bicubic")
    values = g.to_numpy(dtype=float).ravel()
    if floor is not None and np.isfinite(floor):
        values = np.append(values, floor)
    values = values[np.isfinite(values)]
    if values.size:  # zoom on the differences, bicubic line included
        ax.set_ylim(values.min() - 1.0, values.max() + 0.5)
    ax.set_xticks(xs, [str(v) for v in g.index])
    ax.set(xlabel=label, ylabel="PSNR (dB)", title=title if diffs else f"{title}\n({_data_note(final)})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    if diffs:
        a, b = paired
        if cells is not None and len(cells):
            c = crossed(cells)
            d, what = c, f"mean, 95% interval over seeds x {c.n_images} images"
        else:
            d, what = interval(diffs.values()), "seed mean, 95% t-interval"
        dx.axhline(0.0, color="black", linewidth=0.8)
        dx.scatter(np.zeros(len(diffs)) - 0.15, list(diffs.values()), color="tab:gray", zorder=3,
                   label=f"per seed ({len(diffs)})")
        if d.low is not None and np.isfinite(d.low):
            dx.errorbar([0.15], [d.mean], yerr=[[d.mean - d.low], [d.high - d.mean]], fmt="o", color="tab:red",
                        capsize=5, label=what)
        dx.set_xlim(-1, 1)
        dx.margins(y=0.3)  # room for the legend above the interval
        dx.set_xticks([0], [f"{a} - {b}"])
        score = "endpoint" if final_score(final) == "endpoint" else "final PSNR, test images"
        dx.set(ylabel=f"paired difference, {score} (dB)", title="what the verdict tests")
        dx.grid(alpha=0.3, axis="y")
        dx.legend(fontsize=8)
        fig.suptitle(f"({_data_note(final)})", fontsize=9, y=0.02, va="bottom")
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    else:
        fig.tight_layout()
    return fig


def _paired_differences(final: pd.DataFrame, label: str, paired: tuple[Any, Any]) -> dict[int, float]:
    """{seed: a - b} of the final test PSNR (`verdicts.final_score`) over the seeds both arms have (empty with fewer
    than 2 such seeds)."""
    m = final_score(final)
    a, b = (by_seed(final[final[label] == v], m) for v in paired)
    seeds = sorted(set(a) & set(b))
    return {s: a[s] - b[s] for s in seeds} if len(seeds) >= 2 else {}


_YLABELS = {"val_psnr": "validation PSNR (dB)", "train_loss": "training loss"}


def val_curves(history: pd.DataFrame, hue: str, title: Optional[str] = None, *, metric: str = "val_psnr",
               seeds_in_legend: bool = False, size: tuple[float, float] = (6, 4.2)) -> plt.Figure:
    """`metric` (validation PSNR) vs iterations, one line per `hue` value, the seed mean with its 95% t-interval
    band: EDSR Fig. 4 (x4 from x2 vs from scratch) and the explorer's curves (`explore.curves_figure`, which
    names each line's seeds in the legend and asks for a metric the runs log)."""
    sns = _seaborn()
    part = history[(history["metric"] == metric) & history["iteration"].notna()].dropna(subset=[hue])
    if seeds_in_legend:
        if part.empty:
            raise ValueError(f"the chosen runs log no {metric!r} curve; metrics present: "
                             f"{', '.join(sorted(history['metric'].unique()))}.")
        seeds = part.groupby(hue)["seed"].nunique()
        part = part.assign(**{hue: part[hue].map(lambda v: f"{v} ({plural(seeds[v], 'seed')})")})
    fig, ax = plt.subplots(figsize=size)
    if not part.empty:
        sns.lineplot(data=part.assign(**{hue: part[hue].astype(str)}), x="iteration", y="value", hue=hue,
                     hue_order=sorted(part[hue].astype(str).unique()), errorbar=t_band, marker=".", ax=ax)
    seeds = history["seed"].nunique() if "seed" in history else 1
    ylabel = _YLABELS.get(metric, metric)
    ax.set(xlabel="iteration", ylabel=ylabel)
    title = title or f"{ylabel} of the chosen runs, mean and 95% t-interval over seeds"
    note = textwrap.fill(f"({_data_note(history)}; {_seed_note(seeds)})", 70)  # as wide as the axes, not wider
    ax.set_title(f"{title}\n{note}", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    return fig
