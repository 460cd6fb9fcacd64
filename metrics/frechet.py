"""Fréchet distance between two Gaussians, in float64, without a matrix square root.

    FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The eigenvalues of S1 S2 equal those of the symmetric PSD matrix L^T S2 L, where S1 = L L^T,
so tr((S1 S2)^(1/2)) = sum(sqrt(eigvalsh(L^T S2 L))). L is the Cholesky factor of S1, or, when
S1 is singular (n <= d features), V diag(sqrt(w)) from its eigendecomposition. Eigenvalues
below the round-off floor are set to 0 before the square root, so that null directions add
nothing. The floor is D * eps * max(largest |eigenvalue|, ||S1||_2 ||S2||_2): forming L and
L^T S2 L perturbs the eigenvalues by about D * eps * ||S1|| ||S2|| whatever their own size, so
where S1 S2 is ~0 (real and fake features varying in orthogonal subspaces, FD = ||mu1 - mu2||^2
+ tr S1 + tr S2) every eigenvalue is rounding noise of either sign, and a floor (or a
negativity test) relative to the largest of them would call that noise signal, or a sign
that sigma2 is not PSD. This avoids scipy.linalg.sqrtm's complex results and its
instability on near-singular products.

>>> import numpy as np
>>> mu, cov = np.zeros(3), np.eye(3)
>>> frechet_distance(mu, cov, mu + 1, 4 * cov)  # 3 * 1^2 + 3 * (2 - 1)^2
6.0
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

# Eigenvalues of L^T S2 L below -NEG_TOL * max(largest |eigenvalue|, ||S1||_2 ||S2||_2) mean an input is not PSD.
NEG_TOL = 1e-6


def _as_float64(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric array or tensor, got {type(x).__name__}: {e}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; the features or statistics are broken (check the inputs)")
    return arr


def _check_inputs(mu1, sigma1, mu2, sigma2) -> tuple[np.ndarray, ...]:
    mu1, mu2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    sigma1, sigma2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.ndim != 1 or mu.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty vector (D,), got shape {mu.shape}")
    for name, mu, s in (("sigma1", mu1, sigma1), ("sigma2", mu2, sigma2)):
        d = mu.shape[0]
        if s.shape != (d, d):
            raise ValueError(f"{name} must be ({d}, {d}) to match its mean, got shape {s.shape}")
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"the two sides have different feature dims: mu1 {mu1.shape} vs mu2 {mu2.shape}; "
            "compute both statistics with the same extractor"
        )
    return mu1, (sigma1 + sigma1.T) / 2, mu2, (sigma2 + sigma2.T) / 2


def _noise_floor(eig: np.ndarray, scale: float = 0.0) -> float:
    """Eigenvalues below this are round-off: D * eps * max(largest |eigenvalue|, scale).

    ``scale`` bounds the size of the matrix the eigenvalues were computed from, where it can
    exceed the eigenvalues themselves (a product of two matrices whose product is ~0).
    """
    return len(eig) * np.finfo(np.float64).eps * max(float(np.abs(eig).max()), scale)


def _largest_eigenvalue(sigma: np.ndarray, iters: int = 50) -> float:
    """The largest eigenvalue of a symmetric PSD matrix (its spectral norm), from the Rayleigh
    quotient of ``iters`` power iterations from a fixed random start: O(iters D^2), where the
    eigendecomposition is O(D^3); it approaches the value from below, quickly (the quotient's
    error is the square of the vector's), which is ample for a rounding-error bound."""
    v = np.random.default_rng(0).standard_normal(sigma.shape[0])
    v /= np.linalg.norm(v)
    for _ in range(iters):
        w = sigma @ v
        n = float(np.linalg.norm(w))
        if n == 0.0:
            return 0.0
        v = w / n
    return float(v @ sigma @ v)


def _psd_factor(sigma: np.ndarray) -> np.ndarray:
    """L with L @ L.T == sigma: Cholesky when positive definite, else an eigh-based factor."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        pass
    w, v = np.linalg.eigh(sigma)
    scale = max(float(np.abs(w).max()), np.finfo(np.float64).tiny)
    if w.min() < -NEG_TOL * scale:
        raise ValueError(
            f"sigma1 is not positive semi-definite (smallest eigenvalue {w.min():.3g}, largest {w.max():.3g}); "
            "pass a covariance matrix"
        )
    rank = int((w > _noise_floor(w)).sum())
    warnings.warn(
        f"sigma1 ({sigma.shape[0]}x{sigma.shape[0]}) is singular (numerical rank {rank}): fewer samples "
        "than feature dims, or features that barely vary (e.g. collapsed samples). The distance is computed "
        "exactly for these covariances with an eigendecomposition factor; with n <= d they estimate the "
        "true covariances poorly, so use more samples",
        RuntimeWarning,
        stacklevel=4,
    )
    w = np.where(w > _noise_floor(w), w, 0.0)  # round-off in the null space would add sqrt(noise)
    return v * np.sqrt(w)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 @ sigma2)^(1/2)) for symmetric PSD float64 (D, D) matrices.

    The eigenvalues of L^T sigma2 L carry rounding errors of about D * eps * ||sigma1|| ||sigma2||
    (spectral norms; module docstring); the negativity test and the noise floor are relative to
    that bound, or to the largest eigenvalue where it is larger. Spectral, not Frobenius, norms:
    the Frobenius norm of a wide spectrum is up to sqrt(D) times larger, and a floor that high
    zeroed real small eigenvalues (tr sqrt off by 8e-4 on a 2048-d spectrum spread over 1e-6..1)
    and let a clearly non-PSD sigma2 through.
    """
    factor = _psd_factor(sigma1)
    m = factor.T @ sigma2 @ factor
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    bound = _largest_eigenvalue(sigma1) * _largest_eigenvalue(sigma2)
    scale = max(float(np.abs(eig).max()), bound, np.finfo(np.float64).tiny)
    if eig.min() < -NEG_TOL * scale:
        raise ValueError(
            f"sigma1 @ sigma2 has a clearly negative eigenvalue ({eig.min():.3g}, largest {eig.max():.3g}, "
            f"||sigma1|| ||sigma2|| = {bound:.3g}): sigma2 is not positive semi-definite; pass a covariance matrix"
        )
    return float(np.sqrt(np.where(eig > _noise_floor(eig, bound), eig, 0.0)).sum())


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    mu1, mu2: (D,) means; sigma1, sigma2: (D, D) symmetric PSD covariances (numpy arrays,
    torch tensors or nested lists; any float dtype). Returns a float >= 0 (negative
    round-off is clipped to 0). Raises ValueError for mismatched shapes, NaN/inf or a
    covariance that is not PSD; warns (RuntimeWarning) when sigma1 is singular.
    """
    mu1, sigma1, mu2, sigma2 = _check_inputs(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(fd), 0.0)
