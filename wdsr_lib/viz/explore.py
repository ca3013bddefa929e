"""Explore the results store interactively: pick runs, overlay their curves with seed bands, train a variant.

The logic of `notebooks/06_explore.py`, which stays thin. `runs_frame` is `store.collect()` (long form) with
three columns added from each run's config: `family` (EDSR / WDSR-A / WDSR-B / MDSR), `profile` (the profile
whose data settings the run was trained with, else "custom") and `label` (the model and recipe settings that
tell runs apart, seed excluded, so that runs differing only in their seed pool into one curve with a band).
`choose` filters it by model, blocks, norm, profile, seed or any other column; `curves_figure` draws validation
PSNR against iterations with seaborn (mean over seeds, 95% t-interval); `variant_config` /
`train_variant` put a new `ModelConfig` (any `build_model` option, WDSR Sec. 3) through a profile into the store.
`pickers` gives ipywidgets controls in JupyterLab and degrades to a printed hint where ipywidgets is absent, so
papermill and nbval run the notebook headless.
"""
from __future__ import annotations

import dataclasses
import io
import os
from typing import Any, Optional, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from wdsr_lib.core.config import ModelConfig, RunConfig, paper_lr
from wdsr_lib.core.registry import family_of, get_spec
from wdsr_lib.store.runs import collect, load_record, runs_dir
from wdsr_lib.store.training import load_or_train
from wdsr_lib.study.labels import rows_where
from wdsr_lib.study.profiles import PROFILES, get_profile
from wdsr_lib.viz.plots import val_curves

FILTERS = ("model", "blocks", "norm", "profile", "seed")
_SHORT = {"n_feats": "F", "block_feats": "w", "expansion": "e", "low_rank": "l", "res_scale": "res",
          "low_rank_relu": "relu", "mean_shift": "meanshift"}


def profile_of(cfg: RunConfig) -> str:
    """The profile whose data settings (source, patches, validation images and crop) `cfg` was trained with."""
    mine = dataclasses.replace(cfg.data, workers=0, root=None)
    for name, p in PROFILES.items():
        if dataclasses.replace(p.data, workers=0, root=None) == mine:
            return name
    return "custom"


def describe(cfg: RunConfig) -> str:
    """A run's label without its seed: family, scale, blocks, every non-default model field, norm, and the loss,
    learning rate and initialisation where they differ from the paper recipe (WDSR Sec. 4)."""
    m = cfg.model
    defaults = get_spec(m.name).defaults
    parts = [family_of(m.name), f"x{m.scale}", f"{m.resolved_blocks} blocks"]
    for field, value in m.overrides().items():
        if field in ("n_resblocks", "norm") or value == defaults.get(field):
            continue
        parts.append(f"{_SHORT.get(field, field)}={value:g}" if isinstance(value, float) else
                     f"{_SHORT.get(field, field)}={value}")
    parts.append(f"{m.resolved_norm} norm")
    if cfg.train.loss != "l1":
        parts.append(cfg.train.loss.upper())
    if cfg.train.lr is not None and cfg.train.lr != paper_lr(m.resolved_norm):
        parts.append(f"lr {cfg.train.lr:g}")
    if cfg.train.init_from:
        parts.append("from " + cfg.train.init_from.split("-s")[0])
    return ", ".join(parts)


def short_label(cfg: RunConfig) -> str:
    """A panel-sized label: family, depth and the non-default model fields, e.g. "WDSR-B b3 e=4 l=1.08"."""
    m = cfg.model
    defaults = get_spec(m.name).defaults
    extra = [f"{_SHORT.get(k, k)}={v:.3g}" if isinstance(v, float) else f"{_SHORT.get(k, k)}={v}"
             for k, v in m.overrides().items() if k not in ("n_resblocks", "norm") and v != defaults.get(k)]
    norm = [] if m.resolved_norm == "weight" else [f"{m.resolved_norm} norm"]
    return " ".join([family_of(m.name), f"b{m.resolved_blocks}"] + extra + norm)


def runs_frame(results_dir: str | os.PathLike) -> pd.DataFrame:
    """`store.collect(results_dir)` with `family`, `profile` and `label` columns (see the module docstring)."""
    frame = collect(results_dir)
    extra = []
    for run in frame["run"].unique():
        cfg = load_record(runs_dir(results_dir) / run).config
        extra.append({"run": run, "family": family_of(cfg.model.name), "profile": profile_of(cfg),
                      "label": describe(cfg)})
    columns = ["run", "family", "profile", "label"]
    return frame.merge(pd.DataFrame(extra, columns=columns), on="run", how="left")


def options(frame: pd.DataFrame, columns: Sequence[str] = FILTERS) -> dict[str, list]:
    """The values each filter column takes in `frame`, sorted (what the pickers offer)."""
    return {c: sorted(frame[c].dropna().unique().tolist(), key=str) for c in columns}


def choose(frame: pd.DataFrame, **filters: Any) -> pd.DataFrame:
    """The rows of `frame` whose columns match every filter: a value, or a list / tuple / set of values; None
    means any. E.g. `choose(runs, model=["edsr", "wdsr_b"], blocks=3, profile="quick")`.

    Raises:
        ValueError: a filter names no column, or no run matches (naming the values the store has).
    """
    if frame.empty:
        raise ValueError("the results store holds no finished runs yet; train some (e.g. `make reproduce`).")
    chosen = frame
    for column, wanted in filters.items():
        if wanted is None:
            continue
        if column not in frame.columns:
            raise ValueError(f"cannot filter on {column!r}; the columns are {', '.join(frame.columns)}.")
        narrowed = rows_where(chosen, **{column: wanted})
        if narrowed.empty:
            have = options(chosen, [column])[column]
            raise ValueError(f"no stored run matches {column}={wanted!r} (with the filters before it); "
                             f"the matching runs have {column} in {have}.")
        chosen = narrowed
    return chosen.copy()


