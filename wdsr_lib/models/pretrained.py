"""Load published and our own weights: `load_pretrained(path_or_state_dict, name=None, scale=None)`.

Layouts read (detected from the key names, never from the file name):

| layout | source | keys (N = block index) |
|---|---|---|
| `wdsr_ntire2018` | the WDSR authors' NTIRE 2018 code (`wdsr_a.py`, `wdsr_b.py`), `torch.nn.utils.weight_norm` | `head.0`, `body.N.body.{0,2}` (A) or `body.N.body.{0,2,3}` (B), `tail.0`, `skip.0`; each conv `weight_g` (out, 1, 1, 1), `weight_v`, `bias` |
| `edsr_pytorch` | EDSR-PyTorch `model/edsr.py` (EDSR Sec. 3.2, Fig. 3) | `sub_mean`, `add_mean`, `head.0`, `body.N.body.{0,2}`, `body.B` (the body-end conv), `tail.0.{0,2}` (upsampler), `tail.1` |
| `edsr_pytorch_mdsr` | EDSR-PyTorch `model/mdsr.py` (EDSR Sec. 3.3, Fig. 5) | `sub_mean`, `add_mean`, `head.0`, `pre_process.i.{0,1}.body.{0,2}`, `body.N.body.{0,2}`, `body.B`, `upsample.i.{0,2}`, `tail.0` |
| `ours` | `wdsr train` (`model.pt`, or a checkpoint holding `{"model": state_dict, ...}`) | `build_model`'s names: `head`, `body...`, `tail`, `skip` / `upsample`, `weight` + `weight_g` (out,) |

torch's newer `parametrizations.weight.original0/1` weight-norm keys and `module.` / `model.` prefixes
(DataParallel, wrappers) are read too. The mapping is one-to-one: our WDSR-A/B, EDSR and MDSR compute what those
codebases compute layer for layer (`wdsr.py`, `edsr.py`, `mdsr.py`); weight norm `w = g * v / ||v||` (WDSR Eq. 6)
is `weight` = v and `weight_g` = g flattened to (out,) in `norm.WeightNormConv2d`.

Depth, widths, scale(s), normalisation and MeanShift are inferred from the tensor shapes. Two settings are not
stored in any weights file and are taken from the preset the widths match: the residual scaling (0.1 for EDSR's
32-block / 256-feature model, EDSR Sec. 3.2; 1 otherwise) and, for WDSR, the input mean (DIV2K's, as the authors'
code uses). Our own `model.pt` or checkpoint inside a run directory is built from the run's `config.json`, which
holds both. The files of those codebases hold pixels in [0, 255] (EDSR-PyTorch `rgb_range` 255); a file trained
on [0, 1] is refused.
"""  # noqa: E501  (the layout table's rows)
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from wdsr_lib.core.config import RunConfig
from wdsr_lib.models.build import build_model

LAYOUTS = ("wdsr_ntire2018", "edsr_pytorch", "edsr_pytorch_mdsr", "ours")
_WRAPPERS = ("module.", "model.")  # DataParallel / DistributedDataParallel, and wrapper modules


class WeightsError(ValueError):
    """A weights file that cannot be read, or whose tensors do not form one of the known models."""


# --- reading ----------------------------------------------------------------------------------------------

