"""Speed options applied to a built model (AMP, channels_last, torch.compile, TF32) and what a row records.

``PerfOptions`` (bench/spec.py) says what was asked; this module applies it:

- ``apply_perf(model, perf)`` after ``Baseline.setup``: channels_last on the networks' 4-D
  parameters, ``nn.Module.compile()`` in place (state_dict keys stay the same, so checkpoints
  are interchangeable with uncompiled runs), and a GradScaler on the model for fp16. Passes that
  are differentiated twice (gradient penalties) run eagerly through ``baselines.nets.eager``:
  torch.compile's aot_autograd does not support double backward.
- ``precision(perf, device)``: the context that train steps and sampling run in (TF32 flags and
  autocast); everything it changed is restored on exit, so feature extraction, which runs
  outside it, is plain fp32 with TF32 off (``FeatureExtractor.extract`` sets ``tf32_mode(False)``).
- ``perf_record(...)``: the settings in force, for the row.
"""

from __future__ import annotations

import contextlib
import platform
from typing import Any, Iterator

import torch
from torch import nn

from genbench.bench.spec import PerfOptions, SpecError
from genbench.bench.timing import tf32_mode

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def networks(model: Any) -> list[tuple[str, nn.Module]]:
    """The model's top-level networks: attributes that are nn.Modules (EMA copies included)."""
    found = []
    for name, value in vars(model).items():
        if isinstance(value, nn.Module):
            found.append((name, value))
        elif isinstance(getattr(value, "module", None), nn.Module):  # EMA-style wrappers
            found.append((f"{name}.module", value.module))
    return found


def check_perf(perf: PerfOptions, device: torch.device) -> None:
    """Refuse option combinations the device cannot run, before anything is written."""
    if perf.amp == "fp16" and device.type == "cpu":
        raise SpecError("perf amp=fp16 needs a GPU (CPU autocast is bf16 only); use --amp bf16 or --device cuda")
    if perf.amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SpecError(f"perf amp=bf16 is not supported on {torch.cuda.get_device_name(device)}; use --amp fp16")


def apply_perf(model: Any, perf: PerfOptions) -> None:
    """Apply channels_last / compile to the model's networks and give it a GradScaler for fp16."""
    nets = networks(model)
    if perf.channels_last:
        for _, net in nets:
            net.to(memory_format=torch.channels_last)
    if perf.compile:
        for _, net in nets:
            net.compile()
    model.amp_scaler = torch.amp.GradScaler(model.device.type) if perf.amp == "fp16" else None


@contextlib.contextmanager
def precision(perf: PerfOptions, device: torch.device) -> Iterator[None]:
    """The numeric mode of train steps and sampling: TF32 as asked, autocast when amp is set."""
    device = torch.device(device)
    with tf32_mode(perf.tf32):
        if perf.amp == "off":
            yield
        else:
            with torch.autocast(device.type, dtype=AMP_DTYPES[perf.amp]):
                yield


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def perf_record(perf: PerfOptions, device: torch.device | str) -> dict[str, Any]:
    """What the row says about how the numbers were computed."""
    return {
        **perf.to_dict(),
        "tf32_train": bool(perf.tf32),
        "tf32_eval": False,
        "device_name": device_name(device),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
