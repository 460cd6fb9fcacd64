"""Sweep executors on a cluster engine: Ray (a local Ray runtime) and Slurm through submitit (its local
executor; sbatch scripts rendered by submitit itself), the [executor] table, and rows from several
"nodes" writing one results folder at once.

The runs use test_sweep's doubles (``test_sweep:Fine`` learns nothing; ``Raises`` raises in training;
``Dies`` SIGKILLs its own process), imported in the workers from the sweep's sys.path.
Ray and submitit tests skip when the package is absent (pip install 'genbench[ray]' / 'genbench[slurm]').
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genbench.bench.executors import (
    EXECUTORS, ExecutorConfig, RayExecutor, SlurmExecutor, SlurmRun, compute_hours, land_row, make_executor,
)
from genbench.bench.results import RESULTS_FILE, ROW_KEYS, collect_rows, read_jsonl, read_row, row_key
from genbench.bench.sweep import (
    LocalProcessExecutor, SweepError, finished_row, grid_sweep, load_sweep, run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_SUBMITIT = importlib.util.find_spec("submitit") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'genbench[ray]')")
needs_submitit = pytest.mark.skipif(not HAS_SUBMITIT,
                                    reason="submitit is not installed (pip install 'genbench[slurm]')")


def _grid(tmp_path, baselines, **extra):
    return {
        "baselines": baselines, "datasets": ["mnist"], "budgets": [{"max_steps": 2}],
        "protocol": {"n_fake": 100}, "overrides": {"log": str(tmp_path / "builds.log")}, **extra,
    }


def _builds(tmp_path) -> list[str]:
    path = tmp_path / "builds.log"
    return path.read_text().splitlines() if path.exists() else []


# -- the [executor] table and the factory -----------------------------------------------------------------
@pytest.mark.parametrize("table, message", [
    ({"name": "kubernetes"}, r"name must be one of local, ray, slurm"),
    ({"nodes": 2}, r"unknown \[executor\] key\(s\) \['nodes'\]"),
    ({"gpus_per_job": -1}, r"gpus_per_job must be an integer >= 0"),
    ({"workers": True}, r"workers must be an integer >= 1"),
    ({"timeout_min": 0}, r"timeout_min must be an integer number of minutes >= 1"),
    ({"slurm_additional_parameters": {"account": [1]}}, r"a table of sbatch options"),
    ({"cluster": "pbs"}, r"cluster must be \"slurm\" or \"local\""),
])
def test_bad_executor_tables_are_refused_clearly(table, message, tmp_path):
    with pytest.raises(SweepError, match=message):
        grid_sweep(_grid(tmp_path, ["dcgan"], executor=table), tmp_path, where="my.toml")


def test_command_line_overrides_the_file_and_local_is_the_default(tmp_path):
    sweep = grid_sweep(_grid(tmp_path, ["dcgan"], executor={"name": "ray", "workers": 3, "cpus_per_job": 2}), tmp_path)
    assert sweep.executor == ExecutorConfig(name="ray", workers=3, cpus_per_job=2)
    local = make_executor(sweep.executor, tmp_path, name="local", workers=1, threads=1)
    assert isinstance(local, LocalProcessExecutor) and (local.workers, local.threads) == (1, 1)
    assert isinstance(make_executor(None, tmp_path), LocalProcessExecutor)
    assert set(EXECUTORS.names()) == {"local", "ray", "slurm"}
    with pytest.raises(SweepError, match="the command line: .*name must be one of"):
        make_executor(None, tmp_path, name="pbs")
    with pytest.raises(SweepError, match="the slurm executor needs timeout_min"):
        make_executor(None, tmp_path, name="slurm")


@pytest.mark.parametrize("name, module", [("ray", "ray"), ("slurm", "submitit")])
def test_a_missing_package_says_what_to_install(name, module, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if absent
    with pytest.raises(SweepError, match=rf"needs the '{module}' package.*pip install 'genbench\[{name}\]'"):
        make_executor(ExecutorConfig(timeout_min=5), tmp_path, name=name)


def test_cli_picks_the_executor(tmp_path, capsys):
    from genbench.bench.cli import main

    toml = tmp_path / "s.toml"
    toml.write_text('baselines = ["dcgan"]\ndatasets = ["mnist"]\nbudgets = [{max_steps = 1}]\n'
                    '[executor]\nname = "ray"\n')
    assert main(["sweep", str(toml), "--out", str(tmp_path), "--executor", "slurm"]) == 2
    assert "the slurm executor needs timeout_min" in capsys.readouterr().err
    assert main(["sweep", str(toml), "--out", str(tmp_path), "--executor", "pbs"]) == 2
    assert "name must be one of local, ray, slurm, got 'pbs'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*/row.json"))  # nothing ran


def test_a_file_can_name_a_suite_with_cluster_settings(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('suite = "quick"\ncheckpoint_every = 50\n[executor]\nname = "ray"\ngpus_per_job = 1\n')
    sweep, quick = load_sweep(str(toml), tmp_path / "runs"), load_sweep("quick", tmp_path / "runs")
    assert sweep.name == "quick" and sweep.suite is quick.suite and sweep.executor.gpus_per_job == 1
    assert [t.spec for t in sweep.tasks] == [t.spec.replace(checkpoint_every=50) for t in quick.tasks]
    assert [(t.label, t.kind) for t in sweep.tasks] == [(t.label, t.kind) for t in quick.tasks]
    with pytest.raises(SweepError, match=r"with suite = \.\.\., only .* \['seeds'\] belong to a grid"):
        grid_sweep({"suite": "quick", "seeds": [0, 1]}, tmp_path)
    with pytest.raises(SweepError, match="suite must be one of"):
        grid_sweep({"suite": "nightly"}, tmp_path)



def test_sweeps_set_the_data_parallel_ranks_of_their_runs(tmp_path):
    """world_size in a grid or a suite file; a GPU job needs one GPU per rank."""
    from genbench.bench.executors import _check_devices

    grid = grid_sweep(_grid(tmp_path, ["dcgan", "vae"], world_size=2), tmp_path)
    assert [t.spec.world_size for t in grid.tasks] == [2, 2]
    suite = grid_sweep({"suite": "quick", "world_size": 2, "device": "cuda"}, tmp_path)
    quick = load_sweep("quick", tmp_path)
    assert [t.spec for t in suite.tasks] == [t.spec.replace(world_size=2, device="cuda") for t in quick.tasks]
    with pytest.raises(SweepError, match="world_size must be an integer >= 1"):
        grid_sweep(_grid(tmp_path, ["dcgan"], world_size=0), tmp_path, where="my.toml")
    on_gpu = grid_sweep(_grid(tmp_path, ["dcgan"], world_size=4, device="cuda"), tmp_path).tasks
    with pytest.raises(SweepError, match="trains on 4 data-parallel ranks, one GPU each, but the slurm executor "
                                         "gives its jobs 1: set gpus_per_job = 4"):
        _check_devices(on_gpu, 1, "slurm")
    _check_devices(on_gpu, 4, "slurm")


def test_a_local_sweep_runs_a_data_parallel_run(tmp_path):
    """A worker of the local executor launches the run's 2 gloo ranks itself; one row, world size 2."""
    data = {"baselines": ["vae"], "datasets": ["mnist"], "budgets": [{"max_steps": 5}], "world_size": 2,
            "protocol": {"n_fake": 100}, "overrides": {"batch_size": 8}}
    result = run_sweep(grid_sweep(data, tmp_path), LocalProcessExecutor(workers=1, threads=1), progress=False,
                       log=lambda s: None)
    (row,) = result.rows
    assert row["status"] == "ok", row.get("error")
    assert row["world_size"] == 2 and row["train_img_per_s_per_rank"] is not None

