"""Models: exact parameter counts (docs/parameter_counts.md), shapes, weight norm, folding, bad arguments."""
import pytest
import torch
from torch import nn

from wdsr_lib.core.registry import MODELS
from wdsr_lib.models import (WeightNormConv2d, build_model, call_model, count_macs, count_parameters,
                             fold_normalization)
from wdsr_lib.models.norm import weight_norm_formula


@pytest.mark.parametrize("name, kwargs, expected", [
    ("wdsr_a", {"norm": "none"}, 1_187_484),  # the WDSR README baseline without its weight-norm gains
    ("edsr", {"norm": "weight"}, 1_372_318),  # WDSR README's EDSR baseline
    ("edsr", {}, 1_369_883),
    ("edsr", {"mean_shift": False}, 1_369_859),
    ("edsr", {"n_resblocks": 1}, 262_043),
])
def test_reference_parameter_counts_are_exact(name, kwargs, expected):
    assert count_parameters(build_model(name, 2, **kwargs)) == expected


def test_wdsr_a_baseline_has_1190100_params():
    assert count_parameters(build_model("wdsr_a")) == 1_190_100


@pytest.mark.parametrize("blocks, edsr, wdsr_a, edsr_m, wdsr_a_m", [
    (1, 262_043, 79_164, 0.26, 0.08), (3, 409_755, 226_940, 0.41, 0.23), (5, 557_467, 374_716, 0.56, 0.37),
    (8, 779_035, 596_380, 0.78, 0.60)])
def test_wdsr_table1_edsr_and_wdsr_a_counts_are_exact_and_round_to_paper(blocks, edsr, wdsr_a, edsr_m, wdsr_a_m):
    # The setting that reproduces Table 1: no weight-norm gains (WDSR-A F=32, w=128; EDSR F=64, MeanShift).
    n_edsr = count_parameters(build_model("edsr", n_resblocks=blocks))
    n_wdsr_a = count_parameters(build_model("wdsr_a", n_resblocks=blocks, norm="none"))
    assert (n_edsr, n_wdsr_a) == (edsr, wdsr_a)
    assert (round(n_edsr / 1e6, 2), round(n_wdsr_a / 1e6, 2)) == (edsr_m, wdsr_a_m)  # WDSR Table 1, 0.01M


def test_wdsr_a_with_weight_norm_gains_misses_table1_at_5_blocks():
    assert count_parameters(build_model("wdsr_a", n_resblocks=5)) == 375_572  # 0.38M, not the paper's 0.37M


@pytest.mark.parametrize("blocks, expected", [(1, 84_250), (3, 233_318), (5, 382_386), (8, 605_988)])
def test_wdsr_b_natural_setting_counts(blocks, expected):
    assert count_parameters(build_model("wdsr_b", n_resblocks=blocks)) == expected


@pytest.mark.parametrize("scale, expected", [(3, 1_554_523), (4, 1_517_595)])
def test_edsr_baseline_is_the_papers_1_5m_at_x3_x4(scale, expected):
    n = count_parameters(build_model("edsr", scale))
    assert n == expected and int(n / 1e5) / 10 == 1.5  # EDSR Table 1 truncates: 1.55M -> "1.5M"


@pytest.mark.parametrize("scale, expected", [(2, 40_729_627), (3, 43_680_027), (4, 43_089_947)])
def test_edsr_paper_model_is_43m(scale, expected):
    n = count_parameters(build_model("edsr_paper", scale))
    assert n == expected
    if scale > 2:
        assert int(n / 1e6) == 43  # truncated, as EDSR Table 1 does


@pytest.mark.parametrize("name, expected, paper_m", [("mdsr", 3_227_227, 3.2), ("mdsr_paper", 7_954_011, 8.0)])
def test_mdsr_counts_are_exact_and_match_edsr_table1(name, expected, paper_m):
    n = count_parameters(build_model(name))
    assert n == expected and round(n / 1e6, 1) == paper_m  # the whole x2/x3/x4 model (EDSR Table 1)


SMALL = {"n_resblocks": 2}


@pytest.mark.parametrize("name", sorted(n for n in MODELS if "paper" not in n))
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("norm", ["weight", "batch", "none"])
def test_output_shape_every_model_scale_norm(name, scale, norm):
    model = build_model(name, scale, norm=norm, **SMALL).eval()
    x = torch.rand(2, 3, 7, 9) * 255
    assert call_model(model, x, scale).shape == (2, 3, 7 * scale, 9 * scale)


