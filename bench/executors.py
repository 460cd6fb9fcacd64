"""Executors by name: where a sweep's runs execute (local processes, a Ray cluster, Slurm jobs).

Every executor runs one task with ``sweep.run_task`` (one spec in, its row out) and keeps the
same contract as ``sweep.LocalProcessExecutor``: it yields ``(task, row)`` as runs finish; a run
that fails inside the runner returns its own failed/diverged row; a worker that dies without a
row (killed, out of memory, node lost, time limit) becomes a ``failed`` row written by the sweep
process with ``sweep.crash_row``; when the caller stops iterating (Ctrl-C, ``kill``), runs still
going are cancelled and leave no row (their last checkpoint stays, and the next sweep resumes).
Resume is by spec hash as for local runs: ``run_sweep`` skips tasks whose run directory holds a
finished row, so the results folder must be one folder that every node sees (a shared file
system); each run writes its own ``row.json`` atomically and refreshes ``results.jsonl`` under
a file lock, so rows from many nodes merge without loss or duplication. A row also comes back
to the sweep process, which writes it there if the worker's file system was another one.

- ``local``: ``LocalProcessExecutor`` (``workers`` processes, ``cpus_per_job`` torch threads each).
- ``ray``: one Ray task per run, in a fresh worker process (``max_calls=1``), with
  ``cpus_per_job`` CPUs and ``gpus_per_job`` GPUs; ``address`` names a running cluster
  (``"auto"``, ``"ray://head:10001"``; without it ``$RAY_ADDRESS``, else a local Ray runtime).
  Needs ``pip install ray``.
- ``slurm``: one Slurm job per run through submitit, submitted as one job array (at most
  ``workers`` running at once), each with ``gpus_per_job`` GPUs, ``cpus_per_job`` CPUs,
  ``timeout_min`` minutes, ``partition``, ``mem_gb`` and any ``slurm_additional_parameters``
  (sbatch options such as ``account``, ``qos``, ``constraint``). A job that reaches its time limit
  or is preempted is requeued (up to 3 times, submitit's default) and continues from the run's
  last checkpoint (set ``checkpoint_every``). ``cluster = "local"`` runs the same jobs with
  submitit's local executor (every job at once, ``workers`` ignored): to try a file on one
  machine. Job logs go to ``folder`` (default ``<runs folder>/.submitit/<job id>/``). Needs
  ``pip install submitit``.

The ``[executor]`` table of a sweep file holds these keys (``ExecutorConfig``); ``name`` picks
the default executor and ``genbench sweep --executor NAME`` overrides it, so one file can carry
the settings of several (each executor reads its own keys; ``--workers`` and ``--threads``
override ``workers`` and ``cpus_per_job``).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from genbench.bench import results
from genbench.bench.registry import Registry
from genbench.bench.sweep import Executor, LocalProcessExecutor, SweepError, SweepTask, crash_row, run_task

SUBMITIT_FOLDER = ".submitit"


# -- configuration ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecutorConfig:
    """The ``[executor]`` table of a sweep file (every key optional; unknown keys are errors)."""

    name: str = "local"  # local | ray | slurm
    workers: int | None = None  # runs at once (local: processes, default 1; ray/slurm: default no cap)
    cpus_per_job: int | None = None  # CPUs and torch threads per run (local default: cores / workers; else 1)
    gpus_per_job: int = 0  # ray, slurm
    address: str | None = None  # ray: a running cluster
    partition: str | None = None  # slurm
    timeout_min: int | None = None  # slurm: time limit per job, required
    mem_gb: float | None = None  # slurm
    slurm_additional_parameters: dict[str, Any] = field(default_factory=dict)  # slurm: sbatch options
    cluster: str = "slurm"  # slurm: "slurm", or "local" (submitit's local executor)
    folder: str | None = None  # slurm: submitit's job folder (default <runs folder>/.submitit/%j)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "sweep") -> "ExecutorConfig":
        """Validate an ``[executor]`` table; the error names the key and what it should be."""
        if not isinstance(table, Mapping):
            raise SweepError(f"{where}: [executor] must be a table, got {table!r}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise SweepError(f"{where}: unknown [executor] key(s) {unknown}; known: {known}")
        for key, value in table.items():
            _check_value(key, value, where)
        return cls(**{**table, "slurm_additional_parameters": dict(table.get("slurm_additional_parameters", {}))})

    def override(self, name: str | None = None, workers: int | None = None,
                 threads: int | None = None) -> "ExecutorConfig":
        """The command line's --executor, --workers and --threads, where given, over the file's."""
        changes = {k: v for k, v in (("name", name), ("workers", workers), ("cpus_per_job", threads)) if v is not None}
        for key, value in changes.items():
            _check_value(key, value, "the command line")
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (lambda v: isinstance(v, str) and v in EXECUTORS.names(), "one of {executors}"),
    "workers": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "cpus_per_job": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "gpus_per_job": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "address": (lambda v: isinstance(v, str) and bool(v), "a Ray address such as \"auto\" or \"ray://head:10001\""),
    "partition": (lambda v: isinstance(v, str) and bool(v), "a Slurm partition name"),
    "timeout_min": (lambda v: _is_int(v) and v >= 1, "an integer number of minutes >= 1"),
    "mem_gb": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a number of GB > 0"),
    "slurm_additional_parameters": (
        lambda v: isinstance(v, Mapping) and all(isinstance(x, (str, int, float, bool)) for x in v.values()),
        "a table of sbatch options (e.g. {account = \"lab\", qos = \"normal\"})",
    ),
    "cluster": (lambda v: v in ("slurm", "local"),
                "\"slurm\" or \"local\" (submitit's local executor, for trying a file)"),
    "folder": (lambda v: isinstance(v, str) and bool(v), "a folder path"),
}


def _check_value(key: str, value: Any, where: str) -> None:
    ok, what = _CHECKS[key]
    if not ok(value):
        what = what.replace("{executors}", ", ".join(EXECUTORS.names()))
        raise SweepError(f"{where}: [executor] {key} must be {what}, got {value!r}")


# -- shared helpers -----------------------------------------------------------------------------------
def _require(module: str, executor: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SweepError(f"the {executor} executor needs the '{module}' package, which is not installed: "
                         f"pip install 'genbench[{executor}]' (or pip install {module})") from None


def _check_devices(tasks: Sequence[SweepTask], gpus_per_job: int, executor: str) -> None:
    """A run on 'cuda' needs a GPU per job and a run given a GPU should use it: say which to change."""
    for task in tasks:
        on_gpu = task.spec.device.startswith("cuda")
        if on_gpu and gpus_per_job == 0:
            raise SweepError(f"run {task.label!r} uses device {task.spec.device!r} but the {executor} executor gives "
                             "its jobs no GPU: set gpus_per_job in [executor]")
        if on_gpu and gpus_per_job < task.spec.world_size:
            raise SweepError(f"run {task.label!r} trains on {task.spec.world_size} data-parallel ranks, one GPU each, "
                             f"but the {executor} executor gives its jobs {gpus_per_job}: set gpus_per_job = "
                             f"{task.spec.world_size} in [executor]")
        if not on_gpu and gpus_per_job > 0:
            raise SweepError(f"the {executor} executor gives each job {gpus_per_job} GPU(s) but run {task.label!r} "
                             f"uses device {task.spec.device!r}: set device = \"cuda\" in the sweep file, "
                             "or gpus_per_job = 0")


def _extend_path(paths: Iterable[str]) -> None:
    """Append the sweep process's import paths (user model modules) that exist on this node."""
    for p in paths:
        if p not in sys.path and (p == "" or os.path.isdir(p)):
            sys.path.append(p)


