"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4 / App. D).

KID is the unbiased estimate of the squared maximum mean discrepancy between real and fake
features under the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,            d = feature dimension,
    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2,

averaged over ``subsets`` random subsets of ``m`` real and ``m`` fake samples; the std over
subsets is the population std (ddof=0). This is torch-fidelity's ``metric_kid.py`` (mmd_est
'unbiased', degree 3, gamma 1/d, coef0 1) and torchmetrics' ``KernelInceptionDistance``.

Subset draws (seeded, reproducible, identical to torch-fidelity with ``rng_seed=seed`` called
the way its documentation calls it, ``calculate_metrics(input1=<generated>, input2=<real>)``):
one ``numpy.random.RandomState(seed)``; for each subset in turn, ``rng.choice(n_fake, m,
replace=False)`` picks the fake rows, then ``rng.choice(n_real, m, replace=False)`` the real
rows (torch-fidelity draws input1's subset first; MMD² is symmetric, so only the order of the
draws matters). ``m = min(subset_size, n_real, n_fake)`` (torch-fidelity refuses n < subset_size instead;
``effective_subset_size`` gives the m used, for the row's provenance).

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x, y = torch.randn(200, 16, generator=g), torch.randn(200, 16, generator=g)
>>> mean, std = kid(x, x + 1.0, subsets=10, subset_size=100)
>>> mean > 0.1, abs(kid(x, y, subsets=10, subset_size=100)[0]) < 0.02
(True, True)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

# Above this many rows (n_real + n_fake), the full kernel matrix (8 bytes per entry) is not built.
FULL_GRAM_MAX_ROWS = 8192


def _as_features(x: Any, name: str) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N samples, D dims), got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must be a float array (N, D), got dtype {t.dtype}")
    t = t.double()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contain NaN or inf; the features are broken (check the samples and the extractor)")
    if t.shape[0] < 2:
        raise ValueError(f"KID needs at least 2 samples per side, got {t.shape[0]} {name}")
    return t


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def effective_subset_size(n_real: int, n_fake: int, subset_size: int = 1000) -> int:
    """The subset size KID uses: min(subset_size, n_real, n_fake)."""
    return min(int(subset_size), int(n_real), int(n_fake))


def subset_indices(
    n_real: int, n_fake: int, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The seeded (real rows, fake rows) int64 index pairs KID draws, each of length m.

    One ``np.random.RandomState(seed)``; per subset ``choice(n_fake, m, replace=False)`` then
    ``choice(n_real, m, replace=False)``, with m = effective_subset_size (torch-fidelity's order
    with the generated samples as its input1, the first set drawn).
    """
    m = effective_subset_size(n_real, n_fake, subset_size)
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(subsets):
        fake_idx = rng.choice(n_fake, m, replace=False)
        real_idx = rng.choice(n_real, m, replace=False)
        out.append((real_idx.astype(np.int64), fake_idx.astype(np.int64)))
    return out


def _check_indices(indices: Sequence[Any], n_real: int, n_fake: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if len(indices) == 0:
        raise ValueError("indices must hold at least one (real_idx, fake_idx) pair")
    out = []
    for i, pair in enumerate(indices):
        if len(pair) != 2:
            raise ValueError(f"indices[{i}] must be a (real_idx, fake_idx) pair, got {len(pair)} items")
        ri, fi = (torch.as_tensor(np.asarray(a)).long().flatten() for a in pair)
        for name, idx, n in (("real", ri, n_real), ("fake", fi, n_fake)):
            if len(idx) < 2 or idx.min() < 0 or idx.max() >= n or len(idx.unique()) != len(idx):
                raise ValueError(
                    f"indices[{i}] {name} rows must be >= 2 distinct integers in [0, {n}), "
                    f"got {len(idx)} rows in [{int(idx.min()) if len(idx) else None}, "
                    f"{int(idx.max()) if len(idx) else None}]"
                )
        if len(ri) != len(fi):
            raise ValueError(f"indices[{i}] draws {len(ri)} real but {len(fi)} fake rows; use the same subset size")
        out.append((ri, fi))
    return out


def _mmd2_unbiased(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> float:
    """Unbiased MMD^2 from float64 kernel blocks (m, m): off-diagonal means of XX and YY minus 2 mean XY."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def _poly(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cubic polynomial kernel (a . b / d + 1)^3 in float64: (len(a), len(b))."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kid(
    real_feats: Any,
    fake_feats: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    indices: Sequence[tuple[Any, Any]] | None = None,
    device: str | torch.device | None = None,
) -> tuple[float, float]:
    """(mean, std) KID of fake (M, D) against real (N, D) features, computed in float64.

    real_feats, fake_feats: finite float arrays or tensors with the same D and N, M >= 2.
    subsets, subset_size, seed: 100 subsets of min(1000, N, M) rows, seeded as in the module
      docstring (the field's protocol, Binkowski et al. 2018 App. D; torch-fidelity defaults).
    indices: optional injected draws, a sequence of (real_rows, fake_rows) integer arrays of
      equal length m >= 2 with distinct rows; then subsets/subset_size/seed are ignored.
    device: where the kernel blocks are computed, still in float64 (None: the CPU; a GPU runs the
      100 subsets of 1000 in milliseconds, the CPU in seconds).
    KID can be slightly negative when the sets match (unbiased estimator). Raises ValueError
    for NaN/inf, mismatched dims, fewer than 2 samples or bad indices.
    """
    real, fake = _as_features(real_feats, "real features"), _as_features(fake_feats, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}; "
            "use the same extractor for both"
        )
    n, m_fake = real.shape[0], fake.shape[0]
    if indices is None:
        subsets, subset_size = _check_int(subsets, "subsets", 1), _check_int(subset_size, "subset_size", 2)
        draws = _check_indices(subset_indices(n, m_fake, subsets, subset_size, _check_int(seed, "seed", 0)), n, m_fake)
    else:
        draws = _check_indices(indices, n, m_fake)
    m = len(draws[0][0])
    if device is not None:
        real, fake = real.to(device), fake.to(device)
        draws = [(torch.as_tensor(ri, device=real.device), torch.as_tensor(fi, device=real.device)) for ri, fi in draws]
    if (n + m_fake) <= FULL_GRAM_MAX_ROWS and (n + m_fake) ** 2 < 3 * len(draws) * m * m:
        both = torch.cat([real, fake])
        gram = _poly(both, both)  # every kernel value once; subsets gather from it
        mmds = [
            _mmd2_unbiased(gram[ri][:, ri], gram[n + fi][:, n + fi], gram[ri][:, n + fi]) for ri, fi in draws
        ]
    else:
        mmds = []
        for ri, fi in draws:
            x, y = real[ri], fake[fi]
            mmds.append(_mmd2_unbiased(_poly(x, x), _poly(y, y), _poly(x, y)))
    arr = np.asarray(mmds, dtype=np.float64)
    return float(arr.mean()), float(arr.std())
