"""Shared settings of the speed benchmarks (`make bench`: pytest benchmarks --benchmark-only).

Each comparison runs genbench and its peer in the same session on the same inputs; the peers
are test-only dependencies (pytorch-fid, prdc). Torch and BLAS use the threads the machine
gives them; the machine load is what it is, so compare the two rows of one group, not runs.
"""

from __future__ import annotations

import json
import os

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


@pytest.fixture(autouse=True)
def _log_each_benchmark(request):
    """With $GENBENCH_BENCH_LOG set, append each finished benchmark (name, group, min s, extra_info)
    as one JSON line right away: a run cut off by a time limit keeps what it measured (the
    --benchmark-json file is only written at the very end)."""
    yield
    path = os.environ.get("GENBENCH_BENCH_LOG")
    bench = request.node.funcargs.get("benchmark") if hasattr(request.node, "funcargs") else None
    stats = getattr(getattr(bench, "stats", None), "stats", None)
    if not path or stats is None:
        return
    rec = {"name": request.node.name, "group": bench.group, "min_s": stats.min, "median_s": stats.median,
           "rounds": stats.rounds, "extra_info": bench.extra_info}
    with open(path, "a") as f:
        f.write(json.dumps(rec, default=str) + "\n")
