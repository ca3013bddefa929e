"""The model registry: one entry per model, holding every fact the rest of the study reads about it. Torch-free.

An entry (`ModelSpec`) names the model's builder (a `module:function` path, imported only when a model is built),
its hyperparameters with their paper defaults (what `ModelConfig` accepts and what the run key fills in), its family
label (tables, figures, claims), its receptive-field rule (`wdsr_lib.models.receptive_field.RULES`: how much context
tiled inference needs) and its presets with their published parameter counts (`wdsr models`;
`wdsr_lib.core.paper.PARAMETER_COUNTS`). The `wdsr` model flags are derived from `HYPERPARAMETERS`.

Adding a model (docs/extending.md): write its builder in `wdsr_lib/models/`, then `register(ModelSpec(...))` here
(or from your own module); tests/test_registries.py names whatever a new entry lacks.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

from wdsr_lib.core.paper import PARAMETER_COUNTS, ParameterCount

NORMS = ("weight", "batch", "none")


@dataclass(frozen=True)
class Hyperparameter:
    """A model setting `ModelConfig` holds (a field of the same name) and `wdsr train` takes as a flag."""

    name: str
    kind: type  # int, float, bool or str (a choice of `choices`)
    help: str
    choices: tuple = ()
    positive: bool = False  # numbers that must be > 0

    @property
    def flag(self) -> str:
        """The command-line flag: `--n-resblocks` for `n_resblocks`."""
        return "--" + self.name.replace("_", "-")


# In the order of the `wdsr train` flags (and of the command lines `study.commands.train_command` writes).
HYPERPARAMETERS: dict[str, Hyperparameter] = {h.name: h for h in (
    Hyperparameter("n_resblocks", int, "residual blocks (depth)", positive=True),
    Hyperparameter("n_feats", int, "feature channels F", positive=True),
    Hyperparameter("res_scale", float, "residual scaling", positive=True),
    Hyperparameter("block_feats", int, "WDSR-A width before activation, w = r * F", positive=True),
    Hyperparameter("expansion", float, "WDSR-B expansion e", positive=True),
    Hyperparameter("low_rank", float, "WDSR-B low-rank ratio l", positive=True),
    Hyperparameter("norm", str, "normalisation", choices=NORMS),
    Hyperparameter("low_rank_relu", bool, "WDSR-B: a ReLU inside the low-rank convolution (Sec. 3.2 ablation)"),
    Hyperparameter("mean_shift", bool, "EDSR / MDSR: the MeanShift 1x1 convolutions"),
)}


@dataclass(frozen=True)
class Family:
    """A model family: the label tables, figures and claims use, and its colour and marker in figures."""

    label: str
    color: str
    marker: str


FAMILIES: dict[str, Family] = {f.label: f for f in (
    Family("EDSR", "tab:blue", "o"),
    Family("WDSR-A", "tab:orange", "s"),
    Family("WDSR-B", "tab:green", "^"),
    Family("MDSR", "tab:purple", "D"),
)}


@dataclass(frozen=True)
class Preset:
    """A row of `wdsr models`: a label, the overrides of the entry's defaults, and the published count."""

    label: str
    overrides: Mapping[str, Any]
    published: ParameterCount


@dataclass(frozen=True)
class ModelSpec:
    """Everything the study knows about one model (see the module docstring)."""

    name: str  # `--model` and `ModelConfig.name`
    builder: Union[str, Callable[..., Any]]  # "module:function" (scale, **hyperparameters) -> nn.Module
    family: str  # a key of FAMILIES
    defaults: Mapping[str, Any]  # every hyperparameter it takes -> its paper default
    receptive_field: str = "sequential"  # a key of wdsr_lib.models.receptive_field.RULES
    presets: tuple[Preset, ...] = ()
    builder_only: tuple[str, ...] = ()  # keyword arguments of the builder that are not run settings (MDSR's scales)
    description: str = ""

    def build_function(self) -> Callable[..., Any]:
        """The builder itself (imported on first use, so that this registry stays torch-free)."""
        if callable(self.builder):
            return self.builder
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def accepts(self) -> tuple[str, ...]:
        """The keyword arguments `build_model` passes on: the hyperparameters plus `builder_only`."""
        return tuple(self.defaults) + self.builder_only


_EDSR = {"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0, "norm": "none", "mean_shift": True}

MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, family: Optional[Family] = None) -> ModelSpec:
    """Add `spec` to MODELS (a new name only), with its `family` when that is a new one, and return it."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered.")
    if family is not None:
        if family.label != spec.family:
            raise ValueError(f"model {spec.name!r} is of family {spec.family!r}, not {family.label!r}.")
        FAMILIES.setdefault(family.label, family)
    MODELS[spec.name] = spec
    return spec


def unregister(name: str, family: Optional[str] = None) -> None:
    """Remove a registered model, and `family` when given (tests that register a toy model clean up with this)."""
    MODELS.pop(name, None)
    if family is not None:
        FAMILIES.pop(family, None)


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}.")
    return MODELS[name]


def family_of(name: str) -> str:
    """The family label of model `name` ("wdsr_a" -> "WDSR-A")."""
    return get_spec(name).family


def model_names() -> tuple[str, ...]:
    return tuple(MODELS)


def presets() -> list[tuple[str, str, dict, Optional[int], str]]:
    """Every entry's presets as (label, name, overrides, exact published count or None, its source)."""
    return [(p.label, s.name, dict(p.overrides), p.published.exact, p.published.source)
            for s in MODELS.values() for p in s.presets]


