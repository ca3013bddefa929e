#!/usr/bin/env python3
"""`make browser-check`: what a user meets in JupyterLab, checked in headless Chromium (issue 25).

Starts JupyterLab as `make lab` does (this venv's `jupyter lab`, `JUPYTER_PATH` on the venv's kernel spec,
`--allow-root` as root) on a free localhost port with a random token, serving a scratch copy of `notebooks/` (the
lab autosaves, and a run must never write outputs into the committed notebooks) with `WDSR_ROOT` at this project
and `WDSR_PROFILE=smoke`, `WDSR_RESULTS_DIR` / `WDSR_FIGURES_DIR` on a scratch store, so only smoke-size runs
train. JupyterLab's user settings, workspaces and config are scratch too: a first start, as on a fresh clone.
Then, in Debian's Chromium through Debian's chromedriver (Selenium is given both paths, so selenium-manager never
runs and nothing is fetched):

1. The study notebooks `01_table1` ... `05_ablations`, each Run > Run All Cells: every cell runs, and each cell
   that writes a figure shows it under the cell (`<img>`).
2. `06_explore.ipynb`, Run All: every cell runs, the ipywidgets pickers render, changing a picker redraws the
   curves (the image's src changes), and the stored-run pictures cell shows pictures of the committed showcase
   runs (the scratch store is seeded with every committed run whose weights git keeps, as on a fresh clone).
3. No "official Jupyter news" pop-up (the `make lab` targets disable that plugin in the venv's page_config).

One line per check, PASS or FAIL; screenshots in results/browser_check/. Exit status 1 on a FAIL, 2 when it cannot
start (no chromium / chromedriver / selenium / jupyterlab: the line says what to install).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
APT = "apt-get install -y chromium chromium-driver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]
NEWS = "Would you like to get notified about official Jupyter news"


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="browser_check", description=__doc__.splitlines()[0])
    p.add_argument("--chromium", default=CHROMIUM, help=f"the browser binary (default {CHROMIUM})")
    p.add_argument("--chromedriver", default=CHROMEDRIVER, help=f"the driver binary (default {CHROMEDRIVER})")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "browser_check", help="where screenshots go")
    p.add_argument("--profile", default="smoke", help="WDSR_PROFILE for the lab's kernels (default smoke)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds one notebook's Run All may take")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (lab log, store) and print it")
    args = p.parse_args(argv)
    if not args.timeout > 0:
        p.error(f"--timeout must be positive; got {args.timeout}")
    return args


def preflight(args: argparse.Namespace) -> Optional[str]:
    """Why the check cannot start (one sentence), or None."""
    for flag, path in (("chromium", args.chromium), ("chromedriver", args.chromedriver)):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return (f"{flag} not found at {path}: install Debian's packages ({APT}, as root) or pass "
                    f"--{flag} PATH; nothing is downloaded at run time.")
    for module, extra in (("selenium", "browser"), ("jupyterlab", "lab"), ("ipywidgets", "lab")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed in {sys.prefix}: pip install -e '.[lab,browser]' (make browser-check)."
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 1.0, what: str = "it"):
    """Poll `condition` until it returns something truthy; TimeoutError after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


