"""The run plans of the study: which RunConfigs each paper artefact needs, as pure functions of a Profile.

One function per artefact (WDSR Table 1, Fig. 3, Fig. 4, the EDSR comparisons, the Sec. 3.1/3.2 ablations, and
the seeds that measure single-seed noise)
returns a list of `PlannedRun` (labels for plots and tables + the RunConfig). Nothing here trains or reads the
store: `wdsr_lib.study.frames` does (`run_plan`, `final_frame`, `history_frame`, `table1_params`, `run_seconds`).
`all_runs(profile)` is every run of the pipeline, deduplicated, in dependency order.

Plans share runs on purpose: Table 1's 8-block WDSR-A is Fig. 3's weight-norm arm at the quick profile, the
ablations' reference points (r = 4; e = 6, l = 0.8; no ReLU) are Table 1 runs. Paper defaults are therefore
left as `None` (lr, low_rank_relu) so that equal models hash to the same store key.

Deviation: the Table 1 EDSR is trained with weight norm (as the WDSR README's EDSR baseline, 1,372,318
parameters) so that Table 1 isolates width; the paper's "paper-setting" counts (no weight-norm gains) are shown
beside ours by `frames.table1_params`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from wdsr_lib.core import paper
from wdsr_lib.core.config import SEED_MAX, ModelConfig, RunConfig, paper_lr
from wdsr_lib.core.registry import family_of
from wdsr_lib.study.labels import labels_match
from wdsr_lib.study.profiles import Profile, get_profile

WDSR_A_RATIOS = (1, 2, 4, 6, 8)  # WDSR Sec. 3.1: expansion r at a fixed F*w budget
WDSR_A_BUDGET = 64  # sqrt(F * w): the width of an EDSR-64 block (w1^2 = F * w, Sec. 3.1)
WDSR_B_EXPANSIONS = (2, 4, 6, 9)  # WDSR Sec. 3.2: "wider (6x to 9x) activation"
WDSR_B_REFERENCE = (6.0, 0.8)  # the official e and l


def run_name(cfg: RunConfig) -> str:
    """A run's directory name in the store, `store.run_dir_for(cfg).name` (what `init_from` refers to)."""
    return cfg.run_name()


@dataclass(frozen=True)
class PlannedRun:
    """One run an artefact needs: its labels (family, blocks, arm, ...) and its RunConfig."""

    artefact: str
    labels: dict[str, Any]
    config: RunConfig

    @property
    def name(self) -> str:
        """The run's directory name in the store (`store.run_dir_for(config).name`)."""
        return run_name(self.config)


@dataclass(frozen=True)
class Plan:
    """An artefact's runs; iterable like a list. `label_names`: the label columns of its frames, kept when a
    subset of the runs is taken (`Plan.subset`), so an empty subset still gives frames with those columns."""

    artefact: str
    runs: tuple[PlannedRun, ...] = field(default_factory=tuple)
    label_names: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.label_names:
            names = dict.fromkeys(k for r in self.runs for k in r.labels)
            object.__setattr__(self, "label_names", tuple(names))

    def subset(self, keep) -> "Plan":
        """The plan's runs for which `keep(run)` is true, with the same label columns."""
        return Plan(self.artefact, tuple(r for r in self.runs if keep(r)), self.label_names)

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def configs(self) -> list[RunConfig]:
        return [r.config for r in self.runs]


# --- helpers -----------------------------------------------------------------------------------------------

def _profile(profile: Profile | str) -> Profile:
    return get_profile(profile) if isinstance(profile, str) else profile


def edsr_config(blocks: int, norm: str = "weight", scale: int = 2) -> ModelConfig:
    """EDSR with F=64 (EDSR baseline width); weight norm as the WDSR README's EDSR baseline."""
    return ModelConfig(name="edsr", scale=scale, n_resblocks=blocks, n_feats=64, norm=norm)


def wdsr_a_config(blocks: int, n_feats: int = 32, block_feats: int = 128, norm: str = "weight") -> ModelConfig:
    """WDSR-A, by default the README baseline width F=32, w=128 (r=4) (WDSR Sec. 3.1)."""
    return ModelConfig(name="wdsr_a", n_resblocks=blocks, n_feats=n_feats, block_feats=block_feats, norm=norm)


def wdsr_b_config(blocks: int, expansion: float = 6.0, low_rank: float = 0.8, low_rank_relu: Optional[bool] = None,
                  norm: str = "weight") -> ModelConfig:
    """WDSR-B with F=64, by default e=6, l=0.8 (WDSR Sec. 3.2, official code)."""
    return ModelConfig(name="wdsr_b", n_resblocks=blocks, n_feats=64, expansion=float(expansion),
                       low_rank=low_rank, low_rank_relu=low_rank_relu, norm=norm)


