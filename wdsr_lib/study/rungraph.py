"""The run graph: what `wdsr reproduce` has to train, in which order, with which resources, at what cost.

Built once from a list of configs (`plans.all_runs(profile)`) and a store, and executed by one of the
executors of `wdsr_lib.study.executors` (the local process pool of `wdsr_lib.study.schedule`, Ray, Slurm through
submitit) or printed as JSON lines (`wdsr reproduce --list-runs --format jsonl`) for any other engine.

A step is one of
- `train`: load or train one run (`store.load_or_train`: a lock per run, DONE written last, a run stopped
  mid-way resumes from its last checkpoint); it depends on the step that makes the weights of the run it is
  initialised from (`TrainConfig.init_from`, EDSR Sec. 3.2), if that run is not already DONE with its weights;
- `rebuild`: recreate the weights of a DONE run that a pending run starts from but whose `model.pt` is not on
  disk (a fresh clone: weights are not in git), retrained and checked bitwise against its record
  (`verify.rebuild_run`, `wdsr rebuild`).

Runs already DONE are no steps. Each step carries the `wdsr` command that runs it (absolute store path), its
threads (`TrainConfig.threads`) and GPUs, and its estimated seconds: from `costs.calibrate` (a fit to the
profile's finished runs in this store) where it has one, else from `DEFAULT_RATES` (a MAC model with assumed
throughputs: an order-of-magnitude estimate, for time limits and planning, not a measurement).
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from wdsr_lib.core import env
from wdsr_lib.core.config import RunConfig
from wdsr_lib.store.runs import is_done
from wdsr_lib.study.commands import train_command
from wdsr_lib.study.costs import Rate, calibrate
from wdsr_lib.study.plans import dependency_order

# Fallback cost model when the store holds no calibration (`costs.calibrate` needs finished runs of two model
# sizes): seconds per iteration = overhead + per_mac x forward conv MACs of one batch (`costs.step_macs`).
# A training step costs ~6 FLOPs per forward MAC (forward 2, backward 4). Assumed effective throughputs:
# CPU, one thread: ~30 GFLOP/s (this machine's engine reaches 60-100 GFLOP/s on two threads,
# docs/performance.md); GPU: ~30 TFLOP/s (TF32 convolutions on an A100/H100-class card at ~20-40 % of peak:
# an assumption until `make gpu-check` has measured one).
DEFAULT_RATES = {"cpu": (0.02, 6 / 30e9), "gpu": (0.01, 6 / 30e12)}


@dataclass(frozen=True)
class Step:
    """One node of the run graph."""

    id: str                      # "train:<run>" or "rebuild:<run>"
    kind: str                    # "train" | "rebuild"
    run: str                     # the run's directory name in the store
    depends: tuple[str, ...]     # ids of the steps that must finish first
    threads: int
    gpus: int
    seconds: float               # estimated
    estimate: str                # "calibrated" | "default MAC model"
    command: tuple[str, ...]     # the `wdsr` command that runs the step
    config: Optional[dict] = field(default=None, compare=False)  # RunConfig.to_dict() of a train step

    @property
    def shell(self) -> str:
        return shlex.join(self.command)

    def to_json(self, results_dir: str) -> dict:
        return {"id": self.id, "kind": self.kind, "run": self.run, "command": list(self.command),
                "shell": self.shell, "results_dir": results_dir, "depends": list(self.depends),
                "resources": {"threads": self.threads, "gpus": self.gpus},
                "estimated_seconds": round(self.seconds, 1), "estimate": self.estimate}


@dataclass(frozen=True)
class RunGraph:
    """Steps in dependency order (every step after the steps it depends on)."""

    steps: tuple[Step, ...]
    results_dir: str             # absolute
    loaded: tuple[str, ...]      # runs already DONE (no step)

    def __iter__(self):
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    def jsonl(self) -> str:
        return "".join(json.dumps(s.to_json(self.results_dir)) + "\n" for s in self.steps)


def default_gpus() -> int:
    """GPUs per step: 1 when runs train on CUDA ($WDSR_DEVICE=cuda..., or unset with a GPU present), else 0."""
    device = env.get("WDSR_DEVICE") or ""
    if device:
        return 1 if device.startswith("cuda") else 0
    try:
        import torch  # startup: torch only to count this machine's GPUs (the run graph itself is torch-free)

        return 1 if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover
        return 0


def default_seconds(cfg: RunConfig, gpus: int = 0) -> float:
    """Estimated training seconds of `cfg` from `DEFAULT_RATES` (no calibration)."""
    overhead, per_mac = DEFAULT_RATES["gpu" if gpus else "cpu"]
    if not gpus:
        per_mac /= max(1, cfg.train.threads)
    return Rate(overhead, per_mac, 0).seconds(cfg)


def _source_config(name: str, results_dir: str) -> Optional[RunConfig]:
    try:
        data = json.loads((Path(results_dir) / "runs" / name / "config.json").read_text())
        return RunConfig.from_dict(data["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build(configs: Sequence[RunConfig], results_dir: str | os.PathLike, profile: Optional[str] = None, *,
          gpus: Optional[int] = None, estimate: bool = True, rate=None) -> RunGraph:
    """The run graph of `configs` against the store at `results_dir`.

    Args:
        configs: the runs (any order; duplicates by store key are dropped, the first kept).
        profile: the profile the configs come from: needed for the `wdsr train` commands (None: commands are
            left empty; the executors do not need them) and for a calibrated estimate.
        gpus: GPUs per step (default `default_gpus()`).
        estimate: compute estimated seconds (builds each model once to count its MACs).
        rate: a `costs.Rate` to use instead of calibrating.
    Raises:
        ValueError: a config initialised from a run that is neither planned nor in the store; an init_from cycle.
    """
    results_dir = str(Path(results_dir).resolve())
    gpus = default_gpus() if gpus is None else int(gpus)
    ordered = dependency_order(list(configs))
    pending: dict[str, RunConfig] = {}
    loaded: list[str] = []
    for cfg in ordered:
        if is_done(cfg, results_dir):
            loaded.append(cfg.run_name())
        else:
            pending[cfg.run_name()] = cfg
    done = set(loaded)
    for name, cfg in pending.items():
        src = cfg.train.init_from
        if src and src not in pending and src not in done and not os.path.isdir(
                os.path.join(results_dir, "runs", src)):
            raise ValueError(f"{name} is initialised from {src}, which is neither planned nor in the store.")
    weightless = sorted({c.train.init_from for c in pending.values() if c.train.init_from in done
                         and not os.path.exists(os.path.join(results_dir, "runs", c.train.init_from, "model.pt"))})
    if estimate and rate is None and profile is not None and gpus == 0:
        try:
            rate = calibrate(profile, results_dir)
        except Exception:  # a store it cannot read: fall back to the default model
            rate = None

    def seconds(cfg: Optional[RunConfig]) -> tuple[float, str]:
        if not estimate or cfg is None:
            return 0.0, "none"
        if rate is not None:
            return float(rate.seconds(cfg)), "calibrated"
        return default_seconds(cfg, gpus), "default MAC model"

    steps: list[Step] = []
    for name in weightless:
        src_cfg = _source_config(name, results_dir)
        sec, how = seconds(src_cfg)
        steps.append(Step(id=f"rebuild:{name}", kind="rebuild", run=name, depends=(),
                          threads=src_cfg.train.threads if src_cfg else 1, gpus=gpus, seconds=sec, estimate=how,
                          command=("wdsr", "rebuild", name, "--results-dir", results_dir)))
    for name, cfg in pending.items():
        src = cfg.train.init_from
        depends = ((f"train:{src}",) if src in pending else (f"rebuild:{src}",) if src in weightless else ())
        command: tuple[str, ...] = ()
        if profile is not None:
            command = tuple(shlex.split(train_command(cfg, profile, results_dir)))
        sec, how = seconds(cfg)
        steps.append(Step(id=f"train:{name}", kind="train", run=name, depends=depends, threads=cfg.train.threads,
                          gpus=gpus, seconds=sec, estimate=how, command=command, config=cfg.to_dict()))
    return RunGraph(steps=tuple(steps), results_dir=results_dir, loaded=tuple(loaded))
