"""End-to-end: run -> row -> report, through the Python API and the CLI; bad input writes nothing."""

from __future__ import annotations

import json

from pathlib import Path

import pytest

from genbench.bench.cli import main
from genbench.bench.datasets import DatasetError
from genbench.bench.registry import RegistryError
from genbench.bench.results import ROW_KEYS, read_jsonl
from genbench.bench.runner import real_data_row, run
from genbench.bench.spec import Budget, EvalProtocol, RunSpec, SpecError

PROTO = EvalProtocol(n_fake=200)


@pytest.fixture(scope="module")
def dcgan_row(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    spec = RunSpec("dcgan", "mnist", Budget(max_steps=3), overrides={"batch_size": 16}, protocol=PROTO)
    return out, spec, run(spec, out)


def test_row_has_every_field(dcgan_row):
    out, spec, row = dcgan_row
    assert set(ROW_KEYS) <= set(row)
    assert row["status"] == "ok" and row["stopped_by"] == "steps" and row["steps"] == 3
    assert row["spec_hash"] == spec.hash and row["split"] == "test" and row["n_fake"] == 200
    assert row["n_real"] == 500 and row["extractor"] == "mnist-lenet" and len(row["extractor_sha256"]) == 64
    for name in ("fd_mnist", "is_mnist", "precision_mnist", "recall_mnist"):
        assert name in row["metrics"], name
    assert row["higher_is_better"]["fd_mnist"] is False and row["higher_is_better"]["is_mnist"] is True
    assert row["metric_seconds"] > 0 and row["train_img_per_s"] is None or row["train_img_per_s"] >= 0
    assert row["command"].startswith("genbench run --baseline dcgan --dataset mnist --steps 3")
    assert (out / spec.run_name / "row.json").exists() and (out / spec.run_name / "samples.png").exists()


def test_finished_run_is_reused(dcgan_row):
    out, spec, row = dcgan_row
    assert run(spec, out) == row


def test_row_and_checkpoint_of_other_data_are_not_reused(dcgan_row, tmp_path):
    """data_root is a path, not in the spec hash: a finished row made from other data (another
    sha256) is not returned, and a checkpoint trained on other data is refused, saying why."""
    import shutil

    import torch

    from genbench.bench.checkpoint import CHECKPOINT_FILE
    from genbench.bench.results import write_row

    out, spec, row = dcgan_row
    copy = tmp_path / "runs"
    shutil.copytree(out / spec.run_name, copy / spec.run_name)
    write_row(copy / spec.run_name, {**row, "data": {**row["data"], "sha256": "0" * 64}})
    ckpt = copy / spec.run_name / CHECKPOINT_FILE
    state = torch.load(ckpt, weights_only=True)
    assert state["data_sha256"] == row["data"]["sha256"]
    torch.save({**state, "data_sha256": "0" * 64}, ckpt)
    again = run(spec, copy)
    assert again["status"] == "failed" and "trained on other data" in again["error"]


def test_real_data_row_of_other_data_is_remade(tmp_path):
    """The real-data reference row is reused only when it was made from the data now loaded."""
    from genbench.bench.results import write_row

    first = real_data_row("mnist", PROTO, tmp_path)
    assert real_data_row("mnist", PROTO, tmp_path) == first
    write_row(Path(first["run_dir"]), {**first, "data": {**first["data"], "sha256": "0" * 64}, "metrics": {}})
    again = real_data_row("mnist", PROTO, tmp_path)
    assert again["data"]["sha256"] == first["data"]["sha256"] and again["metrics"] == first["metrics"]


def test_real_data_row_beats_untrained(tmp_path):
    real = real_data_row("mnist", PROTO, tmp_path)
    untrained = run(RunSpec("dcgan", "mnist", Budget(max_steps=0), protocol=PROTO), tmp_path, label="untrained")
    assert real["kind"] == "reference" and real["label"] == "real data"
    assert real["metrics"]["fd_mnist"] < 0.1 * untrained["metrics"]["fd_mnist"]
    assert untrained["steps"] == 0 and untrained["stopped_by"] == "steps"


@pytest.mark.parametrize(
    "spec, error",
    [
        (RunSpec("no-such-model", "mnist", Budget(max_steps=1)), RegistryError),
        (RunSpec("dcgan", "no-such-data", Budget(max_steps=1)), RegistryError),
        (RunSpec("dcgan", "mnist", Budget(max_steps=1), overrides={"lrr": 1}), SpecError),
        (RunSpec("dcgan", "mnist", Budget(max_steps=1), overrides={"lr": "fast"}), SpecError),
        (RunSpec("dcgan", "mnist", Budget(max_steps=1), overrides={"batch_size": 100000}), SpecError),
        (RunSpec("dcgan", "cifar10", Budget(max_steps=1)), DatasetError),
        (RunSpec("dcgan", "mnist", Budget(max_steps=1), device="cuda:7"), SpecError),
        (RunSpec("dcgan", "mnist", Budget(max_steps=1), protocol=EvalProtocol(extractor="nope")), RegistryError),
    ],
)
def test_bad_input_raises_and_writes_nothing(spec, error, tmp_path):
    out = tmp_path / "runs"
    with pytest.raises(error):
        run(spec, out)
    assert not out.exists()


def test_cli_list_json(capsys):
    assert main(["list", "baselines", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"dcgan", "vae"} <= names
    for what in ("datasets", "extractors", "metrics", "suites"):
        assert main(["list", what]) == 0
    assert "mnist" in capsys.readouterr().out


def call(argv):
    """main()'s exit code, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--baseline", "dcgan", "--dataset", "mnist"], "at least one limit"),
        (["run", "--baseline", "gann", "--dataset", "mnist", "--steps", "1"], "unknown baseline 'gann'; known:"),
        (["run", "--baseline", "dcgan", "--dataset", "mnist", "--steps", "1", "--set", "lr"], "key=value"),
        (["run", "--baseline", "dcgan", "--dataset", "mnist", "--steps", "-1"], "expected an integer >= 0"),
    ],
)
def test_cli_bad_input_exit_2(argv, message, tmp_path, capsys):
    out = tmp_path / "runs"
    assert call(argv + ["--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_run_then_report(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["run", "--baseline", "vae", "--dataset", "mnist", "--steps", "2", "--set", "batch_size=16",
            "--n-fake", "200", "--seed", "3", "--eval-seed", "4", "--out", str(out), "--json"]
    assert main(argv) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["seed"] == 3 and row["eval_seed"] == 4 and row["hparams"]["batch_size"] == 16
    assert "elbo" in row["metrics"] and row["higher_is_better"]["elbo"] is True
    board = tmp_path / "board"
    assert main(["report", str(out), "--out", str(board)]) == 0
    text = (board / "README.md").read_text()
    assert "vae" in text and "fd_mnist" in text
    assert len(read_jsonl(board / "results.jsonl")) == 1


def test_real_data_rows_of_mode_datasets(tmp_path):
    ring = real_data_row("ring8", EvalProtocol(n_fake=2000), tmp_path)
    assert ring["metrics"]["modes_covered"] == 8 and ring["metrics"]["high_quality"] > 0.98
    assert ring["higher_is_better"]["reverse_kl"] is False and ring["extractor"] is None
    stacked = real_data_row("stacked-mnist", EvalProtocol(n_fake=2000), tmp_path)
    # 2,000 real stacked digits cover most of the 1000 modes (expected ~865 for uniform draws)
    assert 700 <= stacked["metrics"]["modes_covered"] <= 1000
    assert stacked["metrics"]["reverse_kl"] < 0.5 and "fd_mnist" not in stacked["metrics"]
