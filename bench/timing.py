"""Wall-clock timing with device synchronisation, and peak-memory readings."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
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


# Linux: writing "5" to clear_refs resets the process's peak resident set size (VmHWM in status) to
# its current resident set size (proc(5)); nothing else is cleared.
CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STATUS = Path("/proc/self/status")
_cpu_peak_reset = False  # whether the last reset_peak_memory on the CPU took effect


def reset_peak_memory(device: torch.device | str) -> bool:
    """Start a new peak-memory reading; returns whether it could (False: the CPU peak cannot be
    reset here, not Linux or no permission on /proc/self/clear_refs)."""
    global _cpu_peak_reset
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        CLEAR_REFS.write_text("5")
        _cpu_peak_reset = _vm_hwm_bytes() is not None
    except OSError:
        _cpu_peak_reset = False
    return _cpu_peak_reset


def _vm_hwm_bytes() -> int | None:
    """The process's peak resident set size since the last reset, from /proc/self/status (kB)."""
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_memory_bytes(device: torch.device | str) -> int | None:
    """The peak since ``reset_peak_memory``: allocated GPU memory on CUDA; on the CPU the process's
    peak resident set size (Linux: VmHWM, reset by clear_refs), everything resident included (the
    interpreter, torch, the data). None on the CPU where the peak could not be reset: the process's
    lifetime peak (ru_maxrss) would report earlier work's memory (another run of the same suite).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return _vm_hwm_bytes() if _cpu_peak_reset else None


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
