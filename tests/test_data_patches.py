"""PatchSampler: aligned augmented crops, determinism under (seed, step), DDP slices, resume-friendly loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest_data import isolated_cache, random_rgb  # noqa: F401  (autouse fixture)
from wdsr_lib.data import DataError, ImagePair, PatchSampler, load_pairs, loader
from wdsr_lib.data.patches import dihedral


def _block_pairs(scale: int, sizes=((20, 26), (17, 30), (24, 24))) -> list[ImagePair]:
    """Pairs whose HR is the LR with every pixel repeated into an s x s block, so hr[::s, ::s] == lr exactly
    under every flip and rotation."""
    pairs = []
    for i, (h, w) in enumerate(sizes):
        lr = random_rgb(h, w, seed=10 + i)
        hr = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
        pairs.append(ImagePair(name=f"img{i}", lr=lr, hr=hr))
    return pairs


@pytest.mark.parametrize("scale", [2, 3])
def test_augmented_patches_stay_aligned(scale):
    sampler = PatchSampler(_block_pairs(scale), patch_size=8, scale=scale, batch_size=16, seed=0)
    seen = set()
    for step in range(20):
        lr, hr = sampler.batch(step)
        assert lr.shape == (16, 3, 8, 8) and hr.shape == (16, 3, 8 * scale, 8 * scale)
        assert lr.dtype == torch.uint8 and hr.dtype == torch.uint8
        torch.testing.assert_close(hr[:, :, ::scale, ::scale], lr, rtol=0, atol=0)
        seen.update(sampler.plan(step)[:, 3].tolist())
    assert seen == set(range(8))  # all 8 dihedral transforms occur


def test_unaugmented_patches_are_the_planned_crops_of_sample_photos():
    pairs = load_pairs("sample", 2, "val")
    sampler = PatchSampler(pairs, patch_size=12, scale=2, batch_size=4, seed=3, augment=False)
    lr, hr = sampler.batch(0)
    for k, (img, y, x, t) in enumerate(sampler.plan(0)):
        assert t == 0
        np.testing.assert_array_equal(lr[k].permute(1, 2, 0).numpy(), pairs[img].lr[y : y + 12, x : x + 12])
        hr_crop = pairs[img].hr[2 * y : 2 * y + 24, 2 * x : 2 * x + 24]
        np.testing.assert_array_equal(hr[k].permute(1, 2, 0).numpy(), hr_crop)


def test_dihedral_group_has_eight_distinct_elements():
    img = np.arange(2 * 3).reshape(2, 3, 1)
    outs = {dihedral(img, t).tobytes() + bytes(dihedral(img, t).shape) for t in range(8)}
    assert len(outs) == 8


def test_batch_is_a_pure_function_of_seed_and_step():
    a = PatchSampler(_block_pairs(2), 8, 2, 16, seed=7)
    b = PatchSampler(_block_pairs(2), 8, 2, 16, seed=7)
    for step in (0, 5, 123456):
        for x, y in zip(a.batch(step), b.batch(step)):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert not torch.equal(a.batch(5)[0], a.batch(6)[0])
    assert not torch.equal(a.batch(5)[0], PatchSampler(_block_pairs(2), 8, 2, 16, seed=8).batch(5)[0])
    later_first = a.batch(9)[0]
    a.batch(3)  # calling order does not matter: resume = start at the step
    torch.testing.assert_close(a.batch(9)[0], later_first, rtol=0, atol=0)


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_together_see_the_single_process_batch(world_size):
    single = PatchSampler(_block_pairs(2), 8, 2, 16, seed=1)
    ranks = [PatchSampler(_block_pairs(2), 8, 2, 16, seed=1, rank=r, world_size=world_size) for r in range(world_size)]
    for step in (0, 11):
        lr, hr = single.batch(step)
        parts = [s.batch(step) for s in ranks]
        assert parts[0][0].shape[0] == 16 // world_size
        torch.testing.assert_close(torch.cat([p[0] for p in parts]), lr, rtol=0, atol=0)
        torch.testing.assert_close(torch.cat([p[1] for p in parts]), hr, rtol=0, atol=0)


def test_batch_not_divisible_by_world_size_is_refused():
    with pytest.raises(ValueError, match="divisible"):
        PatchSampler(_block_pairs(2), 8, 2, 16, seed=0, rank=0, world_size=3)


def test_small_images_are_skipped_with_warning_and_all_small_is_an_error():
    pairs = _block_pairs(2, sizes=((20, 26), (6, 30)))
    with pytest.warns(UserWarning, match="img1"):
        sampler = PatchSampler(pairs, 8, 2, 4, seed=0)
    assert [p.name for p in sampler.pairs] == ["img0"]
    with pytest.raises(DataError, match="16x16"), pytest.warns(UserWarning):
        PatchSampler(_block_pairs(2, sizes=((6, 6),)), 8, 2, 4, seed=0)


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_yields_the_steps_in_order(workers):
    sampler = PatchSampler(_block_pairs(2), 8, 2, 4, seed=2)
    got = list(loader(sampler, start_step=10, end_step=15, workers=workers))
    assert len(got) == 5
    for i, (lr, hr) in enumerate(got):
        want_lr, want_hr = sampler.batch(10 + i)
        torch.testing.assert_close(lr, want_lr, rtol=0, atol=0)
        torch.testing.assert_close(hr, want_hr, rtol=0, atol=0)


def test_resumed_loader_continues_the_uninterrupted_stream():
    sampler = PatchSampler(_block_pairs(2), 8, 2, 4, seed=4)
    full = [lr for lr, _ in loader(sampler, 0, 6)]
    resumed = [lr for lr, _ in loader(sampler, 0, 3)] + [lr for lr, _ in loader(sampler, 3, 6)]
    for a, b in zip(full, resumed):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
