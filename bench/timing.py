"""Wall-clock timing with device synchronisation, and peak-memory readings."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from typing import Iterator

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels so that a timer reads real work, not launch time."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - not on our machines
        torch.mps.synchronize()


class Stopwatch:
    """Accumulates seconds between start() and stop(), synchronising the device each time."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.seconds = 0.0
        self._t0: float | None = None

    def start(self) -> None:
        synchronize(self.device)
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        if self._t0 is None:
            raise RuntimeError("Stopwatch.stop() without start()")
        synchronize(self.device)
        dt = time.perf_counter() - self._t0
        self.seconds += dt
        self._t0 = None
        return dt


def reset_peak_memory(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device | str) -> int:
    """Peak allocated GPU memory on CUDA; the process's peak resident set size on CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


@contextlib.contextmanager
def tf32_mode(enabled: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions on or off inside the block, restored after.

    PyTorch runs cuDNN convolutions in TF32 by default on Ampere and later (10-bit mantissa):
    feature extraction runs with ``tf32_mode(False)`` so that its fp32 is fp32 on every GPU.
    """
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