def read_state_dict(path: Union[str, Path]) -> dict[str, torch.Tensor]:
    """The weight tensors of a file (`weights_only=True`), unwrapped from a training checkpoint if needed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights {path} not found; give the path of a .pt file.")
    if path.stat().st_size == 0:  # torch says only "EOFError"
        raise WeightsError(f"{path} is empty (0 bytes), not weights; give a model.pt written by `wdsr train` (or "
                           "published EDSR-PyTorch / WDSR weights).")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0].strip()
        raise WeightsError(f"{path} is not a weights file this program can load safely "
                           f"({(reason.splitlines() or [type(exc).__name__])[0]}); give a state dict saved with "
                           "torch.save (EDSR-PyTorch, the WDSR NTIRE 2018 code, or `wdsr train`).") from exc
    return unwrap(obj, str(path))


def unwrap(obj: Any, label: str = "the weights") -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict from a state dict or a checkpoint holding one under "model" / "state_dict"."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "params"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__ if not isinstance(obj, Mapping) else "dict that is not all weight tensors"
        raise WeightsError(f"{label} holds a {kind}, not a dict of weight tensors (a state dict).")
    state = dict(obj)
    for prefix in _WRAPPERS:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


# --- layout detection and key mapping ---------------------------------------------------------------------

def _canonical_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch.nn.utils.parametrizations.weight_norm names -> the hook API's weight_g / weight_v."""
    out = {}
    for k, v in state.items():
        k = k.replace(".parametrizations.weight.original0", ".weight_g")
        out[k.replace(".parametrizations.weight.original1", ".weight_v")] = v
    return out


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """Which codebase wrote `state` (one of `LAYOUTS`), from its key names."""
    keys = set(state)
    if "head.weight" in keys:
        return "ours"
    if any(k.endswith(".weight_v") for k in keys) or "skip.0.weight" in keys:
        return "wdsr_ntire2018"
    if "head.0.weight" in keys and any(k.startswith("pre_process.") for k in keys):
        return "edsr_pytorch_mdsr"
    if "head.0.weight" in keys and any(k.startswith("tail.1.") for k in keys):
        return "edsr_pytorch"
    shown = ", ".join(sorted(keys)[:4])
    raise WeightsError(f"the weights ({len(keys)} tensors, e.g. {shown}) are in no layout this program reads "
                       "(WDSR NTIRE 2018, EDSR-PyTorch EDSR / MDSR, or `wdsr train`).")


def _rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for pattern, repl in rules:
            new = re.sub(pattern, repl, k)
            if new != k:
                k = new
                break
        out[k] = v
    return out


