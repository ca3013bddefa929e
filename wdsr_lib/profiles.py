"""Profiles: the same study from a 2-core laptop to the paper's settings, in one place (DESIGN.md, STYLE.md 2).

A profile scales iterations, crop sizes, seeds and data only; models, batch 16, Adam, L1 and the learning
rates of WDSR Sec. 4 stay the paper's. The learning-rate halving keeps the paper's position: WDSR halves at
2e5 of the 2.5e5 Table 1 iterations, so every profile halves at 80% of its run.

| profile | data | what it is for |
|---|---|---|
| smoke | sample photos, 12 px LR patches, a few iterations | CI and notebook tests: every code path runs |
| quick | sample photos, 16 px LR patches, hundreds of iterations, 1 seed | the default `make reproduce` (<= 15 min) |
| cpu   | sample photos, 24 px LR patches, 500 iterations, 3 seeds | the CPU study (<= 3 h, estimated) |
| paper | DIV2K, 48 px LR patches, 2.5e5 iterations, 1 seed | the paper's exact recipe on GPUs |
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig


@dataclass(frozen=True)
class Profile:
    """How much of the study to run: data, iterations, crop sizes, seeds."""

    name: str
    data: DataConfig
    iterations: int  # per run (WDSR Table 1: 250 x 1000)
    val_every: int  # iterations between validations (the points of Figures 3 and 4)
    seeds: tuple[int, ...]
    table1_blocks: tuple[int, ...] = (1, 3, 5, 8)  # WDSR Table 1 budgets
    norm_blocks: int = 16  # depth of the Figure 3 / 4 model
    baseline_blocks: int = 16  # the EDSR / WDSR baselines of the README
    needs_div2k: bool = False
    description: str = ""

    def run(self, model: ModelConfig, seed: Optional[int] = None, *, iterations: Optional[int] = None,
            **train: object) -> RunConfig:
        """The RunConfig of `model` under this profile (`train` overrides recipe fields such as lr, loss)."""
        iters = self.iterations if iterations is None else iterations
        recipe = TrainConfig(iterations=iters, val_every=min(self.val_every, iters),
                             checkpoint_every=max(min(self.val_every, iters), iters // 4),
                             lr_halve_every=max(1, int(iters * 0.8)),
                             seed=self.seeds[0] if seed is None else seed)
        return RunConfig(model=model, data=self.data, train=replace(recipe, **train))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        # Tiny crops: every code path runs in seconds; the numbers mean nothing.
        data=DataConfig(source="sample", patch_size=12, val_images=1, val_crop=48),
        iterations=4, val_every=2, seeds=(0,), table1_blocks=(1, 3), norm_blocks=2, baseline_blocks=16,
        description="CI and notebook tests: every code path, seconds per notebook",
    ),
    "quick": Profile(
        name="quick",
        # A third of the paper's LR patch (16 px, 32 px HR) and a 192 px validation crop keep the 29 runs of the
        # pipeline within 15 minutes on 2 cores (a 16-block step costs ~0.2 s instead of ~0.4 s at 24 px).
        data=DataConfig(source="sample", patch_size=16, val_images=2, val_crop=192),
        iterations=300, val_every=25, seeds=(0,), norm_blocks=8, baseline_blocks=16,
        description="the default main job: every artefact, real training, one seed, <= 15 min on 2 cores",
    ),
    "cpu": Profile(
        name="cpu",
        # 3 seeds give confidence intervals. Budget, scaled from the measured quick pipeline (900 s for 29 runs of
        # 300 iterations at 16 px): 3 seeds x 500/300 iterations x (24/16)^2 pixels ~ 10,100 s, under 3 h.
        data=DataConfig(source="sample", patch_size=24, val_images=2, val_crop=192),
        iterations=500, val_every=50, seeds=(0, 1, 2), norm_blocks=8, baseline_blocks=16,
        description="the CPU study: every claim with 3 seeds and 95% intervals, <= 3 h on 2 cores",
    ),
    "paper": Profile(
        name="paper",
        # WDSR Sec. 4: DIV2K 0001-0800, 10 validation images of 0801-0900, 96 px HR patches, 250k iterations.
        data=DataConfig(source="div2k", patch_size=48, val_images=10, val_crop=None, workers=4),
        iterations=250_000, val_every=1000, seeds=(0,), norm_blocks=16, baseline_blocks=16, needs_div2k=True,
        description="the paper's exact recipe on DIV2K (days on one GPU; DDP through torchrun)",
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}.")
    return PROFILES[name]