@needs_submitit
def test_slurm_settings_reach_the_sbatch_script(tmp_path, monkeypatch):
    """submitit renders the job script; a stand-in `srun` on PATH lets it believe it is on a cluster."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    with pytest.raises(SweepError, match="cannot submit Slurm jobs from this machine"):
        make_executor(load_sweep(str(ROOT / "examples" / "sweeps" / "cluster.toml"), tmp_path).executor, tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    sweep = load_sweep(str(ROOT / "examples" / "sweeps" / "cluster.toml"), tmp_path)
    ex = make_executor(sweep.executor, tmp_path, threads=4)
    assert isinstance(ex, SlurmExecutor)
    script = ex.executor._executor._make_submission_file_text("python -m job", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=4", "--time=240", "--mem=32GB",
                 "--account=my-lab", "--nodes=1", "--ntasks-per-node=1", f"--output={tmp_path}/.submitit/%j/"):
        assert f"#SBATCH {line}" in script, line
    with pytest.raises(SweepError, match=r"gives each job 1 GPU\(s\) but run .* uses device 'cpu'"):
        next(ex.run(grid_sweep(_grid(tmp_path, ["dcgan"]), tmp_path).tasks))


@needs_submitit
def test_a_timed_out_slurm_job_is_requeued_with_the_same_run(tmp_path):
    """What submitit does on a time limit or preemption (core.utils.DelayedSubmission._checkpoint_function):
    the job's function says what to resubmit; SlurmRun resubmits itself with the same task."""
    from submitit.core.utils import DelayedSubmission

    task = grid_sweep(_grid(tmp_path, ["test_sweep:Fine"]), tmp_path).tasks[0]
    fn = SlurmRun(2, ["/some/path"])
    again = DelayedSubmission(fn, task)._checkpoint_function()
    assert isinstance(again, DelayedSubmission) and again.function is fn and again.args == (task,)


