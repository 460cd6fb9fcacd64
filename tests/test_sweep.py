"""`genbench sweep`: grids from TOML, skipping finished runs, isolating failures, surviving a kill.

The baselines below are test doubles addressed by import path (``test_sweep:Fine``); the sweep's
worker processes import this file, as a user's own model module, from sys.path / PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genbench.baselines.base import Baseline
from genbench.bench.results import RESULTS_FILE, read_jsonl, read_row
from genbench.bench.spec import Budget, EvalProtocol, IntervalEval, RunSpec
from genbench.bench.sweep import (
    LocalProcessExecutor, SweepError, budget_text, grid_sweep, load_sweep, run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


class Fine(Baseline):
    """Learns nothing, samples noise; appends 'seed pid' to hp['log'] each time a run builds it.

    A run whose seed has a file ``<hp['gate']>.<seed>`` waits in its first step until the file goes.
    """

    defaults = {"batch_size": 8, "log": "", "gate": ""}
    paper = "test double"

    def build(self, hp, data, generator):
        self.n, self.seed = 0, generator.initial_seed()
        if hp["log"]:
            with open(hp["log"], "a") as f:
                f.write(f"{self.seed} {os.getpid()}\n")

    def train_step(self, batches):
        while self.hp["gate"] and Path(f"{self.hp['gate']}.{self.seed}").exists():
            time.sleep(0.05)
        self.n += 1
        return {"loss": self.loss()}

    def loss(self):
        return torch.tensor(0.0)

    def sample(self, n, generator, condition=None):
        return torch.randint(0, 256, (n, *self.data_info.shape), generator=generator, dtype=torch.uint8)

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = int(state["n"])


class Raises(Fine):
    def loss(self):
        raise RuntimeError("boom in train_step")


class Dies(Fine):
    """Its worker process is killed mid-training, as the kernel's OOM killer would."""

    def loss(self):
        os.kill(os.getpid(), signal.SIGKILL)


class Diverges(Fine):
    def loss(self):
        return torch.tensor(float("nan"))


def _grid(tmp_path, **extra):
    return {
        "baselines": ["test_sweep:Fine"], "datasets": ["mnist"], "budgets": [{"max_steps": 3}],
        "protocol": {"n_fake": 100}, "overrides": {"log": str(tmp_path / "builds.log")}, **extra,
    }


def _builds(tmp_path) -> list[int]:
    path = tmp_path / "builds.log"
    return [int(line.split()[0]) for line in path.read_text().splitlines()] if path.exists() else []


# -- definitions ------------------------------------------------------------------------------------
def test_grid_is_the_product_with_its_settings(tmp_path):
    sweep = grid_sweep({
        "baselines": ["dcgan", "vae"], "datasets": ["mnist"], "seeds": [0, 1], "eval_seed": "seed",
        "budgets": [{"max_steps": 10}, {"max_kimg": 2.5}], "protocol": {"n_fake": 300},
        "overrides": {"batch_size": 16}, "baseline_overrides": {"dcgan": {"ngf": 8}},
        "interval_eval": {"every": 5, "select": "best"},
    }, tmp_path, default_name="g")
    specs = [t.spec for t in sweep.tasks]
    assert sweep.name == "g" and len(specs) == 8 and len({s.hash for s in specs}) == 8
    assert all(s.eval_seed == s.seed and s.protocol == EvalProtocol(n_fake=300) for s in specs)
    assert all(s.interval_eval == IntervalEval(every=5, select="best") for s in specs)
    assert {s.hparams.get("ngf") for s in specs if s.baseline == "dcgan"} == {8}
    assert all("ngf" not in s.hparams and s.hparams["batch_size"] == 16 for s in specs if s.baseline == "vae")
    assert {t.label for t in sweep.tasks} == {"dcgan (10 steps)", "dcgan (2.5 kimg)", "vae (10 steps)", "vae (2.5 kimg)"}
    assert budget_text(Budget(max_steps=5, max_wall_seconds=90)) == "5 steps / 1.5 min"


