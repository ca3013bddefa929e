"""Typed, frozen run configuration: the one config format of the study, and the identity of a run.

Defaults are the paper recipe (WDSR Sec. 4, EDSR Sec. 4.2; `docs/recipes.md`): Adam(0.9, 0.999, 1e-8), batch
16, LR patch 48 (HR 96 at x2), L1 loss, lr 1e-3 with weight norm and 1e-4 without, halved every 2e5
iterations, fp32 (the papers trained in fp32). Only `wdsr_lib.study.profiles` changes them. This module must not
import torch, so every layer may use it; the models it names are those of `wdsr_lib.core.registry`.

A run's identity (`RunConfig.key`) is the hash of its *canonical* config: every model default filled in, the
learning rate resolved, paths resolved (or dropped where the source does not read them) and the settings that
cannot change a number (DataLoader workers, checkpoint interval) left out, so that two spellings of one
computation share one store entry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from wdsr_lib.core import env
from wdsr_lib.core.registry import DATA_SOURCES, HYPERPARAMETERS, get_spec, model_names

SCALES = (2, 3, 4)  # the upscaling factors of both papers' models
LOSSES = ("l1", "l2")
# "fp32": plain fp32 (TF32 convolutions allowed on Ampere+ GPUs, as PyTorch's default); "bf16" / "fp16":
# autocast, only on explicit request. The precision is part of the run key, so one record is one computation.
PRECISIONS = ("fp32", "bf16", "fp16")

# Bumped whenever training semantics change, so the store never mixes runs of different code (`docs/design.md`).
# 2: whole-image validation with per-image PSNR, precision pinned (no "auto"), canonical run key.
CODE_VERSION = "2"
SEED_MAX = 2**32 - 1  # numpy's seed range (np.random.seed), which every run seeds

# The model fields every run key has spelled out since CODE_VERSION 2, None included (`RunConfig.canonical`). A
# field added later (a new model's hyperparameter, None by default) enters the key only when it is set, so the
# keys of every stored run stay as they are (tests/test_registries.py).
KEYED_MODEL_FIELDS = ("name", "scale", "n_resblocks", "n_feats", "res_scale", "norm", "block_feats", "expansion",
                      "low_rank", "low_rank_relu", "mean_shift")


def paper_lr(norm: str) -> float:
    """WDSR Sec. 4: 1e-3 with weight normalisation, 1e-4 without (batch norm or none)."""
    return 1e-3 if norm == "weight" else 1e-4


def _basename(path: Any) -> str:
    return str(path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "<run name>"


def check_scale(scale: Any) -> None:
    """The one scale check: 2, 3 or 4 (EDSR Sec. 3, WDSR Sec. 4), else one sentence."""
    if isinstance(scale, bool) or scale not in SCALES:
        raise ValueError(f"scale must be 2, 3 or 4; got {scale!r}.")


def _check_choice(owner: str, name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")


def _check_positive(owner: str, name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive number; got {value!r}.")


MAX_PARAMS = 10**9  # 4 GB of fp32 weights (16 GB with gradients and Adam's moments); EDSR, the largest, has 43 M
MAX_COUNT = 10**9  # iterations and other counts (the papers train at most 1e6 iterations)
MAX_RES_SCALE = 10  # EDSR's residual scaling: 0.1 (EDSR) or 1 (baseline, WDSR); the loss is NaN at 1e30
MAX_WORKERS = 256  # DataLoader worker processes: each is a process; 0 loads in the training process
MAX_WIDTH = 4096  # channels of any layer (the papers' widest: WDSR-B's 6 x 64 = 384); bounds each activation
_SIZE_FLAGS = {"n_resblocks": "--n-resblocks", "n_feats": "--n-feats", "block_feats": "--block-feats",
               "expansion": "--expansion", "low_rank": "--low-rank"}


def approx_params(name: str, scale: int, values: dict[str, Any]) -> int:
    """About how many parameters the model `name` has with `values` (every size field resolved): its body convs,
    head and tail (MDSR's three heads and tails counted as one). Torch-free, so a size is checked before any
    tensor is allocated."""
    blocks, f = int(values["n_resblocks"]), int(values["n_feats"])
    tail = 9 * f * 3 * scale * scale + 27 * f
    if name == "wdsr_a":
        return blocks * 18 * f * int(values["block_feats"]) + tail
    if name == "wdsr_b":
        wide, rank = int(f * values["expansion"]), int(f * values["low_rank"])
        return blocks * (f * wide + wide * rank + 9 * rank * f) + tail
    return blocks * 18 * f * f + 9 * f * f * (4 if name.startswith("mdsr") else scale * scale) + tail


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def check_model_size(name: str, scale: int, overrides: dict[str, Any]) -> None:
    """Whole-number sizes; every layer from 1 to MAX_WIDTH channels (WDSR-B's expansion and low rank included);
    at most MAX_PARAMS parameters. Else ValueError in one sentence naming the flag and its valid range, raised
    before any run folder is made (`--expansion 0.001` killed the interpreter with SIGFPE, `--n-feats 100000`
    died in a 360 GB allocation)."""
    for key in ("n_resblocks", "n_feats", "block_feats"):
        value = overrides.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"ModelConfig.{key} ({_SIZE_FLAGS[key]}) must be a whole number; got {value!r}.")
    values = {**get_spec(name).defaults, **overrides}
    f = values["n_feats"]
    for key in ("n_feats", "block_feats"):
        if key in values and values[key] > MAX_WIDTH:
            raise ValueError(f"ModelConfig.{key} ({_SIZE_FLAGS[key]}) must be from 1 to {MAX_WIDTH:,} channels (the "
                             f"papers' widest layer has 384); got {_number(values[key])}.")
    if name == "wdsr_b":
        for key, what in (("expansion", "the 1x1 expansion"), ("low_rank", "the low-rank 1x1")):
            channels = f * values[key]  # a float: int() of 64 x 1e308 (= inf) would raise OverflowError
            shown = f"{channels:,.0f}" if channels < 1e9 else f"{channels:.3g}"
            if not 1 <= channels < MAX_WIDTH + 1:
                raise ValueError(f"ModelConfig.{key} ({_SIZE_FLAGS[key]}) {values[key]:g} gives {what} int({f} x "
                                 f"{values[key]:g}) = {shown} channels; with n_feats {f} it must be from "
                                 f"1/{f} = {1 / f:.4g} to {MAX_WIDTH}/{f} = {MAX_WIDTH / f:.4g} (the paper's is "
                                 f"{get_spec('wdsr_b').defaults[key]:g}).")
    params = approx_params(name, scale, values)
    if params <= MAX_PARAMS:
        return
    blocks = values["n_resblocks"]
    most = blocks * MAX_PARAMS // params  # parameters grow in proportion to the blocks
    raise ValueError(f"ModelConfig.n_resblocks ({_SIZE_FLAGS['n_resblocks']}) {blocks:,} makes {name} a model of "
                     f"about {params:.2g} parameters ({params * 4 / 1e9:,.0f} GB of fp32 weights), above the "
                     f"{MAX_PARAMS:.0e} allowed (the papers' largest has 43 M); with its other sizes as given, "
                     f"--n-resblocks must be from 1 to {max(most, 1):,}" + (
                         " (or narrow the layers)." if most >= 1 else ", and even 1 block is too many: narrow the "
                         "layers (--n-feats, --block-feats, --expansion)."))


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model to build (`wdsr_lib.core.registry.MODELS`); `None` means "the entry's paper default"
    (WDSR Table 1 / README). One field per hyperparameter of the registry (`HYPERPARAMETERS`); build it with
    `wdsr_lib.models.build(config)`."""

    name: str = "wdsr_a"
    scale: int = 2
    n_resblocks: Optional[int] = None
    n_feats: Optional[int] = None
    res_scale: Optional[float] = None
    norm: Optional[str] = None  # "weight" | "batch" | "none"
    block_feats: Optional[int] = None  # WDSR-A width before activation, w = r * F
    expansion: Optional[float] = None  # WDSR-B expansion e
    low_rank: Optional[float] = None  # WDSR-B low-rank ratio l
    low_rank_relu: Optional[bool] = None  # WDSR-B ablation of Sec. 3.2
    mean_shift: Optional[bool] = None  # EDSR MeanShift 1x1 convs

    def __post_init__(self) -> None:
        _check_choice("ModelConfig", "name", self.name, model_names())
        check_scale(self.scale)
        for f, h in HYPERPARAMETERS.items():
            if h.choices and getattr(self, f) is not None:
                _check_choice("ModelConfig", f, getattr(self, f), h.choices)
            if h.positive:
                _check_positive("ModelConfig", f, getattr(self, f))
        accepted = get_spec(self.name).defaults
        given = [f.name for f in dataclasses.fields(self)
                 if f.name not in ("name", "scale") and getattr(self, f.name) is not None]
        unknown = [f for f in given if f not in accepted]
        if unknown:
            raise ValueError(f"model {self.name!r} does not take {', '.join(unknown)}; "
                             f"it takes {', '.join(accepted)}.")
        if self.res_scale is not None and self.res_scale > MAX_RES_SCALE:
            raise ValueError(f"ModelConfig.res_scale (--res-scale) must be above 0 and at most {MAX_RES_SCALE:g} (EDSR "
                             f"Sec. 3.3 scales residuals by 0.1 in its large model, 1 elsewhere; a larger scaling "
                             f"makes the activations overflow); got {self.res_scale:g}.")
        check_model_size(self.name, self.scale, self.overrides())

    def resolved(self) -> "ModelConfig":
        """This config with every default of its builder filled in (floats as floats): the canonical form."""
        values = {**get_spec(self.name).defaults, **{k: v for k, v in self.overrides().items()}}
        values = {k: float(v) if HYPERPARAMETERS[k].kind is float else v for k, v in values.items()}
        return replace(self, **values)

    def overrides(self) -> dict[str, Any]:
        """Keyword arguments for `build_model` (fields left at None are not passed)."""
        skip = {"name", "scale"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in skip and getattr(self, f.name) is not None}

    @property
    def resolved_norm(self) -> str:
        return self.norm if self.norm is not None else get_spec(self.name).defaults["norm"]

    @property
    def resolved_blocks(self) -> int:
        return self.n_resblocks if self.n_resblocks is not None else get_spec(self.name).defaults["n_resblocks"]


@dataclass(frozen=True)
class DataConfig:
    """Where (LR, HR) pairs come from and how patches are cut (docs/recipes.md, docs/data.md)."""

    source: str = "sample"  # a name of core.registry.DATA_SOURCES: "sample" | "div2k" | "folder" | "photos"
    root: Optional[str] = None  # data root for div2k / folder (None: $WDSR_DATA or ./data)
    train_folder: Optional[str] = None  # for source="folder": the HR training folder (or benchmark name)
    val_folder: Optional[str] = None  # for source="folder": the HR validation folder (or benchmark name)
    patch_size: int = 48  # LR patch side in pixels (HR patch = patch_size * scale)
    val_images: int = 10  # validation images used during training (WDSR Sec. 4: 10 of 0801-0900)
    val_crop: Optional[int] = None  # HR centre crop side for validation during training; None = full image
    augment: bool = True  # the 8 flips / 90-degree rotations
    workers: int = 0  # DataLoader worker processes (execution only: not part of the run key)

    def __post_init__(self) -> None:
        _check_choice("DataConfig", "source", self.source, tuple(DATA_SOURCES))
        _check_positive("DataConfig", "patch_size", self.patch_size, allow_none=False)
        _check_positive("DataConfig", "val_images", self.val_images, allow_none=False)
        _check_positive("DataConfig", "val_crop", self.val_crop)
        if not 0 <= self.workers <= MAX_WORKERS:  # 1e30 workers: the DataLoader forked until the machine hung
            raise ValueError(f"DataConfig.workers must be from 0 to {MAX_WORKERS}; got {self.workers!r}.")


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe (WDSR Sec. 4, EDSR Sec. 4.2), counted in iterations."""

    iterations: int = 250_000  # WDSR Table 1 ablations: 250 x 1000 iterations
    batch_size: int = 16  # global batch, kept under DDP
    lr: Optional[float] = None  # None: 1e-3 with weight norm, 1e-4 without (WDSR Sec. 4)
    lr_halve_every: int = 200_000  # WDSR Sec. 4: halved every 2e5 iterations
    lr_gamma: float = 0.5
    loss: str = "l1"  # "l1" | "l2" (EDSR Sec. 4.2 compares them)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    precision: str = "fp32"  # "fp32" (the papers'); "bf16" / "fp16" autocast only when asked for
    channels_last: bool = True
    val_every: int = 1000  # iterations between validations (logs train L1 and val PSNR)
    checkpoint_every: int = 1000  # iterations between checkpoints (execution only: resume is exact)
    eval_self_ensemble: bool = False  # also report the x8 self-ensemble PSNR at the end (EDSR "+")
    threads: Optional[int] = None  # CPU threads (torch.set_num_threads); fp32 sums depend on it, so it is pinned
    init_from: Optional[str] = None  # name of a run in the same store whose weights start this one (EDSR Sec. 3.2)
    seed: int = 0
    compile: bool = False  # train through torch.compile ($WDSR_COMPILE=1); its float rounding differs, so it is keyed

    def __post_init__(self) -> None:
        _check_positive("TrainConfig", "iterations", self.iterations, allow_none=False)
        _check_positive("TrainConfig", "batch_size", self.batch_size, allow_none=False)
        _check_positive("TrainConfig", "lr", self.lr)
        _check_positive("TrainConfig", "lr_halve_every", self.lr_halve_every, allow_none=False)
        _check_positive("TrainConfig", "val_every", self.val_every, allow_none=False)
        _check_positive("TrainConfig", "checkpoint_every", self.checkpoint_every, allow_none=False)
        for name in ("iterations", "batch_size", "lr_halve_every", "val_every", "checkpoint_every"):
            value = getattr(self, name)  # counts: 1e30 (a float) passed `> 0` and later overflowed
            if not isinstance(value, int) or value > MAX_COUNT:
                raise ValueError(f"TrainConfig.{name} must be a whole number from 1 to {MAX_COUNT:,}; got {value!r}.")
        if self.threads is not None and (not isinstance(self.threads, int) or isinstance(self.threads, bool)
                                         or self.threads < 1):
            raise ValueError(f"TrainConfig.threads must be a positive integer or None; got {self.threads!r}.")
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from
                                           or "/" in self.init_from or "\\" in self.init_from
                                           or self.init_from in (".", "..")):
            raise ValueError(f"TrainConfig.init_from must be the name of a run in the same store, not a path; "
                             f"got {self.init_from!r} (give its folder name, e.g. {_basename(self.init_from)}).")
        _check_choice("TrainConfig", "loss", self.loss, LOSSES)
        _check_choice("TrainConfig", "precision", self.precision, PRECISIONS)
        object.__setattr__(self, "adam_betas", tuple(self.adam_betas))


@dataclass(frozen=True)
class RunConfig:
    """One training run: model + data + recipe. Its hash (with CODE_VERSION) keys the results store."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def lr(self) -> float:
        """The learning rate actually used: WDSR Sec. 4, 1e-3 with weight norm and 1e-4 without."""
        if self.train.lr is not None:
            return self.train.lr
        return paper_lr(self.model.resolved_norm)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical(self) -> dict[str, Any]:
        """The result-affecting config in one spelling: what the run key hashes (see the module docstring).

        Model defaults filled in; lr resolved; `workers` and `checkpoint_every` dropped (they change no
        number: resume is bit-exact); `compile` kept only when on (a compiled run rounds differently);
        `root` dropped for the embedded sample and photos sources, the literal "DIV2K" for div2k (the data by what
        it is, not where it lies: a store moves between machines) and an absolute path for folder; the folder
        fields kept only for the folder source.
        """
        data = dataclasses.asdict(self.data)
        del data["workers"]
        source = DATA_SOURCES[self.data.source]
        if source.root_in_key == "none":
            data["root"] = None
        elif source.root_in_key == "name":  # the data set by what it is, not where it lies (portable keys)
            data["root"] = source.key_root
        else:
            root = data["root"] if data["root"] is not None else env.get("WDSR_DATA")
            data["root"] = os.path.realpath(root)
        if not source.folders:
            data["train_folder"] = data["val_folder"] = None
        else:
            for f in ("train_folder", "val_folder"):
                if data[f] is not None and ("/" in data[f] or os.path.isdir(data[f])):
                    data[f] = os.path.realpath(data[f])
        train = dataclasses.asdict(self.train)
        del train["checkpoint_every"]
        if not train["compile"]:  # eager runs keep the keys they had before the field existed
            del train["compile"]
        train["lr"] = float(self.lr)
        model = {k: v for k, v in dataclasses.asdict(self.model.resolved()).items()
                 if k in KEYED_MODEL_FIELDS or v is not None}  # a newer field keys only the runs that set it
        return {"model": model, "data": data, "train": train}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(model=ModelConfig(**d["model"]), data=DataConfig(**d["data"]),
                   train=TrainConfig(**{**d["train"], "adam_betas": tuple(d["train"]["adam_betas"])}))

    def key(self) -> str:
        """A short stable hash of the canonical config and the code version."""
        blob = json.dumps({"config": self.canonical(), "code_version": CODE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def short_name(self) -> str:
        m = self.model
        return f"{m.name}-x{m.scale}-b{m.resolved_blocks}-{m.resolved_norm}-s{self.train.seed}"

    def run_name(self) -> str:
        """The run's directory name in the store: `<short name>-<key>` (what `init_from` refers to)."""
        return f"{self.short_name()}-{self.key()}"
