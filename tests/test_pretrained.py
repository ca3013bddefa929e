"""Published weights: the WDSR NTIRE 2018, EDSR-PyTorch EDSR / MDSR and our own layouts load and compute what
the source network computes.

Each foreign state dict is built here from that codebase's key names and shapes (the tables below), filled with
random values, and the loaded model's output is compared with a functional forward written with F.conv2d
straight from the foreign dict (weight norm as g * v / ||v||, WDSR Eq. 6) - no code of ours on the reference side.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wdsr_lib.cli import main as cli
from wdsr_lib.models import WeightsError, build_model, detect_layout, load_pretrained, receptive_field_radius

MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1) * 255


# --- key tables of the foreign layouts: {conv prefix: (out, in, kernel)} ---------------------------------

def ntire_wdsr_convs(kind: str, blocks: int, feats: int, scale: int, wide: int, rank: int = 0) -> dict:
    convs = {"head.0": (feats, 3, 3)}
    for i in range(blocks):
        if kind == "a":
            convs.update({f"body.{i}.body.0": (wide, feats, 3), f"body.{i}.body.2": (feats, wide, 3)})
        else:
            convs.update({f"body.{i}.body.0": (wide, feats, 1), f"body.{i}.body.2": (rank, wide, 1),
                          f"body.{i}.body.3": (feats, rank, 3)})
    convs.update({"tail.0": (3 * scale * scale, feats, 3), "skip.0": (3 * scale * scale, 3, 5)})
    return convs


def _upsampler(prefix: str, scale: int, feats: int) -> dict:
    if scale == 4:
        return {f"{prefix}.0": (4 * feats, feats, 3), f"{prefix}.2": (4 * feats, feats, 3)}
    return {f"{prefix}.0": (scale * scale * feats, feats, 3)}


def edsr_pytorch_convs(blocks: int, feats: int, scale: int) -> dict:
    convs = {"head.0": (feats, 3, 3)}
    for i in range(blocks):
        convs.update({f"body.{i}.body.0": (feats, feats, 3), f"body.{i}.body.2": (feats, feats, 3)})
    convs[f"body.{blocks}"] = (feats, feats, 3)
    convs.update(_upsampler("tail.0", scale, feats))
    convs["tail.1"] = (3, feats, 3)
    return convs


def mdsr_pytorch_convs(blocks: int, feats: int, scales: tuple) -> dict:
    convs = {"head.0": (feats, 3, 3)}
    for i, _ in enumerate(scales):
        for j in range(2):
            convs.update({f"pre_process.{i}.{j}.body.{k}": (feats, feats, 5) for k in (0, 2)})
    for i in range(blocks):
        convs.update({f"body.{i}.body.0": (feats, feats, 3), f"body.{i}.body.2": (feats, feats, 3)})
    convs[f"body.{blocks}"] = (feats, feats, 3)
    for i, s in enumerate(scales):
        convs.update(_upsampler(f"upsample.{i}", s, feats))
    convs["tail.0"] = (3, feats, 3)
    return convs


def fill(convs: dict, weight_norm: bool, seed: int = 0, mean_shift: bool = False, rgb_range: float = 255.0) -> dict:
    """Random tensors for `convs`; weight norm as torch.nn.utils.weight_norm stores it (g (out,1,1,1), v)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, (out, inp, k) in convs.items():
        v = torch.randn(out, inp, k, k, generator=gen) * (0.5 / math.sqrt(inp * k * k))
        if weight_norm:
            gain = 0.5 + torch.rand(out, 1, 1, 1, generator=gen)
            state[f"{prefix}.weight_g"] = gain * v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            state[f"{prefix}.weight_v"] = v
        else:
            state[f"{prefix}.weight"] = v
        state[f"{prefix}.bias"] = torch.randn(out, generator=gen) * 0.05
    if mean_shift:
        for name, sign in (("sub_mean", -1), ("add_mean", 1)):
            state[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
            state[f"{name}.bias"] = sign * rgb_range * MEAN.view(3) / 255
    return state


# --- the reference: functional forwards read from the foreign dict ----------------------------------------

def conv(x, state, prefix):
    if f"{prefix}.weight_v" in state:
        v, g = state[f"{prefix}.weight_v"], state[f"{prefix}.weight_g"]
        w = g * v / torch.sqrt((v * v).sum(dim=(1, 2, 3), keepdim=True))
    else:
        w = state[f"{prefix}.weight"]
    return F.conv2d(x, w, state[f"{prefix}.bias"], padding=w.shape[-1] // 2)


def ref_ntire_wdsr(state, x, kind, blocks, scale):
    x = (x - MEAN) / 127.5
    skip = F.pixel_shuffle(conv(x, state, "skip.0"), scale)
    h = conv(x, state, "head.0")
    for i in range(blocks):
        p = f"body.{i}.body."
        r = conv(F.relu(conv(h, state, p + "0")), state, p + "2")
        h = h + (r if kind == "a" else conv(r, state, p + "3"))
    return (F.pixel_shuffle(conv(h, state, "tail.0"), scale) + skip) * 127.5 + MEAN


def ref_upsample(h, state, prefix, scale):
    for i, f in ((0, 2), (2, 2)) if scale == 4 else ((0, scale),):
        h = F.pixel_shuffle(conv(h, state, f"{prefix}.{i}"), f)
    return h


def ref_edsr(state, x, blocks, scale, res_scale=1.0):
    h = conv(conv(x, state, "sub_mean"), state, "head.0")
    r = h
    for i in range(blocks):
        r = r + res_scale * conv(F.relu(conv(r, state, f"body.{i}.body.0")), state, f"body.{i}.body.2")
    h = h + conv(r, state, f"body.{blocks}")
    return conv(conv(ref_upsample(h, state, "tail.0", scale), state, "tail.1"), state, "add_mean")


def ref_mdsr(state, x, blocks, scales, scale):
    i = scales.index(scale)
    h = conv(conv(x, state, "sub_mean"), state, "head.0")
    for j in range(2):
        p = f"pre_process.{i}.{j}.body."
        h = h + conv(F.relu(conv(h, state, p + "0")), state, p + "2")
    r = h
    for b in range(blocks):
        r = r + conv(F.relu(conv(r, state, f"body.{b}.body.0")), state, f"body.{b}.body.2")
    h = h + conv(r, state, f"body.{blocks}")
    return conv(conv(ref_upsample(h, state, f"upsample.{i}", scale), state, "tail.0"), state, "add_mean")


def assert_close(ours, ref):
    assert ours.shape == ref.shape
    err = (ours - ref).abs().max().item()
    assert err <= 2e-4 * ref.abs().max().item() + 1e-4, err


@pytest.fixture
def lr():
    return torch.rand(2, 3, 11, 13, generator=torch.Generator().manual_seed(1)) * 255


# --- foreign layouts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_wdsr_a_ntire2018_layout(lr, scale):
    state = fill(ntire_wdsr_convs("a", 3, 8, scale, wide=24), weight_norm=True)
    assert detect_layout(state) == "wdsr_ntire2018"
    model = load_pretrained(state)
    assert model.pretrained_config == ("wdsr_a", scale, {"n_resblocks": 3, "n_feats": 8, "norm": "weight",
                                                         "block_feats": 24})
    with torch.no_grad():
        assert_close(model(lr), ref_ntire_wdsr(state, lr, "a", 3, scale))


def test_wdsr_b_ntire2018_layout_infers_expansion_and_low_rank(lr):
    state = fill(ntire_wdsr_convs("b", 2, 16, 2, wide=96, rank=12), weight_norm=True, seed=3)
    model = load_pretrained(state, name="wdsr_b", scale=2)
    name, scale, kw = model.pretrained_config
    assert (name, kw["expansion"], kw["low_rank"], kw["low_rank_relu"]) == ("wdsr_b", 6, 0.8, False)
    with torch.no_grad():
        assert_close(model(lr), ref_ntire_wdsr(state, lr, "b", 2, 2))


def test_weight_norm_parametrizations_keys_load_like_the_hook_keys(lr):
    hook = fill(ntire_wdsr_convs("a", 1, 8, 2, wide=16), weight_norm=True, seed=5)
    param = {k.replace(".weight_g", ".parametrizations.weight.original0")
             .replace(".weight_v", ".parametrizations.weight.original1"): v for k, v in hook.items()}
    with torch.no_grad():
        assert torch.equal(load_pretrained(param)(lr), load_pretrained(hook)(lr))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_pytorch_layout(lr, scale, tmp_path):
    state = fill(edsr_pytorch_convs(2, 8, scale), weight_norm=False, seed=scale, mean_shift=True)
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "edsr.pt")  # a DataParallel save
    model = load_pretrained(tmp_path / "edsr.pt", scale=scale)
    assert model.pretrained_layout == "edsr_pytorch" and model.pretrained_config[0] == "edsr"
    with torch.no_grad():
        assert_close(model(lr), ref_edsr(state, lr, 2, scale))


def test_edsr_paper_name_selects_residual_scaling_0_1(lr):
    state = fill(edsr_pytorch_convs(2, 8, 2), weight_norm=False, seed=7, mean_shift=True)
    with torch.no_grad():
        assert_close(load_pretrained(state, name="edsr_paper")(lr), ref_edsr(state, lr, 2, 2, res_scale=0.1))
        assert_close(load_pretrained(state)(lr), ref_edsr(state, lr, 2, 2, res_scale=1.0))


def test_mdsr_pytorch_layout_every_branch(lr):
    scales = (2, 3, 4)
    state = fill(mdsr_pytorch_convs(2, 8, scales), weight_norm=False, seed=11, mean_shift=True)
    assert detect_layout(state) == "edsr_pytorch_mdsr"
    model = load_pretrained(state, scale=3)
    assert model.pretrained_config[2]["scales"] == scales and model.scale == 3
    with torch.no_grad():
        for s in scales:
            assert_close(model(lr, s), ref_mdsr(state, lr, 2, scales, s))


# --- our own weights ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, scale, kw", [
    ("wdsr_a", 3, {"n_resblocks": 2, "n_feats": 8, "block_feats": 16}),
    ("wdsr_b", 2, {"n_resblocks": 2, "n_feats": 10, "expansion": 4, "low_rank": 0.5, "low_rank_relu": True}),
    ("edsr", 4, {"n_resblocks": 2, "n_feats": 8, "norm": "batch"}),
    ("edsr", 2, {"n_resblocks": 1, "n_feats": 8, "norm": "weight", "mean_shift": False}),
    ("mdsr", 2, {"n_resblocks": 1, "n_feats": 8, "scales": (2, 4)}),
])
def test_our_state_dict_round_trips_exactly(lr, name, scale, kw):
    torch.manual_seed(0)
    src = build_model(name, scale, **kw).eval()
    for m in src.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    loaded = load_pretrained(src.state_dict())
    assert loaded.pretrained_layout == "ours" and loaded.pretrained_config[0] == name
    with torch.no_grad():
        assert torch.equal(loaded(lr), src(lr))


