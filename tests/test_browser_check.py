"""tools/browser_check.py (`make browser-check`): its arguments, and a clean refusal when it cannot start. The check
itself needs Debian's chromium and chromium-driver, so `make test` does not run it."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("browser_check", ROOT / "tools" / "browser_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_defaults_use_debians_binaries_a_smoke_store_and_the_ignored_screenshot_folder():
    bc = _module()
    args = bc.parse_args([])
    assert (args.chromium, args.chromedriver) == ("/usr/bin/chromium", "/usr/bin/chromedriver")
    assert args.profile == "smoke" and args.out == ROOT / "results" / "browser_check" and not args.keep
    assert "results/browser_check/" in (ROOT / ".gitignore").read_text().splitlines()
    for flag in ("--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"):
        assert flag in bc.CHROMIUM_FLAGS
    args = bc.parse_args(["--chromium", "/opt/c", "--timeout", "60", "--out", "shots", "--keep"])
    assert args.chromium == "/opt/c" and args.timeout == 60 and args.out == Path("shots") and args.keep
    with pytest.raises(SystemExit):
        bc.parse_args(["--timeout", "0"])


@pytest.mark.parametrize("flag", ["--chromium", "--chromedriver"])
def test_refuses_in_one_sentence_when_a_binary_is_missing(flag, tmp_path, capsys):
    bc = _module()
    missing = tmp_path / "absent"
    assert bc.main([flag, str(missing), "--out", str(tmp_path / "shots")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("browser_check: cannot start: ") and str(missing) in err
    assert "apt-get install -y chromium chromium-driver" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "shots").exists()  # refused before anything was started or written


def test_the_makefile_target_installs_the_extras_and_the_lab_turns_the_news_off():
    make = (ROOT / "Makefile").read_text()
    target = make.split("\nbrowser-check:")[1].split("\n\n")[0]
    assert '".[lab,browser]"' in target and "tools/browser_check.py" in target
    lab = make.split("\nlab:")[1].split("\n\n")[0]
    for recipe in (lab, target):
        assert 'labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements"' in recipe