class Lab:
    """JupyterLab started as `make lab` starts it, on a scratch copy of notebooks/ and a scratch smoke store."""

    def __init__(self, scratch: Path, profile: str):
        self.scratch, self.port, self.token = scratch, free_port(), secrets.token_hex(16)
        self.served = scratch / "notebooks"
        shutil.copytree(ROOT / "notebooks", self.served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        settings = scratch / "lab-settings"
        # Every cell in the DOM (no virtual scrolling), so outputs below the fold can be read.
        tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True)
        tracker.write_text(json.dumps({"windowingMode": "none"}))
        self.env = dict(os.environ, JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
                        WDSR_ROOT=str(ROOT), WDSR_PROFILE=profile, WDSR_RESULTS_DIR=str(scratch / "results"),
                        WDSR_FIGURES_DIR=str(scratch / "figures"), JUPYTERLAB_SETTINGS_DIR=str(settings),
                        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "lab-workspaces"),
                        JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
                        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"))
        self.log_path = scratch / "lab.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        jupyter = Path(sys.executable).parent / "jupyter"
        cmd = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        cmd.append(str(self.served))
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                return self.api("status") is not None
            except OSError:
                return False
        wait_for(up, timeout, what="jupyter lab to answer")

    def api(self, path: str):
        with urllib.request.urlopen(f"{self.base}/api/{path}?token={self.token}", timeout=10) as r:
            return json.loads(r.read().decode())

    def kernel_state(self, notebook: str) -> Optional[str]:
        for session in self.api("sessions"):
            if session.get("path", "").endswith(notebook):
                return session["kernel"]["execution_state"]
        return None

    def log_tail(self, lines: int = 15) -> str:
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the process group started above, nothing else
            self.proc.wait(10)


