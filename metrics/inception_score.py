"""Inception Score from classifier logits (Salimans et al. 2016), as torch-fidelity computes it.

    IS = exp(E_x KL(p(y|x) || p(y)))

per split of ``splits`` contiguous chunks (chunk i is rows i*N//splits to (i+1)*N//splits), with
p(y) the chunk's mean prediction; the result is the mean and the population std (ddof=0) over
chunks. Unlike torch-fidelity's default, rows are not shuffled first: generated samples are
already i.i.d., and shuffling would make the split depend on a hidden seed.

>>> import torch
>>> inception_score(torch.zeros(20, 10), splits=2)  # constant predictions: IS = 1
(1.0, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


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


def inception_score(logits: Any, splits: int = 10, device: Any = None) -> tuple[float, float]:
    """(mean, std) Inception Score of float (N, K) unnormalised logits; needs N >= splits.

    Computed in float64 from ``log_softmax`` (on ``device``, the CPU when None: 50k x 1008 takes
    seconds on 2 cores, milliseconds on a GPU). The score lies in [1, K]: 1 when every sample
    gets the same prediction, K when predictions are confident and classes balanced.
    """
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be an integer >= 1, got {splits!r}")
    log_p = torch.log_softmax(_logits_float64(logits, device), dim=1)
    n = log_p.shape[0]
    if n < splits:
        raise ValueError(f"the Inception Score needs at least splits={splits} samples, got {n}; generate more samples")
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits : (i + 1) * n // splits]
        log_py = torch.logsumexp(chunk, dim=0) - np.log(chunk.shape[0])  # log of the mean prediction
        kl = (chunk.exp() * (chunk - log_py)).sum(dim=1).mean()
        scores.append(float(torch.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))
