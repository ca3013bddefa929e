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


def test_the_bicubic_row_says_min_and_max_not_an_interval():
    """The "every run above bicubic" claim keeps min and max over runs in its ci fields: its README cell says so,
    and counts runs (singular for one) instead of calling them seeds."""
    claims = [{"claim": "every run", "test": "every run above bicubic", "verdict": "reproduced", "mean_db": 1.5,
               "ci_low_db": -0.25, "ci_high_db": 2.75, "n_seeds": 51, "ci_covers": "seeds"},
              {"claim": "x8", "test": "superiority", "verdict": "inconclusive", "mean_db": 0.4, "n_seeds": 1},
              {"claim": "A-E", "test": "superiority", "verdict": "inconclusive", "mean_db": 0.08, "ci_low_db": 0.03,
               "ci_high_db": 0.13, "n_seeds": 5, "n_images": 16, "ci_covers": "seeds and images"}]
    rows = report.readme_table(claims).splitlines()[2:]
    assert "| mean +1.500 (min -0.250, max +2.750; 51 runs) |" in rows[0]
    assert "| +0.400 (no interval; 1 seed) |" in rows[1]
    assert "| +0.080 (+0.030 to +0.130; seeds and images; 5 seeds x 16 images) |" in rows[2]
