"""The environment-variable table (wdsr_lib/core/env.py): complete, documented in docs/usage.md, read with its
defaults."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wdsr_lib.core import env
from wdsr_lib.store import runs as store
from wdsr_lib.data.cache import default_cache_dir
from wdsr_lib.data.sources import default_root
from wdsr_lib.engine.fast import compile_enabled

ROOT = Path(__file__).resolve().parents[1]
# os.environ.get("X") / os.environ["X"] / os.getenv("X") / env.get("X"), env.get_int, env.get_flag
READ = re.compile(r"(?:environ(?:\.get|\.pop|\.setdefault)?\(|environ\[|getenv\(|env\.get(?:_int|_flag)?\()"
                  r"""\s*["']([A-Z_]+)["']""")


def _reads(folder: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in READ.findall(path.read_text()):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_variable_the_library_reads_is_in_the_table():
    listed = set(env.BY_NAME) | set(env.DEPRECATED)
    unlisted = {name: where for name, where in _reads("wdsr_lib").items() if name not in listed}
    assert not unlisted, f"add these to wdsr_lib/core/env.py VARIABLES: {unlisted}"


def test_every_variable_in_the_table_is_used_somewhere():
    sources = [p for folder in ("wdsr_lib", "tests") for p in (ROOT / folder).rglob("*.py")
               if p.name not in ("env.py", "test_env.py")]
    text = "\n".join(p.read_text() for p in sources) + (ROOT / "Makefile").read_text()
    dead = [v.name for v in env.VARIABLES if not re.search(rf"\b{v.name}\b", text)]
    assert not dead, f"{dead} are listed in wdsr_lib/core/env.py but nothing reads them"


def test_usage_section_is_the_table():
    usage = (ROOT / "docs" / "usage.md").read_text()
    section = usage.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    assert env.markdown_table() in section


def test_defaults_apply_when_unset_or_empty(monkeypatch, tmp_path):
    for name in ("WDSR_DATA", "WDSR_CACHE", "WDSR_COMPILE", "RANK", "WDSR_RESULTS_DIR", "WDSR_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_root() == Path("data")
    assert default_cache_dir() == tmp_path / ".cache" / "wdsr"
    assert compile_enabled() is False and env.get_int("RANK") == 0
    assert store.runs_dir() == Path("results") / "runs"
    monkeypatch.setenv("WDSR_DATA", "")  # empty counts as unset
    assert default_root() == Path("data")


def test_set_values_win(monkeypatch, tmp_path):
    monkeypatch.setenv("WDSR_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("WDSR_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("WDSR_COMPILE", "True")
    monkeypatch.setenv("WDSR_RESULTS_DIR", str(tmp_path / "r"))
    assert default_root() == tmp_path / "d" and default_root("given") == Path("given")
    assert default_cache_dir() == tmp_path / "c"
    assert compile_enabled() is True
    assert store.runs_dir() == tmp_path / "r" / "runs" and store.runs_dir(tmp_path) == tmp_path / "runs"


def test_deprecated_wdsr_results_still_works_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.delenv("WDSR_RESULTS_DIR", raising=False)
    monkeypatch.setenv("WDSR_RESULTS", str(tmp_path / "old"))
    with pytest.warns(FutureWarning, match=r"\$WDSR_RESULTS is deprecated; set \$WDSR_RESULTS_DIR"):
        assert store.runs_dir() == tmp_path / "old" / "runs"
    monkeypatch.setenv("WDSR_RESULTS_DIR", str(tmp_path / "new"))  # the new name wins, silently
    assert store.runs_dir() == tmp_path / "new" / "runs"


def test_unknown_names_and_bad_integers_fail_in_one_sentence(monkeypatch):
    with pytest.raises(KeyError, match="WDSR_NOPE is not one of the study's environment variables"):
        env.get("WDSR_NOPE")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match=r"\$WORLD_SIZE must be an integer; got 'two'"):
        env.get_int("WORLD_SIZE")


def test_env_module_does_not_import_torch():
    code = "import sys, wdsr_lib.core.env; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_empty_values_count_as_unset_in_the_run_key_and_the_device(monkeypatch, tmp_path):
    from wdsr_lib.core.config import ModelConfig
    from wdsr_lib.engine.device import init_distributed, pick_device
    from wdsr_lib.study.profiles import get_profile

    monkeypatch.chdir(tmp_path)
    for name in ("WDSR_DATA", "WDSR_DEVICE", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    cfg = get_profile("paper").run(ModelConfig(name="edsr"), 0)  # DIV2K: the data root is in the key
    unset_key, unset_device = cfg.key(), pick_device()
    for name in ("WDSR_DATA", "WDSR_DEVICE", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.setenv(name, "")
    assert cfg.key() == unset_key and pick_device() == unset_device
    assert not init_distributed(pick_device()).enabled
