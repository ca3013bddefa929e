"""Run identity: the key hashes the canonical, resolved, result-affecting config only."""
import inspect
from dataclasses import replace

import pytest

from wdsr_lib.core import config
from wdsr_lib.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from wdsr_lib.core.registry import MODELS
from wdsr_lib.models import build
from wdsr_lib.study.profiles import get_profile


def _cfg(**model):
    return get_profile("quick").run(ModelConfig(name="wdsr_a", n_resblocks=1, **model), 0)


def test_spelled_out_defaults_and_execution_settings_share_one_key():
    base = _cfg()
    variants = [
        _cfg(n_feats=32), _cfg(norm="weight"), _cfg(block_feats=128, res_scale=1),
        replace(base, train=replace(base.train, lr=1e-3)),  # the paper lr of weight norm, spelled out
        replace(base, data=replace(base.data, workers=4)),
        replace(base, train=replace(base.train, checkpoint_every=7)),
        replace(base, data=replace(base.data, root="/somewhere/unused")),  # the sample photos read no root
    ]
    assert {v.key() for v in variants} == {base.key()}
    assert {v.run_name() for v in variants} == {base.run_name()}


def test_one_data_root_written_three_ways_is_one_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    paper = get_profile("paper").run(ModelConfig(name="edsr"), 0)
    spelled = [replace(paper, data=replace(paper.data, root=r)) for r in ("d", "./d", str(tmp_path / "d"))]
    monkeypatch.setenv("WDSR_DATA", "d")
    assert {c.key() for c in spelled + [paper]} == {spelled[0].key()}
    other = replace(paper, data=replace(paper.data, root="elsewhere"))
    assert other.key() == spelled[0].key()  # DIV2K is keyed by what it is, not where it lies (issue 26)


def test_result_affecting_settings_change_the_key():
    base = _cfg()
    changed = [
        replace(base, train=replace(base.train, precision="bf16")),  # precision is part of what a run is
        replace(base, train=replace(base.train, threads=2)),
        replace(base, train=replace(base.train, seed=1)),
        replace(base, train=replace(base.train, lr=1e-4)),
        replace(base, train=replace(base.train, compile=True)),  # torch.compile rounds differently
        replace(base, data=replace(base.data, patch_size=13)),
        replace(base, data=replace(base.data, val_crop=96)),
        _cfg(n_feats=16),
    ]
    keys = [c.key() for c in changed]
    assert len(set(keys)) == len(keys) and base.key() not in keys


def test_wdsr_compile_gives_compiled_configs_and_every_committed_eager_run_keeps_its_key(monkeypatch):
    import json
    from pathlib import Path

    monkeypatch.setenv("WDSR_COMPILE", "1")
    compiled = _cfg()
    assert compiled.train.compile and compiled.canonical()["train"]["compile"] is True
    monkeypatch.delenv("WDSR_COMPILE")
    eager = _cfg()
    assert not eager.train.compile and "compile" not in eager.canonical()["train"]
    assert eager.key() != compiled.key()
    records = sorted(Path(__file__).resolve().parents[1].glob("results/runs/*/config.json"))
    assert records  # the committed store
    for path in records:
        rec = json.loads(path.read_text())
        assert RunConfig.from_dict(rec["config"]).key() == rec["key"], path.parent.name


def test_code_version_is_part_of_the_key(monkeypatch):
    cfg = _cfg()
    before = cfg.key()
    monkeypatch.setattr(config, "CODE_VERSION", "test-bump")
    assert cfg.key() != before


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_defaults_table_matches_the_builders(name):
    model = build(ModelConfig(name=name))
    resolved = ModelConfig(name=name).resolved()
    assert sum(p.numel() for p in build(resolved).parameters()) == sum(p.numel() for p in model.parameters())
    if name in ("wdsr_a", "wdsr_b"):  # builders with a plain signature: compare every default directly
        sig = inspect.signature(MODELS[name].build_function()).parameters
        assert {k: sig[k].default for k in MODELS[name].defaults} == MODELS[name].defaults


def test_a_field_the_model_does_not_take_is_refused_in_the_config():
    with pytest.raises(ValueError, match="does not take block_feats"):
        ModelConfig(name="edsr", block_feats=64)


def test_precision_has_no_hardware_dependent_choice():
    assert TrainConfig().precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="auto")
    with pytest.raises(ValueError, match="threads"):
        TrainConfig(threads=0)


def test_from_dict_round_trips():
    cfg = _cfg(n_feats=24)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert DataConfig() == RunConfig().data
