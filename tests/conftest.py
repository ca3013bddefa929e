"""Shared fixtures: tiny, fast run configs on the embedded sample photos, and an isolated decode cache."""
import os

import pytest

from wdsr_lib.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep the tests' decode cache out of the user's ~/.cache (shared by all tests of one session)."""
    if "WDSR_CACHE" not in os.environ:
        os.environ["WDSR_CACHE"] = str(tmp_path_factory.mktemp("wdsr-cache"))
    yield


def tiny_config(iterations: int = 6, seed: int = 0, **model) -> RunConfig:
    """A WDSR-A small enough to train a few iterations in well under a second (fp32, for exactness)."""
    spec = {"name": "wdsr_a", "n_resblocks": 2, "n_feats": 8, "block_feats": 16, **model}
    return RunConfig(
        model=ModelConfig(**spec),
        data=DataConfig(source="sample", patch_size=12, val_images=1, val_crop=48),
        train=TrainConfig(iterations=iterations, batch_size=4, val_every=2, checkpoint_every=2,
                          lr_halve_every=4, precision="fp32", seed=seed),
    )


@pytest.fixture
def full_disk(monkeypatch):
    """The store's writes of summary.json fail as on a full disk; call the returned function to free the disk."""
    from wdsr_lib.store import runs as store

    real = store.atomic_write_text

    def write(path, text):
        if path.name == "summary.json":
            raise OSError(28, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(store, "atomic_write_text", write)
    return lambda: monkeypatch.setattr(store, "atomic_write_text", real)


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory):
    """A results store with the smoke profile's Table 1 runs: 1 block at seeds 0 and 1, 3 blocks at seed 0
    (weights included). Shared by the explorer and qualitative tests; copy it before changing anything."""
    from wdsr_lib.study import frames, plans

    results = tmp_path_factory.mktemp("smoke-store") / "results"
    one = plans.select(plans.table1("smoke", seeds=(0, 1)), blocks=1)
    three = plans.select(plans.table1("smoke", seeds=(0,)), blocks=3)
    frames.run_plan(list(one) + list(three), results, progress=False)
    return results
