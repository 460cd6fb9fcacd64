"""FD from statistics at d=2048: genbench (one Cholesky + one eigvalsh) vs pytorch-fid (scipy sqrtm).

Statistics: mean and covariance (float64) of 4096 random 2048-d samples per side, so both
covariances are full-rank SPD, as for Inception pool features at n >= 2048. Target: >= 5x.
"""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics import frechet_distance

N, D = 4096, 2048


@pytest.fixture(scope="module")
def stats(make_features) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for seed, shift in ((1, 0.0), (2, 0.05)):
        x = make_features(N, D, seed, shift).astype(np.float64)
        out += [x.mean(0), np.cov(x, rowvar=False)]
    return tuple(out)


@pytest.fixture(scope="module")
def reference_value(stats) -> float:
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    return float(fid_score.calculate_frechet_distance(*stats))


@pytest.mark.benchmark(group="fd-d2048")
def test_fd_genbench(benchmark, stats, reference_value) -> None:
    value = benchmark.pedantic(frechet_distance, args=stats, rounds=3, iterations=1, warmup_rounds=1)
    assert value == pytest.approx(reference_value, rel=1e-6)


@pytest.mark.benchmark(group="fd-d2048")
def test_fd_pytorch_fid_sqrtm(benchmark, stats, reference_value) -> None:
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    value = benchmark.pedantic(fid_score.calculate_frechet_distance, args=stats, rounds=2, iterations=1)
    assert value == pytest.approx(reference_value, rel=1e-9)
