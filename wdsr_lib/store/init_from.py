"""Starting a run from another run's weights, all or nothing (EDSR Sec. 3.2: "x4 from x2").

EDSR trains its x3 / x4 models from the finished x2 model: every tensor but the scale-specific upsampler is
copied. The promise is checked, not assumed: the source must hold exactly the tensors (names and shapes) that
the same model has at the source's scale. Then every tensor the two scales share is transferred, and only the
scale-specific ones (EDSR's last upsampler conv, WDSR's `tail` and `skip`) start fresh. A source of another model
or size (say WDSR-A x2 for an EDSR x4) fails in one sentence instead of training from scratch under the name
"initialised from".
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from wdsr_lib.core.config import ModelConfig, RunConfig
from wdsr_lib.models import build
from wdsr_lib.store.runs import check_weights, load_record


@dataclass(frozen=True)
class Transfer:
    """What `plan_transfer` found: the tensors to copy, and the names of those that start fresh."""

    source: str
    state: dict[str, torch.Tensor]  # name -> tensor of the source, only those transferred
    fresh: list[str]  # the target's scale-specific tensors

    def summary(self) -> str:
        return (f"initialised from {self.source}: transferred {len(self.state)} tensors "
                f"({_modules(self.state)}); kept fresh {len(self.fresh)} scale-specific tensors "
                f"({', '.join(self.fresh) or 'none'})")


def _modules(names) -> str:
    return ", ".join(dict.fromkeys(n.split(".")[0] for n in names))


def source_model(source_dir: Path) -> ModelConfig:
    """The ModelConfig a stored run was trained with (its config.json), checked to be the run its folder name
    says (`store.load_record`) when it is finished."""
    if (Path(source_dir) / "DONE").exists():
        return load_record(Path(source_dir)).config.model
    record = json.loads((Path(source_dir) / "config.json").read_text())
    return ModelConfig(**record["config"]["model"])


def plan_transfer(target: ModelConfig, source_dir: Path) -> Transfer:
    """Check that the run in `source_dir` can start `target` and return what is transferred.

    Raises:
        ValueError: the source is not the same model (and size) at some scale, in one sentence that says which
            tensors could and could not be transferred and what to give instead.
    """
    source_dir = Path(source_dir)
    name = source_dir.name
    if (source_dir / "model.pt").exists():
        check_weights(source_dir)  # an empty model.pt, or another run's, is damage, not a source
    src_cfg = source_model(source_dir)
    try:
        state: Any = torch.load(source_dir / "model.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # OSError, EOFError, pickle.UnpicklingError (garbage), RuntimeError (truncated zip)
        text = str(exc).split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0].strip()
        raise ValueError(f"--init-from {name}: its weights {source_dir / 'model.pt'} cannot be read "
                         f"({type(exc).__name__}: {text.splitlines()[0] if text else 'truncated'}); "
                         f"recreate them with `wdsr rebuild {name}`.") from exc
    if not isinstance(state, dict):
        raise ValueError(f"--init-from {name}: its model.pt holds a {type(state).__name__}, not weights.")
    own = build(target).state_dict()
    ref = build(replace(target, scale=src_cfg.scale)).state_dict()  # this model at the source's scale
    shared = [k for k in own if k in ref and tuple(ref[k].shape) == tuple(own[k].shape)]
    missing = [k for k in ref if k not in state]
    unexpected = [k for k in state if k not in ref]
    shapes = [k for k in ref if k in state and tuple(state[k].shape) != tuple(ref[k].shape)]
    if missing or unexpected or shapes:
        usable = [k for k in shared if k in state and tuple(state[k].shape) == tuple(own[k].shape)]
        first = (f"{shapes[0]} is {tuple(state[shapes[0]].shape)} there, {tuple(ref[shapes[0]].shape)} here"
                 if shapes else f"{(missing or unexpected)[0]} is {'missing' if missing else 'unexpected'}")
        raise ValueError(
            f"--init-from {name} is a {src_cfg.name} x{src_cfg.scale} run whose weights are not those of this "
            f"{target.name} at x{src_cfg.scale} ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shapes)} mis-shaped tensors; {first}): only {len(usable)} of the {len(shared)} tensors the "
            f"scales share could be transferred; give --init-from a run of the same --model and size flags "
            f"at another scale, or drop --init-from to train from scratch.")
    return Transfer(name, {k: state[k] for k in shared}, [k for k in own if k not in shared])


def apply_transfer(model: torch.nn.Module, transfer: Transfer) -> None:
    """Copy the planned tensors into `model` (strict: every other tensor is the fresh, scale-specific one)."""
    own = model.state_dict()
    model.load_state_dict({**own, **transfer.state})


def init_weights_from(model: torch.nn.Module, run_dir: Path, cfg: RunConfig) -> str:
    """Start from another run's final weights (EDSR Sec. 3.2: x3/x4 models start from the x2 model).

    All or nothing (this module): every tensor the two scales share is copied, only the scale-specific
    upsampler starts fresh; a source of another model or size raises ValueError. Returns the log line naming
    what was transferred and what was not.
    """
    transfer = plan_transfer(cfg.model, Path(run_dir))
    apply_transfer(model, transfer)
    return transfer.summary()


def initialiser(cfg: RunConfig, run_dir: Path) -> Optional[Callable[[torch.nn.Module], str]]:
    """What `engine.train.train` calls on the fresh model of `cfg` (trained in `run_dir`) when it starts from
    another run of the same store (`init_from`), else None."""
    if cfg.train.init_from is None:
        return None
    source = Path(run_dir).parent / cfg.train.init_from
    return lambda model: init_weights_from(model, source, cfg)
