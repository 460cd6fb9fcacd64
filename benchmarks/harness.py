"""Harness overhead: DCGAN trained by genbench's loop vs a bare hand-written PyTorch loop.

Both sides train the same networks (built by the dcgan baseline from the same seed), with the
same Adam settings, batch size, on-device data, thread count and numeric mode (TF32 / autocast /
channels_last), and both report images per second over the steps after the same warm-up, timed
with device synchronisation. The bare loop is what a researcher would write by hand: data
normalised once to a float tensor on the device, a fresh permutation per epoch, no checkpoints,
no NaN checks, no budget bookkeeping.

``loop_host_overhead`` times the two loops around a train_step that does nothing: the host time per
step that genbench's loop adds (batches, numeric-mode context, NaN watch, budget bookkeeping).

Used by benchmarks/test_bench_harness.py (CPU, `make bench`) and benchmarks/test_bench_gpu.py.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from genbench.bench.datasets import Split
from genbench.bench.perf import apply_perf, precision
from genbench.bench.spec import Budget, DataInfo, EvalProtocol, PerfOptions, RunSpec
from genbench.bench.timing import synchronize
from genbench.bench.train import WARMUP_STEPS, train
from genbench.baselines.dcgan import DCGAN


def synthetic_split(n: int, size: int, channels: int = 3, seed: int = 0) -> Split:
    """n random uint8 images (never zeros: they can run faster than real data)."""
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8))


def _info(split: Split) -> DataInfo:
    c, h, w = split.x.shape[1:]
    return DataInfo(name=f"synthetic{h}", kind="image", shape=(c, h, w), num_classes=None,
                    splits=(("train", len(split)),))


def build_dcgan(split: Split, hp: dict[str, Any], device: str, perf: PerfOptions, seed: int = 0) -> DCGAN:
    model = DCGAN()
    gen = torch.Generator(device=device).manual_seed(seed)
    model.setup(hp, _info(split), torch.device(device), gen)
    apply_perf(model, perf)
    return model


def _genbench_train(model: DCGAN, split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """genbench's own reading (row field train_img_per_s) of ``model`` trained by genbench's loop."""
    spec = RunSpec("dcgan", "synthetic", Budget(max_steps=steps), overrides=hp, device=device,
                   protocol=EvalProtocol(n_fake=2), perf=perf)
    with tempfile.TemporaryDirectory() as tmp:
        out = train(spec, model, split, "image", Path(tmp), model.generator, resume=False, progress=False)
    assert out.status == "ok", out.error
    return float(out.train_img_per_s)


def genbench_img_per_s(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """genbench's own reading (row field train_img_per_s) of a DCGAN run of ``steps`` steps."""
    torch.manual_seed(0)
    return _genbench_train(build_dcgan(split, hp, device, perf), split, hp, steps, device, perf)


def _bare_loop(data: torch.Tensor, bs: int, steps: int, dev: torch.device, step: Callable[[torch.Tensor], None]) -> float:
    """The bare loop: ``step(x)`` on batches of ``bs`` rows of ``data`` in a fresh permutation per
    epoch; the device-synchronised seconds of the steps after WARMUP_STEPS."""
    perm, pos, t0 = torch.randperm(len(data), device=dev), 0, 0.0
    for i in range(steps):
        if i == WARMUP_STEPS:
            synchronize(dev)
            t0 = time.perf_counter()
        if pos + bs > len(data):
            perm, pos = torch.randperm(len(data), device=dev), 0
        step(data[perm[pos : pos + bs]])
        pos += bs
    synchronize(dev)
    return time.perf_counter() - t0


def bare_img_per_s(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """The same training written by hand; images/s after WARMUP_STEPS steps, device-synchronised."""
    torch.manual_seed(0)
    model = build_dcgan(split, hp, device, perf)
    G, D, opt_G, opt_D = model.G, model.D, model.opt_G, model.opt_D
    dev = torch.device(device)
    fmt = torch.channels_last if perf.channels_last else torch.contiguous_format
    data = (split.x.to(dev).float() / 127.5 - 1.0).contiguous(memory_format=fmt)
    bs, z_dim = model.hp["batch_size"], model.hp["z_dim"]
    scaler = torch.amp.GradScaler(dev.type) if perf.amp == "fp16" else None
    ones = torch.ones(bs, device=dev)
    zeros = torch.zeros(bs, device=dev)

    def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)

    def step(x: torch.Tensor) -> None:
        with precision(perf, dev):
            z = torch.randn(bs, z_dim, device=dev)
            fake = G(z)
            loss_d = F.binary_cross_entropy_with_logits(D(x), ones) + F.binary_cross_entropy_with_logits(
                D(fake.detach()), zeros)
            backward_step(loss_d, opt_D)
            D.requires_grad_(False)
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            backward_step(loss_g, opt_G)
            D.requires_grad_(True)
        if scaler is not None:
            scaler.update()

    return (steps - WARMUP_STEPS) * bs / _bare_loop(data, bs, steps, dev, step)


