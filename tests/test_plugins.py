"""Researchers' own models: by import path (examples/plugin) and by entry point."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from genbench.baselines import BASELINES, resolve_baseline
from genbench.baselines import plugins
from genbench.bench.runner import run
from genbench.bench.spec import Budget, EvalProtocol, RunSpec, SpecError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin"
PROTOCOL = EvalProtocol(n_fake=200)


@pytest.fixture
def example_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield "mygan.model:TinyGAN"


@pytest.fixture
def clean_plugins():
    plugins.unload_entry_points()
    yield
    plugins.unload_entry_points()


def fake_entry_points(monkeypatch, eps: list[tuple[str, str, object]]) -> None:
    """Make importlib.metadata report ``eps`` (name, value, loaded object) in our group."""
    objs = [SimpleNamespace(name=n, value=v, dist=SimpleNamespace(name="fakepkg"), load=(lambda o=o: o)) for n, v, o in eps]

    def entry_points(group=None, **kw):
        assert group == plugins.GROUP
        return objs

    monkeypatch.setattr(plugins.metadata, "entry_points", entry_points)


def test_example_runs_by_import_path_and_makes_a_row(example_on_path, tmp_path):
    spec = RunSpec(example_on_path, "mnist", Budget(max_steps=20), seed=0, overrides={"batch_size": 32}, protocol=PROTOCOL)
    row = run(spec, tmp_path, label="tinygan", progress=False)
    assert row["status"] == "ok", row.get("error")
    assert row["baseline"] == example_on_path and row["label"] == "tinygan"
    assert row["steps"] == 20 and row["kimg"] == pytest.approx(20 * 32 / 1000)
    assert row["n_fake"] == 200 and "fd_mnist" in row["metrics"]
    assert torch.isfinite(torch.tensor(row["metrics"]["fd_mnist"]))
    run_dir = Path(row["run_dir"])
    assert (run_dir / "row.json").exists() and (run_dir / "samples.png").exists()
    assert run_dir.name.startswith("mygan.model-TinyGAN-mnist-s0-")


def test_entry_point_registers_and_resolves(example_on_path, monkeypatch, clean_plugins):
    from mygan.model import TinyGAN

    fake_entry_points(monkeypatch, [("tinygan", "mygan.model:TinyGAN", TinyGAN)])
    assert "tinygan" not in BASELINES
    assert resolve_baseline("tinygan") is TinyGAN
    assert "tinygan" in BASELINES
    assert resolve_baseline("tinygan") is TinyGAN  # a second lookup does not re-register


def test_entry_point_reusing_a_builtin_name_is_refused(example_on_path, monkeypatch, clean_plugins):
    from mygan.model import TinyGAN

    fake_entry_points(monkeypatch, [("dcgan", "mygan.model:TinyGAN", TinyGAN)])
    with pytest.raises(SpecError, match="reuses the name of the built-in baseline 'dcgan'"):
        plugins.load_entry_points()
    assert BASELINES.get("dcgan") is not TinyGAN


def test_entry_point_declared_twice_is_refused(example_on_path, monkeypatch, clean_plugins):
    from mygan.model import TinyGAN

    fake_entry_points(monkeypatch, [("tinygan", "a:TinyGAN", TinyGAN), ("tinygan", "b:TinyGAN", TinyGAN)])
    with pytest.raises(SpecError, match="two installed packages declare the baseline 'tinygan'"):
        resolve_baseline("tinygan")


def test_entry_point_that_fails_to_import_names_it(monkeypatch, clean_plugins):
    def boom():
        raise ImportError("no module named 'nowhere'")

    ep = SimpleNamespace(name="broken", value="nowhere:X", dist=None, load=boom)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group=None: [ep])
    with pytest.raises(SpecError, match="cannot load entry point broken = 'nowhere:X'.*no module named"):
        resolve_baseline("broken")
    assert resolve_baseline("dcgan") is BASELINES.get("dcgan")  # built-ins never read plugins


def _without_sample(base: type) -> type:
    """A copy of ``base`` whose class dict has no ``sample``: the one from Baseline is abstract."""
    ns = {k: v for k, v in vars(base).items() if k not in ("sample", "__dict__", "__weakref__")}
    return type("NoSampleGAN", base.__bases__, ns)


def test_class_missing_sample_is_named(example_on_path, monkeypatch, clean_plugins):
    from mygan.model import TinyGAN

    broken = _without_sample(TinyGAN)
    monkeypatch.setattr("mygan.model.NoSampleGAN", broken, raising=False)
    with pytest.raises(SpecError, match=r"missing \['sample'\]"):
        resolve_baseline("mygan.model:NoSampleGAN")
    fake_entry_points(monkeypatch, [("nosample", "mygan.model:NoSampleGAN", broken)])
    with pytest.raises(SpecError, match=r"entry point nosample .*missing \['sample'\]"):
        resolve_baseline("nosample")
    assert "nosample" not in BASELINES


def test_plain_class_missing_methods_lists_them(monkeypatch):
    class NotABaseline:
        defaults = {"batch_size": 8}

        def build(self, hp, data, generator): ...

    monkeypatch.setattr("genbench.baselines.plugins.NotABaseline", NotABaseline, raising=False)
    with pytest.raises(SpecError, match=r"missing \['load_state_dict', 'sample', 'state_dict', 'train_step'\]"):
        resolve_baseline("genbench.baselines.plugins:NotABaseline")
