"""Executors of the run graph (`wdsr_lib.study.rungraph`): `wdsr reproduce --executor local|ray|slurm`.

- `local` (the default): `schedule.train_all`, a process pool on this machine, `--jobs` runs at a time.
- `ray`: each step a Ray task with `num_cpus` = its threads and `num_gpus` = its GPUs; a step's dependencies are
  passed to it as ObjectRefs, so Ray starts it only once they have finished; `max_retries` re-runs a step whose
  worker or node died (the store resumes it from its last checkpoint). `--ray-address` joins an existing
  cluster (default: start a local one, or `RAY_ADDRESS`).
- `slurm`: each step a Slurm job submitted through submitit, with `--cpus-per-task` = threads,
  `--gpus-per-node`, a partition and a time limit (given, or 1.5 x the cost estimate + 10 min); a dependent
  step is submitted at once with `--dependency=afterok:<source job>`. The step is a
  `submitit.helpers.Checkpointable`: on preemption or timeout submitit requeues it and the store resumes it.
  Any other submitit executor (`LocalExecutor`, `DebugExecutor`: no Slurm dependencies) submits a step once its
  sources have finished.

Every executor runs a step by the same functions as the local pool (`schedule._train_one`: `store.load_or_train`
with its lock per run, DONE written last, exact resume of a stopped run; `schedule._rebuild_one`:
`verify.rebuild_run`), so a run's stored numbers do not depend on the executor. Ray workers and Slurm jobs must
see the store at the same absolute path (a shared filesystem, `docs/cluster.md`) and import the same `wdsr_lib`.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from wdsr_lib.core import env
from wdsr_lib.core.config import RunConfig
from wdsr_lib.study.rungraph import RunGraph, Step, build
from wdsr_lib.study.schedule import _rebuild_one, _train_one, train_all

EXECUTORS = ("local", "ray", "slurm")


def run_step(kind: str, run: str, config: Optional[dict], results_dir: str, *_sources,
             session: Optional[str] = None) -> tuple[str, bool, float]:
    """Run one step in this process: (run name, trained, seconds). `_sources` are the results of the steps it
    depends on (Ray passes them so that it waits for them; unused). `session`: the submitting `wdsr reproduce`'s
    $WDSR_SESSION, passed as an argument (a worker or job does not inherit the submitter's environment), which
    tags the ledger line of a run this step trains."""
    with env.overridden("WDSR_SESSION", session) if session else contextlib.nullcontext():
        if kind == "rebuild":
            return _rebuild_one(run, results_dir)
        return _train_one(config, results_dir)


def _summary(graph: RunGraph, results: dict[str, tuple[str, bool, float]], t0: float) -> dict:
    steps = graph.by_id()
    trained = [r[0] for sid, r in results.items() if steps[sid].kind == "train" and r[1]]
    loaded = list(graph.loaded) + [r[0] for sid, r in results.items() if steps[sid].kind == "train" and not r[1]]
    rebuilt = [r[0] for sid, r in results.items() if steps[sid].kind == "rebuild"]
    return {"trained": trained, "loaded": loaded, "rebuilt": rebuilt, "seconds": time.time() - t0}


def execute(configs: Sequence[RunConfig], results_dir: str | os.PathLike, executor: str = "local", jobs: int = 1,
            log: Callable[[str], None] = print, **options) -> dict:
    """Load or train every config with `executor`; returns train_all's dict (trained, loaded, rebuilt, seconds).

    options: ray: `ray_address`, `max_retries`; slurm: `slurm_partition`, `slurm_gpus`, `slurm_time` (minutes),
    `slurm_folder`, `submitit_executor` (a ready submitit executor, e.g. `submitit.LocalExecutor`).
    """
    if executor == "local":
        return train_all(configs, results_dir, jobs=jobs, log=log)
    if executor == "ray":
        graph = build(configs, results_dir, estimate=False, gpus=options.pop("gpus", None))
        return run_ray(graph, log=log, **options)
    if executor == "slurm":
        gpus = options.get("slurm_gpus")
        graph = build(configs, results_dir, gpus=gpus)
        return run_submitit(graph, log=log, **options)
    raise ValueError(f"unknown executor {executor!r}: one of {', '.join(EXECUTORS)}.")


def run_ray(graph: RunGraph, ray_address: Optional[str] = None, max_retries: int = 3,
            log: Callable[[str], None] = print, init: Optional[dict] = None) -> dict:
    """Run `graph` on a Ray cluster: one task per step, dependencies as task dependencies.

    Connects to `ray_address` (or $RAY_ADDRESS, or starts a local cluster) unless Ray is already initialised in
    this process; a connection this call made is closed at the end.
    """
    import ray  # optional dependency (the cluster extra)

    t0 = time.time()
    if not graph.steps:
        return _summary(graph, {}, t0)
    started = False
    if not ray.is_initialized():
        ray.init(address=ray_address, **(init or {}))
        started = True
    try:
        task = ray.remote(run_step)
        refs = {}
        for step in graph:
            sources = [refs[d] for d in step.depends]
            refs[step.id] = task.options(num_cpus=step.threads, num_gpus=step.gpus, max_retries=max_retries,
                                         retry_exceptions=False, name=step.id).remote(
                step.kind, step.run, step.config, graph.results_dir, *sources,
                session=os.environ.get("WDSR_SESSION"))
        log(f"ray: {len(refs)} steps submitted ({len(graph.loaded)} runs already in the store)")
        results: dict[str, tuple[str, bool, float]] = {}
        pending = {ref: sid for sid, ref in refs.items()}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            sid = pending.pop(ready[0])
            try:
                results[sid] = ray.get(ready[0])
            except Exception as exc:
                for ref in pending:
                    ray.cancel(ref)
                raise RuntimeError(f"step {sid} failed: {exc}") from exc
            run, trained, seconds = results[sid]
            log(f"[{len(results)}/{len(refs)}] {sid} {'done' if trained else 'loaded'} in {seconds:.0f} s")
        return _summary(graph, results, t0)
    finally:
        if started:
            ray.shutdown()


def slurm_minutes(step: Step, given: Optional[int] = None) -> int:
    """A step's Slurm time limit in minutes: `given`, else 1.5 x its estimate + 10 min (at least 15)."""
    if given:
        return int(given)
    return max(15, int(math.ceil(1.5 * step.seconds / 60)) + 10)


def _slurm_step_class():
    """`SlurmStep`, a `submitit.helpers.Checkpointable` that runs one step: on preemption or timeout submitit
    requeues it and the store resumes the run from its last checkpoint. Made on first use (submitit is an
    optional dependency) and registered as `wdsr_lib.study.executors.SlurmStep`, so it pickles by reference."""
    if "SlurmStep" not in globals():
        import submitit  # optional dependency (the cluster extra)

        class SlurmStep(submitit.helpers.Checkpointable):
            def __call__(self, kind, run, config, results_dir, session=None):
                return run_step(kind, run, config, results_dir, session=session)

        SlurmStep.__module__, SlurmStep.__qualname__ = __name__, "SlurmStep"
        globals()["SlurmStep"] = SlurmStep
    return globals()["SlurmStep"]


def run_submitit(graph: RunGraph, slurm_partition: Optional[str] = None, slurm_gpus: Optional[int] = None,
                 slurm_time: Optional[int] = None, slurm_folder: Optional[str | os.PathLike] = None,
                 submitit_executor=None, log: Callable[[str], None] = print, poll: float = 1.0) -> dict:
    """Run `graph` through submitit: on Slurm with `afterok` dependencies, or on any other submitit executor
    (`submitit_executor`) by submitting a step once its sources have finished. Waits for every step."""
    import submitit  # optional dependency (the cluster extra)

    t0 = time.time()
    if not graph.steps:
        return _summary(graph, {}, t0)
    folder = Path(slurm_folder or Path(graph.results_dir) / "slurm")
    ex = submitit_executor or submitit.SlurmExecutor(folder=str(folder / "%j"))
    on_slurm = isinstance(ex, submitit.SlurmExecutor)
    jobs: dict[str, object] = {}
    results: dict[str, tuple[str, bool, float]] = {}
    func = _slurm_step_class()()

    def submit(step: Step) -> None:
        params: dict = {}
        if on_slurm:
            params = {"job_name": step.id.replace(":", "-"), "cpus_per_task": step.threads,
                      "time": slurm_minutes(step, slurm_time), "additional_parameters": {}}
            if slurm_partition:
                params["partition"] = slurm_partition
            gpus = step.gpus if slurm_gpus is None else slurm_gpus
            if gpus:
                params["gpus_per_node"] = gpus
            if step.depends:
                params["additional_parameters"] = {
                    "dependency": "afterok:" + ":".join(str(jobs[d].job_id) for d in step.depends),
                    "kill_on_invalid_dep": "yes"}
        else:
            params = {"timeout_min": slurm_minutes(step, slurm_time)}
        ex.update_parameters(**params)
        jobs[step.id] = ex.submit(func, step.kind, step.run, step.config, graph.results_dir,
                                  os.environ.get("WDSR_SESSION"))
        log(f"submitted {step.id} as job {jobs[step.id].job_id}"
            + (f" after {', '.join(step.depends)}" if step.depends else ""))

    waiting = list(graph.steps)
    while waiting or len(results) < len(jobs):
        for step in list(waiting):
            if on_slurm or all(d in results for d in step.depends):
                submit(step)
                waiting.remove(step)
        for sid, job in jobs.items():
            if sid not in results and job.done():
                try:
                    results[sid] = job.result()
                except Exception as exc:
                    for other, j in jobs.items():
                        if other not in results and other != sid:
                            j.cancel(check=False)
                    raise RuntimeError(f"step {sid} (job {job.job_id}) failed: {exc}") from exc
                log(f"[{len(results)}/{len(graph.steps)}] {sid} finished (job {job.job_id})")
        if waiting or len(results) < len(jobs):
            time.sleep(poll)
    return _summary(graph, results, t0)


def __getattr__(name: str):  # unpickling a SlurmStep in a job imports this module afresh
    if name == "SlurmStep":
        return _slurm_step_class()
    raise AttributeError(name)
