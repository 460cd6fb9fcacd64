"""Inception Score, PRDC, FeatureStats and compute_metrics: references, invariances, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from genbench.metrics import METRICS, FeatureStats, compute_metrics, inception_score, prdc, stats_key
from genbench.metrics.prdc import knn_radii, prdc_multi


# --- Inception Score ------------------------------------------------------------------------
def numpy_is(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """Straightforward reference: softmax, contiguous chunks, exp(mean KL(p(y|x) || p(y)))."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n, scores = len(p), []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), 1))))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("n,splits", [(1000, 10), (997, 10), (50, 1), (30, 3)])
def test_is_matches_numpy_reference(n: int, splits: int) -> None:
    logits = np.random.default_rng(n).standard_normal((n, 10)) * 3
    mean, std = inception_score(torch.from_numpy(logits).float(), splits=splits, shuffle=False)
    ref_mean, ref_std = numpy_is(logits.astype(np.float32), splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)
    # the default splits the rows in torch-fidelity's order: RandomState(2020).permutation(n)
    mean, std = inception_score(torch.from_numpy(logits).float(), splits=splits)
    ref_mean, ref_std = numpy_is(logits.astype(np.float32)[np.random.RandomState(2020).permutation(n)], splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)


def _class_sorted_logits(n: int = 1000, classes: int = 10) -> torch.Tensor:
    """Confident, balanced predictions stored sorted by class (all class 0 first, then class 1, ...)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) * classes // n
    noise = torch.randn(n, classes, generator=g, dtype=torch.float64)
    return torch.nn.functional.one_hot(labels, classes).double() * 8 + noise


def test_is_does_not_depend_on_the_sample_order() -> None:
    """Class-sorted samples (files named <label>_<i>.png) score like the same samples in random order.

    With contiguous unshuffled splits each chunk held one class and the IS was ~1.1 instead of ~10.
    """
    logits = _class_sorted_logits()
    shuffled = logits[torch.randperm(len(logits), generator=torch.Generator().manual_seed(1))]
    sorted_is, shuffled_is = inception_score(logits, splits=10)[0], inception_score(shuffled, splits=10)[0]
    assert shuffled_is > 8.0  # confident and balanced: close to the 10 classes
    assert sorted_is == pytest.approx(shuffled_is, rel=0.1)
    assert inception_score(logits, splits=10, shuffle=False)[0] < 1.5  # what the unshuffled splits gave
    one_split = inception_score(logits, splits=1, shuffle=False)  # one split: the order changes only round-off
    assert inception_score(logits, splits=1) == pytest.approx(one_split, rel=1e-12, abs=1e-12)


def test_is_uniform_constant_logits_is_one() -> None:
    mean, std = inception_score(torch.full((100, 10), 3.0), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_confident_balanced_reaches_num_classes() -> None:
    logits = torch.full((200, 10), -50.0)
    logits[torch.arange(200), torch.arange(200) % 10] = 50.0
    mean, _ = inception_score(logits, splits=2, shuffle=False)  # each half exactly balanced (shuffled: nearly)
    assert mean == pytest.approx(10.0, rel=1e-9)


def test_is_errors() -> None:
    with pytest.raises(ValueError, match="at least splits=10 samples, got 5"):
        inception_score(torch.zeros(5, 10), splits=10)
    with pytest.raises(ValueError, match="2-D"):
        inception_score(torch.zeros(5), splits=1)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(torch.tensor([[0.0, float("nan")], [0.0, 1.0]]), splits=1)
    with pytest.raises(ValueError, match="splits must be"):
        inception_score(torch.zeros(5, 3), splits=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        inception_score(torch.zeros(5, 3), splits=1, seed=-1)


# --- precision / recall / density / coverage --------------------------------------------------
prdc_ref = pytest.importorskip("prdc")


def _ref(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    out = prdc_ref.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {key: float(v) for key, v in out.items()}


@pytest.mark.parametrize("n,m,d,k", [(300, 200, 8, 3), (250, 400, 16, 5), (120, 120, 64, 1)])
def test_prdc_matches_reference_package(n: int, m: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n + m + d)
    real = rng.standard_normal((n, d))
    fake = rng.standard_normal((m, d)) * 1.2 + 0.3
    ours = prdc(real, fake, k=k, chunk_size=64)
    assert ours == pytest.approx(_ref(real, fake, k), abs=1e-12)
    assert prdc(real, fake, k=k, chunk_size=64, screen=False) == ours  # plain float64 path: same decisions


def test_prdc_multi_equals_one_k_at_a_time_and_the_package() -> None:
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((260, 10)), rng.standard_normal((240, 10)) * 1.1 + 0.2
    both = prdc_multi(real, fake, (3, 5, 3), chunk_size=50)
    assert list(both) == [3, 5]
    for k in (3, 5):
        assert both[k] == prdc(real, fake, k=k)
        assert both[k] == pytest.approx(_ref(real, fake, k), abs=1e-12)
    assert knn_radii(torch.as_tensor(real), [5, 3]).tolist() == [
        knn_radii(torch.as_tensor(real), 5).tolist(), knn_radii(torch.as_tensor(real), 3).tolist()]


def test_prdc_chunk_size_and_float32() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 12, generator=g), torch.randn(250, 12, generator=g) + 0.5
    full = prdc(real, fake, k=3, chunk_size=10_000)
    for chunk in (7, 128, 299):
        assert prdc(real, fake, k=3, chunk_size=chunk) == full
    f32 = prdc(real, fake, k=3, dtype=torch.float32)
    assert f32 == pytest.approx(full, abs=2 / 250)  # at most a near-tie flips


def test_prdc_permutation_invariant() -> None:
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(200, 6, generator=g), torch.randn(150, 6, generator=g) * 0.8
    base = prdc(real, fake, k=3)
    perm = prdc(real[torch.randperm(200, generator=g)], fake[torch.randperm(150, generator=g)], k=3)
    assert perm == pytest.approx(base, abs=1e-12)


def test_prdc_identical_and_disjoint_sets() -> None:
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(2))
    same = prdc(x, x, k=3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = prdc(x, x + 100.0, k=3)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_knn_radii_excludes_self() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, 2, chunk_size=1).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_prdc_errors() -> None:
    x = torch.zeros(10, 3)
    with pytest.raises(ValueError, match="at least k \\+ 1 = 11 samples, got 10"):
        prdc(x, x, k=10)
    with pytest.raises(ValueError, match="differ in dimension: 3 vs 4"):
        prdc(x, torch.zeros(10, 4), k=3)
    with pytest.raises(ValueError, match="fake features contain NaN"):
        prdc(x, torch.full((10, 3), float("nan")), k=3)
    with pytest.raises(ValueError, match="2-D"):
        prdc(torch.zeros(10), x, k=3)


# --- FeatureStats -----------------------------------------------------------------------------
def test_feature_stats_matches_numpy() -> None:
    feats = np.random.default_rng(0).standard_normal((50, 5)).astype(np.float32)
    s = FeatureStats.from_features(torch.from_numpy(feats))
    assert s.n == 50 and s.mean.dtype == np.float64 and s.cov.dtype == np.float64
    np.testing.assert_allclose(s.mean, feats.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.cov, np.cov(feats.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14)
    assert s.features.dtype == torch.float32 and s.features.shape == (50, 5)



def test_feature_stats_keep_float64_features(tmp_path) -> None:
    """float64 features reach KID and PRDC unrounded: near-ties decided as by the prdc package on the same arrays.

    Fakes lie 1e-9 inside the next real point's k-NN ball (grid spacing sqrt(2)); rounded to float32
    they landed on the boundary, outside it (density 1.01 instead of the package's 1.2 at k=5).
    """
    from genbench.metrics import kid

    real = np.arange(40, dtype=np.float64)[:, None] * np.ones((1, 2))
    fake = real[:-1] + (1.0 - 1e-9)
    r, f = FeatureStats.from_features(real), FeatureStats.from_features(torch.from_numpy(fake))
    assert r.features.dtype == torch.float64 and torch.equal(r.features, torch.from_numpy(real))
    assert FeatureStats.load(r.save(tmp_path / "r.npz")).features.dtype == torch.float64
    values, _ = compute_metrics(r, f, "toy", pr_k=3, dc_k=5, kid_subset_size=20,
                                metrics=["kid", "precision", "recall", "density", "coverage"])
    for k, names in ((3, ("precision", "recall")), (5, ("density", "coverage"))):
        ref = _ref(real, fake, k)
        for name in names:
            assert values[f"{name}_toy"] == pytest.approx(ref[name], abs=1e-12), (name, k)
    assert values["kid_toy"] == kid(real, fake, subset_size=20)[0]  # the float64 arrays, not float32 copies
    # float32 features stay float32 (no doubled memory)
    assert FeatureStats.from_features(torch.from_numpy(fake).float()).features.dtype == torch.float32


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_feature_stats_on_a_device_equals_the_default(device) -> None:
    feats = torch.from_numpy(np.random.default_rng(1).standard_normal((80, 6)).astype(np.float32))
    ref, got = FeatureStats.from_features(feats), FeatureStats.from_features(feats, device=device)
    assert got.mean.dtype == np.float64 and got.cov.dtype == np.float64 and got.features.device.type == "cpu"
    np.testing.assert_allclose(got.mean, ref.mean, rtol=1e-12)
    np.testing.assert_allclose(got.cov, ref.cov, rtol=1e-10, atol=1e-14)

def test_feature_stats_save_load_roundtrip(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    s = FeatureStats.from_features(torch.randn(20, 4, generator=g), torch.randn(20, 10, generator=g),
                                   meta={"split": "test", "n": 20})
    path = s.save(tmp_path / "sub" / "stats.npz")
    assert sorted(os.listdir(path.parent)) == ["stats.npz"]  # no temp file left behind
    t = FeatureStats.load(path)
    assert t.n == 20 and t.meta == {"split": "test", "n": 20}
    np.testing.assert_array_equal(t.mean, s.mean)
    np.testing.assert_array_equal(t.cov, s.cov)
    assert torch.equal(t.features, s.features) and torch.equal(t.logits, s.logits)
    bare = FeatureStats.from_features(torch.randn(20, 4, generator=g), keep_features=False)
    u = FeatureStats.load(bare.save(tmp_path / "bare.npz"))
    assert u.features is None and u.logits is None


def test_feature_stats_save_is_atomic_on_failure(tmp_path, monkeypatch) -> None:
    path = tmp_path / "stats.npz"
    FeatureStats.from_features(torch.randn(5, 2)).save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        FeatureStats.from_features(torch.randn(5, 2)).save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["stats.npz"]


def test_feature_stats_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="2-D"):
        FeatureStats.from_features(torch.zeros(5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        FeatureStats.from_features(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN or inf"):
        FeatureStats.from_features(torch.tensor([[0.0, float("inf")], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="logits have 3 rows but features have 2"):
        FeatureStats.from_features(torch.zeros(2, 3), torch.zeros(3, 10))
    with pytest.raises(FileNotFoundError, match="no feature stats file"):
        FeatureStats.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable feature stats file"):
        FeatureStats.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match=".npz"):
        FeatureStats.from_features(torch.zeros(2, 3)).save(tmp_path / "stats.pt")


def test_stats_key() -> None:
    a = stats_key(data="mnist", split="test", n=500, extractor="mnist-lenet")
    assert a == stats_key(extractor="mnist-lenet", n=500, split="test", data="mnist")  # order-free
    assert a != stats_key(data="mnist", split="test", n=501, extractor="mnist-lenet")
    assert len(a) == 16 and int(a, 16) >= 0
    with pytest.raises(ValueError, match="JSON"):
        stats_key(x=object())
    with pytest.raises(ValueError, match="JSON"):
        stats_key(x=float("nan"))


# --- compute_metrics ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_stats() -> tuple[FeatureStats, FeatureStats]:
    g = torch.Generator().manual_seed(0)
    real = FeatureStats.from_features(torch.randn(400, 8, generator=g))
    fake = FeatureStats.from_features(torch.randn(300, 8, generator=g) + 0.2, torch.randn(300, 10, generator=g))
    return real, fake


def test_compute_metrics_keys_and_values(toy_stats) -> None:
    real, fake = toy_stats
    values, higher = compute_metrics(real, fake, "toy", pr_k=3, is_splits=10)
    assert set(values) == {"fd_toy", "is_toy", "is_toy_std", "precision_toy", "recall_toy",
                           "density_toy", "coverage_toy", "kid_toy", "kid_toy_std"}
    assert higher == {"fd_toy": False, "is_toy": True, "precision_toy": True, "recall_toy": True,
                      "density_toy": True, "coverage_toy": True, "kid_toy": False}
    assert all(isinstance(v, float) for v in values.values())
    pr = prdc(real.features, fake.features, k=3)
    assert values["precision_toy"] == pr["precision"] and values["recall_toy"] == pr["recall"]
    assert values["coverage_toy"] == prdc(real.features, fake.features, k=5)["coverage"]
    assert (values["is_toy"], values["is_toy_std"]) == inception_score(fake.logits, 10)
    json.dumps(values)  # plain floats


def test_compute_metrics_without_density(toy_stats) -> None:
    values, _ = compute_metrics(*toy_stats, "toy", dc_k=None)
    assert "density_toy" not in values and "fd_toy" in values


def test_compute_metrics_missing_inputs(toy_stats) -> None:
    real, fake = toy_stats
    with pytest.raises(ValueError, match="fake FeatureStats has no logits"):
        compute_metrics(real, real, "toy")
    bare = FeatureStats(real.n, real.mean, real.cov)
    with pytest.raises(ValueError, match="real FeatureStats has no features"):
        compute_metrics(bare, fake, "toy")
    other = FeatureStats.from_features(torch.randn(50, 3), torch.randn(50, 10))
    with pytest.raises(ValueError, match="differ in feature dim"):
        compute_metrics(real, other, "toy")
    with pytest.raises(ValueError, match="suffix"):
        compute_metrics(real, fake, "")


def test_metrics_registry() -> None:
    assert {"fd", "is", "is_std", "precision", "recall", "density", "coverage"} <= set(METRICS.names())
    assert METRICS.get("fd").key("mnist") == "fd_mnist"
    assert METRICS.get("is_std").key("mnist") == "is_mnist_std" and METRICS.get("is_std").higher_is_better is None
    for name, info in METRICS.items():
        assert info.needs and info.description and "{suffix}" in info.template, name


# --- the docstring examples stay runnable -------------------------------------------------------
@pytest.mark.parametrize(
    "module", ["__init__", "evaluate", "extractors", "frechet", "inception_score", "prdc", "stats", "resize", "kid",
               "modes", "paired", "lpips_metrics"]
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"genbench.metrics.{module}" if module != "__init__" else "genbench.metrics")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0, result
