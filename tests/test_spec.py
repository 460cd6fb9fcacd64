import pytest

from genbench.bench import registry as reg
from genbench.bench.spec import Budget, EvalProtocol, RunSpec, SpecError, parse_override


def test_budget_needs_a_limit():
    with pytest.raises(SpecError, match="at least one limit"):
        Budget()


@pytest.mark.parametrize("kw", [{"max_steps": -1}, {"max_steps": 1.5}, {"max_kimg": float("nan")}, {"max_wall_seconds": -2}])
def test_budget_rejects_bad_values(kw):
    with pytest.raises(SpecError):
        Budget(**kw)


def test_budget_first_limit_wins():
    b = Budget(max_steps=10, max_kimg=1.0, max_wall_seconds=60)
    assert b.reached(5, 0.5, 1.0) is None
    assert b.reached(10, 0.5, 1.0) == "steps"
    assert b.reached(3, 1.0, 1.0) == "kimg"
    assert b.reached(3, 0.1, 61.0) == "wall"


def _spec(**kw):
    return RunSpec("dcgan", "mnist", Budget(max_steps=5), **kw)


def test_hash_is_stable_and_content_based():
    a, b = _spec(seed=1), _spec(seed=1)
    assert a.hash == b.hash and len(a.hash) == 16
    assert _spec(seed=2).hash != a.hash
    assert _spec(overrides={"lr": 1e-4}).hash != a.hash
    assert _spec(protocol=EvalProtocol(n_fake=100)).hash != a.hash
    # paths and checkpoint cadence do not change numbers, so they are not hashed
    assert _spec(data_root="/x", checkpoint_every=3).hash == _spec().hash


def test_hash_includes_versions(monkeypatch):
    import genbench.bench.spec as spec_mod

    h = _spec().hash
    monkeypatch.setattr(spec_mod, "PROTOCOL_VERSION", 999)
    assert _spec().hash != h
    monkeypatch.undo()
    monkeypatch.setattr(spec_mod, "__version__", "9.9.9")
    assert _spec().hash != h


def test_hash_follows_the_code_that_makes_the_numbers(monkeypatch, tmp_path):
    """Editing a family's defaults or train_step (any number-making file of genbench) changes every
    hash, so a finished row is never reused for new code; front ends and READMEs do not count."""
    import genbench.bench.fingerprint as F
    import genbench.bench.spec as spec_mod

    h = _spec().hash
    names = [p.relative_to(F.PACKAGE_ROOT).as_posix() for p in F._files(F.NUMBER_DIRS)]
    assert "baselines/dcgan.py" in names and "metrics/frechet.py" in names and "bench/data/mnist5000.npz" in names
    assert "bench/cli.py" in names and not F._is_number_file("bench/cli.py")  # found, then left out
    assert not F._is_number_file("bench/sweep_cli.py") and F._is_number_file("bench/train.py")
    assert not any(n.endswith(".md") for n in names)
    monkeypatch.setattr(spec_mod, "number_fingerprint", lambda: "0" * 16)
    assert _spec().hash != h
    # a researcher's own class outside genbench: its file's bytes are hashed too
    mod = tmp_path / "my_hash_gan.py"
    mod.write_text("from genbench.baselines.dcgan import DCGAN\n\n\nclass MyGAN(DCGAN):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mine = RunSpec("my_hash_gan:MyGAN", "mnist", Budget(max_steps=5))
    first = mine.hash
    assert "baseline_code" in mine.hashed_fields() and "baseline_code" not in _spec().hashed_fields()
    F.file_fingerprint.cache_clear()
    mod.write_text(mod.read_text() + "# edited\n")
    assert mine.hash != first


def test_round_trip_and_unknown_keys():
    s = _spec(overrides={"lr": 1e-4, "loss": "minimax"})
    assert RunSpec.from_dict(s.to_dict()) == s
    d = s.to_dict()
    d["learning_rate"] = 3
    with pytest.raises(SpecError, match="unknown RunSpec key"):
        RunSpec.from_dict(d)
    d = s.to_dict()
    d["budget"]["max_epochs"] = 3
    with pytest.raises(SpecError, match="unknown budget key"):
        RunSpec.from_dict(d)


def test_frozen():
    with pytest.raises(Exception):
        _spec().seed = 3  # type: ignore[misc]


def test_parse_override():
    assert parse_override("lr=1e-4") == ("lr", 1e-4)
    assert parse_override("ema=true") == ("ema", True)
    assert parse_override("name=abc") == ("name", "abc")
    with pytest.raises(SpecError, match="key=value"):
        parse_override("lr")


def test_registry_refuses_duplicates_and_lists_known():
    r = reg.Registry("widget")
    r.register("a", 1)
    with pytest.raises(reg.RegistryError, match="already registered"):
        r.register("a", 2)
    with pytest.raises(reg.RegistryError, match="known: a"):
        r.get("b")