def _paper_lr(norm: str, lr: Optional[float]) -> Optional[float]:
    """None when `lr` is the paper's default for `norm` (`config.paper_lr`, WDSR Sec. 4): the config then reads
    as the paper's recipe (the run key resolves the lr either way)."""
    return None if lr is None or math.isclose(lr, paper_lr(norm)) else lr


def wdsr_a_equal_budget(r: int, budget: int = WDSR_A_BUDGET) -> tuple[int, int]:
    """(F, w) for expansion r at F*w ~ budget^2 (WDSR Sec. 3.1: slim F by sqrt(r), widen w by sqrt(r))."""
    n_feats = round(budget / math.sqrt(r))
    return n_feats, r * n_feats


def wdsr_b_equal_budget(expansion: float, n_feats: int = 64) -> float:
    """Low-rank ratio l keeping the block's F^2 (e + e*l + 9*l) at the official e=6, l=0.8 budget (Sec. 3.2).

    Returned as an exact rank / F so that int(F * l) is the rank we solved for; the reference point keeps
    the official 0.8.
    """
    e0, l0 = WDSR_B_REFERENCE
    if math.isclose(expansion, e0):
        return l0
    budget = e0 + e0 * l0 + 9 * l0
    rank = round(n_feats * (budget - expansion) / (expansion + 9))
    if rank < 1:
        raise ValueError(f"expansion {expansion} leaves no low-rank channels at the e={e0} budget.")
    return rank / n_feats


