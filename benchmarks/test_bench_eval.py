"""Full evaluation on the CPU (issue #4: >= 3x faster than torchmetrics FID + KID + IS plus prdc).

Same images (random uint8 32x32 RGB, never zeros), same Inception weights file (seeded random:
nothing is downloaded; speed does not depend on the values), real features precomputed on both
sides. genbench: one Inception pass, then FID, KID, IS, precision/recall (k=3), density/coverage
(k=5). torchmetrics: FID, KID, IS one after another (three Inception passes over the fakes) plus
the prdc package (k=3 and k=5) on features from one more pass. Inception runs at ~5 img/s on 2
cores, so this uses N_FAKE = 100 fakes vs 100 reals (KID subsets of 100); the 50k version is the
GPU benchmark (test_bench_gpu.py). One round each (minutes per round).
"""

from __future__ import annotations

import os
import time

import pytest

N = int(os.environ.get("GENBENCH_CPU_EVAL_N", "100"))
BATCH = 50
GROUP = f"cpu-eval-{N}fake-vs-{N}real (real features precomputed)"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from peers import save_random_inception

    return save_random_inception(tmp_path_factory.mktemp("inception"))


@pytest.fixture(scope="module")
def images():
    from peers import random_images

    return {"fake": random_images(N, 2), "real": random_images(N, 3)}


def _time(benchmark, fn) -> dict:
    out: dict = {}

    def go():
        t0 = time.perf_counter()
        out.update(fn())
        benchmark.extra_info["img_per_s"] = N / (time.perf_counter() - t0)

    benchmark.pedantic(go, rounds=1, iterations=1)
    benchmark.extra_info["metrics"] = sorted(out)
    return out


def test_cpu_eval_genbench(benchmark, images, weights):
    from peers import genbench_side

    from genbench.metrics import load_extractor

    benchmark.group = GROUP
    ext = load_extractor("inception-v3-tf", weights_path=weights[0], expected_sha256=weights[1])
    score = genbench_side(ext, images["real"], BATCH, "cpu")
    out = _time(benchmark, lambda: score(images["fake"]))
    assert {"fd_inception-custom", "kid_inception-custom", "is_inception-custom",
            "precision_inception-custom", "density_inception-custom"} <= set(out)


def test_cpu_eval_torchmetrics_plus_prdc(benchmark, images, weights):
    pytest.importorskip("prdc")
    from peers import torchmetrics_side

    benchmark.group = GROUP
    score = torchmetrics_side(weights[0], images["real"], N, BATCH, "cpu", with_prdc=True)
    out = _time(benchmark, lambda: score(images["fake"]))
    assert {"fid", "kid", "is", "precision", "density"} <= set(out)
