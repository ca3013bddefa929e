"""Every speed-up gives the result of the slow path it replaces, within float tolerance (docs/performance.md).

Covers: the fused weight-norm kernel in WeightNormConv2d (vs WDSR Eq. 6 written out and vs the original code's
`torch.nn.utils.weight_norm`, values and gradients), fused Adam (vs the default Adam, several steps), the engine's
training step vs the naive reference of benchmarks/ (same batches, same seed), channels_last + folding for
inference, the opt-in torch.compile switch, and the benchmark's FLOP count.
"""
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wdsr_lib.engine import fast
from wdsr_lib.models import build_model, fold_normalization
from wdsr_lib.models.norm import WeightNormConv2d, weight_norm_formula

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
SMALL = {"n_resblocks": 2, "n_feats": 8}
CPU = torch.device("cpu")


def test_fused_weight_norm_equals_eq6_in_value_and_gradient():
    torch.manual_seed(0)
    wn = WeightNormConv2d(5, 7, 3, padding=1)
    with torch.no_grad():
        wn.weight_g.mul_(torch.rand(7) + 0.5)
    v = wn.weight.detach().clone().requires_grad_()
    g = wn.weight_g.detach().clone().requires_grad_()
    x = torch.randn(2, 5, 6, 6)
    fast_out = wn(x)
    ref_out = F.conv2d(x, weight_norm_formula(v, g), wn.bias, padding=1)
    torch.testing.assert_close(fast_out, ref_out, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(ref_out)
    (fast_out * upstream).sum().backward()
    (ref_out * upstream).sum().backward()
    torch.testing.assert_close(wn.weight.grad, v.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(wn.weight_g.grad, g.grad, rtol=1e-4, atol=1e-5)


def test_weight_norm_conv_equals_torch_weight_norm_hook_in_channels_last():
    torch.manual_seed(0)
    ours = WeightNormConv2d(4, 6, 3, padding=1)
    plain = nn.Conv2d(4, 6, 3, padding=1)
    plain.load_state_dict({"weight": ours.weight.detach(), "bias": ours.bias.detach()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        hooked = nn.utils.weight_norm(plain)
    x = torch.randn(3, 4, 9, 9)
    ours_cl = ours.to(memory_format=torch.channels_last)
    torch.testing.assert_close(ours_cl(x.contiguous(memory_format=torch.channels_last)), hooked(x),
                               rtol=1e-5, atol=1e-5)


def test_fused_adam_follows_default_adam_over_several_steps():
    torch.manual_seed(0)
    a = build_model("wdsr_a", 2, **SMALL)
    b = build_model("wdsr_a", 2, **SMALL)
    b.load_state_dict(a.state_dict())
    opt_fast = fast.adam(a.parameters(), 1e-3, (0.9, 0.999), 1e-8, CPU)
    opt_ref = torch.optim.Adam(b.parameters(), lr=1e-3)
    assert opt_fast.defaults["fused"]
    x, y = torch.rand(2, 3, 8, 8) * 255, torch.rand(2, 3, 16, 16) * 255
    for _ in range(5):
        for m, opt in ((a, opt_fast), (b, opt_ref)):
            opt.zero_grad()
            F.l1_loss(m(x), y).backward()
            opt.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
    # the same state-dict layout: a checkpoint from either loads into the other
    opt_ref.load_state_dict(opt_fast.state_dict())


@pytest.mark.parametrize("name", ["wdsr_a", "edsr"])
def test_engine_step_equals_naive_reference_step(name):
    from bench_common import Step, batch, copy_into_naive, naive_model

    torch.manual_seed(0)
    ours = build_model(name, 2, **SMALL)
    naive = naive_model(name, **SMALL)
    copy_into_naive(ours, naive)
    lr, hr = batch(2, 8)
    engine = Step(ours, lr, hr, engine=True, learning_rate=1e-3, bf16_on_amx=False)  # fp32 on every CPU
    ref = Step(naive, lr, hr, engine=False, learning_rate=1e-3)
    for _ in range(3):
        assert engine() == pytest.approx(ref(), rel=1e-4)
    x = torch.rand(1, 3, 10, 10) * 255
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), naive.eval()(x), rtol=1e-4, atol=1e-3)


def test_folded_channels_last_inference_equals_naive():
    from bench_common import copy_into_naive, naive_model

    torch.manual_seed(0)
    ours = build_model("wdsr_a", 2, **SMALL)
    naive = naive_model("wdsr_a", **SMALL)
    copy_into_naive(ours, naive)
    x = torch.rand(1, 3, 12, 10) * 255
    fast_model = fold_normalization(ours).to(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(fast_model(x.contiguous(memory_format=torch.channels_last)), naive.eval()(x),
                                   rtol=1e-4, atol=1e-3)


def test_compile_is_opt_in(monkeypatch):
    model = nn.Conv2d(3, 3, 1)
    monkeypatch.delenv("WDSR_COMPILE", raising=False)
    assert fast.compile_model(model) is model
    monkeypatch.setenv("WDSR_COMPILE", "1")
    assert fast.compile_enabled()
    assert fast.compile_model(model, enabled=False) is model


@pytest.mark.slow
def test_compiled_model_equals_eager():
    torch.manual_seed(0)
    model = build_model("wdsr_a", 2, n_resblocks=1, n_feats=4, block_feats=8)
    compiled = fast.compile_model(model, enabled=True)
    x = torch.rand(1, 3, 6, 6) * 255
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-3)


def test_benchmark_step_flops_count_forward_and_backward():
    from train_step import step_flops

    from wdsr_lib.models import count_macs

    macs = count_macs(build_model("wdsr_a", 2, n_resblocks=16), (48, 48))
    assert step_flops("wdsr_a") == 6.0 * macs * 16
