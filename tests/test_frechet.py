"""frechet_distance against scipy's sqrtm formula, closed forms, invariances and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.metrics.frechet import frechet_distance, trace_sqrt_product

scipy_linalg = pytest.importorskip("scipy.linalg")


def random_spd(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    """Sample covariance of n (default 3d) Gaussian draws with random scales: SPD when n > d."""
    x = rng.standard_normal((n or 3 * d, d)) * rng.uniform(0.1, 3.0, d)
    return np.cov(x, rowvar=False)


def scipy_fd(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's formula (calculate_frechet_distance), with scipy.linalg.sqrtm."""
    diff = mu1 - mu2
    covmean = scipy_linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy_linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = np.real(covmean)
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("d", [2, 16, 64])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_scipy_sqrtm(d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fd(mu1, s1, mu2, s2), rel=1e-6)


def test_diagonal_closed_form() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.1, 4.0, 10), rng.uniform(0.1, 4.0, 10)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_commuting_closed_form() -> None:
    """Same eigenvectors: FD = ||dmu||^2 + sum (sqrt(a_i) - sqrt(b_i))^2 in that basis."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    a, b = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(8), s1, np.zeros(8), s2) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("d", [3, 64, 256])
def test_identical_is_zero(d: int) -> None:
    rng = np.random.default_rng(d)
    mu, s = rng.standard_normal(d), random_spd(rng, d)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8


def test_symmetric_in_its_arguments() -> None:
    rng = np.random.default_rng(4)
    mu1, mu2, s1, s2 = rng.standard_normal(20), rng.standard_normal(20), random_spd(rng, 20), random_spd(rng, 20)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_torch_and_float32_inputs() -> None:
    rng = np.random.default_rng(5)
    mu1, mu2, s1, s2 = rng.standard_normal(6), rng.standard_normal(6), random_spd(rng, 6), random_spd(rng, 6)
    ref = frechet_distance(mu1, s1, mu2, s2)
    t = [torch.from_numpy(v) for v in (mu1, s1, mu2, s2)]
    assert frechet_distance(*t) == pytest.approx(ref, rel=1e-12)
    assert frechet_distance(*[v.astype(np.float32) for v in (mu1, s1, mu2, s2)]) == pytest.approx(ref, rel=1e-5)


def test_rank_deficient_sigma1_warns_and_matches_closed_form() -> None:
    """n <= d: sigma1 singular. Check against sigma2 = c * sigma1 (commuting): tr sqrt = sqrt(c) tr sigma1."""
    rng = np.random.default_rng(6)
    s1 = random_spd(rng, 32, n=10)  # rank 9
    assert np.linalg.matrix_rank(s1) < 32
    c = 2.5
    expected = (1 - np.sqrt(c)) ** 2 * np.trace(s1)
    with pytest.warns(RuntimeWarning, match="singular"):
        fd = frechet_distance(np.zeros(32), s1, np.zeros(32), c * s1)
    assert fd == pytest.approx(expected, rel=1e-10)
    with pytest.warns(RuntimeWarning):
        assert abs(frechet_distance(np.zeros(32), s1, np.zeros(32), s1)) < 1e-8


def test_rank_deficient_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    s1, s2 = random_spd(rng, 16, n=8), random_spd(rng, 16)
    with pytest.warns(RuntimeWarning):
        ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(scipy_fd(mu1, s1, mu2, s2), rel=1e-5)


@pytest.mark.parametrize("where", ["mu1", "sigma1", "mu2", "sigma2"])
def test_nan_rejected(where: str) -> None:
    args = {"mu1": np.zeros(3), "sigma1": np.eye(3), "mu2": np.zeros(3), "sigma2": np.eye(3)}
    args[where] = args[where].copy()
    args[where].flat[0] = np.nan
    with pytest.raises(ValueError, match=f"{where} contains NaN"):
        frechet_distance(**args)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="different feature dims"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"sigma2 must be \(3, 3\)"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="mu1 must be a non-empty vector"):
        frechet_distance(np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3))


def test_not_psd_rejected() -> None:
    bad = np.diag([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="sigma2 is not positive semi-definite"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), bad)
    with pytest.raises(ValueError, match="sigma1 is not positive semi-definite"):
        frechet_distance(np.zeros(3), bad, np.zeros(3), np.eye(3))


@pytest.mark.parametrize("n,rank,scale", [(500, 20, 1.0), (500, 20, 1e-3), (30, 20, 1.0), (500, 32, 1e4),
                                          (500, 10, 1e-6)])
def test_orthogonal_subspaces_closed_form(n: int, rank: int, scale: float) -> None:
    """Real and fake features vary in orthogonal subspaces: S1 S2 = 0, FD = ||dmu||^2 + tr S1 + tr S2.

    Every eigenvalue of L^T S2 L is then rounding noise of either sign (~1e-16 ||S1|| ||S2||); a
    negativity test relative to the largest of them raised 'sigma2 is not positive semi-definite'.
    """
    rng = np.random.default_rng(0)
    d = 64
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = rng.standard_normal((n, rank)) @ q[:rank] + 5.0
    y = (rng.standard_normal((n, rank)) * scale) @ q[rank : 2 * rank] + 5.0
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    exact = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2)
    with pytest.warns(RuntimeWarning, match="singular"):  # both covariances have rank <= 32 < 64
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-10)
    with pytest.warns(RuntimeWarning, match="singular"):
        assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("active", [20, 64, 127])
def test_disjoint_active_channels_closed_form(active: int) -> None:
    """ReLU-like features: real active only in channels [0, active), fake only in the others."""
    rng = np.random.default_rng(1)
    d, n = 128, 500
    x, y = np.zeros((n, d)), np.zeros((n, d))
    x[:, :active] = np.maximum(rng.standard_normal((n, active)) @ rng.standard_normal((active, active)), 0)
    y[:, active:] = np.maximum(rng.standard_normal((n, d - active)) @ rng.standard_normal((d - active, d - active)), 0)
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    exact = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2)
    with pytest.warns(RuntimeWarning, match="singular"):
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-12)


def test_not_psd_rejected_when_the_product_is_small() -> None:
    """The tolerance scales with ||S1|| ||S2||, not with the product: a clearly negative sigma2 still fails."""
    s1 = np.diag([1.0, 1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="sigma2 is not positive semi-definite"):
        with pytest.warns(RuntimeWarning, match="singular"):
            frechet_distance(np.zeros(4), s1, np.zeros(4), np.diag([-1e-3, 0.0, 1.0, 1.0]))


def test_wide_spectrum_keeps_its_small_eigenvalues():
    """The noise floor scales with the spectral norms: a Frobenius-norm floor (sqrt(D) times larger
    for a wide spectrum) zeroed real eigenvalues of S1 S2 spread over 1e-6..1 (tr sqrt off by 3e-5
    at D = 1024); commuting covariances give the exact value sum sqrt(l1 l2)."""
    d = 1024
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    l1, l2 = np.exp(rng.uniform(np.log(1e-6), 0, d)), np.exp(rng.uniform(np.log(1e-6), 0, d))
    got = trace_sqrt_product((q * l1) @ q.T, (q * l2) @ q.T)
    assert abs(got - np.sqrt(l1 * l2).sum()) < 1e-9


def test_a_clearly_negative_sigma2_is_refused_in_high_dimensions():
    """One eigenvalue of -1e-4 in a 1024-d identity is 1e8 times rounding error: refused (a
    Frobenius-norm tolerance, 1024 times larger here, let it through)."""
    d = 1024
    s2 = np.eye(d)
    s2[0, 0] = -1e-4
    with pytest.raises(ValueError, match="clearly negative"):
        trace_sqrt_product(np.eye(d), s2)
