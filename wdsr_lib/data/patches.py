"""Random aligned patch sampling with the 8 dihedral augmentations, built for exact resume and DDP.

Recipe (EDSR Sec. 4.2, WDSR Sec. 4, docs/recipes.md): batches of 16 LR patches (48x48 for x2) with their
aligned HR patches, randomly flipped and rotated by 90 degrees. The global batch of iteration ``step`` is a pure
function of ``(seed, step)``, so a resumed run only needs the step, and DDP rank r takes its slice of the same
global batch: the ranks together see exactly what a single process would.

Images are drawn uniformly, as EDSR-PyTorch does (one random crop per image draw), not weighted by area.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wdsr_lib.data.errors import DataError
from wdsr_lib.data.sources import ImagePair


def dihedral(img: np.ndarray, t: int) -> np.ndarray:
    """Apply element ``t`` (0..7) of the dihedral group to an (H, W, C) image: t >= 4 flips left-right,
    then ``t % 4`` quarter turns. t = 0 is the identity."""
    if t >= 4:
        img = img[:, ::-1]
    return np.rot90(img, t % 4, axes=(0, 1))


class PatchSampler:
    """Aligned (LR, HR) patch batches as a pure function of ``(seed, step)``.

    Args:
        pairs: aligned pairs (``ImagePair.hr`` is exactly ``scale`` times ``ImagePair.lr``).
        patch_size: LR patch side p in pixels; the HR patch side is p * scale.
        scale: super-resolution factor s.
        batch_size: global batch (16 in both papers), divisible by ``world_size``.
        seed: run seed.
        augment: draw one of the 8 flips / 90-degree rotations per sample (EDSR Sec. 4.2).
        rank, world_size: this process's slice [rank*b/ws, (rank+1)*b/ws) of the global batch.
    """

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        patch_size: int,
        scale: int,
        batch_size: int,
        seed: int,
        augment: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if patch_size < 1 or scale < 1 or batch_size < 1:
            raise ValueError(
                f"PatchSampler needs patch_size, scale, batch_size >= 1; got {patch_size}, {scale}, {batch_size}."
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"PatchSampler rank must be in [0, world_size); got rank={rank}, world_size={world_size}.")
        if batch_size % world_size:
            raise ValueError(f"PatchSampler batch_size {batch_size} is not divisible by world_size {world_size}.")
        self.patch_size, self.scale, self.batch_size, self.seed = patch_size, scale, batch_size, seed
        self.augment, self.rank, self.world_size = augment, rank, world_size
        kept, skipped = [], []
        for pair in pairs:
            if pair.lr.shape[0] >= patch_size and pair.lr.shape[1] >= patch_size:
                kept.append(pair)
            else:
                skipped.append(pair.name)
        if skipped:
            warnings.warn(
                f"PatchSampler skips {len(skipped)} image(s) smaller than the {patch_size * scale}px HR patch: "
                f"{', '.join(skipped)}.",
                stacklevel=2,
            )
        if not kept:
            raise DataError(
                f"No image is at least {patch_size * scale}x{patch_size * scale} px (the x{scale} HR patch); "
                f"use a smaller patch_size or larger images."
            )
        self.pairs = kept
        self.lr_sizes = np.array([p.lr.shape[:2] for p in kept], dtype=np.int64)  # (n, 2) LR (h, w)

    def plan(self, step: int) -> np.ndarray:
        """The global batch of ``step`` as an int64 (batch_size, 4) array of (image, y, x, transform),
        with (y, x) the LR top-left corner. Pure function of (seed, step)."""
        rng = np.random.default_rng([self.seed, step])
        b = self.batch_size
        image = rng.integers(len(self.pairs), size=b)
        room = self.lr_sizes[image] - self.patch_size + 1  # (b, 2) valid corner positions
        corner = np.floor(rng.random((b, 2)) * room).astype(np.int64)
        transform = rng.integers(8, size=b) if self.augment else np.zeros(b, dtype=np.int64)
        return np.column_stack([image, corner, transform])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch of ``step``.

        Returns:
            (lr, hr): uint8 tensors (b/ws, 3, p, p) and (b/ws, 3, p*s, p*s), pixels in [0, 255].
        """
        per_rank = self.batch_size // self.world_size
        rows = self.plan(step)[self.rank * per_rank : (self.rank + 1) * per_rank]
        p, s = self.patch_size, self.scale
        lrs, hrs = [], []
        for image, y, x, t in rows:
            pair = self.pairs[image]
            lrs.append(dihedral(pair.lr[y : y + p, x : x + p], t))
            hrs.append(dihedral(pair.hr[y * s : (y + p) * s, x * s : (x + p) * s], t))  # aligned HR crop
        lr = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).contiguous()  # (b, 3, p, p)
        hr = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).contiguous()  # (b, 3, p*s, p*s)
        return lr, hr

    def scale_at(self, step: int) -> int:
        """The scale of ``step``'s batch: always this sampler's (see MultiScaleSampler for MDSR)."""
        return self.scale


class MultiScaleSampler:
    """One random scale per minibatch, then that scale's batch: MDSR's training (EDSR Sec. 3.3, "we randomly
    select a scale among x2, x3 and x4 for each minibatch"; EDSR-PyTorch draws it uniformly).

    The scale of ``step`` comes from its own stream, ``default_rng([seed, step, 1])``, so it is a pure function of
    (seed, step) like the patches (the same on every DDP rank, unchanged by resume or worker count), and the
    single-scale samplers' plans are untouched. Every scale uses the same LR patch size (48 in EDSR Sec. 4.2),
    so the HR patches are ``scale`` times larger.

    Args:
        samplers: {scale: PatchSampler of that scale's pairs}, all with the same seed and batch size.
    """

    def __init__(self, samplers: dict[int, PatchSampler], seed: int) -> None:
        if not samplers:
            raise ValueError("MultiScaleSampler needs at least one scale.")
        self.samplers, self.seed = dict(sorted(samplers.items())), seed
        self.scales = tuple(self.samplers)

    def scale_at(self, step: int) -> int:
        return self.scales[int(np.random.default_rng([self.seed, step, 1]).integers(len(self.scales)))]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of ``step``'s batch at ``scale_at(step)`` (see PatchSampler.batch)."""
        return self.samplers[self.scale_at(step)].batch(step)


class _Steps(Dataset):
    """Map-style dataset whose item i is the batch of step ``start + i``."""

    def __init__(self, sampler: PatchSampler | MultiScaleSampler, start: int, end: int) -> None:
        self.sampler, self.start, self.end = sampler, start, end

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sampler.batch(self.start + i)


def loader(
    sampler: PatchSampler, start_step: int, end_step: int, workers: int = 0
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of steps ``start_step .. end_step - 1``, in order, prepared by ``workers`` processes.

    The batch of a step does not depend on the worker count, so resuming at ``start_step`` reproduces the
    uninterrupted stream exactly.
    """
    return DataLoader(
        _Steps(sampler, start_step, end_step),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=False,
    )
