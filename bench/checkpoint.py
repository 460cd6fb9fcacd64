"""Checkpoints as plain dicts of tensors and numbers, written atomically, loaded weights_only."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from genbench.bench.results import atomic_write_bytes

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or belongs to another run."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_checkpoint(path: Path, spec_hash: str) -> dict[str, Any]:
    """Load with ``weights_only=True`` (no pickled code) and check it belongs to ``spec_hash``."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}; delete it to start the run afresh") from exc
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {state.get('format')!r}, expected {FORMAT}")
    if state.get("spec_hash") != spec_hash:
        raise CheckpointError(
            f"checkpoint {path} belongs to spec {state.get('spec_hash')}, not {spec_hash}; "
            "use another --out directory or delete the checkpoint"
        )
    return state
