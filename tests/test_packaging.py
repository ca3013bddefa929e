"""The packaging files agree: environment.yml installs exactly what pyproject.toml declares."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_the_package_with_pyproject_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = (ROOT / "environment.yml").read_text()
    pip_lines = re.findall(r"^\s+- (.+)$", env.split("- pip:")[1], flags=re.M)
    editable = [line for line in pip_lines if line.startswith("-e .")]
    assert editable, "environment.yml must install this package with pip (-e .[...])"
    extras = set(re.search(r"\[(.*)\]", editable[0]).group(1).split(","))
    assert extras <= set(project["optional-dependencies"]), extras
    assert "notebooks" in extras
    # No dependency is declared twice: environment.yml names nothing else but the pinned torch.
    others = [line for line in pip_lines if not line.startswith("-e .")]
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["dependencies"]}
    for line in others:
        assert re.split(r"[<>=\[ ]", line)[0].lower() in names, f"{line} is not declared in pyproject.toml"


def test_makefile_pins_the_same_torch_as_environment_yml():
    make = (ROOT / "Makefile").read_text()
    pin = re.search(r"^TORCH \?= (torch==[\d.]+)$", make, flags=re.M).group(1)
    assert pin in (ROOT / "environment.yml").read_text()


def test_ci_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
