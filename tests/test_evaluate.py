"""sr_forward (tiling, x8 self-ensemble) and evaluate_pairs / bicubic_baseline against plain paths and oracles."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata
from torch import nn

from wdsr_lib.data.imresize import imresize
from wdsr_lib.engine.evaluate import bicubic_baseline, evaluate_pairs, for_inference, sr_forward
from wdsr_lib.engine.metrics import psnr_protocol, quantize, ssim_protocol
from wdsr_lib.models import build_model


class Nearest(nn.Module):
    """Nearest-neighbour x2 upsampling: equivariant under every flip and quarter turn."""

    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


class SymmetricConvNearest(nn.Module):
    """A 3x3 conv whose kernel is invariant under the dihedral group, then nearest x2: still equivariant."""

    def __init__(self):
        super().__init__()
        k = torch.tensor([[0.05, 0.1, 0.05], [0.1, 0.4, 0.1], [0.05, 0.1, 0.05]])
        self.register_buffer("weight", k.expand(3, 1, 3, 3).clone())

    def forward(self, x):
        return F.interpolate(F.conv2d(x, self.weight, padding=1, groups=3), scale_factor=2, mode="nearest")


class TinySR(nn.Module):
    """3 conv3x3 (LR receptive-field radius 3) + pixel shuffle x s; random weights are not equivariant."""

    def __init__(self, scale=2, feats=8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, feats, 3, padding=1), nn.ReLU(),
            nn.Conv2d(feats, feats, 3, padding=1), nn.ReLU(),
            nn.Conv2d(feats, 3 * scale * scale, 3, padding=1),
        )
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.body(x / 255.0)) * 255.0  # (B, 3, s*H, s*W)


class MultiScale(nn.Module):
    """MDSR-like: forward(x, scale) picks the upsampler."""

    multi_scale = True

    def forward(self, x, scale):
        return F.interpolate(x, scale_factor=scale, mode="nearest")


@dataclass
class Pair:
    name: str
    lr: np.ndarray
    hr: np.ndarray


@pytest.fixture(scope="module")
def tiny_sr():
    torch.manual_seed(0)
    return TinySR()


@pytest.fixture(scope="module")
def lr_batch():
    torch.manual_seed(1)
    return torch.rand(2, 3, 37, 29) * 255  # not a multiple of the tile size


@pytest.mark.parametrize("model_cls", [Nearest, SymmetricConvNearest])
def test_self_ensemble_of_an_equivariant_model_equals_plain(model_cls, lr_batch):
    model = model_cls()
    plain = sr_forward(model, lr_batch)
    ens = sr_forward(model, lr_batch, self_ensemble=True)
    assert plain.shape == (2, 3, 74, 58)
    torch.testing.assert_close(ens, plain, atol=1e-4, rtol=0)


def test_self_ensemble_of_a_non_equivariant_model_differs(tiny_sr, lr_batch):
    plain = sr_forward(tiny_sr, lr_batch)
    ens = sr_forward(tiny_sr, lr_batch, self_ensemble=True)
    assert ens.shape == plain.shape
    assert (ens - plain).abs().max() > 1e-2


def test_self_ensemble_is_the_mean_of_the_8_inverse_transformed_outputs(tiny_sr, lr_batch):
    outs = []
    for flip in (False, True):
        for k in range(4):
            x = lr_batch.flip(-1) if flip else lr_batch
            y = torch.rot90(tiny_sr(torch.rot90(x, k, dims=(2, 3))), -k, dims=(2, 3))
            outs.append(y.flip(-1) if flip else y)
    with torch.no_grad():
        want = torch.stack(outs).mean(0)
    torch.testing.assert_close(sr_forward(tiny_sr, lr_batch, self_ensemble=True), want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("tile,overlap", [(8, 4), (16, 3), (10, 16), (64, 4)])
@pytest.mark.parametrize("self_ensemble", [False, True])
def test_tiled_equals_untiled_when_overlap_covers_the_receptive_field(tiny_sr, lr_batch, tile, overlap,
                                                                      self_ensemble):
    plain = sr_forward(tiny_sr, lr_batch, self_ensemble=self_ensemble)
    tiled = sr_forward(tiny_sr, lr_batch, tile=tile, overlap=overlap, self_ensemble=self_ensemble)
    torch.testing.assert_close(tiled, plain, atol=1e-4, rtol=0)


def test_tiles_with_too_little_overlap_show_seams(tiny_sr, lr_batch):
    plain = sr_forward(tiny_sr, lr_batch)
    assert (sr_forward(tiny_sr, lr_batch, tile=8, overlap=0) - plain).abs().max() > 1e-2


def test_sr_forward_runs_fp32_eval_and_restores_train_mode(lr_batch):
    model = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Dropout(0.5), nn.Upsample(scale_factor=2))
    model.train()
    a = sr_forward(model, lr_batch.to(torch.uint8))
    b = sr_forward(model, lr_batch.to(torch.uint8).float())
    assert a.dtype == torch.float32 and model.training
    torch.testing.assert_close(a, b)  # dropout off: deterministic, uint8 input converted


def test_scale_reaches_multi_scale_models_only(lr_batch):
    assert sr_forward(MultiScale(), lr_batch, scale=3, tile=16, overlap=4).shape == (2, 3, 111, 87)
    assert sr_forward(Nearest(), lr_batch, scale=3).shape == (2, 3, 74, 58)  # forward(x) alone: x2 as built


@pytest.fixture(scope="module")
def photo_pairs():
    hr = skdata.astronaut()[64:192, 96:256]  # (128, 160, 3)
    lr = hr[::2, ::2].copy()
    exact = np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1)  # nearest x2 of the LR: a perfect model exists
    return [Pair("astronaut", lr, hr), Pair("exact", lr, exact)]


@pytest.mark.parametrize("protocol", ["div2k", "benchmark"])
def test_evaluate_pairs_matches_direct_metrics(photo_pairs, protocol):
    rows = evaluate_pairs(Nearest(), photo_pairs, 2, protocol, tile=24, overlap=2)
    assert [r["image"] for r in rows] == ["astronaut", "exact"]
    sr = np.repeat(np.repeat(photo_pairs[0].lr, 2, axis=0), 2, axis=1)
    assert rows[0]["psnr"] == pytest.approx(psnr_protocol(sr, photo_pairs[0].hr, 2, protocol), abs=1e-9)
    assert rows[0]["ssim"] == pytest.approx(ssim_protocol(sr, photo_pairs[0].hr, 2, protocol), abs=1e-9)
    assert 20 < rows[0]["psnr"] < 40
    assert rows[1]["psnr"] == float("inf") and rows[1]["ssim"] == pytest.approx(1.0)


def test_evaluate_pairs_self_ensemble_and_progress(photo_pairs, tiny_sr, capsys):
    plain = evaluate_pairs(tiny_sr, photo_pairs[:1], 2, "div2k")
    ens = evaluate_pairs(tiny_sr, photo_pairs[:1], 2, "div2k", self_ensemble=True, tile=40, progress=True)
    sr = quantize(sr_forward(tiny_sr, torch.from_numpy(photo_pairs[0].lr).permute(2, 0, 1)[None],
                             self_ensemble=True)[0].permute(1, 2, 0).numpy())
    assert ens[0]["psnr"] == pytest.approx(psnr_protocol(sr, photo_pairs[0].hr, 2, "div2k"), abs=1e-6)
    assert ens[0]["psnr"] != plain[0]["psnr"]
    assert "eval x2 div2k" in capsys.readouterr().err


def test_evaluate_pairs_passes_scale_to_multiscale_models(photo_pairs):
    rows = evaluate_pairs(MultiScale(), photo_pairs[1:], 2, "benchmark")
    assert rows[0]["psnr"] == float("inf")  # forward(x, scale) got the scale (without it: a TypeError)


def test_evaluate_pairs_crops_hr_not_divisible_by_scale(photo_pairs):
    lr, hr = photo_pairs[1].lr, photo_pairs[1].hr
    padded = np.pad(hr, ((0, 1), (0, 1), (0, 0)))  # HR 1 px larger than 2 x LR
    assert evaluate_pairs(Nearest(), [Pair("odd", lr, padded)], 2, "div2k")[0]["psnr"] == float("inf")


def test_evaluate_pairs_rejects_bad_input(photo_pairs):
    with pytest.raises(ValueError, match="'div2k', 'benchmark'"):
        evaluate_pairs(Nearest(), photo_pairs, 2, "y-channel")
    with pytest.raises(ValueError, match="x2, expected x3"):
        evaluate_pairs(Nearest(), photo_pairs, 3, "div2k")
    small = Pair("small", photo_pairs[0].lr, photo_pairs[0].hr[:100])
    with pytest.raises(ValueError, match="small: SR is 128x160 but HR is 100x160"):
        evaluate_pairs(Nearest(), [small], 2, "div2k")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        sr_forward(Nearest(), torch.zeros(3, 8, 8))


def test_bicubic_baseline_beats_nearest_on_a_photo():
    hr = skdata.astronaut()[64:192, 96:256]
    lr = imresize(hr, 1 / 2)  # (64, 80, 3) uint8, MATLAB bicubic
    pairs = [Pair("astronaut", lr, hr)]
    for protocol in ("div2k", "benchmark"):
        bic = bicubic_baseline(pairs, 2, protocol)[0]
        near = evaluate_pairs(Nearest(), pairs, 2, protocol)[0]
        assert bic["image"] == "astronaut"
        up = imresize(lr, 2)
        assert bic["psnr"] == pytest.approx(psnr_protocol(up, hr, 2, protocol), abs=1e-9)
        assert bic["psnr"] > near["psnr"] + 0.5 and bic["ssim"] > near["ssim"]
        assert 25 < bic["psnr"] < 40


@pytest.mark.parametrize("name,overrides", [("edsr", {"norm": "weight"}), ("wdsr_a", {}), ("wdsr_b", {}),
                                            ("wdsr_a", {"norm": "batch"}), ("mdsr", {})])
def test_the_inference_copy_equals_the_model_to_float_rounding(name, overrides):
    """`for_inference` (folded normalisation, channels_last; what `wdsr eval` / `wdsr upscale` run) gives the
    trained model's outputs to fp32 rounding, and the same PSNR to 1e-4 dB."""
    torch.manual_seed(0)
    model = build_model(name, 2, n_resblocks=2, **overrides)
    if overrides.get("norm") == "batch":  # non-trivial running statistics to fold
        model.train()
        with torch.no_grad():
            model(torch.rand(2, 3, 24, 24) * 255)
    model.eval()
    lr = torch.rand(1, 3, 37, 29) * 255
    fast = for_inference(model)
    a, b = sr_forward(model, lr, scale=2), sr_forward(fast, lr, scale=2)
    assert fast.inference_channels_last and not getattr(model, "inference_channels_last", False)
    assert (a - b).abs().max().item() < 1e-3
    hr = quantize(a)
    assert psnr_protocol(quantize(b)[0], hr[0], 2, "div2k") > 60  # at most a few rounding flips
