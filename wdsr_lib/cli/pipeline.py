"""`wdsr reproduce`: execute the study's notebooks in order with papermill, then assemble the report.

Each notebook regenerates one paper artefact from the results store (training only what is missing), writes
its figures, tables and claims; executed copies land in `results/executed/<profile>/`. The kernel does not see
`WDSR_PROFILE` / `WDSR_RESULTS_DIR` / `WDSR_FIGURES_DIR` (those are for nbval), so papermill's parameters win.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional, Sequence

from wdsr_lib.core import env
from wdsr_lib.data.div2k import check_div2k
from wdsr_lib.data.sources import default_root
from wdsr_lib.store.runs import is_done, trained_runs
from wdsr_lib.study import frames, pilot, plans, report
from wdsr_lib.study.executors import execute
from wdsr_lib.study.frames import elapsed_training, run_seconds
from wdsr_lib.study.plans import EXTRA_PLANS, PLANS, all_runs, budget_lines
from wdsr_lib.study.profiles import Profile, get_profile
from wdsr_lib.viz import pilot_figure

# The notebooks a wheel installs as package data (`wdsr_lib/notebooks/`, see pyproject.toml), else the checkout's.
_HERE = Path(__file__).resolve().parents[1]  # wdsr_lib/
NOTEBOOKS_DIR = next((d for d in (_HERE / "notebooks", _HERE.parent / "notebooks") if (d / "01_table1.ipynb").exists()),
                     _HERE.parent / "notebooks")
NOTEBOOKS = ("01_table1.ipynb", "02_fig3_normalization.ipynb", "03_fig4_bn_lr.ipynb",
             "04_edsr_comparison.ipynb", "05_ablations.ipynb")
# The plans (`wdsr_lib.study.plans.PLANS`) each notebook trains and judges: `--store-only` skips a notebook none of
# whose runs the store holds.
NOTEBOOK_PLANS = {"01_table1.ipynb": ("table1",), "02_fig3_normalization.ipynb": ("fig3",),
                  "03_fig4_bn_lr.ipynb": ("fig4", "fig4_reference"), "04_edsr_comparison.ipynb": ("edsr_comparison",),
                  "05_ablations.ipynb": ("ablations",)}
ENV_OVERRIDES = ("WDSR_PROFILE", "WDSR_RESULTS_DIR", "WDSR_FIGURES_DIR")


def check_data(profile: Profile, store_only: bool = False) -> None:
    """Raise DataError, in one sentence, unless the complete DIV2K a DIV2K profile trains on is there.

    The scales are those of the profile's runs (`plans.all_runs`); the check is `wdsr_lib.data.div2k`'s, the same
    `wdsr train` makes. With `store_only` nothing trains, so only the validation images (0801-0900, which the
    pictures of stored models are made from) are needed, not the 800 training images. The root comes from
    $WDSR_DATA (`wdsr reproduce` has no --data-root).
    """
    if not profile.needs_div2k:
        return

    scales = sorted({cfg.model.scale for cfg in all_runs(profile.name)})
    needed_by = f"Profile {profile.name!r}" + (" with --store-only (pictures of the stored models)" if store_only
                                              else "")
    check_div2k(default_root(profile.data.root), scales, needed_by=needed_by,
                splits=("valid",) if store_only else ("train", "valid"), point="$WDSR_DATA")


@contextlib.contextmanager
def _without_env(names: Sequence[str]) -> Iterator[None]:
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def reproduce(profile: str, results_dir: str | os.PathLike = "results", figures_dir: str | os.PathLike = "figures",
              executed_dir: Optional[str | os.PathLike] = None, cell_timeout: Optional[int] = None,
              notebooks: Optional[Sequence[str]] = None, log_output: bool = True, jobs: int = 1,
              notes: Sequence[str] = (), store_only: bool = False, executor: str = "local",
              executor_options: Optional[dict] = None) -> dict:
    """Run the notebooks for `profile` and write `<results_dir>/reports/<profile>.md`.

    With `jobs` > 1 every run the profile needs is first trained `jobs` at a time (`wdsr_lib.study.schedule`; each
    run's thread count is pinned by its config, so its numbers do not depend on `jobs`), then the notebooks
    find everything in the store. Figures go to `<figures_dir>/<profile>/`.

    Args:
        profile: a name in `wdsr_lib.study.profiles.PROFILES`.
        results_dir, figures_dir: the store and the figure folder (made absolute for the kernels).
        executed_dir: where executed notebooks go (default `<results_dir>/executed/<profile>`).
        cell_timeout: seconds a single cell may run, or None for no limit (the default: a training cell
            legitimately runs ~10 min at quick, hours at cpu and days at paper).
        notebooks: names (or stems) of a subset, in pipeline order (default: all five).
        log_output: stream cell output (training progress) to this process's log.
        executor: what trains the runs first: "local" (`jobs` at a time), "ray" or "slurm" (`wdsr_lib.study.executors`,
            with `executor_options` such as ray_address, slurm_partition).
        store_only: train nothing (`WDSR_STORE_ONLY=1` for the kernels): everything is drawn from the runs
            already in the store, and the report names the planned runs that are missing.

    Every process this call starts (kernels, local workers, Ray tasks, Slurm jobs) carries one $WDSR_SESSION tag
    into the ledger, so "trained" counts this call's runs only, even while another reproduce shares the store.

    Returns:
        {"profile", "seconds" (total), "notebooks": {name: seconds}, "trained": runs trained by this call,
         "trained_runs": their names, "report": path of reports/<profile>.md, "executed_dir"}.
    Raises:
        DataError: the profile needs DIV2K and it is absent (checked before anything runs).
    """
    with env.overridden("WDSR_SESSION", uuid.uuid4().hex):
        return _reproduce(profile, results_dir, figures_dir, executed_dir, cell_timeout, notebooks, log_output, jobs,
                          notes, store_only, executor, executor_options)


def _reproduce(profile: str, results_dir: str | os.PathLike, figures_dir: str | os.PathLike,
               executed_dir: Optional[str | os.PathLike], cell_timeout: Optional[int],
               notebooks: Optional[Sequence[str]], log_output: bool, jobs: int, notes: Sequence[str],
               store_only: bool, executor: str, executor_options: Optional[dict]) -> dict:
    """`reproduce` inside its $WDSR_SESSION."""
    import papermill as pm  # optional dependency (the notebooks extra): only `wdsr reproduce` runs notebooks

    p = get_profile(profile)
    check_data(p, store_only)
    results = Path(results_dir).resolve()
    figures = Path(figures_dir).resolve()
    executed = Path(executed_dir).resolve() if executed_dir else results / "executed" / p.name
    chosen = _select(notebooks)
    for d in (results, figures, executed):
        d.mkdir(parents=True, exist_ok=True)
    if log_output:
        _stream_papermill_log()
    timings: dict[str, float] = {}
    t0 = time.time()
    notes = list(notes)
    if store_only:
        planned = all_runs(p)
        missing = [c.run_name() for c in planned if not is_done(c, results)]
        if missing:
            per, absent = [], set(missing)
            for plan, make in {**PLANS, "pilot": EXTRA_PLANS["pilot"]}.items():  # noise: Table 1's runs
                if plan == "fig4_reference":
                    continue
                runs = list(make(p))
                if not runs:
                    continue
                left = sum(1 for r in runs if r.name in absent)
                per.append(f"{plan} {len(runs) - left}/{len(runs)}")
            notes.append(f"Store-only report (`--store-only`): {len(planned) - len(missing)} of {len(planned)} "
                         f"planned runs are in the store (per artefact, runs in the store / planned: "
                         f"{', '.join(per)}); figures, tables and verdicts cover those. `wdsr reproduce --profile "
                         f"{p.name} --list-runs` prints a command per missing run.")
        empty = [n for n in chosen if not any(is_done(r.config, results) for plan in NOTEBOOK_PLANS[n]
                                              for r in PLANS[plan](p))]
        if empty:
            notes.append(f"Not run (none of their runs is in the store yet): {', '.join(empty)}.")
            chosen = [n for n in chosen if n not in empty]
            for name in empty:  # no verdict from an earlier store may stand for runs that are not there
                report.write_claims(results, NOTEBOOK_PLANS[name][0], [], p.name)
    elif jobs > 1 or executor != "local":  # executors: wdsr_lib/study/executors.py (local: schedule.train_all)

        execute(all_runs(p), results, executor=executor, jobs=jobs, **(executor_options or {}))
        timings["training (parallel)"] = round(time.time() - t0, 1)
    with env.overridden("WDSR_STORE_ONLY", "1" if store_only else "0"):
        failed = _run_notebooks(pm, chosen, executed, p, results, figures, log_output, cell_timeout, timings,
                                keep_going=store_only)
        shown = executed.relative_to(results.parent) if executed.is_relative_to(results.parent) else executed
        notes += [f"{name} stopped on the partial store ({msg}); the outputs it did not reach are absent or from an "
                  f"earlier run, see `{shown / name}`." for name, msg in failed.items()]
        notes += _pilot(p, results, figures)
    total = round(time.time() - t0, 1)
    new = trained_runs(results, session=env.get("WDSR_SESSION"))

    report.apply_holm(results, p.name)  # family-wise over every claim of the profile (verdicts.holm)
    report.update_readme(results.parent / "README.md", results, p.name)  # its generated verdict table, if any
    path = report.write_report(results, p, figures / p.name, timings={**timings, "total": total},
                               trained=len(new), budget_lines=budget_lines(p), run_seconds=run_seconds(p, results),
                               notes=notes, elapsed=elapsed_training(p, results))
    return {"profile": p.name, "seconds": total, "notebooks": timings, "trained": len(new), "trained_runs": new,
            "report": str(path), "executed_dir": str(executed)}


def _pilot(p: Profile, results: Path, figures: Path) -> list[str]:
    """Train the profile's pilot (`plans.pilot`; store-only: nothing), draw its gaps and return the report's
    paragraph on it (nothing for a profile without a pilot)."""
    plan = plans.pilot(p)
    if not len(plan):
        return []
    frames.run_plan(plan, results, progress=False)  # store-only: trains nothing
    pilot.write(results, p.name)  # results/pilot/<profile>/*.csv
    pilot_figure.write(results, figures, p.name)  # <figures>/<profile>/pilot_gaps.png
    return [pilot.summary(results, p.name)]


def _run_notebooks(pm, chosen: Sequence[str], executed: Path, p: Profile, results: Path, figures: Path,
                   log_output: bool, cell_timeout: Optional[int], timings: dict, keep_going: bool = False) -> dict:
    """Execute the chosen notebooks in order with the profile's parameters; their seconds go into `timings`.

    With `keep_going` (store-only reports on a partial store) a notebook that fails is recorded and the next one
    runs; returns {notebook: one-line error} of those.
    """
    failed = {}
    with _without_env(ENV_OVERRIDES):
        for name in chosen:
            t = time.time()
            # papermill rewrites its output as cells run: run into a temp file, rename it over the last good copy
            # only on success; a failed or interrupted execution is kept as `<stem>.FAILED.ipynb` (issue 26)
            running = executed / f".{Path(name).stem}.{os.getpid()}.running.ipynb"
            for stale in executed.glob(f".{Path(name).stem}.*.running.ipynb"):  # a killed run's leftover
                if not _alive(stale.name.split(".")[-3]):
                    os.replace(stale, executed / failed_name(name))
            try:
                pm.execute_notebook(str(NOTEBOOKS_DIR / name), str(running), kernel_name="python3",
                                    parameters={"profile": p.name, "results_dir": str(results),
                                                "figures_dir": str(figures), "seeds": None},
                                    log_output=log_output, execution_timeout=cell_timeout, cwd=str(NOTEBOOKS_DIR),
                                    progress_bar=False)
                os.replace(running, executed / name)
                (executed / failed_name(name)).unlink(missing_ok=True)
            except BaseException as exc:
                if running.exists():
                    os.replace(running, executed / failed_name(name))
                if isinstance(exc, OSError) and not exc.filename:  # e.g. a full disk inside papermill's write
                    error = OSError(f"cannot write the executed notebook {executed / name}: {exc.strerror or exc}; "
                                    f"the last good copy is untouched, the partial one is "
                                    f"{executed / failed_name(name)}; free disk space and run the same command again.")
                    error.errno = exc.errno
                    raise error from exc
                if not (keep_going and isinstance(exc, pm.PapermillExecutionError)):
                    raise
                failed[name] = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
            timings[name] = round(time.time() - t, 1)
    return failed


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def failed_name(name: str) -> str:
    """Where a failed or interrupted execution of notebook `name` is kept (never over the last good copy)."""
    return f"{Path(name).stem}.FAILED.ipynb"


def _stream_papermill_log() -> None:
    """papermill logs cell output at INFO; show it on stderr unless the caller configured logging."""
    logger = logging.getLogger("papermill")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _select(notebooks: Optional[Sequence[str]]) -> list[str]:
    if not notebooks:
        return list(NOTEBOOKS)
    chosen = []
    for want in notebooks:
        match = [n for n in NOTEBOOKS if n == want or Path(n).stem == want or n.startswith(f"{want}_")]
        if not match:
            raise ValueError(f"unknown notebook {want!r}; choose from {', '.join(NOTEBOOKS)}.")
        chosen += [m for m in match if m not in chosen]
    return [n for n in NOTEBOOKS if n in chosen]