def _genbench_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("GENBENCH_")}


def land_row(task: SweepTask, row: dict[str, Any]) -> None:
    """Write a row that came back from another node into the sweep's runs folder if it is not there.

    On a shared file system the worker already wrote it (same ``created_at``): nothing happens.
    """
    run_dir = Path(task.out_dir) / task.spec.run_name
    here = results.read_row(run_dir)
    if here is None or here.get("created_at") != row.get("created_at"):
        results.write_row(run_dir, row)


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _log_tail(path: Path, n: int = 3) -> str:
    """'; last lines of PATH: a | b | c' (Slurm writes its out-of-memory and time-limit notes there)."""
    path = Path(path)
    if not path.exists():
        return f"; no log at {path}"
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return f"; last lines of {path}: " + _short(" | ".join(lines[-n:])) if lines else f"; {path} is empty"


def _last_traceback_line(message: str) -> str | None:
    """'ValueError: ...' from submitit's FailedJobError text, whose traceback sits between two dashed
    lines (before the paths of the job's logs)."""
    parts = re.split(r"(?m)^-{10,}$", message)
    trace = parts[1] if len(parts) >= 3 else message
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def row_seconds(row: Mapping[str, Any]) -> tuple[float, float]:
    """(training seconds, evaluation seconds) of a row: ``wall_seconds``; ``metric_seconds`` plus
    interval evaluations (``interval_eval.seconds``). Start-up and queueing are in neither."""
    train = float(row.get("wall_seconds") or 0.0)
    evaluation = float(row.get("metric_seconds") or 0.0) + float((row.get("interval_eval") or {}).get("seconds") or 0.0)
    return train, evaluation


