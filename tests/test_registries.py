"""The registries walked entry by entry: every model (`core.registry.MODELS`), every published number
(`core.paper`), every claim (`study.claims.CLAIMS`) and every profile (`study.profiles.PROFILES`). Each test fails
with a sentence naming what an entry lacks; docs/extending.md cites them step by step.

Also: a toy model registered in one place is a `--model` choice, trains, plans and prints its command; an optional
model field added later leaves every existing run key as it is.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Optional

import pytest
import torch
from torch import nn

from wdsr_lib.cli import main as cli
from wdsr_lib.cli import pipeline
from wdsr_lib.cli.flags import config_from_args
from wdsr_lib.core import paper
from wdsr_lib.core.config import KEYED_MODEL_FIELDS, ModelConfig
from wdsr_lib.core.registry import (DATA_SOURCES, FAMILIES, HYPERPARAMETERS, MODELS, ROOT_IN_KEY, Family,
                                    Hyperparameter, ModelSpec, Preset, register, unregister)
from wdsr_lib.data.sources import LOADERS
from wdsr_lib.models import build, build_model, count_parameters, receptive_field_radius
from wdsr_lib.models.receptive_field import RULES
from wdsr_lib.models.table import model_table
from wdsr_lib.store.training import load_or_train
from wdsr_lib.study import claims, plans, rungraph
from wdsr_lib.study.commands import train_command
from wdsr_lib.study.profiles import BUDGET_KEYS, PROFILES, Budget, Profile, get_profile

ROOT = Path(__file__).resolve().parents[1]


# --- the model registry --------------------------------------------------------------------------------------

def entry_problems(spec: ModelSpec) -> list[str]:
    """Sentences naming what a model entry lacks (empty when complete)."""
    problems = []
    fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"name", "scale"}
    if spec.family not in FAMILIES:
        problems.append(f"model {spec.name!r} has family {spec.family!r}, which is not in "
                        "wdsr_lib.core.registry.FAMILIES (register it with a Family: label, colour, marker)")
    for key in ("n_resblocks", "norm"):
        if key not in spec.defaults:
            problems.append(f"model {spec.name!r} has no default for {key!r} (every model states its depth and "
                            "normalisation: run names and the paper's learning rate read them)")
    for key in spec.defaults:
        if key not in HYPERPARAMETERS:
            problems.append(f"model {spec.name!r} takes {key!r}, which is not in HYPERPARAMETERS (add it with "
                            "its type and help: that makes its --flag)")
        if key not in fields:
            problems.append(f"model {spec.name!r} takes {key!r}, which is not a ModelConfig field (add it as "
                            "Optional[...] = None in wdsr_lib/core/config.py; existing run keys stay as they are)")
    if spec.receptive_field not in RULES:
        problems.append(f"model {spec.name!r} names the receptive-field rule {spec.receptive_field!r}; the rules "
                        f"are {', '.join(RULES)} (wdsr_lib/models/receptive_field.py)")
    if not spec.presets:
        problems.append(f"model {spec.name!r} has no preset (a row of `wdsr models`, with its published "
                        "parameter count or ParameterCount(None, 'no published count'))")
    if not spec.description:
        problems.append(f"model {spec.name!r} has no description (what it is, with the paper's section)")
    try:
        builder = spec.build_function()
    except (ImportError, AttributeError) as exc:
        return problems + [f"model {spec.name!r}: its builder {spec.builder!r} cannot be imported ({exc})"]
    params = inspect.signature(builder).parameters
    if "scale" not in params:
        problems.append(f"model {spec.name!r}: its builder takes no `scale` (builders are f(scale, **settings))")
    has_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in spec.accepts:
        if key not in params and not has_kwargs:
            problems.append(f"model {spec.name!r}: its builder does not take {key!r}, which the entry lists")
        elif key in params and params[key].default is not inspect.Parameter.empty and key in spec.defaults \
                and params[key].default != spec.defaults[key]:
            problems.append(f"model {spec.name!r}: the entry's default {key}={spec.defaults[key]!r} is not its "
                            f"builder's ({params[key].default!r})")
    return problems


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_entry_is_complete(name):
    problems = entry_problems(MODELS[name])
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_builds_with_its_defaults_and_its_presets_published_counts(name):
    spec = MODELS[name]
    model = build(ModelConfig(name=name))
    assert model.receptive_field_rule == spec.receptive_field
    assert receptive_field_radius(model) > 0
    assert count_parameters(model) == count_parameters(build(ModelConfig(name=name).resolved()))
    for preset in spec.presets:
        if preset.published.exact is not None:
            got = count_parameters(build_model(name, 2, **preset.overrides))
            assert got == preset.published.exact, (f"preset {preset.label!r}: {got:,} parameters, the published "
                                                    f"count ({preset.published.source}) is {preset.published.exact:,}")


def test_the_entry_check_names_what_a_new_entry_lacks():
    bare = ModelSpec("rcan_lite", "wdsr_lib.models.wdsr:wdsr_a", "RCAN", {"n_feats": 64, "n_groups": 4},
                     receptive_field="rcan")
    text = "; ".join(entry_problems(bare))
    for lack in ("family 'RCAN', which is not in", "no default for 'n_resblocks'", "no default for 'norm'",
                 "takes 'n_groups', which is not in HYPERPARAMETERS", "'n_groups', which is not a ModelConfig field",
                 "receptive-field rule 'rcan'", "has no preset", "has no description",
                 "does not take 'n_groups'", "the entry's default n_feats=64 is not its builder's (32)"):
        assert lack in text, lack


def test_every_hyperparameter_is_a_config_field_and_a_flag():
    fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"name", "scale"}
    assert set(HYPERPARAMETERS) == fields, (f"ModelConfig fields without a HYPERPARAMETERS entry: "
                                            f"{sorted(fields - set(HYPERPARAMETERS))}; entries without a field: "
                                            f"{sorted(set(HYPERPARAMETERS) - fields)}")
    parser = cli.build_parser()
    flags = {a for action in parser._subparsers._group_actions[0].choices["train"]._actions
             for a in action.option_strings}
    missing = [h.flag for h in HYPERPARAMETERS.values() if h.flag not in flags]
    assert not missing, f"hyperparameters without a `wdsr train` flag: {missing}"
    unused = [f.label for f in FAMILIES.values() if not any(s.family == f.label for s in MODELS.values())]
    assert not unused, f"families no model belongs to: {unused}"


# --- a toy model, registered in one place ---------------------------------------------------------------------

class Toy(nn.Module):
    """Conv, `n_resblocks` conv+ReLU, conv to 3 * scale^2 channels, pixel shuffle: the smallest SR network."""

    def __init__(self, scale: int, n_resblocks: int, n_feats: int):
        super().__init__()
        body = [nn.Conv2d(3, n_feats, 3, padding=1)]
        for _ in range(n_resblocks):
            body += [nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*body, nn.Conv2d(n_feats, 3 * scale ** 2, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 255.0) * 255.0


def toy(scale: int = 2, n_resblocks: int = 1, n_feats: int = 8, norm: str = "none") -> nn.Module:
    return Toy(scale, n_resblocks, n_feats)


TOY = ModelSpec("toy", toy, "Toy", {"n_resblocks": 1, "n_feats": 8, "norm": "none"},
                presets=(Preset("toy", {}, paper.ParameterCount(None, "no published count")),),
                description="a four-conv network for tests/test_registries.py")


@pytest.fixture
def toy_registered():
    register(TOY, Family("Toy", "tab:brown", "x"))
    try:
        yield TOY
    finally:
        unregister("toy", family="Toy")


def test_a_toy_model_registered_in_one_place_trains_plans_and_has_flags(toy_registered, tmp_path):
    assert entry_problems(TOY) == []
    profile = get_profile("smoke")
    cfg = profile.run(ModelConfig(name="toy", n_feats=4))
    assert cfg.short_name().startswith("toy-x2-b1-none-s0")
    # the CLI: a --model choice, and the command line the run graph prints round-trips to the same config
    command = train_command(cfg, "smoke")
    assert "--model toy" in command and "--n-feats 4" in command
    args = cli.build_parser().parse_args(command.split()[1:])
    assert config_from_args(args) == cfg
    graph = rungraph.build([cfg], str(tmp_path), "smoke")
    assert [s.kind for s in graph] == ["train"] and "--model toy" in " ".join(graph.steps[0].command)
    # trains through the store like any model, and `wdsr models` lists its preset
    record = load_or_train(cfg, tmp_path, progress=False)
    assert record.trained and record.summary["params"] == count_parameters(build(cfg.model))
    assert any(r["name"] == "toy" for r in model_table(2))
    assert receptive_field_radius(build(cfg.model)) == 3  # the sequential rule: 3 convs at LR resolution


def test_an_unregistered_model_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match=r"ModelConfig.name must be one of .*'wdsr_a'.*; got 'rcan_lite'"):
        ModelConfig(name="rcan_lite")
    with pytest.raises(ValueError, match=r"unknown model 'rcan_lite'; choose one of"):
        build_model("rcan_lite")


def test_an_optional_model_field_added_later_leaves_every_run_key_as_it_is(monkeypatch):
    """A new model with a new setting (an RCAN-like `n_groups`) adds `n_groups: Optional[int] = None` to
    ModelConfig: every run key of every profile stays as it is, and the new model's runs are keyed by it."""
    extended = dataclasses.make_dataclass("ExtendedModelConfig", [("n_groups", Optional[int], None)],
                                          bases=(ModelConfig,), frozen=True)
    for profile in PROFILES:
        for cfg in plans.all_runs(profile):
            wider = dataclasses.replace(cfg, model=extended(**dataclasses.asdict(cfg.model)))
            assert wider.key() == cfg.key(), f"{profile}: {cfg.run_name()} changed its key"
    monkeypatch.setitem(HYPERPARAMETERS, "n_groups", Hyperparameter("n_groups", int, "residual groups", positive=True))
    register(ModelSpec("grouped", toy, "EDSR", {"n_resblocks": 1, "n_feats": 8, "norm": "none", "n_groups": 2}))
    try:
        cfg = get_profile("smoke").run(extended(name="grouped"))
        assert cfg.canonical()["model"]["n_groups"] == 2  # the entry's default, filled in like every default
        assert dataclasses.replace(cfg, model=extended(name="grouped", n_groups=4)).key() != cfg.key()
    finally:
        unregister("grouped")
    assert set(KEYED_MODEL_FIELDS) == {f.name for f in dataclasses.fields(ModelConfig)}, \
        "a field added to ModelConfig after CODE_VERSION 2 must not be added to KEYED_MODEL_FIELDS"


