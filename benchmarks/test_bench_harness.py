"""Harness overhead (issue: genbench's training img/s >= 0.97 x a bare hand-written loop).

Each benchmark returns images/s over the timed steps (after the same warm-up, device-synchronised);
the value is in ``extra_info['img_per_s']`` of the pytest-benchmark JSON, and the ratio of the two
rows of a group is the harness overhead. The wall time pytest-benchmark prints also holds model
construction (and, for genbench, its final checkpoint), the same for both but the checkpoint.
On CPU: 32x32 RGB DCGAN, ngf = ndf = 32, batch 64, 20 timed steps; the GPU sizes are in
benchmarks/gpu/bench_gpu.py.
"""

from __future__ import annotations

import statistics

import pytest

from harness import bare_img_per_s, genbench_img_per_s, synthetic_split
from genbench.bench.spec import PerfOptions

HP = {"batch_size": 64, "ngf": 32, "ndf": 32}
STEPS = 23  # 3 warm-up + 20 timed
ROUNDS = 3


@pytest.fixture(scope="module")
def split32():
    return synthetic_split(1024, 32)


@pytest.mark.parametrize("side", ["genbench", "bare"])
def test_train_dcgan32_cpu(benchmark, split32, side: str) -> None:
    fn = genbench_img_per_s if side == "genbench" else bare_img_per_s
    benchmark.group = "train-dcgan32-cpu (extra_info: img/s)"
    rates: list[float] = []
    benchmark.pedantic(lambda: rates.append(fn(split32, HP, STEPS, "cpu", PerfOptions())), rounds=ROUNDS, iterations=1)
    benchmark.extra_info["img_per_s"] = statistics.median(rates)
    benchmark.extra_info["img_per_s_rounds"] = rates
    assert all(r > 0 for r in rates)
