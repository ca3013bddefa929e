"""reproduce(): refuses a DIV2K profile without DIV2K before running anything; notebook selection."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_data import write_div2k  # noqa: E402

from wdsr_lib.cli import pipeline# noqa: E402
from wdsr_lib.data.errors import DataError  # noqa: E402
from wdsr_lib.study.profiles import get_profile  # noqa: E402


def test_a_div2k_profile_without_div2k_fails_at_once_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        pipeline.reproduce("paper", tmp_path / "results", tmp_path / "figures")
    message = str(err.value)
    assert "needs DIV2K" in message and "wdsr data download div2k" in message and message.count(". ") == 0
    assert not (tmp_path / "results").exists()  # nothing ran


def test_a_complete_div2k_layout_passes_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path))
    write_div2k(tmp_path, scales=(2, 4))  # every image of 0001-0900 (tiny), HR and LR x2 / x4
    pipeline.check_data(get_profile("paper"))
    pipeline.check_data(get_profile("quick"))  # sample photos: nothing to check


def test_notebook_selection_keeps_pipeline_order():
    assert pipeline._select(None) == list(pipeline.NOTEBOOKS)
    assert pipeline._select(["05_ablations", "01"]) == ["01_table1.ipynb", "05_ablations.ipynb"]
    with pytest.raises(ValueError, match="unknown notebook"):
        pipeline._select(["99_nothing"])


def test_every_notebook_exists():
    assert all((pipeline.NOTEBOOKS_DIR / n).is_file() for n in pipeline.NOTEBOOKS)
