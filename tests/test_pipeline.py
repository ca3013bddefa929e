"""reproduce(): refuses a DIV2K profile without DIV2K before running anything; notebook selection."""
import pytest

from wdsr_lib import pipeline
from wdsr_lib.data.errors import DataError
from wdsr_lib.profiles import get_profile


def test_a_div2k_profile_without_div2k_fails_at_once_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        pipeline.reproduce("paper", tmp_path / "results", tmp_path / "figures")
    message = str(err.value)
    assert "needs DIV2K" in message and "wdsr data download div2k" in message and message.count(". ") == 0
    assert not (tmp_path / "results").exists()  # nothing ran


def test_a_complete_div2k_layout_passes_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path))
    for d in ("DIV2K_train_HR", "DIV2K_valid_HR", "DIV2K_train_LR_bicubic/X2", "DIV2K_train_LR_bicubic/X4",
              "DIV2K_valid_LR_bicubic/X2", "DIV2K_valid_LR_bicubic/X4"):
        (tmp_path / d).mkdir(parents=True)
    pipeline.check_data(get_profile("paper"))
    pipeline.check_data(get_profile("quick"))  # sample photos: nothing to check


def test_notebook_selection_keeps_pipeline_order():
    assert pipeline._select(None) == list(pipeline.NOTEBOOKS)
    assert pipeline._select(["05_ablations", "01"]) == ["01_table1.ipynb", "05_ablations.ipynb"]
    with pytest.raises(ValueError, match="unknown notebook"):
        pipeline._select(["99_nothing"])


def test_every_notebook_exists():
    assert all((pipeline.NOTEBOOKS_DIR / n).is_file() for n in pipeline.NOTEBOOKS)
