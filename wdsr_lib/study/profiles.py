"""Profiles: the same study from a 2-core laptop to the paper's settings, in one place (docs/design.md, "Profiles").

A profile scales iterations, crop sizes, seeds and data only; models, batch 16, Adam, L1 and the learning
rates of WDSR Sec. 4 stay the paper's. The learning-rate halving keeps the paper's position: WDSR halves at
2e5 of the 2.5e5 Table 1 iterations, so every profile halves at 80% of its run.

| profile | data | what it is for |
|---|---|---|
| smoke | sample photos, 12 px LR patches, a few iterations | CI and notebook tests: every code path runs |
| quick | sample photos, 16 px LR patches, 300 iterations, 1 seed | the default `make reproduce` (minutes) |
| cpu   | photo set, 24 px LR patches, 10k iterations at 1 and 3 blocks, 3-5 seeds | the CPU study (hours) |
| cpu_v1 | sample photos, 24 px LR patches, 10k iterations at 1 block | the CPU study's first edition |
| paper | DIV2K, 48 px LR patches, 2.5e5 iterations, 1 seed | the paper's exact recipe on GPUs |

Validation during training and the final evaluation use every held-out image whole (smoke excepted, which
crops to stay fast); all profiles train in fp32. The final evaluation scores the source's test split (for the
photo set its 16 test photographs; for the other sources the held-out split validation uses).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Optional

from wdsr_lib.core import env
from wdsr_lib.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig


@dataclass(frozen=True)
class Budget:
    """What one artefact (or one Table 1 depth) gets under a profile: iterations per run and seeds."""

    iterations: int
    seeds: tuple[int, ...]


# The keys a profile's `budgets` may hold: an artefact (fig3 also sets Fig. 4's), the x2 source of the x4 transfer,
# the pilot, and "table1:b<blocks>" for one Table 1 depth. A key not listed here would silently fall back to the
# profile's defaults, so it is refused (tests/test_registries.py).
BUDGET_KEYS = ("table1", "fig3", "ablations", "baselines", "edsr_loss", "edsr_x4", "edsr_x4_source", "pilot")


@dataclass(frozen=True)
class Profile:
    """How much of the study to run: data, iterations, crop sizes, seeds, threads per run."""

    name: str
    data: DataConfig
    iterations: int  # per run unless a budget says otherwise (WDSR Table 1: 250 x 1000)
    val_every: int  # iterations between validations (the points of Figures 3 and 4)
    seeds: tuple[int, ...]
    table1_blocks: tuple[int, ...] = (1, 3, 5, 8)  # WDSR Table 1 budgets
    norm_blocks: int = 16  # depth of the Figure 3 / 4 model
    baseline_blocks: int = 16  # the EDSR / WDSR baselines of the README
    ablation_blocks: Optional[int] = None  # depth of the Sec. 3.1/3.2 ablations and L1/L2 (None: middle Table 1 budget)
    x4_blocks: Optional[int] = None  # depth of the x2 -> x4 EDSR (None: the second Table 1 budget)
    wdsr_a_ratios: Optional[tuple[int, ...]] = None  # Sec. 3.1 expansions r to train (None: all of plans.WDSR_A_RATIOS)
    needs_div2k: bool = False
    description: str = ""
    threads: Optional[int] = None  # CPU threads per run, pinned (fp32 sums depend on the thread count)
    # Per-artefact budgets: ("table1:b1", Budget(...)) for one Table 1 depth, ("fig3", ...) for an artefact
    # (fig3 also sets Fig. 4's), "ablations", and for the EDSR comparisons "baselines", "edsr_loss", "edsr_x4"
    # ("edsr_x4_source": the x2 run it starts from, else the x4 budget).
    budgets: tuple[tuple[str, Budget], ...] = ()
    # Validations the convergence gate wants inside the last 20% of a run (`plans.gate_spacing`): a run whose
    # spacing leaves fewer validates more often. 3 is the first edition's minimum (its keys depend on it).
    gate_points: int = 3

    def __post_init__(self) -> None:
        known = list(BUDGET_KEYS) + [f"table1:b{n}" for n in self.table1_blocks]
        for key, budget in self.budgets:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                depth = (f" ({key} is not one of its Table 1 depths {self.table1_blocks})"
                         if key.startswith("table1:b") else "")
                raise ValueError(f"profile {self.name!r} has a budget for {key!r}, which no plan reads{depth}; "
                                 f"{hint}the budget keys are {', '.join(known)}.")
            if not isinstance(budget, Budget):
                raise ValueError(f"profile {self.name!r}: the budget of {key!r} must be a Budget(iterations, seeds).")

    def budget(self, artefact: str, blocks: Optional[int] = None) -> Budget:
        """The budget of `artefact` (at `blocks` for Table 1): the most specific entry, else the defaults."""
        table = dict(self.budgets)
        for key in ((f"{artefact}:b{blocks}",) if blocks is not None else ()) + (artefact,):
            if key in table:
                return table[key]
        return Budget(self.iterations, self.seeds)

    def run(self, model: ModelConfig, seed: Optional[int] = None, *, iterations: Optional[int] = None,
            **train: object) -> RunConfig:
        """The RunConfig of `model` under this profile (`train` overrides recipe fields such as lr, loss).

        With $WDSR_COMPILE=1 the run trains through torch.compile and is keyed apart from the eager run."""
        iters = self.iterations if iterations is None else iterations
        recipe = TrainConfig(iterations=iters, val_every=min(self.val_every, iters),
                             checkpoint_every=max(min(self.val_every, iters), min(iters // 4, 2000)),
                             lr_halve_every=max(1, int(iters * 0.8)),
                             seed=self.seeds[0] if seed is None else seed, threads=self.threads,
                             compile=env.get_flag("WDSR_COMPILE"))
        return RunConfig(model=model, data=self.data, train=replace(recipe, **train))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        # Tiny crops: every code path runs in seconds; the numbers mean nothing.
        data=DataConfig(source="sample", patch_size=12, val_images=1, val_crop=48),
        iterations=4, val_every=2, seeds=(0,), table1_blocks=(1, 3), norm_blocks=2, baseline_blocks=16, threads=1,
        description="CI and notebook tests: every code path, seconds per notebook",
    ),
    "quick": Profile(
        name="quick",
        # A third of the paper's LR patch (16 px, 32 px HR) keeps every artefact's runs within minutes on 2 cores
        # (a 16-block step costs ~0.2 s instead of ~0.4 s at 24 px). Far from converged: verdicts are gated.
        data=DataConfig(source="sample", patch_size=16, val_images=2, val_crop=None),
        # One thread per run (`make reproduce JOBS=2` runs two at a time): on a busy machine a 2-thread run
        # stalls at every OpenMP barrier when one of its threads is preempted (measured: 35x slower steps).
        iterations=300, val_every=25, seeds=(0,), norm_blocks=8, baseline_blocks=16, threads=1,
        description="the default main job: every artefact, real training, one seed, minutes on 2 cores",
    ),
    "cpu": Profile(
        name="cpu",
        # The CPU study, second edition (docs/cpu_study.md): the photo set (`wdsr_lib.data.photoset`: 14
        # training, 4 validation, 16 test photographs). Validation during training on the 4 validation photos,
        # whole, every 250 iterations (8 points in the gate's last 20%); every run's final weights scored on
        # the 16 test photos, whole, which the verdicts read. One thread per run, two runs at a time (`make
        # study`, JOBS=2). Table 1 at 1 block (5 seeds) and 3 blocks (3 seeds); Figs. 3/4, the ablations and
        # L1/L2 at 1 block with Table 1's runs as reference arms (3 seeds); the x4 transfer 2,500 iterations
        # from a 2,500-iteration x2 EDSR; the pilot runs seed 0 of the 1-block trio to 20,000 iterations. The
        # 16-block baselines get one seed of 500 iterations ("not decidable on CPU").
        data=DataConfig(source="photos", patch_size=24, val_images=4, val_crop=None),
        iterations=10_000, val_every=250, seeds=(0, 1, 2), table1_blocks=(1, 3), norm_blocks=1,
        baseline_blocks=16, ablation_blocks=1, x4_blocks=1, wdsr_a_ratios=(1, 2, 4, 8), threads=1,
        gate_points=8,
        budgets=(("table1:b1", Budget(10_000, (0, 1, 2, 3, 4))), ("table1:b3", Budget(10_000, (0, 1, 2))),
                 ("fig3", Budget(10_000, (0, 1, 2))), ("ablations", Budget(10_000, (0, 1, 2))),
                 ("edsr_loss", Budget(10_000, (0, 1, 2))), ("edsr_x4", Budget(2_500, (0, 1, 2))),
                 ("edsr_x4_source", Budget(2_500, (0, 1, 2))),
                 ("baselines", Budget(500, (0,))), ("pilot", Budget(20_000, (0,)))),
        description="the CPU study: 34 photographs (14 train, 4 validate, 16 test), seeds x images intervals",
    ),
    "cpu_v1": Profile(
        name="cpu_v1",
        # The first edition of the CPU study (report: results/reports/cpu_v1.md, an appendix): trained on six
        # scikit-image images, validated on two photos; its runs keep their keys. One thread per run, two runs
        # at a time: 1.26x the throughput of one 2-thread run, and a run's numbers do not depend on how many
        # run beside it. Budgets: docs/cpu_study.md.
        # Table 1 at 1 block: 10k iterations x 5 seeds (the pilot runs seed 0 to 20k to check that the gaps
        # have settled by 10k). The figures, ablations and EDSR comparisons run at 1 block, where Table 1's
        # runs are their reference arms, with 3 seeds. Cut to hold the 8 h (docs/cpu_study.md, "The cut of
        # 2026-12-02"): no Table 1 at 3 blocks (three seeds would cost ~4.4 run-hours), no WDSR-A r = 6 (no
        # claim rests on it), and the x4 transfer runs 1,000 iterations (an x4 step costs 0.49 s, 4.5x an x2
        # step) from a 2,500-iteration x2 EDSR. The 16-block baselines get one seed ("not decidable on CPU").
        data=DataConfig(source="sample", patch_size=24, val_images=2, val_crop=None),
        iterations=10_000, val_every=500, seeds=(0, 1, 2), table1_blocks=(1,), norm_blocks=1,
        baseline_blocks=16, ablation_blocks=1, x4_blocks=1, wdsr_a_ratios=(1, 2, 4, 8), threads=1,
        budgets=(("table1:b1", Budget(10_000, (0, 1, 2, 3, 4))),
                 ("fig3", Budget(10_000, (0, 1, 2))), ("ablations", Budget(10_000, (0, 1, 2))),
                 ("edsr_loss", Budget(10_000, (0, 1, 2))), ("edsr_x4", Budget(2_500, (0, 1, 2))),
                 ("edsr_x4_source", Budget(2_500, (0, 1, 2))),
                 ("baselines", Budget(500, (0,))), ("pilot", Budget(20_000, (0,)))),
        description="the CPU study, first edition (2026-12): the two sample photos validate; kept for its appendix",
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