def compute_hours(rows: Iterable[Mapping[str, Any]], gpus_per_job: int = 0) -> dict[str, float]:
    """Hours the rows' runs took: training, evaluation, their sum, and GPU-hours (sum x gpus_per_job)."""
    train = evaluation = 0.0
    for row in rows:
        t, e = row_seconds(row)
        train, evaluation = train + t, evaluation + e
    hours = (train + evaluation) / 3600
    return {"train_h": train / 3600, "eval_h": evaluation / 3600, "run_h": hours, "gpu_h": hours * gpus_per_job}


# -- Ray -------------------------------------------------------------------------------------------------
def _ray_entry(task: SweepTask, threads: int, env: dict[str, str], path: list[str]) -> dict[str, Any]:
    """A Ray worker's side of one run (a fresh process: ``max_calls=1``)."""
    os.environ.update(env)
    _extend_path(path)
    return run_task(task, threads)


class RayExecutor(Executor):
    """One Ray task per run (``max_calls=1``: a fresh worker process each, like the local executor).

    address: a running cluster; None connects to ``$RAY_ADDRESS`` if set, else starts a local Ray
    runtime (shut down when the sweep ends). A Ray runtime already initialised in this process
    (``ray.init`` before the sweep) is used as it is. workers: runs in flight at once (None: all,
    Ray schedules them by resources). threads: CPUs and torch threads per run.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1,
                 gpus_per_job: int = 0) -> None:
        _require("ray", "ray")
        self.address, self.workers, self.threads, self.gpus_per_job = address, workers, threads, gpus_per_job
        self.summary = (f"ray{' at ' + address if address else ''}: {workers or 'all'} runs at once, "
                        f"{threads} CPU(s) + {gpus_per_job} GPU(s) each")

    def _error(self, exc: BaseException) -> str:
        import ray

        if isinstance(exc, ray.exceptions.RayTaskError):  # the run raised outside runner.run's own handling
            cause = exc.cause if exc.cause is not None else exc
            return f"{type(cause).__name__}: {cause}"
        return f"ray worker ended before returning a row ({type(exc).__name__}): {_short(exc)}"

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
        import ray

        _check_devices(tasks, self.gpus_per_job, "ray")
        if not tasks:  # every run already finished: no Ray runtime to start
            return
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, log_to_driver=False)
        remote = ray.remote(num_cpus=self.threads, num_gpus=self.gpus_per_job, max_calls=1, max_retries=0)(_ray_entry)
        env, path = _genbench_env(), list(sys.path)
        pending = list(tasks)
        running: dict[Any, SweepTask] = {}
        try:
            while pending or running:
                while pending and (self.workers is None or len(running) < self.workers):
                    task = pending.pop(0)
                    running[remote.options(name=task.spec.run_name).remote(task, self.threads, env, path)] = task
                (ref,), _ = ray.wait(list(running), num_returns=1)
                task = running.pop(ref)
                try:
                    row = ray.get(ref)
                    land_row(task, row)
                except ray.exceptions.RayError as exc:
                    row = crash_row(task, self._error(exc))
                yield task, row
        finally:
            for ref in running:  # interrupted: stop the runs still going (they write no row)
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


# -- Slurm (submitit) ------------------------------------------------------------------------------------
class SlurmRun:
    """What a Slurm job runs: one task. submitit requeues a job that reaches its time limit or is
    preempted when its function has ``checkpoint`` (duck-typed, as submitit.helpers.Checkpointable);
    the requeued job runs the same task, and the runner continues from the run's last checkpoint."""

    def __init__(self, threads: int, path: list[str]) -> None:
        self.threads, self.path = threads, path

    def __call__(self, task: SweepTask) -> dict[str, Any]:
        _extend_path(self.path)
        return run_task(task, self.threads)

    def checkpoint(self, task: SweepTask) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, task)


