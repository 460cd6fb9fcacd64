"""Sweeps: a grid of runs (baselines x datasets x seeds x budgets) in parallel worker processes.

A sweep comes from a named suite (``quick``, ``standard``) or a TOML file (format below and in
``examples/sweeps/``). Runs whose spec hash already has a finished row (``ok`` or ``diverged``:
both are what the spec deterministically gives) made from the same data (its ``data.sha256``:
``data_root`` is not in the hash) are skipped, so a sweep that was interrupted (Ctrl-C, a crash,
a killed job) is resumed by running it again; a ``failed`` run, or one made from other data, is
run again.
Each run is isolated in its own worker process: an exception, a divergence, or a worker that
dies (segfault, out of memory, ``kill``) becomes that run's row, and the sweep goes on.

Executors decide where runs execute. ``Executor.run(tasks)`` yields ``(task, row)`` as each run
finishes; every executor runs a task with ``run_task`` (one spec in, its result row out) and
turns a worker that died into a ``failed`` row with ``runner.write_failed_row``. The local one,
``LocalProcessExecutor``, starts a fresh process per run (forkserver where the platform has it,
else spawn) with ``threads`` torch threads each; ``bench/executors.py`` adds Ray and Slurm
(submitit) with the same interface, chosen by the file's ``[executor]`` table or
``genbench sweep --executor local|ray|slurm``.

TOML sweep file (every key but the first three is optional; unknown keys are errors)::

    baselines = ["dcgan", "lsgan"]          # registered names or pkg.module:Class
    datasets = ["mnist"]
    budgets = [{max_steps = 200}, {max_kimg = 5.0}]   # Budget fields
    name = "gans"                           # default: the file name without .toml
    seeds = [0, 1, 2]                       # default [0]
    eval_seed = "seed"                      # an integer (default 0) or "seed": same as the training seed
    device = "cpu"
    checkpoint_every = 0
    data_root = "/data"                     # on-disk datasets
    world_size = 1                          # data-parallel ranks per run (one GPU each with device = "cuda")
    [protocol]                              # EvalProtocol fields (n_fake, extractor, split, ...)
    [overrides]                             # hyperparameters of every run
    [baseline_overrides.dcgan]              # hyperparameters of one baseline's runs
    [interval_eval]                         # IntervalEval fields: every, n_fake, split, select, metric
    [perf]                                  # PerfOptions fields
    [executor]                              # where the runs execute (bench/executors.py, ExecutorConfig):
    name = "slurm"                          #   local (default) | ray | slurm; --executor overrides it
    workers = 8                             #   runs at once (local: processes; ray/slurm: default no cap)
    cpus_per_job = 4                        #   CPUs and torch threads per run
    gpus_per_job = 1                        #   ray, slurm (runs then need device = "cuda")
    address = "auto"                        #   ray: a running cluster (default $RAY_ADDRESS, else a local runtime)
    partition = "gpu"                       #   slurm
    timeout_min = 240                       #   slurm, required: a job past it is requeued from its checkpoint
    mem_gb = 32                             #   slurm
    cluster = "slurm"                       #   slurm: or "local" (submitit's local executor, to try a file)
    folder = "/shared/submitit/%j"          #   slurm: job logs (default <runs folder>/.submitit/%j)
    [executor.slurm_additional_parameters]  #   slurm: any sbatch option
    account = "my-lab"

A named suite on a cluster: a file with ``suite = "standard"`` (instead of the grid keys) and
only ``name``, ``device``, ``checkpoint_every``, ``data_root``, ``world_size`` and ``[executor]`` besides; its
runs are the suite's, with those settings (``device`` is in the spec hash, so GPU rows are new
runs). See examples/sweeps/cluster.toml and docs/cluster.md.

YAML files are refused: PyYAML is not a dependency (write the same keys in TOML).
"""

from __future__ import annotations

import abc
import faulthandler
import itertools
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import tomllib
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from genbench.bench import results, runner
from genbench.bench.datasets import DatasetError, load_dataset
from genbench.bench.spec import Budget, RunSpec, SpecError
from genbench.metrics.extractors import ExtractorError

DONE_STATUSES = ("ok", "diverged")  # a finished row of the same spec hash in one of these is not rerun
WORKER_LOG = "worker.log"
TOP_KEYS = (
    "name", "baselines", "datasets", "seeds", "budgets", "eval_seed", "device", "checkpoint_every",
    "data_root", "protocol", "overrides", "baseline_overrides", "interval_eval", "perf", "executor", "suite",
    "world_size",
)
SUITE_KEYS = ("suite", "name", "device", "checkpoint_every", "data_root", "world_size", "executor")  # names a suite


