"""GPU speed benchmarks (skipped without CUDA): Inception extraction, a full 50k evaluation, DCGAN training.

Run on a GPU machine with ``make bench`` or, as committed under reports/benchmarks/:
``python -m pytest benchmarks/test_bench_gpu.py --benchmark-only --benchmark-json gpu.json``
then ``python benchmarks/gpu/summarize.py gpu.json > reports/benchmarks/gpu.md``.

Inception weights: nothing is downloaded, so every side loads the SAME randomly initialised
Inception file (``metrics.inception.random_inception_state``) through its own loading path;
speed does not depend on the weight values. Inputs are random uint8 32x32 RGB images on the CPU
(what a generator's samples are), never zeros. Every peer runs batch ``BATCH`` and moves its
batches to the GPU itself, as a user's loop would.

Numeric modes: genbench extracts in plain fp32 (TF32 off) by default; torch-fidelity and
torchmetrics leave PyTorch's default (cuDNN convolutions in TF32 on Ampere and later). Each group
therefore has the peers at their default AND every side in the other mode, so that ratios compare
like with like. ``extra_info`` carries img/s (and, for the matmul probe, TFLOP/s).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import pytest
import torch

# GENBENCH_BENCH_DEVICE=cpu with tiny GENBENCH_GPU_N_* runs the same code on the CPU (a dry run of the script)
DEV = os.environ.get("GENBENCH_BENCH_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEV == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")

N_EXTRACT = int(os.environ.get("GENBENCH_GPU_N_EXTRACT", "10000"))
N_FAKE = int(os.environ.get("GENBENCH_GPU_N_FAKE", "50000"))
N_REAL = int(os.environ.get("GENBENCH_GPU_N_REAL", "10000"))
TRAIN_STEPS = int(os.environ.get("GENBENCH_GPU_TRAIN_STEPS", "203"))  # 3 warm-up + 200 timed
# 3 rounds of 300 steps read 0.93-0.97 at 32x32 with a 5-7% spread between rounds (H200, run 1): more, shorter rounds
TRAIN_ROUNDS = int(os.environ.get("GENBENCH_GPU_TRAIN_ROUNDS", "7"))
BATCH = int(os.environ.get("GENBENCH_GPU_BATCH", "500"))


def _sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def _device_name() -> str:
    from genbench.bench.perf import device_name

    return device_name(DEV)


def _versions() -> str:
    from importlib import metadata

    got = [f"{p} {metadata.version(p)}" for p in ("torch", "torchvision", "torchmetrics", "torch-fidelity", "genbench")]
    return ", ".join(got) + f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"


@pytest.fixture(autouse=True)
def _record_versions(request):
    yield
    bench = request.node.funcargs.get("benchmark")
    if bench is not None:
        bench.extra_info.setdefault("versions", _versions())


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from peers import save_random_inception

    return save_random_inception(tmp_path_factory.mktemp("inception"))


@pytest.fixture(scope="module")
def images():
    from peers import random_images

    return {"extract": random_images(N_EXTRACT, 1), "fake": random_images(N_FAKE, 2), "real": random_images(N_REAL, 3)}


@pytest.fixture(scope="module")
def genbench_ext(weights):
    from genbench.metrics import load_extractor

    path, sha = weights
    return load_extractor("inception-v3-tf", weights_path=path, expected_sha256=sha, device=DEV)


@pytest.fixture(scope="module")
def fidelity_net(weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(weights[0]))
    return net.to(DEV).eval()


def _batches(x: torch.Tensor):
    from peers import batches

    return batches(x, BATCH, DEV)


def _timed(benchmark, fn, n_images: int, rounds: int = 1) -> None:
    """Time ``fn`` (each test makes one untimed warm-up call on a small slice first)."""
    times: list[float] = []

    def run():
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)

    benchmark.pedantic(run, rounds=rounds, iterations=1)
    benchmark.extra_info["img_per_s"] = n_images / min(times)
    benchmark.extra_info["n_images"] = n_images
    benchmark.extra_info["device"] = _device_name()


# --- 1. Inception feature extraction ------------------------------------------------------------
def _extract_genbench(ext, tf32: bool, channels_last: bool):
    return lambda x: ext.extract(x, batch_size=BATCH, device=DEV, allow_tf32=tf32, channels_last=channels_last)


def _extract_fidelity(net):
    @torch.no_grad()
    def go(x):
        feats = [net(b)[0] for b in _batches(x)]
        return torch.cat(feats).cpu()
    return go


def _extract_torchmetrics(weights):
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights[0]), antialias=False)
    fid = fid.to(DEV)

    def go(x):
        for b in _batches(x):
            fid.update(b, real=False)
    return go


EXTRACT_SIDES = [
    ("genbench-fp32", "fp32"), ("genbench-tf32", "tf32"), ("genbench-tf32-channels_last", "tf32"),
    ("genbench-fp32-channels_last", "fp32"),
    ("torch-fidelity-default(tf32)", "tf32"), ("torch-fidelity-fp32", "fp32"),
    ("torchmetrics-fid-default(tf32)", "tf32"), ("torchmetrics-fid-fp32", "fp32"),
]


@pytest.mark.parametrize("side,mode", EXTRACT_SIDES, ids=[s for s, _ in EXTRACT_SIDES])
def test_gpu_extract(benchmark, side, mode, images, genbench_ext, fidelity_net, weights):
    from genbench.bench.timing import tf32_mode

    benchmark.group = f"gpu-inception-extract-{N_EXTRACT}x32px-b{BATCH}"
    if side.startswith("genbench"):
        fn = _extract_genbench(genbench_ext, mode == "tf32", "channels_last" in side)
    elif side.startswith("torch-fidelity"):
        fn = _extract_fidelity(fidelity_net)
    else:
        fn = _extract_torchmetrics(weights)
    x = images["extract"]
    # genbench sets its own mode inside extract(); a peer's "default" side keeps PyTorch's flags
    with contextlib.nullcontext() if "default" in side else tf32_mode(mode == "tf32"):
        fn(x[: 2 * BATCH])  # warm-up: cuDNN algorithm choice, allocator
        _sync()
        _timed(benchmark, lambda: fn(x), len(x), rounds=2)
    benchmark.extra_info["numeric_mode"] = mode


# --- 2. a full evaluation: 50k samples against precomputed real features (sides in peers.py) -----
EVAL_GROUP = f"gpu-eval-{N_FAKE}fake-vs-{N_REAL}real (real features precomputed)"


EVAL_MODES = {"fp32": (False, False), "tf32-channels_last": (True, True)}


@pytest.mark.parametrize("mode", list(EVAL_MODES))
def test_gpu_eval_genbench(benchmark, mode, images, genbench_ext):
    """FID + KID + IS + precision/recall (k=3) + density/coverage (k=5); statistics, KID and PRDC
    on the GPU. fp32 is genbench's default; tf32-channels_last is extract()'s opt-in speed mode
    (the peers' default numeric mode)."""
    from peers import genbench_side

    benchmark.group = EVAL_GROUP
    tf32, cl = EVAL_MODES[mode]
    score = genbench_side(genbench_ext, images["real"], BATCH, DEV, allow_tf32=tf32, channels_last=cl)
    genbench_ext.extract(images["fake"][: 2 * BATCH], batch_size=BATCH, allow_tf32=tf32, channels_last=cl)
    out = {}
    _timed(benchmark, lambda: out.update(score(images["fake"])), N_FAKE)
    benchmark.extra_info.update(metrics=sorted(out), numeric_mode="tf32" if tf32 else "fp32")


def test_gpu_eval_torchmetrics(benchmark, images, weights):
    """torchmetrics FID, KID and IS one after another (each runs its own Inception), TF32 default."""
    from peers import torchmetrics_side

    benchmark.group = EVAL_GROUP
    score = torchmetrics_side(weights[0], images["real"], N_FAKE, BATCH, DEV)
    _timed(benchmark, lambda: score(images["fake"]), N_FAKE)
    benchmark.extra_info.update(metrics=["fid", "kid", "is"], numeric_mode="tf32 (PyTorch default)")


@pytest.mark.parametrize("mode", ["default(tf32)", "fp32"])
def test_gpu_eval_torch_fidelity(benchmark, mode, images, weights, tmp_path):
    """torch-fidelity calculate_metrics(isc, fid, kid): one shared Inception pass; real side cached.
    default(tf32): PyTorch's default flags; fp32: TF32 off around the call, like genbench's default."""
    from peers import fidelity_side

    from genbench.bench.timing import tf32_mode

    benchmark.group = EVAL_GROUP
    with contextlib.nullcontext() if mode != "fp32" else tf32_mode(False):
        score = fidelity_side(weights[0], images["real"], N_FAKE, BATCH, DEV, tmp_path)
        _timed(benchmark, lambda: score(images["fake"]), N_FAKE)
    benchmark.extra_info.update(metrics=["fid", "kid", "is"], numeric_mode="fp32" if mode == "fp32" else "tf32 (PyTorch default)")


# --- 3. DCGAN training: genbench's loop vs a bare hand-written loop -------------------------------
TRAIN_MODES = {"fp32": {}, "tf32": {"tf32": True}, "bf16-channels_last": {"amp": "bf16", "channels_last": True}}


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("mode", list(TRAIN_MODES))
def test_gpu_train_dcgan(benchmark, mode, size):
    """genbench and bare rounds alternate (the first run measured them in separate blocks, and GPU
    clocks drifted between the blocks by more than the overhead being measured)."""
    from harness import bare_img_per_s, genbench_img_per_s, interleaved_ratio, synthetic_split

    from genbench.bench.spec import PerfOptions

    benchmark.group = f"gpu-train-dcgan{size}-{mode} (extra_info: img/s)"
    split = synthetic_split(8192 if DEV == "cuda" else 256, size)
    hp = {"batch_size": 128, "ngf": 64, "ndf": 64} if DEV == "cuda" else {"batch_size": 16, "ngf": 8, "ndf": 8}
    perf = PerfOptions(**TRAIN_MODES[mode])
    genbench_img_per_s(split, hp, 10, DEV, perf)  # warm-up (cuDNN, allocator) for both sides
    bare_img_per_s(split, hp, 10, DEV, perf)
    out = {}
    benchmark.pedantic(lambda: out.update(interleaved_ratio(split, hp, TRAIN_STEPS, DEV, perf, rounds=TRAIN_ROUNDS)),
                       rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    benchmark.extra_info["device"] = _device_name()


@pytest.mark.parametrize("mode", ["fp32", "bf16-channels_last"])
def test_gpu_train_loop_host_overhead(benchmark, mode):
    """The host microseconds per step genbench's loop adds around a train_step that does nothing
    (batch 128 of 32x32 images on the device, as in the training benchmark)."""
    from harness import loop_host_overhead, synthetic_split

    from genbench.bench.spec import PerfOptions

    benchmark.group = f"gpu-train-loop-host-overhead-{mode} (extra_info: us per step)"
    split = synthetic_split(8192 if DEV == "cuda" else 256, 32)
    out = {}
    benchmark.pedantic(lambda: out.update(loop_host_overhead(split, {"batch_size": 128 if DEV == "cuda" else 2}, 1003,
                                                             DEV, PerfOptions(**TRAIN_MODES[mode]), rounds=5)),
                       rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    benchmark.extra_info["device"] = _device_name()


# --- 4. the device's bf16 matmul peak, and Inception's FLOPs per image ----------------------------
def test_gpu_matmul_bf16_peak(benchmark):
    if DEV != "cuda":
        pytest.skip("the bf16 matmul peak is a GPU number")
    benchmark.group = "gpu-peak"
    n = 8192
    g = torch.Generator(device=DEV).manual_seed(0)
    a = torch.randn(n, n, device=DEV, dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device=DEV, dtype=torch.bfloat16, generator=g)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms: list[float] = []

    def go():
        start.record()
        for _ in range(10):
            a @ b
        end.record()
        _sync()
        ms.append(start.elapsed_time(end) / 10)

    benchmark.pedantic(go, rounds=3, iterations=1)
    benchmark.extra_info["tflops"] = 2 * n**3 / (statistics.median(ms) * 1e-3) / 1e12
    benchmark.extra_info["device"] = _device_name()


def test_gpu_inception_flops(benchmark, genbench_ext):
    """FLOPs of one 299x299 Inception forward (pool_3 + logits), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    benchmark.group = "gpu-peak"
    x = torch.randint(0, 256, (1, 3, 299, 299), dtype=torch.uint8, device=DEV)
    counter = FlopCounterMode(display=False)

    def go():
        with counter, torch.no_grad():
            genbench_ext.net.forward_features(x)

    benchmark.pedantic(go, rounds=1, iterations=1)
    benchmark.extra_info["flops_per_image"] = counter.get_total_flops()
