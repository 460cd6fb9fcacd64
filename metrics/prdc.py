"""Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020).

Same definitions as the reference ``prdc`` package (``prdc.compute_prdc``): a sample's k-NN
radius is the distance to its k-th nearest neighbour in its own set (itself excluded), and

    precision = fraction of fake samples inside at least one real k-NN ball
    recall    = fraction of real samples inside at least one fake k-NN ball
    density   = (1/k) * mean over fakes of the number of real balls containing it
    coverage  = fraction of real samples whose ball contains at least one fake

("inside" is a strict <). Distances are computed in row chunks of ``chunk_size``, so peak memory
is chunk_size x max(N, M) distances and the N x M matrix never exists at once.

>>> import torch
>>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
>>> prdc(x, x, k=3)["precision"]
1.0
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch


def _as_features(x: Any, name: str, dtype: torch.dtype) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N samples, D features), got shape {tuple(t.shape)}")
    t = t.to(dtype)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contain NaN or inf; the features are broken")
    return t


def _row_chunks(x: torch.Tensor, chunk_size: int) -> Iterator[tuple[int, torch.Tensor]]:
    for start in range(0, x.shape[0], chunk_size):
        yield start, x[start : start + chunk_size]


def _distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (len(a), len(b)) via ||a||^2 + ||b||^2 - 2 a.b, clamped at 0."""
    a_sq = (a * a).sum(1, keepdim=True)
    return (a_sq + b_sq[None, :] - 2.0 * (a @ b.T)).clamp_(min=0.0).sqrt_()


def knn_radii(x: torch.Tensor, k: int | Sequence[int], chunk_size: int = 1024) -> torch.Tensor:
    """Distance of each row of x (N, D) to its k-th nearest other row: (N,), same dtype.

    Like ``prdc``, this is the (k+1)-th smallest distance counting the row itself (distance 0).
    With a sequence of ks: (len(ks), N), one distance pass for all of them.
    """
    ks = [k] if isinstance(k, int) else list(k)
    top = max(ks)
    if top + 1 > x.shape[0]:
        raise ValueError(f"k={top} nearest neighbours need at least k + 1 = {top + 1} samples, got {x.shape[0]}")
    sq = (x * x).sum(1)
    radii = torch.empty(len(ks), x.shape[0], dtype=x.dtype, device=x.device)
    cols = torch.tensor(ks, device=x.device)
    for start, rows in _row_chunks(x, chunk_size):
        d = _distances(rows, x, sq)
        d[torch.arange(len(rows)), torch.arange(start, start + len(rows))] = 0.0  # exact self-distance
        radii[:, start : start + len(rows)] = d.topk(top + 1, dim=1, largest=False).values[:, cols].T
    return radii[0] if isinstance(k, int) else radii


def prdc(
    real_feats: Any,
    fake_feats: Any,
    k: int = 5,
    chunk_size: int = 1024,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Precision, recall, density, coverage of fake (M, D) against real (N, D) features.

    real_feats, fake_feats: float arrays or tensors, finite, same D; needs N, M >= k + 1.
    k: neighbourhood size (the field uses 3 for precision/recall, 5 for density/coverage).
    chunk_size: rows of the distance matrix computed at once (memory: chunk_size x max(N, M)).
    dtype: float64 by default so that ties and near-ties match the float64 reference; float32
      halves memory and may flip comparisons at distances within ~1e-6 relative of a radius.
    device: where to compute (None: where the tensors are; numpy inputs: the CPU).
    Returns dict(precision, recall, density, coverage) of floats; all in [0, 1] but density,
    which is in [0, N/k] and is about 1 when the two sets match.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return prdc_multi(real_feats, fake_feats, (k,), chunk_size, dtype, device)[k]


def prdc_multi(
    real_feats: Any,
    fake_feats: Any,
    ks: Sequence[int],
    chunk_size: int = 1024,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> dict[int, dict[str, float]]:
    """``prdc`` at several k from one pass over the three distance matrices: {k: dict(...)}.

    The evaluation protocol needs k=3 (precision/recall) and k=5 (density/coverage); computing
    both here costs what one k costs, since the distances dominate.
    """
    ks = list(dict.fromkeys(ks))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be integers >= 1, got {ks!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    real = _as_features(real_feats, "real features", dtype)
    fake = _as_features(fake_feats, "fake features", dtype)
    if device is not None:
        real, fake = real.to(device), fake.to(device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}; "
            "use the same extractor for both"
        )
    real_r = knn_radii(real, ks, chunk_size)  # (K, N)
    fake_r = knn_radii(fake, ks, chunk_size)  # (K, M)
    fake_sq = (fake * fake).sum(1)
    n_k = len(ks)
    fake_hits = torch.zeros(n_k, fake.shape[0], dtype=torch.int64, device=fake.device)  # real balls holding each fake
    recalled = torch.zeros(n_k, real.shape[0], dtype=torch.bool, device=real.device)
    covered = torch.zeros(n_k, real.shape[0], dtype=torch.bool, device=real.device)
    for start, rows in _row_chunks(real, chunk_size):
        d = _distances(rows, fake, fake_sq)  # (c, M)
        stop = start + len(rows)
        nearest = d.min(1).values
        for i in range(n_k):
            fake_hits[i] += (d < real_r[i, start:stop, None]).sum(0)
            recalled[i, start:stop] = (d < fake_r[i, None, :]).any(1)
            covered[i, start:stop] = nearest < real_r[i, start:stop]
    return {
        k: {
            "precision": float((fake_hits[i] > 0).double().mean()),
            "recall": float(recalled[i].double().mean()),
            "density": float(fake_hits[i].double().mean() / k),
            "coverage": float(covered[i].double().mean()),
        }
        for i, k in enumerate(ks)
    }