class SweepError(SpecError):
    """A sweep definition or its command line is unusable; the message says what to change."""


@dataclass(frozen=True)
class SweepTask:
    """One run of a sweep: the spec, where its run directory goes, and its leaderboard label."""

    spec: RunSpec
    out_dir: str
    label: str
    kind: str = "run"  # run | reference


@dataclass
class Sweep:
    """A named list of tasks; ``suite`` is set when it came from a named suite (real-data rows);
    ``executor``: the file's [executor] table (an ``executors.ExecutorConfig``), or None."""

    name: str
    tasks: list[SweepTask]
    suite: Any = None
    executor: Any = None


@dataclass
class SweepResult:
    rows: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)  # ok / failed / diverged / skipped


# -- loading a sweep --------------------------------------------------------------------------------
def load_sweep(source: str, out_dir: Path | str) -> Sweep:
    """A named suite, or a .toml sweep file; ``out_dir`` is where the runs go."""
    from genbench.bench.suites import SUITES

    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise SweepError(f"{source}: YAML sweep files need PyYAML, which genbench does not depend on; "
                         "write the same keys in a .toml file (see examples/sweeps/)")
    if path.suffix.lower() == ".toml" or path.is_file():
        if not path.is_file():
            raise SweepError(f"sweep file {source} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SweepError(f"{source} is not valid TOML: {exc}") from None
        return grid_sweep(data, out_dir, default_name=path.stem, where=str(source))
    if source in SUITES:
        suite = SUITES.get(source)
        tasks = [SweepTask(e.spec, str(out_dir), e.label, e.kind) for e in suite.entries()]
        return Sweep(source, tasks, suite)
    raise SweepError(f"{source!r} is neither a suite ({', '.join(SUITES.names())}) nor a .toml sweep file")


def _list(data: Mapping[str, Any], key: str, where: str, item: type | tuple[type, ...], default: Any = None) -> list:
    value = data.get(key, default)
    if value is None:
        raise SweepError(f"{where}: '{key}' is required (a non-empty list)")
    if not isinstance(value, list) or not value or not all(isinstance(v, item) and not isinstance(v, bool) for v in value):
        raise SweepError(f"{where}: '{key}' must be a non-empty list of {getattr(item, '__name__', item)}, got {value!r}")
    if len(set(map(repr, value))) != len(value):
        raise SweepError(f"{where}: '{key}' repeats a value: {value!r}")
    return value


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise SweepError(f"{where}: [{key}] must be a table, got {value!r}")
    return dict(value)


def budget_text(budget: Budget) -> str:
    """'200 steps', '5 kimg', '2 min', joined with ' / ' (for labels)."""
    parts = []
    if budget.max_steps is not None:
        parts.append(f"{budget.max_steps} steps")
    if budget.max_kimg is not None:
        parts.append(f"{budget.max_kimg:g} kimg")
    if budget.max_wall_seconds is not None:
        parts.append(f"{budget.max_wall_seconds / 60:g} min")
    return " / ".join(parts)


def grid_sweep(data: Mapping[str, Any], out_dir: Path | str, default_name: str = "sweep", where: str = "sweep") -> Sweep:
    """The tasks of a sweep definition (the TOML keys, as a dict): the product of its lists."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise SweepError(f"{where}: unknown key(s) {unknown}; known: {sorted(TOP_KEYS)}")
    executor = _executor_config(data, where)
    if "suite" in data:
        return _suite_sweep(data, out_dir, executor, where)
    baselines = _list(data, "baselines", where, str)
    datasets = _list(data, "datasets", where, str)
    seeds = _list(data, "seeds", where, int, default=[0])
    if any(s < 0 for s in seeds):
        raise SweepError(f"{where}: seeds must be integers >= 0, got {seeds}")
    raw_budgets = _list(data, "budgets", where, dict)
    eval_seed = data.get("eval_seed", 0)
    if eval_seed != "seed" and (isinstance(eval_seed, bool) or not isinstance(eval_seed, int)):
        raise SweepError(f"{where}: eval_seed must be an integer or \"seed\" (same as the training seed), got {eval_seed!r}")
    per_baseline = _table(data, "baseline_overrides", where)
    stray = sorted(set(per_baseline) - set(baselines))
    if stray:
        raise SweepError(f"{where}: [baseline_overrides] names {stray}, which are not in baselines {baselines}")
    try:
        budgets = [Budget.from_dict(b) for b in raw_budgets]
        common = {
            "protocol": _table(data, "protocol", where), "perf": _table(data, "perf", where),
            "device": data.get("device", "cpu"), "checkpoint_every": data.get("checkpoint_every", 0),
            "data_root": data.get("data_root"), "interval_eval": data.get("interval_eval"),
            "world_size": data.get("world_size", 1),
        }
        overrides = _table(data, "overrides", where)
        tasks = []
        for baseline, dataset, seed, budget in itertools.product(baselines, datasets, seeds, budgets):
            hp = {**overrides, **_table(per_baseline, baseline, where)}
            spec = RunSpec(baseline, dataset, budget, seed=seed, eval_seed=seed if eval_seed == "seed" else eval_seed,
                           overrides=hp, **common)
            label = baseline if len(budgets) == 1 else f"{baseline} ({budget_text(budget)})"
            tasks.append(SweepTask(spec, str(out_dir), label))
    except SpecError as exc:
        raise SweepError(f"{where}: {exc}") from None
    return Sweep(_name(data, default_name, where), tasks, executor=executor)


def _name(data: Mapping[str, Any], default: str, where: str) -> str:
    name = data.get("name", default)
    if not isinstance(name, str) or not name:
        raise SweepError(f"{where}: name must be a non-empty string, got {name!r}")
    return name


def _executor_config(data: Mapping[str, Any], where: str) -> Any:
    if "executor" not in data:
        return None
    from genbench.bench.executors import ExecutorConfig

    return ExecutorConfig.from_table(data["executor"], where)


def _suite_sweep(data: Mapping[str, Any], out_dir: Path | str, executor: Any, where: str) -> Sweep:
    """A file that names a suite: the suite's runs with the file's device / checkpoint_every / data_root /
    world_size."""
    from genbench.bench.suites import SUITES

    extra = sorted(set(data) - set(SUITE_KEYS))
    if extra:
        raise SweepError(f"{where}: with suite = ..., only {list(SUITE_KEYS)} are allowed; {extra} belong to a grid "
                         "(drop 'suite' to define one)")
    if not isinstance(data["suite"], str) or data["suite"] not in SUITES.names():
        raise SweepError(f"{where}: suite must be one of {SUITES.names()}, got {data['suite']!r}")
    suite = SUITES.get(data["suite"])
    changes = {k: data[k] for k in ("device", "checkpoint_every", "data_root", "world_size") if k in data}
    try:
        tasks = [SweepTask(e.spec.replace(**changes), str(out_dir), e.label, e.kind) for e in suite.entries()]
    except SpecError as exc:
        raise SweepError(f"{where}: {exc}") from None
    return Sweep(_name(data, suite.name, where), tasks, suite, executor)


def validate(tasks: Sequence[SweepTask]) -> list[SweepTask]:
    """Check every spec as ``genbench run`` would (before anything runs); drop repeated specs."""
    seen: dict[str, SweepTask] = {}
    for task in tasks:
        old = seen.get(task.spec.hash)
        if old is not None:
            if old.label != task.label:
                raise SweepError(f"the same run ({task.spec.run_name}) appears as {old.label!r} and {task.label!r}")
            continue
        try:
            runner.prepare(task.spec)
        except (ValueError, LookupError, DatasetError, ExtractorError) as exc:
            why = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc  # KeyError quotes its text
            where = f"{task.spec.baseline} on {task.spec.dataset}, seed {task.spec.seed}"
            raise SweepError(f"run {task.label!r} ({where}): {why}") from None
        seen[task.spec.hash] = task
    return list(seen.values())


def finished_row(task: SweepTask, data_sha256: dict[tuple[str, str | None], str] | None = None) -> dict[str, Any] | None:
    """The finished row (``DONE_STATUSES``, same label) of ``task`` if its run directory has one
    made from the data the task loads now.

    As in ``runner.run``: ``data_root`` is a path, not in the spec hash, so a row whose
    ``data.sha256`` differs from the loaded dataset's was made from other data and is not reused
    (the task runs again); rows without the data's sha256 are taken as they are. The dataset is
    loaded only when there is such a row to check. ``data_sha256`` caches the loaded datasets'
    digests by (dataset, data_root) across calls.
    """
    row = results.read_row(Path(task.out_dir) / task.spec.run_name)
    if row is None or row.get("status") not in DONE_STATUSES or row.get("label") != task.label:
        return None
    made_from = runner.made_from(row)
    if made_from is None:
        return row
    cache = {} if data_sha256 is None else data_sha256
    key = (task.spec.dataset, task.spec.data_root)
    if key not in cache:
        cache[key] = load_dataset(*key).info.sha256
    return row if made_from == cache[key] else None


# -- running one task (in a worker) -----------------------------------------------------------------
def run_task(task: SweepTask, threads: int | None = None) -> dict[str, Any]:
    """Run one task in this process and return its row (what every executor's worker calls).

    threads: torch intra-op threads for this run (None: leave as is).
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return runner.run(task.spec, task.out_dir, label=task.label, kind=task.kind, progress=False)


def crash_row(task: SweepTask, error: str) -> dict[str, Any]:
    """The 'failed' row of a task whose worker died; written to its run directory."""
    return runner.write_failed_row(task.spec, task.out_dir, error, label=task.label, kind=task.kind)


# -- executors --------------------------------------------------------------------------------------
class Executor(abc.ABC):
    """Where a sweep's runs execute.

    ``run(tasks)`` yields ``(task, row)`` once per task, in the order runs finish. A run that
    fails inside ``runner.run`` returns its own failed/diverged row; a worker that dies without a
    row must yield ``crash_row(task, why)``. When the caller stops iterating (Ctrl-C), the
    generator's cleanup stops the workers still running; their runs leave no row (their last
    checkpoint stays and the next sweep resumes it).
    """

    @abc.abstractmethod
    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
        ...


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """Torch threads per worker: the cores (or $OMP_NUM_THREADS, when smaller) shared out, at least 1."""
    budget = usable_cores()
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        budget = min(budget, int(env))
    return max(1, budget // workers)


def _exit_when_parent_dies(alive: Connection) -> None:
    """Block until the sweep process closes its end (it exited, was killed, or stopped us): exit."""
    try:
        alive.poll(None)
    except (OSError, EOFError):
        pass
    os._exit(70)


def _worker_main(task: SweepTask, threads: int, env: dict[str, str], path: list[str],
                 result: Connection, alive: Connection) -> None:
    """Entry point of a local worker process: run the task, send back ("row", row) or ("error", text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the sweep decides
    os.environ.clear()
    os.environ.update(env)  # the forkserver started with an older environment and sys.path
    sys.path[:] = path
    threading.Thread(target=_exit_when_parent_dies, args=(alive,), daemon=True).start()
    run_dir = Path(task.out_dir) / task.spec.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / WORKER_LOG, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.enable(log)  # a segfault's traceback lands in the log too
    try:
        message = ("row", run_task(task, threads))
    except Exception as exc:  # noqa: BLE001 - e.g. a spec that fails prepare(); the parent writes the row
        import traceback

        traceback.print_exc()
        message = ("error", f"{type(exc).__name__}: {exc}")
    result.send(message)
    result.close()


# Imported once by the forkserver, so that each worker starts warm: genbench (torch, the baselines,
# the metrics) and torch._dynamo, which the first torch.optim optimizer imports (seconds).
PRELOAD = [__name__, "torch._dynamo"]


def _start_method() -> str:
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


@dataclass
class _Job:
    task: SweepTask
    process: Any
    result: Connection
    alive: Connection


class LocalProcessExecutor(Executor):
    """A fresh process per run, at most ``workers`` at a time, ``threads`` torch threads each.

    Processes come from a forkserver that has imported genbench and torch once (spawn where
    there is no forkserver), so they share no state with the sweep or each other, and a run that
    kills its process takes nothing else with it. A worker whose sweep process dies exits too.
    """

    def __init__(self, workers: int = 1, threads: int | None = None, start_method: str | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise SweepError(f"workers must be an integer >= 1, got {workers!r}")
        cores = usable_cores()
        if workers > cores:
            raise SweepError(f"--workers {workers} exceeds the {cores} usable CPU cores; use at most {cores}")
        self.workers = workers
        self.threads = default_threads(workers) if threads is None else threads
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise SweepError(f"threads per worker must be an integer >= 1, got {threads!r}")
        self.context = mp.get_context(start_method or _start_method())
        if self.context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            self.context.set_forkserver_preload(PRELOAD)
            forkserver.ensure_running()  # its imports overlap with the sweep's validation

    def _start(self, task: SweepTask) -> _Job:
        result_r, result_w = self.context.Pipe(duplex=False)
        alive_r, alive_w = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_main, name=f"genbench-sweep {task.spec.run_name}",
            args=(task, self.threads, dict(os.environ), list(sys.path), result_w, alive_r),
        )
        process.start()
        result_w.close()  # the worker holds the only write end: EOF when it dies
        alive_r.close()
        return _Job(task, process, result_r, alive_w)

    def _collect(self, job: _Job) -> dict[str, Any]:
        try:
            kind, payload = job.result.recv()
        except (EOFError, OSError, pickle.UnpicklingError):  # died before or while sending
            kind, payload = None, None
        job.process.join()
        job.result.close()
        job.alive.close()
        if kind == "row":
            return payload
        return crash_row(job.task, payload if kind == "error" else _death_message(job))

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
        pending = deque(tasks)
        running: dict[Connection, _Job] = {}
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    job = self._start(pending.popleft())
                    running[job.result] = job
                for conn in wait(list(running)):
                    job = running.pop(conn)
                    yield job.task, self._collect(job)
        finally:
            for job in running.values():  # interrupted: stop the runs still going (they write no row)
                job.process.terminate()
            for job in running.values():
                job.process.join()
                job.result.close()
                job.alive.close()


def _death_message(job: _Job) -> str:
    code = job.process.exitcode
    if code is not None and code < 0:
        try:
            why = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            why = f"killed by signal {-code}"
    else:
        why = f"exited with code {code}"
    log = Path(job.task.out_dir) / job.task.spec.run_name / WORKER_LOG
    tail = ""
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = f"; last lines of {log}: " + " | ".join(lines[-3:]) if lines else f"; {log} is empty"
    return f"worker process {why} before returning a row{tail}"


# -- the sweep ---------------------------------------------------------------------------------------
def _headline(row: dict[str, Any]) -> str:
    metrics = row.get("metrics") or {}
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:3] if isinstance(v, (int, float)))


def run_sweep(
    sweep: Sweep, executor: Executor | None = None, *, progress: bool | None = None,
    log: Callable[[str], Any] = print,
) -> SweepResult:
    """Run every task of ``sweep`` not already finished; returns every task's row.

    Every spec is validated first (bad input raises ``SweepError``, nothing runs). On Ctrl-C
    (KeyboardInterrupt) the workers are stopped, ``results.jsonl`` is merged from the rows on
    disk, and the exception propagates: rerun the same sweep to resume. As with any spawn or
    forkserver pool, a script that calls this needs the ``if __name__ == "__main__":`` guard
    (workers import the main module).
    """
    from tqdm import tqdm

    tasks = validate(sweep.tasks)
    if not tasks:
        raise SweepError(f"sweep {sweep.name!r} has no runs")
    out_dirs = sorted({t.out_dir for t in tasks})
    executor = executor or LocalProcessExecutor(1)
    rows: list[dict[str, Any]] = []
    if sweep.suite is not None:  # a suite's 'real data' reference rows: cheap, scored here
        from genbench.bench.suites import real_data_row, reference_specs

        for spec in reference_specs(t.spec for t in tasks).values():  # each under its dataset's runs' protocol
            rows.append(real_data_row(spec, out_dirs[0]))
    counts = {"ok": 0, "failed": 0, "diverged": 0, "skipped": 0}
    todo = []
    data_sha256: dict[tuple[str, str | None], str] = {}
    for task in tasks:
        done = finished_row(task, data_sha256)
        if done is None:
            todo.append(task)
        else:
            rows.append(done)
            counts["skipped"] += 1
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(tasks), initial=counts["skipped"], unit="run", desc=sweep.name, disable=not show,
               dynamic_ncols=True)
    say = tqdm.write if show else log
    where = getattr(executor, "summary", None) or (
        f"{getattr(executor, 'workers', '?')} workers x {getattr(executor, 'threads', '?')} threads")
    say(f"[{sweep.name}] {len(tasks)} runs: {counts['skipped']} already finished, {len(todo)} to run ({where})")
    try:
        for i, (task, row) in enumerate(executor.run(todo), 1):
            status = row.get("status", "failed")
            counts[status] = counts.get(status, 0) + 1
            rows.append(row)
            bar.update(1)
            bar.set_postfix({k: v for k, v in counts.items() if v}, refresh=False)
            detail = _headline(row) if status == "ok" else row.get("error")
            say(f"[{sweep.name}] {i}/{len(todo)} {status}: {task.label} on {task.spec.dataset} s{task.spec.seed} "
                f"({row.get('wall_seconds') or 0:.1f}s) {detail or ''}".rstrip())
    finally:
        bar.close()
        for out in out_dirs:  # whatever happened, results.jsonl is the merge of every row on disk
            results.refresh_results(Path(out))
    return SweepResult(results.merge_rows(rows), counts)
