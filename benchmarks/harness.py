"""Harness overhead: DCGAN trained by genbench's loop vs a bare hand-written PyTorch loop.

Both sides train the same networks (built by the dcgan baseline from the same seed), with the
same Adam settings, batch size, on-device data, thread count and numeric mode (TF32 / autocast /
channels_last), and both report images per second over the steps after the same warm-up, timed
with device synchronisation. The bare loop is what a researcher would write by hand: data
normalised once to a float tensor on the device, a fresh permutation per epoch, no checkpoints,
no NaN checks, no budget bookkeeping.

Used by benchmarks/test_bench_harness.py (CPU, `make bench`) and benchmarks/gpu/bench_gpu.py.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

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


def genbench_img_per_s(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions) -> float:
    """genbench's own reading (row field train_img_per_s) of a DCGAN run of ``steps`` steps."""
    torch.manual_seed(0)
    model = build_dcgan(split, hp, device, perf)
    spec = RunSpec("dcgan", "synthetic", Budget(max_steps=steps), overrides=hp, device=device,
                   protocol=EvalProtocol(n_fake=2), perf=perf)
    with tempfile.TemporaryDirectory() as tmp:
        out = train(spec, model, split, "image", Path(tmp), model.generator, resume=False, progress=False)
    assert out.status == "ok", out.error
    return float(out.train_img_per_s)


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

    perm, pos, t0 = torch.randperm(len(data), device=dev), 0, 0.0
    for step in range(steps):
        if step == WARMUP_STEPS:
            synchronize(dev)
            t0 = time.perf_counter()
        if pos + bs > len(data):
            perm, pos = torch.randperm(len(data), device=dev), 0
        x = data[perm[pos : pos + bs]]
        pos += bs
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
    synchronize(dev)
    return (steps - WARMUP_STEPS) * bs / (time.perf_counter() - t0)


def interleaved_ratio(split: Split, hp: dict[str, Any], steps: int, device: str, perf: PerfOptions,
                      rounds: int = 3) -> dict[str, Any]:
    """genbench and bare rounds alternated (g, b, g, b, ...), so clock drift and machine load hit both
    sides alike; returns the medians, every round, and median(genbench) / median(bare)."""
    import statistics

    g_rates, b_rates = [], []
    for _ in range(rounds):
        g_rates.append(genbench_img_per_s(split, hp, steps, device, perf))
        b_rates.append(bare_img_per_s(split, hp, steps, device, perf))
    g, b = statistics.median(g_rates), statistics.median(b_rates)
    return {"genbench_img_per_s": g, "bare_img_per_s": b, "ratio": g / b,
            "genbench_rounds": g_rates, "bare_rounds": b_rates}
