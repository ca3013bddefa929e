"""Qualitative figures: zoomed crops of held-out photos, HR / bicubic / EDSR / WDSR-A / WDSR-B / WDSR-B x8.

What every SR paper shows beside its tables (EDSR Fig. 6, WDSR Fig. 5): the same crop of a held-out photo as the
HR original, MATLAB bicubic, and each model's output, labelled with its PSNR on that crop.

- **Models** (`profile_figure`): the WDSR Table 1 runs of a profile at its deepest budget and first seed (EDSR,
  WDSR-A, WDSR-B at equal parameters, x2), read from the store with their `model.pt`, plus the x8 geometric
  self-ensemble (EDSR Sec. 4 "+") of WDSR-B. Weights are not in git: without them the figure is skipped with a
  printed message and any committed figure is kept (`wdsr rebuild <run name>` recreates a run's weights).
- **Crop rule**: the square window (side `size` HR pixels, inside the DIV2K protocol's border of s + 6 pixels,
  on a grid of size/8 steps) where the models' squared errors differ most: the largest max - min over the
  single-forward models of their mean squared error on the window; ties go to the first window in raster order.
  Textured regions win (flat ones have small errors for every model), and the crop is where the choice of model
  shows.
- **PSNR on a crop**: RGB, 8-bit outputs, no border shave (the crop already lies inside the protocol's border),
  `wdsr_lib.engine.metrics.psnr`.

`compare_image` does the same for any image of a user's (taken as HR; its LR made with the MATLAB bicubic) and
any stored runs; the explorer notebook (`notebooks/06_explore.py`) calls both.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from wdsr_lib.core.text import plural
from wdsr_lib.data import load_pairs
from wdsr_lib.data.decode import read_rgb
from wdsr_lib.data.imresize import imresize
from wdsr_lib.data.sources import ImagePair, crop_to_scale
from wdsr_lib.engine.evaluate import sr_forward
from wdsr_lib.engine.metrics import get_protocol, psnr, quantize
from wdsr_lib.models import load_pretrained, receptive_field_radius
from wdsr_lib.store.runs import load_record, run_dir_for, runs_dir
from wdsr_lib.study import plans
from wdsr_lib.study.profiles import get_profile
from wdsr_lib.viz import explore
from wdsr_lib.viz.plots import save_figure

ENSEMBLED = "WDSR-B"


@dataclass(frozen=True)
class Panel:
    """One crop of the figure: its label, pixels (uint8 (size, size, 3)) and PSNR against HR (None for HR)."""

    label: str
    image: np.ndarray
    psnr: Optional[float]


@dataclass(frozen=True)
class Row:
    """One photo: its name, the whole HR image, the crop window (top, left, size) and the panels."""

    name: str
    hr: np.ndarray
    box: tuple[int, int, int]
    panels: tuple[Panel, ...]


def upscale(model, lr: np.ndarray, scale: int, self_ensemble: bool = False) -> np.ndarray:
    """`model` applied to an 8-bit LR image (H, W, 3) with `engine.evaluate.sr_forward`, rounded to 8 bit."""

    x = torch.from_numpy(np.array(lr, dtype=np.float32)).permute(2, 0, 1)[None]  # a writable copy
    with torch.no_grad():
        sr = sr_forward(model, x, scale=scale, self_ensemble=self_ensemble)
    return np.asarray(quantize(sr[0].permute(1, 2, 0).cpu().numpy()), dtype=np.uint8)


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-exact bicubic upscaling of an 8-bit LR image, rounded to 8 bit (the "Bicubic" baseline)."""
    return np.asarray(quantize(imresize(np.asarray(lr, dtype=np.float64), scale)), dtype=np.uint8)


