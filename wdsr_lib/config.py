"""Typed, frozen run configuration: the one config format of the study (STYLE.md section 2).

Defaults are the paper recipe (REFERENCE.md section 3, WDSR Sec. 4): Adam(0.9, 0.999, 1e-8), batch 16,
LR patch 48 (HR 96 at x2), L1 loss, lr 1e-3 with weight norm and 1e-4 without, halved every 2e5 iterations.
Only `wdsr_lib.profiles` changes them. This module must not import torch, so every layer may use it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

MODEL_NAMES = ("edsr", "edsr_paper", "wdsr_a", "wdsr_b", "mdsr", "mdsr_paper")
NORMS = ("weight", "batch", "none")
SOURCES = ("sample", "div2k", "folder")
LOSSES = ("l1", "l2")
PRECISIONS = ("auto", "bf16", "fp32")

# Bumped whenever training semantics change, so the store never mixes runs of different code (DESIGN.md).
CODE_VERSION = "1"


def _check_choice(owner: str, name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")


def _check_positive(owner: str, name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive number; got {value!r}.")


@dataclass(frozen=True)
class ModelConfig:
    """Which paper model to build; `None` means "the builder's paper default" (WDSR Table 1 / README)."""

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
        _check_choice("ModelConfig", "name", self.name, MODEL_NAMES)
        _check_choice("ModelConfig", "scale", self.scale, (2, 3, 4))
        if self.norm is not None:
            _check_choice("ModelConfig", "norm", self.norm, NORMS)
        for f in ("n_resblocks", "n_feats", "res_scale", "block_feats", "expansion", "low_rank"):
            _check_positive("ModelConfig", f, getattr(self, f))

    def overrides(self) -> dict[str, Any]:
        """Keyword arguments for `build_model` (fields left at None are not passed)."""
        skip = {"name", "scale"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in skip and getattr(self, f.name) is not None}

    @property
    def resolved_norm(self) -> str:
        if self.norm is not None:
            return self.norm
        return "weight" if self.name.startswith("wdsr") else "none"  # the builders' paper defaults


@dataclass(frozen=True)
class DataConfig:
    """Where (LR, HR) pairs come from and how patches are cut (REFERENCE.md sections 3 and 6)."""

    source: str = "sample"  # "sample" | "div2k" | "folder"
    root: Optional[str] = None  # data root for div2k / folder (None: $WDSR_DATA or ./data)
    train_folder: Optional[str] = None  # for source="folder": the HR training folder (or benchmark name)
    val_folder: Optional[str] = None  # for source="folder": the HR validation folder (or benchmark name)
    patch_size: int = 48  # LR patch side in pixels (HR patch = patch_size * scale)
    val_images: int = 10  # validation images used during training (WDSR Sec. 4: 10 of 0801-0900)
    val_crop: Optional[int] = None  # HR centre crop side for validation during training; None = full image
    augment: bool = True  # the 8 flips / 90-degree rotations
    workers: int = 0  # DataLoader worker processes

    def __post_init__(self) -> None:
        _check_choice("DataConfig", "source", self.source, SOURCES)
        _check_positive("DataConfig", "patch_size", self.patch_size, allow_none=False)
        _check_positive("DataConfig", "val_images", self.val_images, allow_none=False)
        _check_positive("DataConfig", "val_crop", self.val_crop)
        if self.workers < 0:
            raise ValueError(f"DataConfig.workers must be >= 0; got {self.workers!r}.")


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
    precision: str = "auto"  # "auto": bf16 autocast where the hardware has it, else fp32
    channels_last: bool = True
    val_every: int = 1000  # iterations between validations (logs train L1 and val PSNR)
    checkpoint_every: int = 1000  # iterations between checkpoints
    eval_self_ensemble: bool = False  # also report the x8 self-ensemble PSNR at the end (EDSR "+")
    init_from: Optional[str] = None  # name of a run in the same store whose weights start this one (EDSR Sec. 3.2)
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive("TrainConfig", "iterations", self.iterations, allow_none=False)
        _check_positive("TrainConfig", "batch_size", self.batch_size, allow_none=False)
        _check_positive("TrainConfig", "lr", self.lr)
        _check_positive("TrainConfig", "lr_halve_every", self.lr_halve_every, allow_none=False)
        _check_positive("TrainConfig", "val_every", self.val_every, allow_none=False)
        _check_positive("TrainConfig", "checkpoint_every", self.checkpoint_every, allow_none=False)
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
        return 1e-3 if self.model.resolved_norm == "weight" else 1e-4

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return cls(model=ModelConfig(**d["model"]), data=DataConfig(**d["data"]),
                   train=TrainConfig(**{**d["train"], "adam_betas": tuple(d["train"]["adam_betas"])}))

    def key(self) -> str:
        """A short stable hash of the resolved config and the code version."""
        blob = json.dumps({"config": self.to_dict(), "code_version": CODE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def short_name(self) -> str:
        m = self.model
        blocks = f"b{m.n_resblocks}" if m.n_resblocks else "bdef"
        return f"{m.name}-x{m.scale}-{blocks}-{m.resolved_norm}-s{self.train.seed}"