def test_checkpoint_in_a_run_directory_is_built_from_its_config(tmp_path, lr):
    from conftest import tiny_config
    from dataclasses import replace

    cfg = tiny_config()
    cfg = replace(cfg, model=replace(cfg.model, res_scale=0.3))  # not inferable from the tensors
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": cfg.to_dict()}))
    src = build_model("wdsr_a", 2, **cfg.model.overrides()).eval()
    torch.save({"model": src.state_dict(), "step": 4, "optimizer": {}}, run / "checkpoints" / "ckpt-4.pt")
    loaded = load_pretrained(run / "checkpoints" / "ckpt-4.pt")
    assert loaded.pretrained_config[2]["res_scale"] == 0.3
    with torch.no_grad():
        assert torch.equal(loaded(lr), src(lr))


# --- refusals -------------------------------------------------------------------------------------------------

def test_missing_and_unexpected_keys_are_named_in_one_sentence():
    state = fill(edsr_pytorch_convs(2, 8, 2), weight_norm=False, mean_shift=True)
    del state["body.1.body.2.bias"]
    state["body.1.extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError) as err:
        load_pretrained(state)
    msg = str(err.value)
    assert "missing body.1.body.2.bias" in msg and "unexpected body.1.extra.weight" in msg and "\n" not in msg


def test_wrong_model_scale_and_value_range_are_refused():
    state = fill(ntire_wdsr_convs("a", 1, 8, 2, wide=16), weight_norm=True)
    with pytest.raises(WeightsError, match="does not hold weights of edsr: it holds wdsr_a x2"):
        load_pretrained(state, name="edsr")
    with pytest.raises(WeightsError, match="holds x2 weights, not x4"):
        load_pretrained(state, scale=4)
    with pytest.raises(WeightsError, match=r"mis-shaped.*body.0.body.0.weight"):
        load_pretrained(state, block_feats=32)
    unit = fill(edsr_pytorch_convs(1, 8, 2), weight_norm=False, mean_shift=True, rgb_range=1.0)
    with pytest.raises(WeightsError, match=r"pixels in \[0, 1\]"):
        load_pretrained(unit)
    with pytest.raises(WeightsError, match="in no layout this program reads"):
        load_pretrained({"conv1.weight": torch.zeros(4, 3, 3, 3)})
    with pytest.raises(WeightsError, match="not a dict of weight tensors"):
        load_pretrained({"model": [1, 2]})


# --- the command line -----------------------------------------------------------------------------------------

def test_upscale_with_published_edsr_weights_matches_the_reference(tmp_path):
    state = fill(edsr_pytorch_convs(1, 8, 2), weight_norm=False, seed=2, mean_shift=True)
    torch.save(state, tmp_path / "edsr_baseline_x2.pt")
    img = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    argv = ["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--weights",
            str(tmp_path / "edsr_baseline_x2.pt")]
    assert cli.main(argv) == 0
    with torch.no_grad():
        ref = ref_edsr(state, torch.from_numpy(img).permute(2, 0, 1)[None].float(), 1, 2)
    expected = ref[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    got = np.asarray(Image.open(tmp_path / "out.png"))
    assert got.shape == (20, 24, 3) and np.abs(got.astype(int) - expected).max() <= 1
    assert cli.main([*argv, "--model", "wdsr_a"]) == 2  # a model flag that contradicts the file
    assert cli.main([*argv[:3], "--checkpoint", argv[4]]) == 0  # the old flag name still works


def test_receptive_field_radius_is_exported():
    assert receptive_field_radius(build_model("wdsr_a")) == 34
