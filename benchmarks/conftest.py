"""Shared settings of the speed benchmarks (`make bench`: pytest benchmarks --benchmark-only).

Each comparison runs genbench and its peer in the same session on the same inputs; the peers
are test-only dependencies (pytorch-fid, prdc). Torch and BLAS use the threads the machine
gives them; the machine load is what it is, so compare the two rows of one group, not runs.
"""

from __future__ import annotations

import numpy as np
import pytest


def random_features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """float32 (n, d) features with a random non-isotropic covariance, like a network's pool layer."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    return (rng.standard_normal((n, d)).astype(np.float32) @ mix + shift).astype(np.float32)


@pytest.fixture(scope="session")
def make_features():
    """The ``random_features`` function, for the benchmark modules."""
    return random_features
