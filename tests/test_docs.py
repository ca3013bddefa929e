"""The docs are self-contained and their numbers are checked: every parameter count the README and
docs/parameter_counts.md state is asserted exactly, and every Markdown file the code or the docs cite exists."""
import re
from pathlib import Path

import pytest

from wdsr_lib.core.registry import presets
from wdsr_lib.models import ResBlock, WideBlockB, build_model, count_parameters

ROOT = Path(__file__).resolve().parents[1]
COUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])")  # 1,190,100 / 74,035 (not 0.26M, not 2e5)

# Every published count -> how to build what it counts (x2 unless a scale is given).
COUNTS = {
    1_190_100: lambda: build_model("wdsr_a"),
    1_187_484: lambda: build_model("wdsr_a", norm="none"),
    1_372_318: lambda: build_model("edsr", norm="weight"),
    1_369_883: lambda: build_model("edsr"),
    1_369_859: lambda: build_model("edsr", mean_shift=False),
    1_554_523: lambda: build_model("edsr", 3),
    1_517_595: lambda: build_model("edsr", 4),
    40_729_627: lambda: build_model("edsr_paper", 2),
    43_680_027: lambda: build_model("edsr_paper", 3),
    43_089_947: lambda: build_model("edsr_paper", 4),
    3_227_227: lambda: build_model("mdsr"),
    7_954_011: lambda: build_model("mdsr_paper"),
    262_043: lambda: build_model("edsr", n_resblocks=1),
    409_755: lambda: build_model("edsr", n_resblocks=3),
    557_467: lambda: build_model("edsr", n_resblocks=5),
    779_035: lambda: build_model("edsr", n_resblocks=8),
    79_164: lambda: build_model("wdsr_a", n_resblocks=1, norm="none"),
    226_940: lambda: build_model("wdsr_a", n_resblocks=3, norm="none"),
    374_716: lambda: build_model("wdsr_a", n_resblocks=5, norm="none"),
    596_380: lambda: build_model("wdsr_a", n_resblocks=8, norm="none"),
    375_572: lambda: build_model("wdsr_a", n_resblocks=5),  # with the weight-norm gains: 0.38M
    84_250: lambda: build_model("wdsr_b", n_resblocks=1),
    233_318: lambda: build_model("wdsr_b", n_resblocks=3),
    382_386: lambda: build_model("wdsr_b", n_resblocks=5),
    605_988: lambda: build_model("wdsr_b", n_resblocks=8),
    74_035: lambda: WideBlockB(64, 6, 0.8, norm="none"),  # one WDSR-B block, weights and biases
    73_856: lambda: ResBlock(64, 3, norm="none"),  # one EDSR-64 block
}


@pytest.mark.parametrize("expected", sorted(COUNTS), ids=lambda n: f"{n:,}")
def test_every_published_count_is_exact(expected):
    assert count_parameters(COUNTS[expected]()) == expected


def _stated_counts(text: str) -> set[int]:
    return {int(m.replace(",", "")) for m in COUNT.findall(text)}


def test_readme_and_docs_state_only_counts_this_file_checks():
    docs = (ROOT / "docs" / "parameter_counts.md").read_text()
    stated = _stated_counts(docs)
    assert len(stated) >= 20
    unchecked = sorted(stated - set(COUNTS))
    assert not unchecked, f"docs/parameter_counts.md states counts no test checks: {unchecked}"
    readme = (ROOT / "README.md").read_text()
    assert not _stated_counts(readme) - set(COUNTS), "README.md states a parameter count no test checks"


def test_presets_published_counts_are_ours():
    for label, name, overrides, paper, _source in presets():
        if paper is not None:
            assert count_parameters(build_model(name, 2, **overrides)) == paper, label


MD_REF = re.compile(r"(?<![\w/.<>-])((?:[\w-]+/)*[\w-]+\.md)\b")
CITING = ("wdsr_lib", "tests", "benchmarks", "notebooks", "docs")


def _texts():
    for folder in CITING:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".md") and ".ipynb_checkpoints" not in path.parts:
                yield path
    yield ROOT / "README.md"
    yield ROOT / "Makefile"


def test_every_markdown_file_cited_exists_in_this_repository():
    missing = []
    for path in _texts():
        for ref in MD_REF.findall(path.read_text()):
            if "/" not in ref:
                continue  # a bare name: a path component joined in code, or link text beside its full path
            if not any(c.exists() for c in (ROOT / ref, path.parent / ref)):
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, missing