# --- the papers' numbers ------------------------------------------------------------------------------------

def test_every_published_number_names_its_source():
    for source in paper.SOURCES:
        assert any(source.startswith(k) for k in paper.PAPERS), f"{source!r} does not start with a key of PAPERS"
    for family, rows in paper.TABLE1.items():
        assert family in FAMILIES, f"WDSR Table 1 family {family!r} is not in core.registry.FAMILIES"
        assert sorted(rows) == sorted(paper.TABLE1["EDSR"]), f"{family}: Table 1 budgets differ from EDSR's"
    named = {p.published.source for s in MODELS.values() for p in s.presets}
    assert {c.source for c in paper.PARAMETER_COUNTS.values()} <= named | {"no published count"}


def test_no_module_restates_a_published_psnr():
    """The paper's PSNRs live in core/paper.py only: a literal like 34.61 elsewhere in the package would drift."""
    numbers = {f"{v:.2f}" for rows in paper.TABLE1.values() for _, v in rows.values()}
    numbers |= {f"{v:.2f}" for _, v in paper.BASELINES.values()} | {f"{v:.2f}" for v in paper.LOSS.values()}
    numbers |= {f"{paper.BICUBIC_X2:.2f}", f"{paper.EDSR_BASELINE_X2:.2f}", *map("{:.2f}".format,
                                                                                paper.SELF_ENSEMBLE_X2)}
    found = []
    for path in sorted((ROOT / "wdsr_lib").rglob("*.py")):
        if path.name == "paper.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            for number in numbers:
                if re.search(rf"(?<![\d.]){re.escape(number)}\d?(?![\d])", code):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {number}")
    assert not found, "published numbers outside wdsr_lib/core/paper.py: " + ", ".join(found)


