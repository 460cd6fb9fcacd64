"""Metrics for conditional and structured generators: class accuracy and code-to-label accuracy.

Pure functions of predictions and labels (torch tensors or numpy arrays); no model inside.

- ``class_accuracy``: how often a classifier assigns generated samples to the class they were
  requested for (class-conditional GANs: cGAN, AC-GAN), overall and per requested class.
- ``code_label_accuracy``: how well an unsupervised categorical code (InfoGAN) predicts a
  classifier's label under the best one-to-one mapping of codes to labels, found with the
  Hungarian algorithm (``scipy.optimize.linear_sum_assignment``). The runner applies it to
  generated samples: the code each was drawn with against the MNIST classifier's label of the
  image. The InfoGAN paper's 5% error (Chen et al. 2016, sec. 7.2) uses c1 as a classifier of
  digits through Q; a related quantity (both ask whether the code is the digit class), not the
  same one, so the two numbers are not directly comparable.

>>> import torch
>>> codes = torch.tensor([3, 3, 1, 1, 0])
>>> labels = torch.tensor([7, 7, 2, 2, 2])
>>> code_label_accuracy(codes, labels, k=4)        # 3 -> 7, 1 -> 2, 0 unmatched to 2
0.8
>>> class_accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 1, 1]))
{'overall': 0.6666666666666666, 'per_class': [1.0, 0.5]}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["class_accuracy", "code_label_accuracy"]


def _int_vector(x: Any, name: str) -> np.ndarray:
    """A 1-D integer array (int64) from a tensor or array; ValueError otherwise."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    if len(a) and a.min() < 0:
        raise ValueError(f"{name} must be >= 0, got min {a.min()}")
    return a.astype(np.int64)


def class_accuracy(logits: Any, labels: Any, num_classes: int | None = None) -> dict[str, Any]:
    """Accuracy of ``argmax(logits)`` against the requested ``labels``.

    logits: float (N, K) scores (logits or probabilities; only the argmax counts).
    labels: int (N,) requested classes in [0, K).
    Returns {'overall': float in [0, 1], 'per_class': list of K floats, the accuracy among the
    samples requested for class c, or None for a class with no samples}. ``num_classes``
    defaults to K. Raises ValueError for empty input, shape or range mismatches, or NaN logits.
    """
    s = logits.detach().cpu().double().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits, np.float64)
    y = _int_vector(labels, "labels")
    if s.ndim != 2 or s.shape[0] != len(y) or s.shape[1] < 1:
        raise ValueError(f"logits must be (N, K) with N = len(labels) = {len(y)}, got shape {s.shape}")
    if len(y) == 0:
        raise ValueError("class_accuracy needs at least one sample")
    if not np.isfinite(s).all():
        raise ValueError("logits contain NaN or inf")
    k = s.shape[1] if num_classes is None else int(num_classes)
    if y.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got max {y.max()}")
    hit = s.argmax(1) == y
    per_class = [float(hit[y == c].mean()) if (y == c).any() else None for c in range(k)]
    return {"overall": float(hit.mean()), "per_class": per_class}


def code_label_accuracy(codes: Any, labels: Any, k: int) -> float:
    """Fraction of samples whose code maps to their label under the best one-to-one mapping.

    codes: int (N,) categorical codes in [0, k); labels: int (N,) labels >= 0 (e.g. an MNIST
    classifier's argmax on the generated images). The mapping maximises the number of
    matches over all injective code -> label assignments (Hungarian algorithm on the k x L
    contingency table, L = max(k, max label + 1)); codes left without a label count as wrong.
    Returns a float in [0, 1]; chance for independent uniform codes is about 1/k.
    """
    from scipy.optimize import linear_sum_assignment

    c, y = _int_vector(codes, "codes"), _int_vector(labels, "labels")
    if len(c) != len(y):
        raise ValueError(f"codes and labels must have the same length, got {len(c)} and {len(y)}")
    if len(c) == 0:
        raise ValueError("code_label_accuracy needs at least one sample")
    if k < 1 or c.max() >= k:
        raise ValueError(f"codes must lie in [0, k) with k = {k} >= 1, got max {c.max()}")
    n_labels = max(k, int(y.max()) + 1)
    table = np.zeros((k, n_labels), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(c))
