"""Train many runs of the store at once: `wdsr reproduce --jobs N` (`make reproduce JOBS=N`).

Each run trains in its own process with the thread count its config pins (`TrainConfig.threads`), so a run's
numbers do not depend on N: N only decides how many runs share the machine. A run starts once the run it is
initialised from (`init_from`, EDSR Sec. 3.2) is DONE. Each run's progress bar goes to `<run dir>/train.log`
(`tail -f` it). The store's per-run lock makes this safe beside any
other process training into the same store; a scheduler stopped by an error, Ctrl-C or SIGTERM takes its workers
with it, and its runs lose only their last checkpoint interval. Which runs to train or rebuild, in which order,
comes from the run graph (`wdsr_lib.study.rungraph`) that the Ray and Slurm executors use too
(`wdsr_lib.study.executors`).
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Sequence

from wdsr_lib.core.config import RunConfig
from wdsr_lib.store.runs import run_dir_for
from wdsr_lib.store.training import load_or_train
from wdsr_lib.study.rungraph import build
from wdsr_lib.study.verify import rebuild_run


def _train_one(cfg_dict: dict, results_dir: str) -> tuple[str, bool, float]:
    """Worker: load or train one run, its progress bar in `<run dir>/train.log`; returns (name, trained, seconds)."""
    cfg = RunConfig.from_dict(cfg_dict)
    run_dir = run_dir_for(cfg, results_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with open(Path(run_dir) / "train.log", "a") as log, contextlib.redirect_stderr(log):
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {run_dir.name}", file=log, flush=True)
        rec = load_or_train(cfg, results_dir, progress=True)
    sys.stderr.flush()
    return rec.name, rec.trained, time.time() - t


def _rebuild_one(name: str, results_dir: str) -> tuple[str, bool, float]:
    """Worker: recreate the weights of a DONE run that another run starts from (`model.pt` is not in git) by
    retraining it and checking every logged number against its record (`verify.rebuild_run`, bitwise)."""
    t = time.time()
    with open(Path(results_dir) / "runs" / name / "train.log", "a") as log, contextlib.redirect_stderr(log):
        rebuild_run(name, results_dir, log=lambda msg: print(msg, file=log, flush=True))
    return name, True, time.time() - t


def train_all(configs: Sequence[RunConfig], results_dir: str | os.PathLike, jobs: int = 1,
              log: Callable[[str], None] = print) -> dict:
    """Load or train every config, `jobs` at a time, each after the run it is initialised from.

    A DONE run that a pending run starts from but whose weights are not on disk (a fresh clone: the store keeps
    no `model.pt`) is rebuilt first, as a job of its own: retrained and checked bitwise against its record.

    Returns {"trained": names trained, "loaded": names already DONE, "rebuilt": weights recreated,
    "seconds": wall time}.
    Raises:
        ValueError: jobs < 1, or a config initialised from a run that is neither planned nor DONE.
        RuntimeError: a run failed (its message names the run); the others already finished are kept.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer; got {jobs!r}.")
    results_dir = str(results_dir)
    graph = build(configs, results_dir, estimate=False, gpus=0)  # the run graph every executor uses
    given = {cfg.run_name(): cfg for cfg in configs}
    pending = {step.run: given[step.run] for step in graph if step.kind == "train"}
    done = set(graph.loaded)
    loaded = sorted(done)
    weightless = [step.run for step in graph if step.kind == "rebuild"]
    trained: list[str] = []
    rebuilt: list[str] = []
    t0, total = time.time(), len(pending)
    if not pending:
        return {"trained": trained, "loaded": loaded, "rebuilt": rebuilt, "seconds": 0.0}
    log(f"training {total} runs, {jobs} at a time ({len(loaded)} already in the store"
        + (f"; first rebuilding the weights of {len(weightless)} of them that others start from)" if weightless
           else ")"))
    running: dict[Future, str] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool, _workers_die_with(pool):
        while pending or weightless or running:
            busy = set(pending) | set(weightless) | set(running.values())
            ready = [n for n, c in pending.items() if not c.train.init_from or c.train.init_from not in busy]
            for name in (weightless + ready)[:max(0, jobs - len(running))]:
                if name in weightless:
                    weightless.remove(name)
                    running[pool.submit(_rebuild_one, name, results_dir)] = name
                else:
                    running[pool.submit(_train_one, pending.pop(name).to_dict(), results_dir)] = name
            if not running:
                raise ValueError(f"cannot order the runs: {', '.join(pending)} wait on each other.")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                name = running.pop(fut)
                try:
                    run, was_trained, seconds = fut.result()
                except Exception as exc:
                    raise RuntimeError(f"run {name} failed: {exc}") from exc
                if name in done:
                    rebuilt.append(run)
                    log(f"{run}: weights rebuilt and checked against its record in {seconds:.0f} s")
                    continue
                (trained if was_trained else loaded).append(run)
                log(f"[{len(trained) + len(loaded) - len(done)}/{total}] {run} "
                    f"{'trained' if was_trained else 'loaded'} in {seconds:.0f} s "
                    f"(elapsed {time.time() - t0:.0f} s)")
    return {"trained": trained, "loaded": loaded, "rebuilt": rebuilt, "seconds": time.time() - t0}


@contextlib.contextmanager
def _workers_die_with(pool: ProcessPoolExecutor):
    """Kill `pool`'s workers when the scheduler stops on an error, Ctrl-C or SIGTERM (`kill PID`): otherwise a
    killed scheduler leaves its runs training on as orphans, holding their store locks. Their runs resume from
    their last checkpoint on the next call."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise SystemExit(128 + signum)
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except BaseException:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):  # the executor's own table
            proc.terminate()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