def test_gpu_hours_are_the_rows_seconds(tmp_path):
    rows = read_jsonl(ROOT / "reports" / "leaderboards" / "quick" / RESULTS_FILE)
    train = sum(r["wall_seconds"] or 0 for r in rows)
    evaluation = sum((r["metric_seconds"] or 0) + ((r.get("interval_eval") or {}).get("seconds") or 0) for r in rows)
    h = compute_hours(rows, gpus_per_job=2)
    assert train > 0 and h["train_h"] == pytest.approx(train / 3600) and h["eval_h"] == pytest.approx(evaluation / 3600)
    assert h["gpu_h"] == pytest.approx(2 * (train + evaluation) / 3600)
    assert compute_hours(rows)["gpu_h"] == 0 and compute_hours([])["run_h"] == 0


def test_a_row_from_another_file_system_lands_once(tmp_path):
    sweep = grid_sweep(_grid(tmp_path, ["dcgan"]), tmp_path / "runs")
    task = sweep.tasks[0]
    row = {"spec_hash": task.spec.hash, "label": task.label, "created_at": "2026-01-01T00:00:00"}
    row.update({k: None for k in ROW_KEYS if k not in row})
    land_row(task, row)
    path = tmp_path / "runs" / task.spec.run_name / "row.json"
    assert read_row(path.parent) == row
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    land_row(task, dict(row))  # already there (a shared file system): not rewritten
    assert path.stat().st_mtime_ns == before


# -- real sweeps on Ray and on submitit ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_runtime():
    """One local Ray runtime for the module (2 CPUs)."""
    ray = pytest.importorskip("ray")
    old = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
    else:
        os.environ["RAY_USAGE_STATS_ENABLED"] = old


def _executor(kind, tmp_path, request):
    """A Ray executor on the module's runtime, or submitit's local executor (with a Slurm-only option)."""
    if kind == "ray":
        request.getfixturevalue("ray_runtime")
        return RayExecutor(workers=None, threads=1)
    pytest.importorskip("submitit")
    return make_executor(ExecutorConfig(name="slurm", cluster="local", timeout_min=10, cpus_per_job=1,
                                        slurm_additional_parameters={"account": "ignored-locally"}),
                         tmp_path / "runs")


@pytest.mark.parametrize("kind", [pytest.param("ray", marks=needs_ray),
                                  pytest.param("submitit-local", marks=needs_submitit)])
def test_cluster_sweep_isolates_failures_and_resumes_by_spec_hash(kind, tmp_path, request):
    """Fine and Dies (its process SIGKILLed, as by the OOM killer) at once: Fine's row is ok, Dies' a
    failed row that says its worker died; rerunning skips Fine (built once) and retries Dies (on
    submitit; on Ray the rows are checked to be what the rerun would skip and retry)."""
    names = ["test_sweep:Fine", "test_sweep:Dies"]
    sweep = grid_sweep(_grid(tmp_path, names), tmp_path / "runs")
    result = run_sweep(sweep, _executor(kind, tmp_path, request), progress=False, log=lambda s: None)
    by = {r["label"]: r for r in result.rows}
    assert result.counts == {"ok": 1, "failed": 1, "diverged": 0, "skipped": 0}
    assert by["test_sweep:Fine"]["status"] == "ok" and "fd_mnist" in by["test_sweep:Fine"]["metrics"]
    assert by["test_sweep:Fine"]["threads"] == 1
    dead = by["test_sweep:Dies"]
    assert dead["status"] == "failed" and dead["metrics"] in (None, {})
    died = (r"ray worker ended before returning a row \(WorkerCrashedError\)" if kind == "ray"
            else r"slurm job \S+ ended before returning a row \(state \w+\); (last lines of|no log at|.* is empty)")
    assert re.search(died, dead["error"]), dead["error"]
    on_disk = read_jsonl(tmp_path / "runs" / RESULTS_FILE)
    assert sorted((r["label"], r["status"]) for r in on_disk) == sorted((r["label"], r["status"]) for r in result.rows)
    assert len({row_key(r) for r in on_disk}) == len(on_disk) == 2
    assert [finished_row(t) is not None for t in sweep.tasks] == [True, False]  # what a rerun skips and retries
    if kind == "ray":  # the retry itself is the sweep's, not the executor's; a Ray rerun costs ~8 s more
        return
    again = run_sweep(sweep, _executor(kind, tmp_path, request), progress=False, log=lambda s: None)
    assert again.counts == {"ok": 0, "failed": 1, "diverged": 0, "skipped": 1}
    builds = _builds(tmp_path)  # one line per model built: 2, then Dies again (Fine is never rerun)
    assert len(builds) == 3 and len({b.split()[1] for b in builds}) == 3  # each run in a fresh process
    assert sorted(r["label"] for r in read_jsonl(tmp_path / "runs" / RESULTS_FILE)) == sorted(names)