def to_our_names(state: Mapping[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """`state` renamed to `build_model`'s parameter names (weight norm as weight=v, weight_g=(out,))."""
    state = dict(state)
    if layout == "wdsr_ntire2018":
        state = _rename(state, [(r"^(head|tail|skip)\.0\.", r"\1.")])
    elif layout == "edsr_pytorch":
        state = _rename(state, [(r"^head\.0\.", "head."), (r"^tail\.0\.", "upsample."), (r"^tail\.1\.", "tail.")])
    elif layout == "edsr_pytorch_mdsr":
        state = _rename(state, [(r"^head\.0\.", "head."), (r"^tail\.0\.", "tail.")])
    out = {}
    for k, v in state.items():
        if k.endswith(".weight_v"):
            out[k[: -len("_v")]] = v
        elif k.endswith(".weight_g"):
            out[k] = v.reshape(-1)  # hook API: (out, 1, 1, 1); ours: (out,)
        else:
            out[k] = v
    return out


# --- architecture inference --------------------------------------------------------------------------------

def _conv_weight(state: Mapping[str, torch.Tensor], prefix: str) -> Optional[torch.Tensor]:
    """The conv weight at `prefix`, plain or inside a ConvBN (`prefix.0.weight`)."""
    for key in (f"{prefix}.weight", f"{prefix}.0.weight"):
        if key in state and state[key].dim() == 4:
            return state[key]
    return None


def _indices(state: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return sorted(found)


def _upsampler_scale(state: Mapping[str, torch.Tensor], prefix: str, n_feats: int) -> int:
    convs = [w for i in (0, 2) if (w := _conv_weight(state, f"{prefix}.{i}")) is not None]
    if len(convs) == 2 and all(w.shape[0] == 4 * n_feats for w in convs):
        return 4
    if len(convs) == 1 and convs[0].shape[0] in (4 * n_feats, 9 * n_feats):
        return 2 if convs[0].shape[0] == 4 * n_feats else 3
    raise WeightsError(f"the upsampler {prefix} has {[tuple(w.shape) for w in convs]} convs, which is no x2, x3 "
                       f"or x4 sub-pixel upsampler of {n_feats} features.")


def _norm(state: Mapping[str, torch.Tensor]) -> str:
    if any(k.endswith(".weight_g") for k in state):
        return "weight"
    return "batch" if any(k.endswith(".running_mean") for k in state) else "none"


def _ratio(part: int, whole: int, preferred: float) -> float:
    """The ratio r with int(whole * r) == part, the paper's `preferred` value when it gives the same width."""
    if int(whole * preferred) == part:
        return preferred
    r = part / whole
    return r if int(whole * r) == part else (part + 1e-6) / whole


def infer_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, int, dict[str, Any]]:
    """(name, scale, overrides) for `build_model` from a state dict in our names."""
    head = _conv_weight(state, "head")
    if head is None:
        raise WeightsError("the weights have no head conv (head.weight); they are not an SR model of these papers.")
    n_feats, norm = head.shape[0], _norm(state)
    blocks = [i for i in _indices(state, "body.") if any(k.startswith(f"body.{i}.body.") for k in state)]
    if "skip.weight" in state:  # WDSR (Sec. 3.4): 5x5 skip, tail straight to 3 s^2 channels
        out = state["tail.weight"].shape[0] if "tail.weight" in state else 0
        scale = {12: 2, 27: 3, 48: 4}.get(out)
        if scale is None:
            raise WeightsError(f"the WDSR tail has {out} output channels; x2/x3/x4 need 12/27/48.")
        first = _conv_weight(state, "body.0.body.0")
        if first is None:
            raise WeightsError("the WDSR weights have no residual block (body.0.body.0); at least one is needed.")
        common = {"n_resblocks": len(blocks), "n_feats": n_feats, "norm": norm}
        if first.shape[-1] == 3:  # WDSR-A: 3x3 F -> w
            return "wdsr_a", scale, {**common, "block_feats": first.shape[0]}
        relu = _conv_weight(state, "body.0.body.4") is not None  # our low-rank-ReLU ablation shifts the 3x3
        rank = _conv_weight(state, "body.0.body.2")
        return "wdsr_b", scale, {**common, "expansion": _ratio(first.shape[0], n_feats, 6),
                                 "low_rank": _ratio(rank.shape[0], n_feats, 0.8), "low_rank_relu": relu}
    common = {"n_resblocks": len(blocks), "n_feats": n_feats, "norm": norm, "mean_shift": "sub_mean.weight" in state}
    if any(k.startswith("pre_process.") for k in state):  # MDSR (EDSR Sec. 3.3)
        scales = tuple(_upsampler_scale(state, f"upsample.{i}", n_feats) for i in _indices(state, "upsample."))
        name = "mdsr_paper" if len(blocks) == 80 else "mdsr"
        return name, scales[0], {**common, "scales": scales}
    scale = _upsampler_scale(state, "upsample", n_feats)
    if (len(blocks), n_feats) == (32, 256):
        return "edsr_paper", scale, common  # res_scale 0.1 (EDSR Sec. 3.2)
    return "edsr", scale, {**common, "res_scale": 1.0}


# --- building and loading ----------------------------------------------------------------------------------

def _family(name: str) -> str:
    return name.split("_")[0] if not name.startswith("wdsr") else name


def _run_config_beside(path: Path):
    """The RunConfig of the run directory holding `path` (model.pt, or checkpoints/*.pt), else None."""
    for folder in (path.parent, path.parent.parent):
        cfg_file = folder / "config.json"
        if cfg_file.is_file():
            try:
                return RunConfig.from_dict(json.loads(cfg_file.read_text())["config"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def _check_keys(model: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}" if missing else "",
                 f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}" if unexpected else "",
                 (f"{shapes[0]} is {tuple(state[shapes[0]].shape)} in the file, {tuple(own[shapes[0]].shape)} in "
                  "the model") if shapes else ""]
        raise WeightsError(f"the weights do not fit {what} ({len(missing)} missing, {len(unexpected)} unexpected, "
                           f"{len(shapes)} mis-shaped tensors: {'; '.join(p for p in parts if p)}).")


def load_pretrained(path_or_state_dict: Union[str, Path, Mapping[str, torch.Tensor]], name: Optional[str] = None,
                    scale: Optional[int] = None, **overrides: Any) -> nn.Module:
    """A model built for, and loaded with, the given weights (eval mode, CPU).

    Args:
        path_or_state_dict: a .pt file (read with `weights_only=True`) or a state dict, in any of `LAYOUTS`.
        name: expected model name (`build_model`'s); checked against the weights. "edsr_paper" / "mdsr_paper"
            also select their preset's residual scaling when the depth/width alone do not.
        scale: expected scale; for single-scale models it must be the weights' scale, for MDSR one of its
            branches (the default of `forward`).
        **overrides: `build_model` settings that replace the inferred ones, e.g. `res_scale` (not stored in
            weights); shape-defining ones (`n_resblocks`, `n_feats`, ...) must agree with the tensors.
    Returns:
        The model in eval mode; `model.pretrained_layout` names the layout and `model.pretrained_config` is
        the (name, scale, overrides) it was built with.
    Raises:
        FileNotFoundError, WeightsError (a ValueError): unreadable file, unknown layout, weights that do not
            form the inferred model (one sentence naming missing / unexpected keys), or a name / scale mismatch.
    """
    source = "the weights"
    cfg = None
    if isinstance(path_or_state_dict, (str, Path)):
        path = Path(path_or_state_dict)
        source = str(path)
        state = read_state_dict(path)
        cfg = _run_config_beside(path)
    else:
        state = unwrap(path_or_state_dict)
    state = _canonical_weight_norm(state)
    layout = detect_layout(state)
    ours = to_our_names(state, layout)
    if layout == "ours" and cfg is not None and cfg.model.scale is not None:
        inferred = (cfg.model.name, cfg.model.scale, cfg.model.overrides())
    else:
        inferred = infer_architecture(ours)
    got_name, got_scale, found = inferred
    if name is not None and name != got_name:
        if _family(name) != _family(got_name):
            raise WeightsError(f"{source} does not hold weights of {name}: it holds {got_name} x{got_scale} "
                               f"weights ({layout} layout); give the matching --model or none.")
        got_name = name
        if name in ("edsr_paper", "mdsr_paper") and layout != "ours":
            found = {k: v for k, v in found.items() if k != "res_scale"}
    overrides = {**found, **overrides}
    scales = overrides.get("scales", (got_scale,))
    if scale is not None and scale not in scales:
        raise WeightsError(f"{source} holds x{'/x'.join(map(str, scales))} weights, not x{scale}.")
    mean = ours.get("sub_mean.bias")
    if mean is not None and float(mean.abs().max()) < 5:
        raise WeightsError(f"{source} was trained on pixels in [0, 1] (its MeanShift adds {mean.tolist()}); "
                           "these models take [0, 255] (EDSR-PyTorch --rgb_range 255).")
    model = build_model(got_name, scale or got_scale, **overrides)
    if scale is not None and "scales" not in overrides:
        got_scale = scale
    own = model.state_dict()
    if "rgb_mean" in own and "rgb_mean" not in ours and layout == "wdsr_ntire2018":
        ours["rgb_mean"] = own["rgb_mean"]  # a constant of the authors' code, not stored: the DIV2K mean
    _check_keys(model, ours, f"{got_name} x{got_scale} as inferred from {source} ({layout} layout)")
    model.load_state_dict(ours)
    model.pretrained_layout = layout
    model.pretrained_config = (got_name, scale or got_scale, overrides)
    return model.eval()