def ablation_blocks(profile: Profile) -> int:
    """Depth of the ablations and of the L1/L2 EDSR: the middle Table 1 budget (5 of 1/3/5/8 blocks).

    The paper does not state the ablation depth; a Table 1 budget makes the reference points (r = 4;
    e = 6, l = 0.8; no ReLU; L1) Table 1 runs, and 5 rather than 8 blocks keeps CPU time down.
    """
    if profile.ablation_blocks is not None:
        return profile.ablation_blocks
    blocks = sorted(profile.table1_blocks)
    return blocks[len(blocks) // 2]


def x4_blocks(profile: Profile) -> int:
    """Depth of the x2 -> x4 transfer EDSR: the second Table 1 budget (3 blocks), a cheap model."""
    if profile.x4_blocks is not None:
        return profile.x4_blocks
    blocks = sorted(profile.table1_blocks)
    return blocks[1] if len(blocks) > 1 else blocks[0]


def chosen_seeds(default: Sequence[int], seeds: Any = None) -> tuple[int, ...]:
    """The seeds a plan trains: `default` (the profile's) when `seeds` is None, else `seeds` checked: a non-empty
    list of distinct integers from 0 to 2**32 - 1. A repeated seed is the same run twice, which would be counted
    as two seeds and give an interval of zero width; a notebook parameter given as text by `papermill -p seeds
    "[0, 1]"` is read as that list. ValueError in one sentence otherwise."""
    if seeds is None:
        return tuple(default)
    given = seeds
    if isinstance(seeds, str):
        try:
            seeds = json.loads(seeds)
        except ValueError:
            raise ValueError(f"seeds must be a list of seeds such as [0, 1, 2]; got the text {given!r}.") from None
    if isinstance(seeds, (int, float)) or not isinstance(seeds, (list, tuple)):
        raise ValueError(f"seeds must be a list of seeds such as [0, 1, 2] (or None for the profile's); got {given!r}.")
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed, e.g. [0, 1, 2], or None for the profile's seeds.")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= SEED_MAX]
    if bad:
        raise ValueError(f"seeds must be integers from 0 to {SEED_MAX}; got {bad[0]!r} in {list(seeds)}.")
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        raise ValueError(f"seeds {list(seeds)} repeats {', '.join(map(str, repeated))}: a repeated seed is the same "
                         "run counted twice, which would report more seeds than were trained and an interval of zero "
                         "width; give distinct seeds.")
    return tuple(seeds)


# --- the plans -----------------------------------------------------------------------------------------------

def table1_budgets(profile: Profile | str) -> tuple[int, ...]:
    """The Table 1 budgets (blocks) the profile plans: every one must be in the store for "at every budget"."""
    return tuple(sorted(_profile(profile).table1_blocks))


def table1(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """WDSR Table 1: EDSR (F=64), WDSR-A (F=32, w=128), WDSR-B (F=64, e=6, l=0.8) at each budget, x2, WN."""
    p = _profile(profile)
    builders = {family_of(c(1).name): c for c in (edsr_config, wdsr_a_config, wdsr_b_config)}  # paper.TABLE1 order
    runs = []
    for blocks in p.table1_blocks:
        budget = p.budget("table1", blocks)
        for family, build in builders.items():
            published = paper.TABLE1[family].get(blocks, (None, None))
            for seed in chosen_seeds(budget.seeds, seeds):
                labels = {"family": family, "blocks": blocks, "seed": seed,
                          "paper_params_m": published[0], "paper_psnr": published[1]}
                runs.append(PlannedRun("table1", labels, p.run(build(blocks), seed,
                                                               iterations=budget.iterations)))
    return Plan("table1", tuple(runs))


def fig3(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """WDSR Fig. 3: one WDSR-A with weight / batch / no normalisation, at the paper's lr and at equal lr.

    Arms "paper": WN at 1e-3, BN and none at 1e-4 (WDSR Sec. 4). Arms "confound": WN at 1e-4 and none at 1e-3,
    so that each norm is also compared at one learning rate (BN at 1e-3 is Fig. 4's arm).
    """
    p = _profile(profile)
    budget = p.budget("fig3")
    arms = (("weight", 1e-3, "paper"), ("batch", 1e-4, "paper"), ("none", 1e-4, "paper"),
            ("weight", 1e-4, "confound"), ("none", 1e-3, "confound"))
    runs = [PlannedRun("fig3", {"norm": norm, "lr": lr, "arm": arm, "seed": seed, "blocks": p.norm_blocks},
                       p.run(wdsr_a_config(p.norm_blocks, norm=norm), seed, iterations=budget.iterations,
                             lr=_paper_lr(norm, lr)))
            for norm, lr, arm in arms for seed in chosen_seeds(budget.seeds, seeds)]
    return Plan("fig3", tuple(runs))


def fig4(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """WDSR Fig. 4: the Fig. 3 model with batch norm at lr 1e-3, 1e-4, 1e-5 (the paper names 1e-4 only)."""
    p = _profile(profile)
    budget = p.budget("fig3")  # the same budget as Fig. 3: its weight-norm runs are the reference
    runs = [PlannedRun("fig4", {"norm": "batch", "lr": lr, "seed": seed, "blocks": p.norm_blocks},
                       p.run(wdsr_a_config(p.norm_blocks, norm="batch"), seed, iterations=budget.iterations,
                             lr=_paper_lr("batch", lr)))
            for lr in (1e-3, 1e-4, 1e-5) for seed in chosen_seeds(budget.seeds, seeds)]
    return Plan("fig4", tuple(runs))


def fig4_reference(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """The weight-norm arms of Fig. 3 (lr 1e-3 and 1e-4): the stable reference of the Fig. 4 instability."""
    p = _profile(profile)
    runs = [r for r in fig3(p, seeds) if r.labels["norm"] == "weight"]
    return Plan("fig4", tuple(PlannedRun("fig4", {**r.labels, "reference": True}, r.config) for r in runs))


def pilot(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """The CPU study's pilot (`docs/cpu_study.md`, `wdsr_lib.study.pilot`): Table 1 at its smallest budget run to the
    profile's "pilot" budget (seed 0 at `cpu`: 20,000 iterations, lr halved at 80%), so that the gaps at the
    study's budget can be compared with where they go. Empty for a profile without a "pilot" budget."""
    p = _profile(profile)
    budget = dict(p.budgets).get("pilot")
    if budget is None:
        return Plan("pilot", ())
    plan = table1(p)
    blocks = min(r.labels["blocks"] for r in plan)
    first = min(r.labels["seed"] for r in plan)
    runs = [PlannedRun("pilot", {**r.labels, "seed": seed}, p.run(r.config.model, seed, iterations=budget.iterations))
            for seed in chosen_seeds(budget.seeds, seeds)
            for r in plan if r.labels["blocks"] == blocks and r.labels["seed"] == first]
    return Plan("pilot", tuple(runs))


def noise(profile: Profile | str) -> Plan:
    """Seeds of the 1-block Table 1 models, from which `verdicts.noise_level` measures single-seed noise.

    At least 3 seeds (the profile's Table 1 seeds where it has more); shares its runs with Table 1.
    """
    p = _profile(profile)
    seeds = tuple(sorted(set(p.budget("table1", 1).seeds) | {0, 1, 2}))
    blocks = min(p.table1_blocks)
    return Plan("noise", tuple(r for r in table1(p, seeds) if r.labels["blocks"] == blocks))


def gate_spacing(iterations: int, val_every: int, min_points: int = 3) -> int:
    """The validation spacing of a run of `iterations`: `val_every`, unless that leaves fewer than `min_points`
    validations in the last 20% of training (the convergence gate's window, `verdicts.late_change`; fewer than 3
    and it says "not converged" whatever the curve does); then `iterations // (5 k)` with k = max(4, min_points),
    which puts k points there (the first edition's 3 gave `iterations // 20`). Runs too short for that keep
    `val_every`."""
    from wdsr_lib.study.verdicts import late_validations  # startup: verdicts loads pandas and scipy; plans stay light

    k = max(4, min_points)
    if late_validations(iterations, min(val_every, iterations)) >= min_points or iterations < 5 * k:
        return val_every
    return iterations // (5 * k)


def edsr_comparison(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """The README baselines, self-ensemble, L1 vs L2 (EDSR Table 2) and x4 from x2 (EDSR Fig. 4).

    Labels: `study` is one of "baseline", "loss", "x4"; the x2 run of "x4" precedes the x4 run started from it.
    """
    p = _profile(profile)
    runs = []
    base, loss_b, x4_b = p.budget("baselines"), p.budget("edsr_loss"), p.budget("edsr_x4")
    for seed in chosen_seeds(base.seeds, seeds):
        runs += [
            PlannedRun("edsr_comparison", {"study": "baseline", "family": "EDSR", "seed": seed},
                       p.run(edsr_config(p.baseline_blocks), seed, iterations=base.iterations)),
            # The self-ensemble ("+", EDSR Sec. 4.3) is evaluated on the WDSR baseline run itself.
            PlannedRun("edsr_comparison", {"study": "baseline", "family": "WDSR-A", "seed": seed},
                       p.run(wdsr_a_config(p.baseline_blocks), seed, iterations=base.iterations,
                             eval_self_ensemble=True)),
        ]
    loss_model = edsr_config(ablation_blocks(p))
    for seed in chosen_seeds(loss_b.seeds, seeds):
        runs += [PlannedRun("edsr_comparison", {"study": "loss", "loss": loss, "seed": seed,
                                                "blocks": loss_model.n_resblocks},
                            p.run(loss_model, seed, iterations=loss_b.iterations, loss=loss)) for loss in ("l1", "l2")]
    # EDSR Sec. 3.2 starts x4 from a trained x2 model: the source has its own run ("edsr_x4_source" budget, else
    # the x4 budget) so that its weights are on disk when the x4 run starts (the store commits no weights).
    x2_iterations = dict(p.budgets).get("edsr_x4_source", x4_b).iterations
    # The claim is about the curves and is judged at convergence: the gate needs validations inside the last
    # 20% of the x4 run (`gate_spacing`; cpu: 2,500 iterations validate every 62, cpu_v1 every 125; the others keep
    # their spacing).
    x4_val_every = gate_spacing(x4_b.iterations, p.val_every, p.gate_points)
    for seed in chosen_seeds(x4_b.seeds, seeds):
        x2 = p.run(edsr_config(x4_blocks(p)), seed, iterations=x2_iterations)
        runs += [
            PlannedRun("edsr_comparison", {"study": "x4", "arm": "x2 (source)", "scale": 2, "seed": seed}, x2),
            PlannedRun("edsr_comparison", {"study": "x4", "arm": "x4 from x2", "scale": 4, "seed": seed},
                       p.run(edsr_config(x4_blocks(p), scale=4), seed, iterations=x4_b.iterations,
                             init_from=run_name(x2),
                             val_every=x4_val_every)),
            PlannedRun("edsr_comparison", {"study": "x4", "arm": "x4 from scratch", "scale": 4, "seed": seed},
                       p.run(edsr_config(x4_blocks(p), scale=4), seed, iterations=x4_b.iterations,
                             val_every=x4_val_every)),
        ]
    return Plan("edsr_comparison", tuple(runs))


def ablations(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> Plan:
    """WDSR Sec. 3.1 (WDSR-A r at equal F*w), Sec. 3.2 (WDSR-B e at equal block budget; ReLU in low rank)."""
    p = _profile(profile)
    blocks, runs, budget = ablation_blocks(p), [], p.budget("ablations")
    for seed in chosen_seeds(budget.seeds, seeds):
        for r in p.wdsr_a_ratios or WDSR_A_RATIOS:
            n_feats, block_feats = wdsr_a_equal_budget(r)
            runs.append(PlannedRun("ablations", {"study": "wdsr_a_ratio", "r": r, "n_feats": n_feats,
                                                 "block_feats": block_feats, "blocks": blocks, "seed": seed},
                                   p.run(wdsr_a_config(blocks, n_feats, block_feats), seed,
                                         iterations=budget.iterations)))
        for e in WDSR_B_EXPANSIONS:
            low_rank = wdsr_b_equal_budget(e)
            runs.append(PlannedRun("ablations", {"study": "wdsr_b_expansion", "e": e, "low_rank": low_rank,
                                                 "blocks": blocks, "seed": seed},
                                   p.run(wdsr_b_config(blocks, e, low_rank), seed, iterations=budget.iterations)))
        for relu in (False, True):
            runs.append(PlannedRun("ablations", {"study": "low_rank_relu", "relu": relu, "blocks": blocks,
                                                 "seed": seed},
                                   p.run(wdsr_b_config(blocks, low_rank_relu=True if relu else None), seed,
                                         iterations=budget.iterations)))
    return Plan("ablations", tuple(runs))


PLANS = {"table1": table1, "fig3": fig3, "fig4": fig4, "fig4_reference": fig4_reference,
         "edsr_comparison": edsr_comparison, "ablations": ablations}
# Plans no notebook draws: the noise seeds (Table 1 runs) and the CPU study's pilot (`wdsr_lib.study.pilot` reports it).
EXTRA_PLANS = {"noise": noise, "pilot": pilot}


def every_plan(profile: Profile | str) -> Plan:
    """Every planned run of the profile's artefacts (with the noise seeds and the pilot), deduplicated by name."""
    seen, runs = set(), []
    for plan in list(PLANS.values()) + list(EXTRA_PLANS.values()):
        for r in plan(profile):
            if r.name not in seen:
                seen.add(r.name)
                runs.append(r)
    return Plan("all", tuple(runs))


def budget_lines(profile: Profile | str) -> list[str]:
    """One line per artefact: runs, iterations per run and seeds (for the report)."""
    p = _profile(profile)
    lines = []
    for name, plan in list(PLANS.items()) + list(EXTRA_PLANS.items()):
        if name == "fig4_reference":
            continue
        runs = list(plan(p))
        if not runs:
            continue
        iters = sorted({r.config.train.iterations for r in runs})
        seeds = sorted({r.config.train.seed for r in runs})
        lines.append(f"{name}: {len(runs)} runs, {'/'.join(f'{i:,}' for i in iters)} iterations, seeds {seeds}")
    return lines


def dependency_order(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """Deduplicate by store key (first occurrence wins) and move every run after the run it is initialised from."""
    unique: dict[str, RunConfig] = {}
    for cfg in configs:
        unique.setdefault(run_name(cfg), cfg)
    ordered: list[RunConfig] = []
    placed: set[str] = set()

    def place(name: str, stack: tuple[str, ...] = ()) -> None:
        if name in placed:
            return
        if name in stack:
            raise ValueError(f"init_from cycle through {name}.")
        source = unique[name].train.init_from
        if source is not None and source in unique:
            place(source, stack + (name,))
        placed.add(name)
        ordered.append(unique[name])

    for name in unique:
        place(name)
    return ordered


def all_runs(profile: Profile | str, seeds: Optional[Sequence[int]] = None) -> list[RunConfig]:
    """Every run the pipeline needs, deduplicated, in dependency order (an x2 run before its x4 transfer); with
    the profile's seeds, also the noise seeds and the pilot."""
    plans = [plan(profile, seeds) for plan in PLANS.values()] + (
        [noise(profile), pilot(profile)] if seeds is None else [])
    return dependency_order([r.config for plan in plans for r in plan])


def select(plan: Plan, **labels: Any) -> Plan:
    """The runs of `plan` whose labels match every `labels` item (`study.labels`; e.g. `select(plan,
    study="baseline")`)."""
    keep = tuple(r for r in plan if labels_match(r.labels, **labels))
    return Plan(plan.artefact, keep)


def label_frame(plan: Plan | Sequence[PlannedRun]):
    """One row per planned run: `run` (store directory name), `artefact` and the plan's labels."""
    import pandas as pd  # startup: the plans stay pandas-free (`wdsr reproduce --list-runs`)

    columns = ["run", "artefact", *getattr(plan, "label_names", ())]
    rows = [{"run": r.name, "artefact": r.artefact, **r.labels} for r in plan]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=list(dict.fromkeys([*columns, *frame.columns])))