def ensemble_crop(model, lr: np.ndarray, scale: int, box: tuple[int, int, int]) -> np.ndarray:
    """The x8 self-ensemble output on the HR window `box` = (top, left, size), computed on the LR window plus the
    model's receptive-field radius of context (`models.receptive_field_radius`), so it equals the same window
    of the whole-image ensemble (up to float rounding) at a fraction of the cost."""
    top, left, size = box
    r = receptive_field_radius(model, scale)
    t0, l0 = max(0, top // scale - r), max(0, left // scale - r)
    t1 = min(lr.shape[0], -(-(top + size) // scale) + r)
    l1 = min(lr.shape[1], -(-(left + size) // scale) + r)
    out = upscale(model, lr[t0:t1, l0:l1], scale, self_ensemble=True)
    return out[top - t0 * scale: top - t0 * scale + size, left - l0 * scale: left - l0 * scale + size]


def choose_window(hr: np.ndarray, outputs: Sequence[np.ndarray], size: int, margin: int = 0,
                  stride: Optional[int] = None) -> tuple[int, int]:
    """(top, left) of the `size` x `size` window where the outputs' mean squared errors against `hr` differ most
    (largest max - min over outputs), inside `margin` pixels of border, on a `stride` grid (default size // 8);
    the first such window in raster order on ties.

    Raises:
        ValueError: fewer than two outputs, mismatched shapes, or an image too small for the window.
    """
    if len(outputs) < 2:
        raise ValueError(f"choose_window compares at least two outputs; got {len(outputs)}.")
    h, w = hr.shape[:2]
    if any(o.shape != hr.shape for o in outputs):
        raise ValueError(f"every output must have the HR shape {hr.shape}; got {[o.shape for o in outputs]}.")
    if size < 1 or h < size + 2 * margin or w < size + 2 * margin:
        raise ValueError(f"a {size}-pixel window with a {margin}-pixel border does not fit a {w}x{h} image.")
    stride = max(1, stride or size // 8)
    tops = np.arange(margin, h - margin - size + 1, stride)
    lefts = np.arange(margin, w - margin - size + 1, stride)
    means = []
    for out in outputs:
        err = ((out.astype(np.float64) - hr.astype(np.float64)) ** 2).mean(axis=2)
        s = np.pad(err.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
        t, le = tops[:, None], lefts[None, :]
        means.append((s[t + size, le + size] - s[t, le + size] - s[t + size, le] + s[t, le]) / size**2)
    stack = np.stack(means)
    spread = stack.max(axis=0) - stack.min(axis=0)
    i, j = np.unravel_index(int(np.argmax(spread)), spread.shape)  # argmax: first maximum in raster order
    return int(tops[i]), int(lefts[j])


def crop_psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR of an 8-bit crop against the HR crop: RGB, no shave (see the module docstring)."""
    return psnr(sr, hr, 0)


def compare_rows(pairs, models: Mapping[str, object], scale: int, ensemble: Optional[str] = None,
                 size: Optional[int] = None) -> list[Row]:
    """One Row per (LR, HR) pair: HR, bicubic, each model of `models` and, if `ensemble` names one of them, its
    x8 self-ensemble, cropped by the rule of the module docstring (chosen on the single-forward models; with
    one model, on it and bicubic)."""
    if ensemble is not None and ensemble not in models:
        raise ValueError(f"ensemble must name one of the models ({', '.join(models)}); got {ensemble!r}.")
    margin = get_protocol("div2k").shave(scale)
    rows = []
    for pair in pairs:
        lr = np.asarray(pair.lr)
        hr = np.asarray(pair.hr)[: lr.shape[0] * scale, : lr.shape[1] * scale]
        outputs = {label: upscale(m, lr, scale) for label, m in models.items()}
        side = size or max(16, min(96, (min(hr.shape[:2]) - 2 * margin) // 3))
        baseline = bicubic(lr, scale)
        chosen = list(outputs.values())
        top, left = choose_window(hr, chosen if len(chosen) > 1 else chosen + [baseline], side, margin)
        images = {"HR": hr, "bicubic": baseline, **outputs}
        window = (slice(top, top + side), slice(left, left + side))
        crops = {label: img[window] for label, img in images.items()}
        if ensemble is not None:
            crops[f"{ensemble} x8"] = ensemble_crop(models[ensemble], lr, scale, (top, left, side))
        hr_crop = hr[window]
        panels = tuple(Panel(label, img, None if label == "HR" else crop_psnr(img, hr_crop))
                       for label, img in crops.items())
        rows.append(Row(pair.name, hr, (top, left, side), panels))
    return rows


def figure(rows: Sequence[Row], title: str):
    """The figure: per row, the whole HR photo with the crop outlined, then each panel with its PSNR."""
    from wdsr_lib.viz import plots  # noqa: F401  (selects the Agg backend)

    cols = 1 + max(len(r.panels) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.1 * cols, 2.7 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        top, left, side = row.box
        ax_row[0].imshow(row.hr)
        ax_row[0].add_patch(Rectangle((left, top), side, side, fill=False, edgecolor="red", linewidth=1.5))
        ax_row[0].set_title(row.name, fontsize=9)
        for ax, panel in zip(ax_row[1:], row.panels):
            ax.imshow(panel.image, interpolation="nearest")
            ax.set_title(panel.label if panel.psnr is None else f"{panel.label}\n{panel.psnr:.2f} dB", fontsize=9)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def profile_runs(profile: str, results_dir: str | os.PathLike) -> dict[str, Path]:
    """{family: run directory} of the WDSR Table 1 runs at the first seed of the profile's deepest budget whose
    runs all keep their weights here (the committed showcase weights on a fresh clone: `tools/showcase.py`),
    else of its deepest budget."""
    p = get_profile(profile)
    budgets = []
    for blocks in sorted(p.table1_blocks, reverse=True):
        seed = p.budget("table1", blocks).seeds[0]
        plan = plans.select(plans.table1(p), blocks=blocks, seed=seed)
        budgets.append({r.labels["family"]: run_dir_for(r.config, results_dir) for r in plan})
    return next((runs for runs in budgets if not _missing_weights(runs)), budgets[0])


SHOWCASE_PROFILE = "cpu"  # the profile whose Table 1 seed-0 weights are committed to git (`tools/showcase.py`)


def showcase_runs(results_dir: str | os.PathLike = "results", profile: str = SHOWCASE_PROFILE,
                  with_weights: bool = False) -> list[Path]:
    """The showcase runs: seed 0 of each WDSR Table 1 arm at every budget of `profile` - the runs whose
    `model.pt` git keeps, so a fresh clone can show pictures (explorer, qualitative figure) without training;
    `with_weights`: only those finished here with their weights."""
    p = get_profile(profile)
    runs = [run_dir_for(r.config, results_dir) for blocks in p.table1_blocks
            for r in plans.select(plans.table1(p), blocks=blocks, seed=p.budget("table1", blocks).seeds[0])]
    return [d for d in runs if not with_weights or not _missing_weights({d.name: d})]


def _missing_weights(runs: Mapping[str, Path]) -> list[str]:
    return [d.name for d in runs.values() if not ((d / "DONE").is_file() and (d / "model.pt").is_file())]


def profile_figure(profile: str, results_dir: str | os.PathLike = "results", figures_dir: str | os.PathLike = "figures",
                   images: int = 2, size: Optional[int] = None) -> Optional[Path]:
    """Write `<figures_dir>/qualitative_<profile>.png` and `.pdf` from the profile's Table 1 runs; return the PNG.

    Returns None, printing why and leaving any existing figure as it is, when a run is unfinished or its
    `model.pt` is absent (weights are not in git).
    """
    p = get_profile(profile)
    runs = profile_runs(profile, results_dir)
    missing = _missing_weights(runs)
    if missing:
        print(f"qualitative figure for profile {profile!r} skipped: no finished run with weights (model.pt) for "
              f"{', '.join(missing)}; only the showcase runs' weights are in git (`tools/showcase.py`; profile "
              f"cpu): run `wdsr rebuild <run name>` for each, or train them (notebook 01). Any existing "
              f"figures/qualitative_{profile}.png is kept.")
        return None
    models = {family: load_pretrained(d / "model.pt") for family, d in runs.items()}
    scale = 2  # WDSR Table 1 is x2
    pairs = load_pairs(p.data.source, scale, "val", root=p.data.root)[:images]
    blocks = load_record(next(iter(runs.values()))).config.model.n_resblocks
    rows = compare_rows(pairs, models, scale, ensemble=ENSEMBLED, size=size)
    depth = plural(blocks, "block")
    fig = figure(rows, f"Held-out photos, x{scale}: WDSR Table 1 models at {depth} (profile {profile}); "
                       "crops where the models' errors differ most, PSNR (RGB) on each crop")
    png = save_figure(fig, figures_dir, f"qualitative_{profile}")[0]

    plt.close(fig)
    return png


def compare_image(image, runs: Sequence[str | os.PathLike], results_dir: str | os.PathLike = "results",
                  ensemble: Optional[str | os.PathLike] = None, size: Optional[int] = None,
                  figures_dir: Optional[str | os.PathLike] = None, name: str = "compare", profile: str = "quick"):
    """The qualitative comparison for your own image: it is the HR, its LR is made with the MATLAB bicubic.

    Args:
        image: a path (any format `wdsr_lib.data.decode.read_rgb` reads), an 8-bit (H, W, 3) array, or None for
            the first held-out photo of `profile`'s data.
        runs: run directories, or run names in `results_dir`, all of one scale; runs without `model.pt` are
            left out with a printed note.
        ensemble: one of `runs`, also shown as its x8 self-ensemble (EDSR Sec. 4 "+").
        size: crop side in HR pixels (default: a third of the shorter side, at most 96).
        figures_dir: if given, the figure is also written there as `<name>.png` / `.pdf`.
    Returns:
        The matplotlib Figure.
    Raises:
        FileNotFoundError: no run has weights. ValueError: runs of different scales, or `ensemble` not in `runs`.
    """
    def locate(run) -> Path:
        return Path(run) if Path(run).is_dir() else runs_dir(results_dir) / str(run)

    models, scales, ensemble_label, absent = {}, set(), None, []
    for run in runs:
        run_dir = locate(run)
        if not (run_dir / "model.pt").is_file():
            absent.append(run_dir.name)
            continue
        cfg = load_record(run_dir).config
        label = explore.short_label(cfg)
        label = label if label not in models else f"{label} ({run_dir.name[-6:]})"
        models[label] = load_pretrained(run_dir / "model.pt")
        scales.add(cfg.model.scale)
        if ensemble is not None and locate(ensemble).resolve() == run_dir.resolve():
            ensemble_label = label
    if absent:
        print(f"left out (no model.pt; `wdsr rebuild <run name>` recreates it): {', '.join(absent)}")
    if not models:
        raise FileNotFoundError("none of the runs has its weights (model.pt); rebuild or train one first.")
    if ensemble is not None and ensemble_label is None:
        raise ValueError(f"ensemble must be one of the runs with weights; got {ensemble}.")
    if len(scales) != 1:
        raise ValueError(f"compare runs of one scale; got scales {sorted(scales)}.")
    scale = scales.pop()
    if image is None:
        data = get_profile(profile).data
        first = load_pairs(data.source, scale, "val", root=data.root)[0]
        image, title_name = np.asarray(first.hr), first.name
    else:
        title_name = Path(image).name if not isinstance(image, np.ndarray) else "your image"
    hr = crop_to_scale(read_rgb(image) if not isinstance(image, np.ndarray) else image, scale)
    lr = np.asarray(quantize(imresize(np.asarray(hr, dtype=np.float64), 1 / scale)), dtype=np.uint8)
    rows = compare_rows([ImagePair(title_name, lr, np.asarray(hr))], models, scale, ensemble_label, size)
    fig = figure(rows, f"{title_name}, x{scale} (LR made with the MATLAB bicubic); crop where the models' errors "
                       "differ most, PSNR (RGB) on the crop")
    if figures_dir is not None:
        save_figure(fig, figures_dir, name)
    return fig