# --- the claims -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", list(claims.CLAIMS))
def test_every_claim_entry_is_complete(cid):
    spec = claims.CLAIMS[cid]
    problems = []
    if spec.artefact not in plans.PLANS:
        problems.append(f"claim {cid!r}: artefact {spec.artefact!r} is not a plan of study.plans.PLANS")
    if not any(spec.artefact in names for names in pipeline.NOTEBOOK_PLANS.values()):
        problems.append(f"claim {cid!r}: no notebook judges artefact {spec.artefact!r} (cli.pipeline.NOTEBOOK_PLANS)")
    if not spec.statement or not spec.paper:
        problems.append(f"claim {cid!r} needs its statement and the paper's words")
    if not any(spec.source.startswith(k) for k in paper.PAPERS):
        problems.append(f"claim {cid!r}: its source {spec.source!r} does not start with a key of core.paper.PAPERS")
    source = (ROOT / "wdsr_lib" / "study" / "claims.py").read_text().split("CLAIMS: dict", 1)[1].split(")}\n", 1)[1]
    if f'"{cid}"' not in source:
        problems.append(f"claim {cid!r} is registered but no claim function in study/claims.py makes it")
    assert not problems, "; ".join(problems)


def test_every_claim_a_function_makes_is_registered():
    body = (ROOT / "wdsr_lib" / "study" / "claims.py").read_text().split("CLAIMS: dict", 1)[1].split(")}\n", 1)[1]
    made = set(re.findall(r'_new\("([a-z0-9_]+)"', body)) | set(re.findall(r'\("([a-z0-9_]+)", \(', body))
    assert made, "no claim found in the claim functions"
    unregistered = sorted(made - set(claims.CLAIMS))
    assert not unregistered, f"claims made but not registered in study.claims.CLAIMS: {unregistered}"


