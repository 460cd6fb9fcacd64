"""Feature extractors: weights and their sha256, input checks, invariances, and FD on MNIST features."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from genbench.bench.datasets import load_dataset
from genbench.metrics import EXTRACTORS, ExtractorError, FeatureStats, frechet_distance, inception_score, load_extractor
from genbench.metrics.extractors import WEIGHTS_DIR, sha256_file

NOISE_LEVELS = (0.05, 0.15, 0.3, 0.6)  # std of additive Gaussian noise, in units of the [0, 1] range


@pytest.fixture(scope="module")
def ext():
    return load_extractor("mnist-lenet")


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


def corrupt(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """uint8 images plus Gaussian noise of ``std`` (fraction of 255), clamped back to uint8."""
    g = torch.Generator().manual_seed(seed)
    noisy = images.float() + torch.randn(images.shape, generator=g) * (std * 255)
    return noisy.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def stats(ext, mnist) -> dict[str, FeatureStats]:
    """One feature pass per image set, shared by every FD test in this module."""
    test = mnist.split("test").x
    g = torch.Generator().manual_seed(1)
    sets = {
        "test": test,
        "train": mnist.split("train").x[:1000],
        "noise": torch.randint(0, 256, (500, 1, 28, 28), generator=g, dtype=torch.uint8),
        **{f"noisy{s}": corrupt(test, s) for s in NOISE_LEVELS},
    }
    return {name: FeatureStats.from_features(*ext.extract(x)) for name, x in sets.items()}


def fd(a: FeatureStats, b: FeatureStats) -> float:
    return frechet_distance(b.mean, b.cov, a.mean, a.cov)  # reference first, as compute_metrics does


# --- registry and shipped weights ------------------------------------------------------------
@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_registered_extractor_loads_and_extracts(name: str) -> None:
    spec = EXTRACTORS.get(name)
    if not spec.ships_weights and not any(p.is_file() for p in spec.weights_candidates()):
        pytest.skip(f"official {spec.weights_file} not present (looked in {spec.weights_candidates()})")
    e = load_extractor(name)
    assert (e.name, e.metric_suffix, e.official) == (name, spec.metric_suffix, True)
    assert e.weights_sha256 == spec.weights_sha256 and e.resize_mode == spec.resize_mode
    x = torch.randint(0, 256, (3, *spec.input_shape), dtype=torch.uint8)
    f, l = e.extract(x)
    assert f.shape == (3, spec.feature_dim) and l.shape == (3, spec.num_classes)
    assert f.dtype == l.dtype == torch.float32 and not e.training


def test_mnist_lenet_labels_and_resize_mode() -> None:
    e = load_extractor("mnist-lenet")
    assert e.label_datasets == ("mnist", "mnist-full") and e.metric_names == {}
    assert e.metric_name("fd") == "fd_mnist" and e.resize_mode == "none"
    assert EXTRACTORS.get("inception-v3-tf").label_datasets == ()
    with pytest.raises(ValueError, match="has no resize mode 'clean'; choose one of none"):
        load_extractor("mnist-lenet", resize_mode="clean")


def test_shipped_mnist_weights_match_their_json() -> None:
    spec = EXTRACTORS.get("mnist-lenet")
    info = json.loads((WEIGHTS_DIR / "mnist-lenet.json").read_text())
    assert info["sha256"] == spec.weights_sha256 == sha256_file(spec.default_weights_path)
    assert info["test_accuracy"] >= 0.97 and "train_extractor" in info["command"]
    assert spec.default_weights_path.stat().st_size < 1_000_000
    assert spec.feature_dim <= 128


def test_mnist_lenet_classifies_test_digits(ext, mnist) -> None:
    split = mnist.split("test")
    _, logits = ext.extract(split.x)
    assert (logits.argmax(1) == split.y).float().mean() >= 0.97


# --- input checks and invariances ------------------------------------------------------------
def test_batch_size_does_not_change_features(ext, mnist) -> None:
    x = mnist.split("val").x[:203]
    f1, l1 = ext.extract(x, batch_size=500)
    f2, l2 = ext.extract(x, batch_size=50)  # 4 full batches and a remainder of 3
    torch.testing.assert_close(f1, f2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-5)


def test_extract_rejects_float_input(ext) -> None:
    with pytest.raises(ValueError, match=r"expected uint8 \(N, 1, 28, 28\) images, got float32 \(4, 1, 28, 28\)"):
        ext.extract(torch.rand(4, 1, 28, 28))


def test_extract_rejects_wrong_shape(ext) -> None:
    with pytest.raises(ValueError, match=r"expected uint8 \(N, 1, 28, 28\) images, got uint8 \(2, 3, 32, 32\)"):
        ext.extract(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"got uint8 \(1, 28, 28\)"):
        ext.extract(torch.zeros(1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="0 images"):
        ext.extract(torch.zeros(0, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        ext.extract(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), batch_size=0)


# --- weights checks --------------------------------------------------------------------------
@pytest.fixture
def custom_weights(tmp_path):
    """A valid state_dict for mnist-lenet that is not the official file."""
    spec = EXTRACTORS.get("mnist-lenet")
    state = torch.load(spec.default_weights_path, weights_only=True)
    state["head.bias"] = state["head.bias"] + 0.01
    path = tmp_path / "mine.pt"
    torch.save(state, path)
    return path


def test_wrong_sha256_is_refused(custom_weights) -> None:
    spec = EXTRACTORS.get("mnist-lenet")
    with pytest.raises(ExtractorError) as info:
        load_extractor("mnist-lenet", weights_path=custom_weights)
    msg = str(info.value)
    assert str(custom_weights) in msg and spec.weights_sha256 in msg and spec.make_command in msg
    assert sha256_file(custom_weights) in msg and "expected_sha256" in msg


def test_custom_weights_with_expected_sha256_get_a_custom_suffix(custom_weights, ext, mnist) -> None:
    digest = sha256_file(custom_weights)
    custom = load_extractor("mnist-lenet", weights_path=custom_weights, expected_sha256=digest)
    assert custom.metric_suffix == "mnist-custom" != ext.metric_suffix and not custom.official
    assert custom.weights_sha256 == digest and custom.provenance()["official_weights"] is False
    x = mnist.split("val").x[:5]
    torch.testing.assert_close(custom.extract(x)[1], ext.extract(x)[1] + 0.01)
    with pytest.raises(ExtractorError, match="expected_sha256"):
        load_extractor("mnist-lenet", weights_path=custom_weights, expected_sha256="0" * 64)


def test_official_weights_at_another_path_stay_official(tmp_path) -> None:
    spec = EXTRACTORS.get("mnist-lenet")
    copy = shutil.copy(spec.default_weights_path, tmp_path / "copy.pt")
    assert load_extractor("mnist-lenet", weights_path=copy).metric_suffix == "mnist"
    e = load_extractor("mnist-lenet", weights_path=copy, expected_sha256=spec.weights_sha256)
    assert e.official and e.metric_suffix == "mnist"


def test_missing_weights_name_file_hash_and_command(tmp_path) -> None:
    spec = EXTRACTORS.get("mnist-lenet")
    missing = tmp_path / "nope.pt"
    with pytest.raises(ExtractorError) as info:
        load_extractor("mnist-lenet", weights_path=missing)
    msg = str(info.value)
    assert str(missing) in msg and spec.weights_sha256 in msg and spec.make_command in msg


def test_unloadable_weights_file(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(ExtractorError, match="could not load weights"):
        load_extractor("mnist-lenet", weights_path=bad, expected_sha256=sha256_file(bad))


def test_unknown_extractor_lists_known() -> None:
    with pytest.raises(KeyError, match="mnist-lenet"):
        load_extractor("inception-v9")


# --- FD on mnist-lenet features --------------------------------------------------------------
def test_fd_test_vs_itself_is_zero(stats) -> None:
    assert abs(fd(stats["test"], stats["test"])) < 1e-8


def test_fd_rises_monotonically_with_noise(stats) -> None:
    values = [fd(stats[f"noisy{s}"], stats["test"]) for s in NOISE_LEVELS]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[0] > 0


def test_fd_real_vs_real_small_noise_large(stats) -> None:
    real = fd(stats["train"], stats["test"])
    noise = fd(stats["noise"], stats["test"])
    assert real * 20 < noise, (real, noise)


def test_is_of_real_digits_is_high_and_of_noise_low(ext, mnist, stats) -> None:
    _, logits = ext.extract(mnist.split("test").x)
    # ~6.7: label smoothing 0.05 in training caps confidence, so the maximum is ~7.5, not 10
    assert inception_score(logits, splits=10)[0] > 6.0
    assert inception_score(stats["noise"].logits, splits=10)[0] < 1.5


# --- bench/train_extractor -------------------------------------------------------------------
@pytest.mark.slow
def test_train_mnist_lenet_writes_loadable_weights(tmp_path) -> None:
    from genbench.bench.train_extractor import train_mnist_lenet

    threads = torch.get_num_threads()
    info = train_mnist_lenet(tmp_path, seed=0, epochs=1, verbose=False)
    assert torch.get_num_threads() == threads  # restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist-lenet.json", "mnist-lenet.pt"]
    assert json.loads((tmp_path / "mnist-lenet.json").read_text()) == info
    assert info["sha256"] == sha256_file(tmp_path / "mnist-lenet.pt")
    assert 0.1 < info["test_accuracy"] <= 1 and info["epochs"] == 1 and info["seed"] == 0
    assert "--epochs 1" in info["command"] and info["torch_version"] == torch.__version__
    e = load_extractor("mnist-lenet", weights_path=tmp_path / "mnist-lenet.pt", expected_sha256=info["sha256"])
    assert e.metric_suffix == "mnist-custom"


def test_train_extractor_cli_help(capsys) -> None:
    from genbench.bench.train_extractor import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--epochs" in capsys.readouterr().out