@pytest.mark.parametrize("change, message", [
    ({"baseline": ["dcgan"]}, "unknown key"),
    ({"baselines": []}, "'baselines' must be a non-empty list"),
    ({"seeds": [0, 0]}, "repeats a value"),
    ({"budgets": [{"max_epochs": 3}]}, "unknown budget key"),
    ({"eval_seed": "same"}, "eval_seed must be an integer or"),
    ({"baseline_overrides": {"vae": {"lr": 1.0}}}, "not in baselines"),
    ({"interval_eval": {"every": 2, "select": "best", "split": "test"}}, "the split the row reports"),
])
def test_bad_definitions_are_refused_clearly(change, message, tmp_path):
    data = {"baselines": ["dcgan"], "datasets": ["mnist"], "budgets": [{"max_steps": 1}], **change}
    with pytest.raises(SweepError, match=message):
        grid_sweep(data, tmp_path, where="my.toml")


def test_sources_suites_files_and_yaml(tmp_path):
    assert {t.label for t in load_sweep("quick", tmp_path).tasks} >= {"dcgan", "untrained (dcgan)"}
    with pytest.raises(SweepError, match="neither a suite"):
        load_sweep("no-such-suite", tmp_path)
    with pytest.raises(SweepError, match="PyYAML"):
        load_sweep("grid.yaml", tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("baselines = [dcgan\n")
    with pytest.raises(SweepError, match="not valid TOML"):
        load_sweep(str(bad), tmp_path)
    with pytest.raises(SweepError, match=r"run 'nope'.*nope"):
        run_sweep(grid_sweep({"baselines": ["nope"], "datasets": ["mnist"], "budgets": [{"max_steps": 1}]}, tmp_path))
    assert not (tmp_path / RESULTS_FILE).exists()  # bad input: nothing ran, nothing written


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_example_sweeps_load(path, tmp_path):
    sweep = load_sweep(str(path), tmp_path)
    assert sweep.tasks and len({t.spec.hash for t in sweep.tasks}) == len(sweep.tasks)


def test_executor_refuses_more_workers_than_cores():
    with pytest.raises(SweepError, match="exceeds the .* usable CPU cores"):
        LocalProcessExecutor(workers=10_000)


# -- running ----------------------------------------------------------------------------------------
def test_failures_are_rows_and_the_other_runs_finish(tmp_path):
    names = ["test_sweep:Fine", "test_sweep:Raises", "test_sweep:Dies", "test_sweep:Diverges"]
    sweep = grid_sweep(_grid(tmp_path, baselines=names), tmp_path / "runs")
    result = run_sweep(sweep, LocalProcessExecutor(workers=2, threads=1), progress=False, log=lambda s: None)
    by = {r["label"]: r for r in result.rows}
    assert result.counts == {"ok": 1, "failed": 2, "diverged": 1, "skipped": 0}
    assert by["test_sweep:Fine"]["status"] == "ok" and "fd_mnist" in by["test_sweep:Fine"]["metrics"]
    assert by["test_sweep:Raises"]["error"] == "RuntimeError: boom in train_step"
    assert "worker process killed by signal SIGKILL" in by["test_sweep:Dies"]["error"]
    assert by["test_sweep:Diverges"]["status"] == "diverged" and "non-finite loss" in by["test_sweep:Diverges"]["error"]
    on_disk = read_jsonl(tmp_path / "runs" / RESULTS_FILE)
    assert sorted((r["label"], r["status"]) for r in on_disk) == sorted((r["label"], r["status"]) for r in result.rows)
    assert all(r["threads"] == 1 for r in on_disk if r["status"] in ("ok", "diverged"))  # set in the worker
    # again: ok and diverged rows are final (skipped), failed runs are retried
    again = run_sweep(sweep, LocalProcessExecutor(workers=2, threads=1), progress=False, log=lambda s: None)
    assert again.counts == {"ok": 0, "failed": 2, "diverged": 0, "skipped": 2}


def _wait_for(predicate, what: str, timeout: float = 120.0):
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # exited; a zombie only waits for init to reap it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker states from /proc")
def test_killed_sweep_resumes_without_rerunning_finished_runs(tmp_path):
    """Seed 0 finishes, seed 1 blocks on its gate; SIGKILL the sweep process. Its worker exits with
    it; results.jsonl holds seed 0; the rerun skips seed 0 and runs seed 1 only."""
    gate = tmp_path / "gate"
    (tmp_path / "gate.1").touch()
    toml = tmp_path / "sweep.toml"
    toml.write_text(
        f'baselines = ["test_sweep:Fine"]\ndatasets = ["mnist"]\nseeds = [0, 1]\nbudgets = [{{max_steps = 3}}]\n'
        f'[protocol]\nn_fake = 100\n[overrides]\nlog = "{tmp_path / "builds.log"}"\ngate = "{gate}"\n'
    )
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "genbench.bench.cli", "sweep", str(toml), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: len(_builds(tmp_path)) == 2 or proc.poll() is not None, "seed 1 to start")
        assert proc.poll() is None, proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    worker_pid = int((tmp_path / "builds.log").read_text().splitlines()[1].split()[1])
    _wait_for(lambda: _gone(worker_pid), "the orphaned worker to exit", timeout=30)
    sweep = load_sweep(str(toml), out)
    first, second = (out / t.spec.run_name for t in sweep.tasks)
    assert read_row(first)["status"] == "ok" and read_row(second) is None  # no half row
    assert [r["seed"] for r in read_jsonl(out / RESULTS_FILE)] == [0]
    finished_at = (first / "row.json").stat().st_mtime_ns
    (tmp_path / "gate.1").unlink()
    result = run_sweep(sweep, LocalProcessExecutor(workers=1, threads=1), progress=False, log=lambda s: None)
    assert result.counts == {"ok": 1, "failed": 0, "diverged": 0, "skipped": 1}
    assert _builds(tmp_path) == [0, 1, 1]  # seed 0 was built once: never rerun
    assert (first / "row.json").stat().st_mtime_ns == finished_at
    assert sorted(r["seed"] for r in read_jsonl(out / RESULTS_FILE)) == [0, 1]