def _interleave(genbench: Callable[[], float], bare: Callable[[], float], rounds: int) -> tuple[list[float], list[float]]:
    g, b = [], []
    for _ in range(rounds):  # g, b, g, b, ...: clock drift and machine load hit both sides alike
        g.append(genbench())
        b.append(bare())
    return g, b


def interleaved_ratio(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions,
                      rounds: int = 3) -> dict[str, Any]:
    """genbench and bare rounds alternated (g, b, g, b, ...); returns the medians, every round,
    ``ratio`` = median(genbench) / median(bare) and ``ratio_paired`` = the median of the rounds'
    own ratios g_i / b_i (each pair ran back to back, so slow drift cancels within a pair)."""
    g_rates, b_rates = _interleave(lambda: genbench_img_per_s(split, hp, steps, device, perf),
                                   lambda: bare_img_per_s(split, hp, steps, device, perf), rounds)
    g, b = statistics.median(g_rates), statistics.median(b_rates)
    return {"genbench_img_per_s": g, "bare_img_per_s": b, "ratio": g / b,
            "ratio_paired": statistics.median(x / y for x, y in zip(g_rates, b_rates)),
            "genbench_rounds": g_rates, "bare_rounds": b_rates}


# --- the loop's own host time per step ------------------------------------------------------------
def _fixed_losses_dcgan(split: Split, hp: dict[str, Any], device: str, perf: PerfOptions) -> DCGAN:
    """A DCGAN whose train_step does no work: it returns the same four 0-d losses (on the device)
    every step, so what a loop around it spends per step is the loop's own host time."""
    model = build_dcgan(split, hp, device, perf)
    losses = {k: torch.zeros((), device=device) for k in ("loss_d", "loss_g", "d_real", "d_fake")}
    model.train_step = lambda batches: losses  # type: ignore[method-assign]
    return model


def genbench_loop_us(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """Microseconds per step of genbench's train loop around a train_step that does nothing
    (read from the run's own train_img_per_s): batches, numeric-mode context, NaN watch, budget."""
    model = _fixed_losses_dcgan(split, hp, device, perf)
    return 1e6 * model.hp["batch_size"] / _genbench_train(model, split, hp, steps, device, perf)


def bare_loop_us(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """Microseconds per step of bare_img_per_s's loop around the same do-nothing train_step: a batch
    gathered from pre-normalised on-device data, the step under the numeric-mode context."""
    model = _fixed_losses_dcgan(split, hp, device, perf)
    dev = torch.device(device)
    data = split.x.to(dev).float() / 127.5 - 1.0
    bs = model.hp["batch_size"]

    def step(x: torch.Tensor) -> None:
        with precision(perf, dev):
            model.train_step([x])

    return 1e6 * _bare_loop(data, bs, steps, dev, step) / (steps - WARMUP_STEPS)


def loop_host_overhead(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions,
                       rounds: int = 5) -> dict[str, Any]:
    """Host time per step of genbench's loop and of the bare loop around a do-nothing train_step,
    interleaved rounds; each side's reading is its fastest round (machine noise only adds time to a
    loop that does fixed work), and ``overhead_us`` = genbench - bare: what genbench adds to every
    step. Where a real step's kernels queue faster than the GPU runs them this time is hidden; where
    the host is the bottleneck (small models) it is the harness overhead, in microseconds."""
    g, b = _interleave(lambda: genbench_loop_us(split, hp, steps, device, perf),
                       lambda: bare_loop_us(split, hp, steps, device, perf), rounds)
    gm, bm = min(g), min(b)
    return {"genbench_us_per_step": gm, "bare_us_per_step": bm, "overhead_us": gm - bm,
            "genbench_rounds_us": g, "bare_rounds_us": b}
