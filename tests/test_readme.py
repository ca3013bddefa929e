"""The README is a front page whose verdict tables are generated (issue 24): each table between its markers is
exactly what `wdsr reproduce` writes from the committed claims, and the page stays short."""
import re
from pathlib import Path

import pytest

from wdsr_lib.study import report

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MARKED = re.findall(r"<!-- verdicts:(\w+) ", README)


def test_the_readme_is_a_front_page():
    assert len(README.splitlines()) <= 150
    assert "make reproduce" in README.split("\n## ", 1)[0] and "make test" in README.split("\n## ", 1)[0]
    for name in ("LICENSE", "CITATION.cff"):
        assert (ROOT / name).is_file() and name in README


def test_the_readme_shows_the_second_and_first_cpu_editions():
    assert {"cpu", "cpu_v1"} <= set(MARKED)


@pytest.mark.parametrize("profile", MARKED)
def test_each_verdict_table_is_the_committed_claims(profile):
    start, end = report._markers(profile)
    table = README.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == report.readme_table(report.read_claims(ROOT / "results", profile)).strip(), (
        f"the README's {profile} table differs from results/claims: run `wdsr reproduce --profile {profile} "
        "--store-only`")