def curves_figure(frame: pd.DataFrame, metric: str = "val_psnr", hue: str = "label", title: Optional[str] = None):
    """`metric` against iterations, one line per `hue` value (its seeds named in the legend): the mean over seeds
    with its 95% t-interval (`plots.val_curves`, the interval the verdicts use); one seed: no band."""
    return val_curves(frame, hue, title, metric=metric, seeds_in_legend=True, size=(9, 4.8))


def final_table(frame: pd.DataFrame, highlight: Optional[str] = None) -> pd.DataFrame:
    """Final metrics per label and profile: mean PSNR (and x8, bicubic), parameters, seeds; best first.
    `highlight`: a run name whose row is marked in the `new` column (the variant just trained)."""
    final = frame[frame["iteration"].isna()]
    if final.empty:
        print("no finished runs to tabulate (an empty store, or a filter that matched none).")
        return pd.DataFrame(columns=["label", "profile", "psnr", "psnr_x8", "bicubic_psnr", "params", "seeds", "new"])
    wide = final.pivot_table(index=["run", "label", "profile", "seed"], columns="metric", values="value",
                             aggfunc="first").reset_index()
    for metric in ("psnr", "psnr_x8", "bicubic_psnr", "params"):
        if metric not in wide:
            wide[metric] = float("nan")
    wide["new"] = wide["run"] == highlight
    table = wide.groupby(["label", "profile"]).agg(
        psnr=("psnr", "mean"), psnr_x8=("psnr_x8", "mean"), bicubic_psnr=("bicubic_psnr", "mean"),
        params=("params", "first"), seeds=("seed", "nunique"), new=("new", "any")).reset_index()
    table["params"] = table["params"].astype("Int64")
    return table.sort_values("psnr", ascending=False, ignore_index=True)


def run_dirs(frame: pd.DataFrame, results_dir: str | os.PathLike, every_seed: bool = False) -> list:
    """The store directories of the runs in `frame`: one per label (its lowest seed), or `every_seed`; in order
    of first appearance."""
    runs = frame.drop_duplicates("run")
    if not every_seed:
        runs = runs.sort_values("seed", kind="stable").drop_duplicates("label").sort_index()
    return [runs_dir(results_dir) / run for run in runs["run"]]


def show(figure_or_path):
    """An inline PNG of a matplotlib Figure (closed afterwards) or of a PNG file; None passes through.

    `wdsr_lib.viz.plots` selects matplotlib's Agg backend (headless papermill), under which a Figure left as a cell's
    value shows as text; this shows it in JupyterLab and keeps it in executed notebooks.
    """
    from IPython.display import Image  # optional dependency: in a notebook only

    if figure_or_path is None:
        return None
    if isinstance(figure_or_path, (str, os.PathLike)):
        return Image(filename=str(figure_or_path))
    return Image(data=_png(figure_or_path), format="png")


def _png(fig) -> bytes:
    """The figure as PNG bytes (100 dpi); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def variant_config(model: ModelConfig, profile: str, seed: Optional[int] = None, **train: Any) -> RunConfig:
    """The RunConfig of `model` trained at `profile` (its data, iterations, validation; `train` overrides
    recipe fields such as lr or loss). The same model at the same profile is the same store entry."""
    return get_profile(profile).run(model, seed, **train)


def train_variant(cfg: RunConfig, results_dir: str | os.PathLike, *, progress: bool = True):
    """`load_or_train(cfg, results_dir)` with a progress bar: trains once, then loads from the store."""
    record = load_or_train(cfg, results_dir, progress=progress)
    print(f"{'trained' if record.trained else 'loaded from the store'}: {record.name} "
          f"({describe(cfg)}; PSNR {record.summary.get('psnr', float('nan')):.3f} dB)")
    return record


def pickers(frame: pd.DataFrame, metric: str = "val_psnr"):
    """ipywidgets multi-select pickers (model, blocks, norm, profile, seed) redrawing `curves_figure`.

    Returns the widget box, or None (printing how to get them) when ipywidgets is not installed: the cells
    that call `choose` do the same work as plain code.
    """
    try:
        import ipywidgets as widgets  # optional dependency (the lab extra)
    except ImportError:
        print("ipywidgets is not installed (`pip install -e .[lab]`): edit the `explore.choose(...)` cell above "
              "to pick runs instead.")
        return None
    choices = options(frame)
    selectors = {c: widgets.SelectMultiple(options=v, value=tuple(v), description=c, rows=min(6, max(2, len(v))))
                 for c, v in choices.items()}
    # An Image widget whose bytes are replaced, not an Output widget: nothing is captured or cleared, so a
    # headless run (papermill, nbval) only serialises the widget state.
    image, message = widgets.Image(format="png"), widgets.Label()

    def redraw(_change=None) -> None:
        try:
            fig = curves_figure(choose(frame, **{c: list(s.value) for c, s in selectors.items()}), metric)
        except ValueError as exc:
            message.value = str(exc)
            return
        image.value, message.value = _png(fig), ""

    for selector in selectors.values():
        selector.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(selectors.values())), message, image])
