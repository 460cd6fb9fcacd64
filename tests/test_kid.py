"""KID and IS parity with torch-fidelity and torchmetrics on identical inputs, invariances, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.metrics import inception_score, kid
from genbench.metrics.kid import effective_subset_size, subset_indices


def _feats(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, d)) * scale + shift)


def _close(ours: float, ref: float) -> bool:
    return abs(ours - ref) <= max(1e-6 * abs(ref), 1e-9)


# --- torch-fidelity ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,m,d,subsets,size,seed", [(300, 250, 32, 10, 200, 0), (120, 400, 8, 7, 120, 5)])
def test_kid_matches_torch_fidelity_same_rng(n, m, d, subsets, size, seed) -> None:
    """Our default draws are torch-fidelity's RandomState(seed).choice draws with the generated
    features as its first input (its documented calculate_metrics(input1=generated)): equal."""
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    real, fake = _feats(n, d, seed), _feats(m, d, seed + 1, shift=0.1, scale=1.2)
    ref = tf_kid.kid_features_to_metric(fake, real, kid_subsets=subsets, kid_subset_size=size,
                                        rng_seed=seed, verbose=False)  # float64 tensors: float64 math
    mean, std = kid(real, fake, subsets=subsets, subset_size=size, seed=seed)
    assert _close(mean, ref["kernel_inception_distance_mean"])
    assert _close(std, ref["kernel_inception_distance_std"])


def test_kid_injected_indices_match_torch_fidelity_kernel() -> None:
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    real, fake = _feats(200, 16, 1), _feats(150, 16, 2, shift=0.3)
    rng = np.random.default_rng(9)
    draws = [(rng.choice(200, 80, replace=False), rng.choice(150, 80, replace=False)) for _ in range(6)]
    refs = [tf_kid.kernel_mmd(real.numpy()[ri], fake.numpy()[fi], kid_kernel="poly", kid_kernel_poly_degree=3,
                              kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1) for ri, fi in draws]
    mean, std = kid(real, fake, indices=draws)
    assert _close(mean, float(np.mean(refs))) and _close(std, float(np.std(refs)))


# --- torchmetrics ----------------------------------------------------------------------------------
def test_kid_matches_torchmetrics_with_reproduced_draws() -> None:
    """torchmetrics draws torch.randperm from the global RNG; reproduce those draws and inject them."""
    tm_kid = pytest.importorskip("torchmetrics.image.kid")
    real, fake = _feats(180, 24, 3), _feats(160, 24, 4, shift=-0.2, scale=0.9)
    subsets, size = 8, 100
    with pytest.warns(UserWarning, match="save all extracted features"):
        metric = tm_kid.KernelInceptionDistance(feature=torch.nn.Identity(), subsets=subsets, subset_size=size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(123)
        ref_mean, ref_std = (float(v) for v in metric.compute())
        torch.manual_seed(123)
        draws = [(torch.randperm(180)[:size], torch.randperm(160)[:size]) for _ in range(subsets)]
    finally:
        torch.random.set_rng_state(state)
    mean, std = kid(real, fake, indices=draws)
    assert _close(mean, ref_mean) and _close(std, ref_std)


# --- invariances ------------------------------------------------------------------------------------
def test_kid_identical_sets_near_zero_and_shift_positive() -> None:
    x = _feats(800, 32, 7)
    other, _ = kid(x[:400], x[400:], subsets=20, subset_size=200)  # two samples of one distribution
    shifted, _ = kid(x[:400], x[:400] + 0.5, subsets=20, subset_size=200)
    assert abs(other) < 1e-2 and shifted > 100 * abs(other)
    assert kid(x[:400], x[:400] + 1.0, subsets=20, subset_size=200)[0] > shifted  # monotone in the shift
    # KID(x, x) on the same rows is ~0 up to the unbiased estimator's -O(1/m) self-similarity term
    same_100, same_400 = kid(x[:100], x[:100], 2, 100)[0], kid(x[:400], x[:400], 2, 400)[0]
    assert 0 > same_400 > same_100 and abs(same_100) / abs(same_400) == pytest.approx(4.0, rel=0.2)
    assert abs(same_400) < 0.05 * shifted


def test_kid_permutation_only_through_subsets() -> None:
    real, fake = _feats(150, 10, 1), _feats(130, 10, 2, shift=0.2)
    pr, pf = np.random.default_rng(0).permutation(150), np.random.default_rng(1).permutation(130)
    draws = subset_indices(150, 130, subsets=5, subset_size=100, seed=0)
    # permuting the rows and mapping the injected indices through the inverse permutation: exact
    inv_r, inv_f = np.argsort(pr), np.argsort(pf)
    moved = [(inv_r[ri], inv_f[fi]) for ri, fi in draws]
    assert kid(real[pr], fake[pf], indices=moved) == pytest.approx(kid(real, fake, indices=draws), rel=1e-12)
    # with full-size subsets (every row in every subset) order cannot matter at all
    full = kid(real[:100], fake[:100], subsets=3, subset_size=100)
    assert kid(real[:100][pr[pr < 100]], fake[:100], subsets=3, subset_size=100) == pytest.approx(full, rel=1e-12)


def test_kid_seed_and_float32() -> None:
    real, fake = _feats(300, 16, 1), _feats(300, 16, 2, shift=0.1)
    a = kid(real, fake, subsets=10, subset_size=100, seed=0)
    assert a == kid(real, fake, subsets=10, subset_size=100, seed=0)  # deterministic
    assert a != kid(real, fake, subsets=10, subset_size=100, seed=1)  # the seed picks the subsets
    f32 = kid(real.float(), fake.float(), subsets=10, subset_size=100, seed=0)
    assert f32[0] == pytest.approx(a[0], rel=1e-5)


def test_kid_gram_and_per_subset_paths_agree(monkeypatch) -> None:
    import sys

    kid_mod = sys.modules["genbench.metrics.kid"]  # the package attribute `kid` is the function
    real, fake = _feats(120, 8, 3), _feats(110, 8, 4, shift=0.2)
    fast = kid(real, fake, subsets=30, subset_size=100)
    monkeypatch.setattr(kid_mod, "FULL_GRAM_MAX_ROWS", 0)
    assert kid(real, fake, subsets=30, subset_size=100) == pytest.approx(fast, rel=1e-10, abs=1e-13)



DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("gram", [True, False])
def test_kid_on_a_device_equals_the_default(monkeypatch, device, gram) -> None:
    """device= moves the float64 kernels (index draws too) and changes nothing but summation order."""
    import sys

    if not gram:
        monkeypatch.setattr(sys.modules["genbench.metrics.kid"], "FULL_GRAM_MAX_ROWS", 0)
    real, fake = _feats(150, 12, 6), _feats(140, 12, 7, shift=0.2)
    ref = kid(real, fake, subsets=20, subset_size=90, seed=3)
    got = kid(real, fake, subsets=20, subset_size=90, seed=3, device=device)
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-13)

def test_kid_effective_subset_size() -> None:
    assert effective_subset_size(500, 2000) == 500 and effective_subset_size(5000, 3000, 1000) == 1000
    draws = subset_indices(50, 40, subsets=3, subset_size=1000, seed=0)
    assert [len(r) for r, _ in draws] == [40] * 3 and all(len(np.unique(r)) == 40 for r, _ in draws)


def test_kid_errors() -> None:
    x = torch.zeros(10, 3)
    with pytest.raises(ValueError, match="real features contain NaN"):
        kid(torch.full((10, 3), float("nan")), x)
    with pytest.raises(ValueError, match="differ in dimension: 3 vs 4"):
        kid(x, torch.zeros(10, 4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(torch.zeros(1, 3), x)
    with pytest.raises(ValueError, match="2-D"):
        kid(torch.zeros(10), x)
    with pytest.raises(ValueError, match="subsets must be an integer >= 1"):
        kid(x, x, subsets=0)
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kid(x, x, subset_size=1)
    with pytest.raises(ValueError, match="distinct integers in \\[0, 10\\)"):
        kid(x, x, indices=[([0, 1, 10], [0, 1, 2])])
    with pytest.raises(ValueError, match="distinct"):
        kid(x, x, indices=[([0, 0, 1], [0, 1, 2])])
    with pytest.raises(ValueError, match="same subset size"):
        kid(x, x, indices=[([0, 1, 2], [0, 1])])


# --- Inception Score parity -------------------------------------------------------------------------
@pytest.mark.parametrize("n,k,splits", [(1000, 10, 10), (997, 1008, 10), (64, 5, 3)])
def test_is_matches_torch_fidelity(n: int, k: int, splits: int) -> None:
    tf_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.from_numpy(np.random.default_rng(n + k).standard_normal((n, k)) * 4).float()
    for shuffle in (True, False):  # torch-fidelity's default shuffles (rng_seed=2020); so does genbench's
        ref = tf_isc.isc_features_to_metric(logits, splits=splits) if shuffle else \
            tf_isc.isc_features_to_metric(logits, splits=splits, shuffle=False)
        mean, std = inception_score(logits, splits=splits) if shuffle else \
            inception_score(logits, splits=splits, shuffle=False)
        assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-3)
        assert std == pytest.approx(ref["inception_score_std"], rel=1e-3, abs=1e-9)
        # tighter than the required 1e-3: both are float64 from the same logits
        assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-10)
        assert std == pytest.approx(ref["inception_score_std"], rel=1e-7, abs=1e-12)



@pytest.mark.parametrize("device", DEVICES)
def test_is_on_a_device_equals_the_default(device) -> None:
    logits = torch.from_numpy(np.random.default_rng(3).standard_normal((500, 20)) * 3).float()
    assert inception_score(logits, splits=5, device=device) == pytest.approx(inception_score(logits, splits=5), rel=1e-12)
    with pytest.raises(ValueError, match="NaN or inf"):
        inception_score(torch.full((20, 3), float("nan")), splits=2, device=device)

# --- compute_metrics: KID from the same feature pass, selection, names, recorded settings ----------
def test_compute_metrics_kid_selection_names_details() -> None:
    from genbench.metrics import FeatureStats, compute_metrics

    g = torch.Generator().manual_seed(0)
    real = FeatureStats.from_features(torch.randn(400, 8, generator=g))
    fake = FeatureStats.from_features(torch.randn(300, 8, generator=g) + 0.2, torch.randn(300, 10, generator=g))
    details: dict = {}
    values, higher = compute_metrics(real, fake, "toy", seed=3, details=details)
    assert (values["kid_toy"], values["kid_toy_std"]) == kid(real.features, fake.features, 100, 1000, seed=3)
    assert higher["kid_toy"] is False and "kid_toy_std" not in higher
    assert details == {"kid_subsets": 100, "kid_subset_size": 300, "kid_seed": 3, "is_splits": 10, "is_shuffle_seed": 2020,
                       "pr_k": 3, "dc_k": 5}
    assert compute_metrics(real, fake, "toy", seed=4)[0]["kid_toy"] != values["kid_toy"]
    only, _ = compute_metrics(real, fake, "toy", seed=3, metrics=["kid"], names={"kid": "kid", "kid_std": "kid_std"})
    assert only == {"kid": values["kid_toy"], "kid_std": values["kid_toy_std"]}
    bare = FeatureStats(real.n, real.mean, real.cov)  # FD needs only the Gaussian statistics
    assert compute_metrics(bare, fake, "toy", metrics=["fd"])[0] == {"fd_toy": values["fd_toy"]}
    with pytest.raises(ValueError, match="real FeatureStats has no features"):
        compute_metrics(bare, fake, "toy", metrics=["kid"])
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metrics(real, fake, "toy", metrics=["fid"])


@pytest.mark.parametrize("module", ["genbench.metrics.kid", "genbench.bench.evaluation"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0, result