def model_flags() -> tuple[Hyperparameter, ...]:
    """The hyperparameters some registered model takes, in HYPERPARAMETERS order: the `wdsr` model flags."""
    taken = {k for s in MODELS.values() for k in s.defaults}
    return tuple(h for name, h in HYPERPARAMETERS.items() if name in taken)


# In the order of `--model`'s choices and `wdsr models`' rows.
for _spec in (
    ModelSpec("edsr", "wdsr_lib.models.edsr:edsr_baseline", "EDSR", _EDSR, "edsr",
              (Preset("EDSR baseline (WN)", {"norm": "weight"}, PARAMETER_COUNTS["edsr_baseline_wn"]),
               Preset("EDSR baseline", {}, PARAMETER_COUNTS["edsr_baseline"])),
              description="EDSR baseline: 16 blocks, 64 features (EDSR Sec. 3.2)"),
    ModelSpec("edsr_paper", "wdsr_lib.models.edsr:edsr_paper", "EDSR",
              {**_EDSR, "n_resblocks": 32, "n_feats": 256, "res_scale": 0.1}, "edsr",
              (Preset("EDSR (paper)", {}, PARAMETER_COUNTS["edsr_paper"]),),
              description="EDSR: 32 blocks, 256 features, residual scaling 0.1 (EDSR Sec. 3.2)"),
    ModelSpec("wdsr_a", "wdsr_lib.models.wdsr:wdsr_a", "WDSR-A",
              {"n_resblocks": 16, "n_feats": 32, "block_feats": 128, "res_scale": 1.0, "norm": "weight"}, "wdsr",
              (Preset("WDSR-A baseline", {}, PARAMETER_COUNTS["wdsr_a_baseline"]),),
              description="WDSR-A: wide activation, F=32, w=128 (WDSR Sec. 3.1)"),
    ModelSpec("wdsr_b", "wdsr_lib.models.wdsr:wdsr_b", "WDSR-B",
              {"n_resblocks": 16, "n_feats": 64, "expansion": 6.0, "low_rank": 0.8, "res_scale": 1.0,
               "norm": "weight", "low_rank_relu": False}, "wdsr",
              (Preset("WDSR-B baseline", {}, PARAMETER_COUNTS["wdsr_b_baseline"]),),
              description="WDSR-B: linear low-rank convolution, e=6, l=0.8 (WDSR Sec. 3.2)"),
    ModelSpec("mdsr", "wdsr_lib.models.mdsr:mdsr", "MDSR", _EDSR, "mdsr",
              (Preset("MDSR baseline", {}, PARAMETER_COUNTS["mdsr_baseline"]),), builder_only=("scales",),
              description="MDSR baseline: one body for x2/x3/x4, 16 blocks (EDSR Sec. 3.3)"),
    ModelSpec("mdsr_paper", "wdsr_lib.models.mdsr:mdsr_paper", "MDSR", {**_EDSR, "n_resblocks": 80}, "mdsr",
              (Preset("MDSR (paper)", {}, PARAMETER_COUNTS["mdsr_paper"]),), builder_only=("scales",),
              description="MDSR: 80 blocks (EDSR Sec. 3.3)"),
):
    register(_spec)


# --- data sources --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataSource:
    """A source of (LR, HR) pairs (`DataConfig.source`): how its root enters the run key, and what the report and
    the figures say about its numbers. Its loader is `wdsr_lib.data.sources.LOADERS[name]`."""

    name: str
    root_in_key: str  # "none": embedded data, no root; "name": keyed by `key_root`; "path": the resolved path
    description: str  # the report's words for it (`{val_folder}` is filled in)
    figure_note: str  # the figures' data note
    key_root: Optional[str] = None  # with root_in_key "name": what the key holds instead of the path
    folders: bool = False  # reads DataConfig.train_folder / val_folder (else they are left out of the key)
    div2k: bool = False  # its numbers compare with the papers' DIV2K numbers


ROOT_IN_KEY = ("none", "name", "path")
DATA_SOURCES: dict[str, DataSource] = {d.name: d for d in (
    DataSource("sample", "none",
               "embedded scikit-image images: training astronaut, rocket and stereo_motorcycle (left view) "
               "(photographs), hubble_deep_field (an astronomical image), retina (a fundus photograph) and "
               "immunohistochemistry (a microscopy slide); validation chelsea and coffee (photographs)",
               "sample images, whole (not comparable with DIV2K), RGB, shave s+6"),
    DataSource("div2k", "name", "DIV2K validation 0801-0900", "DIV2K val, RGB, shave s+6", key_root="DIV2K",
               div2k=True),  # the data set by what it is, not where it lies: a store moves between machines
    DataSource("folder", "path", "image folder {val_folder}",
               "sample images, whole (not comparable with DIV2K), RGB, shave s+6", folders=True),
    DataSource("photos", "none",
               "the photo set (wdsr_lib/data/photos/CREDITS.md): 34 natural photographs from Debian and PyPI "
               "packages, 14 training, 4 validation (the convergence gate), 16 test (the verdicts), split by a stated "
               "hash rule",
               "photo set, whole (curves: val., finals: test; not DIV2K), RGB, shave s+6"),
)}