@needs_submitit
def test_a_job_that_raises_becomes_a_row_with_its_exception(tmp_path):
    """A job whose Python raises outside the runner (e.g. an import that works here but not on the node):
    submitit's own FailedJobError, read back to the exception's line."""
    ex = _executor("submitit-local", tmp_path, None)
    job = ex.executor.submit(functools.partial(int, "not a number"))  # raises in the job, imports nothing
    task = grid_sweep(_grid(tmp_path, ["test_sweep:Fine"]), tmp_path / "runs").tasks[0]
    row = ex._outcome(task, job)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: invalid literal for int() with base 10: 'not a number'"
    assert read_row(tmp_path / "runs" / task.spec.run_name) == row


@needs_ray
def test_ray_errors_name_the_exception_or_the_death(ray_runtime):
    ex = RayExecutor()
    with pytest.raises(ray_runtime.exceptions.RayTaskError) as raised:
        ray_runtime.get(ray_runtime.remote(lambda: int("not a number")).remote())
    assert ex._error(raised.value) == "ValueError: invalid literal for int() with base 10: 'not a number'"
    crashed = ray_runtime.exceptions.WorkerCrashedError()
    assert ex._error(crashed).startswith("ray worker ended before returning a row (WorkerCrashedError): ")


# -- several nodes, one results folder ------------------------------------------------------------------------
NODE = r"""
import sys, time
from pathlib import Path
from genbench.bench import results

out, node, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
while not (out / "go").exists():
    time.sleep(0.005)
for i in range(n):
    key = f"shared-{i}" if i % 4 == 0 else f"n{node}-{i}"  # every 4th run is finished by every node
    row = {k: None for k in results.ROW_KEYS}
    row.update(spec_hash=key, label="x", status="ok", created_at=f"{time.time():.9f}", baseline=f"node{node}")
    results.write_row(out / f"run-{key}", row)
    results.refresh_results(out)
"""


def test_rows_from_several_nodes_merge_without_loss_or_duplication(tmp_path):
    """4 processes finish 25 runs each in one folder at once (7 of them the same runs on every node); a
    reader sees whole files only, never fewer rows than before; the last file holds every run once."""
    out, nodes, n = tmp_path / "runs", 4, 25  # 25: without the lock, a lost row shows in 5 runs of 5
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", NODE, str(out), str(k), str(n)], env=env) for k in range(nodes)]
    (out / "go").touch()
    seen = [0]
    while any(p.poll() is None for p in procs):
        if (out / RESULTS_FILE).exists():
            rows = read_jsonl(out / RESULTS_FILE)  # raises on a half-written line
            assert len(rows) >= seen[-1], "results.jsonl lost rows that an earlier version had"
            seen.append(len(rows))
    assert all(p.wait() == 0 for p in procs)
    final = read_jsonl(out / RESULTS_FILE)
    expected = {f"shared-{i}" for i in range(0, n, 4)} | {f"n{k}-{i}" for k in range(nodes) for i in range(n) if i % 4}
    assert sorted(r["spec_hash"] for r in final) == sorted(expected)  # each run once, none lost
    assert final == collect_rows(out)  # the shared runs keep the row their file holds (the newest writer's)
    assert len(seen) > 2  # the reader really overlapped the writers