class _Wrapper(nn.Module):
    """Holds the network in `.module`, as DistributedDataParallel does, and has no `multi_scale` itself."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        return self.module(*args)


def test_call_model_gives_mdsr_its_scale_through_a_wrapper_and_single_scale_models_none():
    torch.manual_seed(0)
    mdsr, edsr = build_model("mdsr", **SMALL).eval(), build_model("edsr", 2, **SMALL).eval()
    x = torch.rand(1, 3, 6, 5) * 255
    with torch.no_grad():
        for s in (2, 3, 4):
            torch.testing.assert_close(call_model(_Wrapper(mdsr), x, s), mdsr(x, s), rtol=0, atol=0)
        torch.testing.assert_close(call_model(mdsr, x), mdsr(x, 2), rtol=0, atol=0)  # None: the default scale
        torch.testing.assert_close(call_model(edsr, x, 3), edsr(x), rtol=0, atol=0)  # a scale it cannot take


def test_mdsr_serves_every_scale_from_one_model():
    model = build_model("mdsr", **SMALL).eval()
    x = torch.rand(1, 3, 6, 5) * 255
    for s in (2, 3, 4):
        assert model(x, s).shape == (1, 3, 6 * s, 5 * s)


def test_weight_normed_conv_at_init_equals_the_plain_conv_it_wraps():
    torch.manual_seed(0)
    wn = WeightNormConv2d(8, 16, 3, padding=1)
    plain = nn.Conv2d(8, 16, 3, padding=1)
    plain.load_state_dict({"weight": wn.weight.detach(), "bias": wn.bias.detach()})
    x = torch.randn(2, 8, 10, 10)
    torch.testing.assert_close(wn(x), plain(x), rtol=1e-6, atol=1e-6)


def test_weight_norm_follows_wdsr_eq6():
    torch.manual_seed(0)
    wn = WeightNormConv2d(4, 6, 3)
    with torch.no_grad():
        wn.weight_g.mul_(torch.rand(6) + 0.5)
    w = wn.normalized_weight()
    torch.testing.assert_close(w, weight_norm_formula(wn.weight, wn.weight_g))
    torch.testing.assert_close(w.flatten(1).norm(dim=1), wn.weight_g)  # ||w|| = g


@pytest.mark.parametrize("name", ["edsr", "wdsr_a", "wdsr_b", "mdsr"])
@pytest.mark.parametrize("norm", ["weight", "batch"])
def test_fold_normalization_matches_original(name, norm):
    torch.manual_seed(0)
    model = build_model(name, 2, norm=norm, **SMALL)
    x = torch.rand(4, 3, 8, 8) * 255
    model.train()
    for _ in range(3):  # move BN running statistics away from their initial values
        call_model(model, x, 2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, WeightNormConv2d):
                m.weight_g.mul_(torch.rand_like(m.weight_g) + 0.5)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    model.eval()
    folded = fold_normalization(model)
    assert not any(isinstance(m, (WeightNormConv2d, nn.BatchNorm2d)) for m in folded.modules())
    with torch.no_grad():
        ref, out = call_model(model, x, 2), call_model(folded, x, 2)
    assert (ref - out).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item() / 255)
    assert count_parameters(folded) <= count_parameters(model)


def test_count_macs_is_linear_in_pixels_and_matches_hand_count():
    model = build_model("edsr", n_resblocks=1, mean_shift=False)
    per_pixel = 3 * 64 * 9 + 3 * 64 * 64 * 9 + 64 * 256 * 9 + 4 * 64 * 3 * 9
    assert count_macs(model, (1, 1)) == per_pixel
    assert count_macs(model, (10, 20)) == 200 * per_pixel


@pytest.mark.parametrize("call, match", [
    (lambda: build_model("srcnn"), "unknown model"),
    (lambda: build_model("edsr", 5), "scale"),
    (lambda: build_model("wdsr_a", 8), "scale"),
    (lambda: build_model("wdsr_a", norm="layer"), "norm"),
    (lambda: build_model("wdsr_a", n_feats=0), "n_feats"),
    (lambda: build_model("edsr", n_resblocks=-1), "n_resblocks"),
    (lambda: build_model("wdsr_a", expansion=6), "does not take"),
    (lambda: count_macs(build_model("wdsr_a", n_resblocks=1), (0, 4)), "positive"),
])
def test_bad_arguments_raise_clear_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
