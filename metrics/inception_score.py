"""Inception Score from classifier logits (Salimans et al. 2016), as torch-fidelity computes it.

    IS = exp(E_x KL(p(y|x) || p(y)))

per split of ``splits`` contiguous chunks (chunk i is rows i*N//splits to (i+1)*N//splits), with
p(y) the chunk's mean prediction; the result is the mean and the population std (ddof=0) over
chunks. As in torch-fidelity's default (``isc_features_to_metric(shuffle=True, rng_seed=2020)``),
the rows are first put in the order ``numpy.random.RandomState(seed).permutation(N)``, so genbench's
IS equals torch-fidelity's on the same logits. Without the shuffle the chunks would inherit the
samples' order: samples stored sorted by class (a class-conditional model's files named
``<label>_<i>.png``) give chunks of one class each, and an IS near 1 instead of near the number of
classes. The seed is fixed (``IS_SHUFFLE_SEED``) and recorded with the splits.

>>> import torch
>>> inception_score(torch.zeros(20, 10), splits=2)  # constant predictions: IS = 1
(1.0, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

IS_SHUFFLE_SEED = 2020  # torch-fidelity's default rng_seed for the Inception Score's shuffle


def _logits_float64(logits: Any, device: Any = None) -> torch.Tensor:
    t = logits.detach().cpu() if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"logits must be a float array (N, K), got dtype {t.dtype}")
    if t.dim() != 2 or t.shape[1] < 2:
        raise ValueError(f"logits must be 2-D (N samples, K >= 2 classes), got shape {tuple(t.shape)}")
    t = t.to(device or "cpu").double()
    if not torch.isfinite(t).all():
        raise ValueError("logits contain NaN or inf; the classifier or the samples are broken")
    return t


def inception_score(
    logits: Any, splits: int = 10, device: Any = None, shuffle: bool = True, seed: int = IS_SHUFFLE_SEED
) -> tuple[float, float]:
    """(mean, std) Inception Score of float (N, K) unnormalised logits; needs N >= splits.

    Computed in float64 from ``log_softmax`` (on ``device``, the CPU when None: 50k x 1008 takes
    seconds on 2 cores, milliseconds on a GPU). The score lies in [1, K]: 1 when every sample
    gets the same prediction, K when predictions are confident and classes balanced.
    shuffle, seed: split the rows in the order ``RandomState(seed).permutation(N)`` (torch-fidelity's
    default, seed 2020), so that the score does not depend on the order the samples are stored in;
    shuffle=False splits them as given.
    """
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be an integer >= 1, got {splits!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32) (numpy RandomState), got {seed!r}")
    log_p = torch.log_softmax(_logits_float64(logits, device), dim=1)
    n = log_p.shape[0]
    if n < splits:
        raise ValueError(f"the Inception Score needs at least splits={splits} samples, got {n}; generate more samples")
    if shuffle:
        log_p = log_p[torch.from_numpy(np.random.RandomState(seed).permutation(n)).to(log_p.device)]
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits : (i + 1) * n // splits]
        log_py = torch.logsumexp(chunk, dim=0) - np.log(chunk.shape[0])  # log of the mean prediction
        kl = (chunk.exp() * (chunk - log_py)).sum(dim=1).mean()
        scores.append(float(torch.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))