def browser(args: argparse.Namespace, scratch: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # belt and braces: Service gets a path, so selenium-manager never runs
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={scratch / 'chromium-profile'}"]:
        options.add_argument(flag)
    service = Service(args.chromedriver, log_output=str(scratch / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


# One row per code cell of the visible notebook: prompt, source, <img> sources in its outputs, output text.
CELLS_JS = """
const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
if (!panel) return null;
return [...panel.querySelectorAll('.jp-CodeCell')].map(c => ({
  prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent || '',
  source: [...c.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent).join('\\n'),
  imgs: [...c.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src),
  widgets: c.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
  text: (c.querySelector('.jp-OutputArea') || {}).innerText || ''}));
"""


class Session:
    def __init__(self, driver, lab: Lab, out: Path):
        self.driver, self.lab, self.out = driver, lab, out
        self.failed = False

    def report(self, ok: bool, check: str, detail: str, shot: Optional[str] = None) -> None:
        if shot:
            path = self.out / f"{shot}.png"
            self.driver.save_screenshot(str(path))
            detail += f" [screenshot {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}]"
        self.failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'} {check}: {detail}", flush=True)

    def cells(self) -> list[dict]:
        return self.driver.execute_script(CELLS_JS) or []

    def open(self, notebook: str, timeout: float = 180) -> None:
        self.driver.get(f"{self.lab.base}/lab/tree/{notebook}?reset&token={self.lab.token}")
        wait_for(lambda: len(self.cells()) > 0 and all(c["source"] for c in self.cells()), timeout, 2,
                 f"{notebook} to render")
        wait_for(lambda: self.lab.kernel_state(notebook) == "idle", timeout, 2, f"{notebook}'s kernel to start")

    def run_all(self, notebook: str, timeout: float) -> tuple[list[dict], float]:
        """Run > Run All Cells from the menu bar; wait until the kernel is idle and no cell is queued ([*])."""
        from selenium.webdriver.common.by import By

        start = time.monotonic()
        self.driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Notebook").click()
        run = next(m for m in self.driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if m.text == "Run")
        run.click()
        wait_for(lambda: [i for i in self.driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
                          if i.text.split("\n")[0].strip() == "Run All Cells"], 10, 0.2, "Run All Cells")[0].click()
        wait_for(lambda: any("*" in c["prompt"] for c in self.cells()) or self.lab.kernel_state(notebook) != "idle",
                 30, 0.5, f"{notebook} to start running")

        def finished():
            cells = self.cells()
            busy = any("*" in c["prompt"] for c in cells) or self.lab.kernel_state(notebook) != "idle"
            return None if busy else cells
        wait_for(finished, timeout, 2, f"{notebook} to finish")
        time.sleep(2)  # the last display messages
        return self.cells(), time.monotonic() - start

    def ran(self, notebook: str, cells: list[dict], seconds: float) -> bool:
        numbered = [c for c in cells if re.search(r"\[\d+\]", c["prompt"])]
        ok = len(numbered) == len(cells)
        detail = f"{len(numbered)} of {len(cells)} code cells ran in {seconds:.0f} s"
        if not ok:
            failed = next((c for c in cells if "Error" in c["text"] or "Traceback" in c["text"]), None)
            if failed:
                detail += "; first error: " + " ".join(failed["text"].split())[-300:]
        self.report(ok, f"{notebook} run all", detail)
        return ok

    def scroll_to(self, css: str) -> None:
        self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});", css)
        time.sleep(1)

    def no_news(self, when: str) -> None:
        shown = NEWS in self.driver.page_source
        self.report(not shown, f"news pop-up ({when})", "shown: " + NEWS if shown else "not shown")


STUDY = ("01_table1", "02_fig3_normalization", "03_fig4_bn_lr", "04_edsr_comparison", "05_ablations")


def check_study(s: Session, name: str, timeout: float) -> None:
    """One study notebook: Run All, every cell runs, every cell that writes a figure shows it under the cell."""
    nb = f"{name}.ipynb"
    s.open(nb)
    if name == STUDY[0]:
        s.no_news("first start")
    cells, seconds = s.run_all(nb, timeout)
    s.ran(nb, cells, seconds)
    writers = [c for c in cells if "save_figure(" in c["source"]]
    shown = [c for c in writers if c["imgs"]]
    s.scroll_to(".jp-NotebookPanel .jp-OutputArea-output img")
    ok = bool(writers) and len(shown) == len(writers)
    s.report(ok, f"{nb} figures", f"{len(shown)} of {len(writers)} cells that write a figure show it under the "
             f"cell ({sum(len(c['imgs']) for c in cells)} <img> in the outputs)", shot=f"{name}_figure")


PICKERS = ".jp-OutputArea-output .widget-select-multiple, .jp-OutputArea-output .widget-dropdown"


def _selectors(driver) -> list[dict]:
    return driver.execute_script("""
return [...document.querySelectorAll(arguments[0])]
  .map((w, i) => ({i, label: (w.querySelector('.widget-label') || {}).textContent || '',
                  options: [...w.querySelectorAll('option')].map(o => o.textContent),
                  selected: [...w.querySelectorAll('option')].filter(o => o.selected).map(o => o.textContent)}));""",
                                 PICKERS)


def _curve_src(driver) -> Optional[str]:
    return driver.execute_script(
        "const i = document.querySelector('.jp-OutputArea-output img.widget-image'); return i ? i.src : null;")


def seed_store(results: Path) -> list[str]:
    """Copy into the scratch store the committed runs whose weights git keeps (the showcase runs,
    `tools/showcase.py`), as a fresh clone has them: the explorer's pictures must come from them."""
    seeded = []
    for weights in sorted((ROOT / "results" / "runs").glob("*/model.pt")):
        run = weights.parent
        if not (run / "DONE").is_file():
            continue
        shutil.copytree(run, results / "runs" / run.name, ignore=shutil.ignore_patterns("checkpoints", "*.lock",
                                                                                        ".lock", "train.log"))
        seeded.append(run.name)
    return seeded


def check_explorer(s: Session, timeout: float) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    nb = "06_explore.ipynb"
    s.open(nb)
    cells, seconds = s.run_all(nb, timeout)
    s.ran(nb, cells, seconds)
    pickers = _selectors(s.driver)
    s.scroll_to(PICKERS)
    hint = next((c["text"].strip() for c in cells if "ipywidgets is not installed" in c["text"]), "")
    s.report(bool(pickers), f"{nb} pickers", (f"{len(pickers)} ipywidgets pickers rendered: "
             + ", ".join(f"{p['label']} ({len(p['options'])} options)" for p in pickers)) if pickers
             else f"no .widget-select-multiple / .widget-dropdown in the outputs {hint!r}".strip(), shot="06_pickers")
    changeable = [p for p in pickers if len(p["options"]) >= 2]
    before = _curve_src(s.driver)
    if not changeable or before is None:
        s.report(False, f"{nb} picker changes the curve",
                 "no picker with two options" if not changeable else "no curve image (img.widget-image)")
    else:
        picker = next((p for p in changeable if p["label"] == "model"), changeable[0])
        element = s.driver.find_elements(By.CSS_SELECTOR, PICKERS)[picker["i"]]
        select = Select(element.find_element(By.TAG_NAME, "select"))
        if select.is_multiple:
            select.deselect_by_index(0)
        else:
            select.select_by_index(1 if select.first_selected_option.text == picker["options"][0] else 0)
        try:
            after = wait_for(lambda: (lambda src: src if src and src != before else None)(_curve_src(s.driver)),
                             120, 1, "the curve to redraw")
        except TimeoutError:
            after = None
        now = _selectors(s.driver)[picker["i"]]["selected"]
        s.scroll_to(".jp-OutputArea-output img.widget-image")
        s.report(after is not None, f"{nb} picker changes the curve",
                 f"{picker['label']}: {picker['selected']} -> {now}; curve image src "
                 + ("changed" if after else "unchanged after 120 s"), shot="06_picker_changed")
    pictures = next((c for c in cells if "profile_figure(" in c["source"]), None)
    if pictures is None:
        s.report(False, f"{nb} stored-run pictures", "no cell calls qualitative.profile_figure")
    else:
        reason = " ".join(pictures["text"].split())
        ok = bool(pictures["imgs"])  # the store is seeded with the committed showcase weights: pictures, not a reason
        s.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", s.driver.find_elements(
            By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell")[cells.index(pictures)])
        time.sleep(1)
        s.report(ok, f"{nb} stored-run pictures", f"{len(pictures['imgs'])} image(s) shown" if pictures["imgs"]
                 else (f"no image; the cell says: {reason[:400]}" if reason else "neither an image nor a reason"),
                 shot="06_pictures")
    own = next((c for c in cells if "compare_image(" in c["source"]), None)
    if own is not None:
        s.report(bool(own["imgs"]), f"{nb} own-photo comparison", f"{len(own['imgs'])} image(s) shown"
                 if own["imgs"] else "no image: " + " ".join(own["text"].split())[:300])
    s.no_news("end")


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    why = preflight(args)
    if why:
        print(f"browser_check: cannot start: {why}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="wdsr-browser-check-"))
    seeded = seed_store(scratch / "results")
    lab, driver, session = Lab(scratch, args.profile), None, None
    try:
        lab.start()
        print(f"lab: {lab.base}/lab (token hidden), profile {args.profile}, serving a scratch copy of notebooks/, "
              f"store {scratch / 'results'} (seeded with the {len(seeded)} run(s) here that keep their weights; on a "
              "fresh clone the committed showcase runs"
              + (f": {', '.join(seeded)}" if 0 < len(seeded) <= 8 else "") + ")", flush=True)
        driver = browser(args, scratch)
        print(f"browser: {driver.capabilities.get('browserName')} {driver.capabilities.get('browserVersion')}, "
              f"headless", flush=True)
        session = Session(driver, lab, args.out)
        for name in STUDY:
            check_study(session, name, args.timeout)
        check_explorer(session, args.timeout)
    except Exception as exc:  # a check that could not finish is a FAIL with its reason
        if session is not None and driver is not None:
            session.report(False, "browser check", f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}",
                           shot="error")
        else:
            print(f"FAIL browser check: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}", flush=True)
        print(f"lab log: {lab.log_tail()}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        lab.stop()
        if args.keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print("browser check: " + ("FAILED" if session.failed else "all checks passed"), flush=True)
    return 1 if session.failed else 0


if __name__ == "__main__":
    sys.exit(main())