class _Records:
    """An executor that runs nothing: it records the tasks it is given and returns a row for each."""

    workers = threads = 1

    def __init__(self):
        self.tasks = []

    def run(self, tasks):
        for t in tasks:
            self.tasks.append(t)
            yield t, {"label": t.label, "spec_hash": t.spec.hash, "status": "ok", "seed": t.spec.seed}


def test_finished_rows_made_from_other_data_are_run_again(tmp_path, capsys):
    """data_root is not in the spec hash: a finished row whose data.sha256 is not the loaded data's
    is not skipped (runner.run would refuse to reuse it too); one without a sha256 is taken as is."""
    from genbench.bench import results
    from genbench.bench.cli import main
    from genbench.bench.datasets import load_dataset
    from genbench.bench.sweep import finished_row

    toml = tmp_path / "sweep.toml"
    toml.write_text('baselines = ["test_sweep:Fine"]\ndatasets = ["mnist"]\nseeds = [0, 1, 2]\n'
                    'budgets = [{max_steps = 1}]\n[protocol]\nn_fake = 100\n')
    out = tmp_path / "runs"
    sweep = load_sweep(str(toml), out)
    current = load_dataset("mnist").info.sha256
    for task, data in zip(sweep.tasks, ({"sha256": "0" * 64, "name": "mnist"}, {"sha256": current, "name": "mnist"}, None)):
        row = {k: None for k in results.ROW_KEYS}
        row.update(status="ok", label=task.label, seed=task.spec.seed, spec_hash=task.spec.hash, data=data)
        results.write_row(out / task.spec.run_name, row)
    assert [finished_row(t) is not None for t in sweep.tasks] == [False, True, True]
    assert main(["sweep", str(toml), "--out", str(out), "--dry-run"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed[:3]] == ["to", "done", "done"] and "seed 0" in listed[0]
    assert listed[-1] == "3 runs, 2 already finished"
    executor = _Records()
    result = run_sweep(sweep, executor, progress=False, log=lambda s: None)
    assert [t.spec.seed for t in executor.tasks] == [0]
    assert result.counts["skipped"] == 2


def test_suite_sweep_scores_real_data_under_each_datasets_protocol(tmp_path, monkeypatch):
    """`genbench sweep standard`: each dataset's real-data row is scored under its runs' protocol
    (VGG for the style runs, not the suite's LeNet one), eval seed and data_root, as run_suite does."""
    from genbench.bench import runner
    from genbench.bench import sweep as sweep_mod
    from genbench.bench.suites import STYLE_PROTOCOL, SUITES

    toml = tmp_path / "standard.toml"
    toml.write_text(f'suite = "standard"\ndata_root = "{tmp_path / "data"}"\n')
    sweep = load_sweep(str(toml), tmp_path / "runs")
    calls = {}

    def real_data_row(dataset, protocol, out_dir, eval_seed=0, data_root=None, weights_path=None):
        calls[dataset] = (protocol, eval_seed, data_root)
        return {"label": "real data", "spec_hash": f"real-{dataset}", "kind": "reference", "status": "ok"}

    monkeypatch.setattr(sweep_mod, "validate", list)  # no spec is prepared: only the reference rows matter
    monkeypatch.setattr(runner, "real_data_row", real_data_row)
    executor = _Records()
    monkeypatch.setattr(executor, "run", lambda tasks: iter(()))
    run_sweep(sweep, executor, progress=False, log=lambda s: None)
    datasets = list(dict.fromkeys(t.spec.dataset for t in sweep.tasks))
    assert list(calls) == datasets and "skimage-style" in datasets
    assert calls["skimage-style"][0] == STYLE_PROTOCOL != SUITES.get("standard").protocol
    for dataset in datasets:
        first = next(t.spec for t in sweep.tasks if t.spec.dataset == dataset)
        assert {t.spec.protocol for t in sweep.tasks if t.spec.dataset == dataset} == {first.protocol}
        assert calls[dataset] == (first.protocol, first.eval_seed, str(tmp_path / "data"))
    assert calls["mnist"][0] == SUITES.get("standard").protocol


def test_cli_spec_json_reproduces_an_interval_eval_row(tmp_path, capsys):
    """A row's command for a spec `genbench run` cannot express is `genbench sweep --spec JSON`."""
    from genbench.bench.cli import main
    from genbench.bench.runner import spec_command

    spec = RunSpec("test_sweep:Fine", "mnist", Budget(max_steps=2), protocol=EvalProtocol(n_fake=100),
                   interval_eval=IntervalEval(every=1, n_fake=50))
    argv = shlex.split(spec_command(spec, tmp_path / "runs"))
    assert argv[:3] == ["genbench", "sweep", "--spec"] and argv[4:] == ["--out", str(tmp_path / "runs")]
    assert RunSpec.from_dict(json.loads(argv[3])) == spec
    assert main(argv[1:] + ["--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert f"to run          test_sweep:Fine | mnist | seed 0 | {tmp_path / 'runs' / spec.run_name}" in listed
    assert main(["sweep", "--spec", "{\"baseline\": 1}"]) == 2
    assert "--spec #1 is not a RunSpec" in capsys.readouterr().err
    assert main(["sweep"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "quick", "--workers", "0"])
    assert exc.value.code == 2 and "expected an integer >= 1" in capsys.readouterr().err