class SlurmExecutor(Executor):
    """One Slurm job per run through submitit, submitted as one job array.

    folder: submitit's job folder (pickled jobs, logs; on the shared file system), "%j" is the
    job id. cluster: "slurm", or "local" for submitit's local executor. poll_s: seconds between
    checks of the job states (default 1 local, 15 on Slurm).
    """

    name = "slurm"

    def __init__(self, folder: Path | str, *, timeout_min: int, partition: str | None = None,
                 gpus_per_job: int = 0, threads: int = 1, mem_gb: float | None = None,
                 additional: Mapping[str, Any] | None = None, workers: int | None = None,
                 cluster: str = "slurm", poll_s: float | None = None) -> None:
        submitit = _require("submitit", "slurm")
        self.workers, self.threads, self.gpus_per_job, self.cluster = workers, threads, gpus_per_job, cluster
        self.poll_s = poll_s if poll_s is not None else (1.0 if cluster == "local" else 15.0)
        try:
            self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        except RuntimeError as exc:  # no srun on this machine
            raise SweepError(f"submitit cannot submit Slurm jobs from this machine ({exc}): run the sweep on a node "
                             "of the cluster (a login node), or set cluster = \"local\" in [executor] to run the "
                             "same jobs here with submitit's local executor") from None
        params: dict[str, Any] = {
            "name": "genbench", "timeout_min": timeout_min, "nodes": 1, "tasks_per_node": 1,
            "cpus_per_task": threads, "gpus_per_node": gpus_per_job, "mem_gb": mem_gb,
            "slurm_partition": partition, "slurm_array_parallelism": workers,
            "slurm_additional_parameters": dict(additional or {}) or None,
        }
        try:
            self.executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        except (NameError, ValueError, TypeError) as exc:
            raise SweepError(f"submitit refused the slurm settings: {exc}") from None
        where = f"partition {partition}" if partition else "the default partition"
        self.summary = (f"slurm{' (submitit local)' if cluster == 'local' else ''} on {where}: "
                        f"{workers or 'all'} jobs at once, {threads} CPU(s) + {gpus_per_job} GPU(s), "
                        f"{timeout_min} min each")

    def _outcome(self, task: SweepTask, job: Any) -> dict[str, Any]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            row = job.result()
            land_row(task, row)
            return row
        except FailedJobError as exc:  # the job's Python raised: the last line of its traceback says what
            error = _last_traceback_line(str(exc)) or f"slurm job {job.job_id} failed; log: {job.paths.stderr}"
        except UncompletedJobError:  # killed, out of memory, out of time and requeues, cancelled
            error = (f"slurm job {job.job_id} ended before returning a row (state {job.state})"
                     f"{_log_tail(job.paths.stderr)}")
        return crash_row(task, error)

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
        _check_devices(tasks, self.gpus_per_job, "slurm")
        if not tasks:
            return
        fn = SlurmRun(self.threads, list(sys.path))
        with self.executor.batch():  # one sbatch: a job array
            submitted = [self.executor.submit(fn, task) for task in tasks]
        if self.cluster == "local":  # a job that died leaves no result: no slow shared file system to wait for
            for job in submitted:
                job._results_timeout_s = 0  # submitit's wait for the result file (15 s; private)
        running = dict(zip((job.job_id for job in submitted), zip(tasks, submitted)))
        try:
            while running:
                for job_id, (task, job) in list(running.items()):
                    if job.done():
                        del running[job_id]
                        yield task, self._outcome(task, job)
                if running:
                    time.sleep(self.poll_s)
        finally:
            for _, job in running.values():  # interrupted: cancel the jobs still queued or running
                job.cancel(check=False)


# -- the registry ----------------------------------------------------------------------------------------
EXECUTORS: Registry[Callable[[ExecutorConfig, str], Executor]] = Registry("executor")


@EXECUTORS.register("local")
def _make_local(config: ExecutorConfig, out_dir: str) -> Executor:
    return LocalProcessExecutor(config.workers or 1, config.cpus_per_job)


@EXECUTORS.register("ray")
def _make_ray(config: ExecutorConfig, out_dir: str) -> Executor:
    return RayExecutor(config.address, config.workers, config.cpus_per_job or 1, config.gpus_per_job)


@EXECUTORS.register("slurm")
def _make_slurm(config: ExecutorConfig, out_dir: str) -> Executor:
    if config.timeout_min is None:
        raise SweepError("the slurm executor needs timeout_min (minutes per job) in the sweep file's [executor] "
                         "table, e.g. timeout_min = 240; for a suite, write a file with suite = \"standard\" and an "
                         "[executor] table (see examples/sweeps/cluster.toml)")
    folder = config.folder or str(Path(out_dir) / SUBMITIT_FOLDER / "%j")
    return SlurmExecutor(folder, timeout_min=config.timeout_min, partition=config.partition,
                         gpus_per_job=config.gpus_per_job, threads=config.cpus_per_job or 1, mem_gb=config.mem_gb,
                         additional=config.slurm_additional_parameters, workers=config.workers, cluster=config.cluster)


def make_executor(config: ExecutorConfig | None, out_dir: Path | str, *, name: str | None = None,
                  workers: int | None = None, threads: int | None = None) -> Executor:
    """The executor that ``config`` (a sweep file's [executor], or None) names, with the command
    line's --executor/--workers/--threads where given; ``out_dir`` is the sweep's runs folder."""
    config = (config or ExecutorConfig()).override(name, workers, threads)
    return EXECUTORS.get(config.name)(config, str(out_dir))