# --- the profiles ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_complete(name):
    p = PROFILES[name]
    assert p.name == name, f"PROFILES[{name!r}] is named {p.name!r}"
    assert p.description, f"profile {name!r} has no description"
    for key, _ in p.budgets:
        assert key in BUDGET_KEYS or key.startswith("table1:b"), key
    assert plans.all_runs(p), f"profile {name!r} plans no run"
    assert (ROOT / "tests" / "data" / "planned_runs" / f"{name}.txt").exists(), \
        f"profile {name!r} has no pinned run names in tests/data/planned_runs/{name}.txt (tests/test_plans.py)"


def test_a_mistyped_budget_key_is_refused_with_a_sentence():
    quick = get_profile("quick")
    with pytest.raises(ValueError, match=r"profile 'quick' has a budget for 'abalations', which no plan reads; "
                                         r"did you mean 'ablations'\?"):
        dataclasses.replace(quick, budgets=(("abalations", Budget(10, (0,))),))
    with pytest.raises(ValueError, match=r"'table1:b2', which no plan reads \(table1:b2 is not one of its Table 1"):
        dataclasses.replace(quick, budgets=(("table1:b2", Budget(10, (0,))),))
    Profile(quick.name, quick.data, 10, 5, (0,), budgets=(("table1:b3", Budget(10, (0,))),))  # a real depth


@pytest.mark.parametrize("command", [["train"], ["reproduce", "--list-runs"], ["reproduce", "--store-only"]])
def test_an_unknown_profile_is_refused_with_a_sentence(command, capsys):
    assert cli.main([*command, "--profile", "quik"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown profile 'quik'; choose one of smoke, quick, cpu, cpu_v1, paper." in err
    assert len(err.strip().splitlines()) == 1


# --- the data sources -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DATA_SOURCES))
def test_every_data_source_entry_is_complete(name):
    source = DATA_SOURCES[name]
    problems = []
    if name not in LOADERS:
        problems.append(f"data source {name!r} has no loader in wdsr_lib.data.sources.LOADERS")
    if source.root_in_key not in ROOT_IN_KEY:
        problems.append(f"data source {name!r}: root_in_key {source.root_in_key!r} is not one of {ROOT_IN_KEY}")
    if source.root_in_key == "name" and not source.key_root:
        problems.append(f"data source {name!r} is keyed by name but names no key_root")
    if not source.description or not source.figure_note:
        problems.append(f"data source {name!r} needs the report's description and the figures' note")
    if f"`{name}`" not in (ROOT / "docs" / "data.md").read_text():
        problems.append(f"data source {name!r} is not described in docs/data.md (as `{name}`)")
    assert not problems, "; ".join(problems)


def test_every_profile_reads_a_registered_source_and_its_key_ignores_where_embedded_data_lies(tmp_path):
    for p in PROFILES.values():
        assert p.data.source in DATA_SOURCES, f"profile {p.name!r} reads unregistered source {p.data.source!r}"
    cfg = plans.all_runs("quick")[0]
    moved = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(tmp_path)))
    assert moved.key() == cfg.key()  # "sample": the root is not part of the key


# --- the guide ------------------------------------------------------------------------------------------------

def test_the_extending_guide_cites_only_tests_that_exist():
    text = (ROOT / "docs" / "extending.md").read_text()
    cited = re.findall(r"tests/(test_\w+\.py)::(test_\w+)", text)
    assert len(cited) >= 8, "docs/extending.md backs each step with a test (tests/test_x.py::test_name)"
    missing = [f"{f}::{t}" for f, t in cited if not re.search(rf"^def {t}\(", (ROOT / "tests" / f).read_text(), re.M)]
    assert not missing, f"docs/extending.md cites tests that do not exist: {missing}"
