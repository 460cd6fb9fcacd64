"""Result rows: one JSON file per run directory, merged into results.jsonl without loss.

A row is a flat-ish JSON dict (see ``ROW_KEYS``). Every write is atomic: a reader never
sees half a file, and a crash leaves the previous version in place.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

ROW_FILE = "row.json"

ROW_KEYS = (
    "label", "kind", "baseline", "dataset", "seed", "eval_seed", "split", "spec_hash", "spec",
    "git_commit", "git_dirty", "status", "error", "steps", "kimg", "wall_seconds", "stopped_by",
    "train_img_per_s", "sec_per_kimg", "sample_img_per_s", "peak_mem_bytes", "device", "threads",
    "metrics", "higher_is_better", "metric_seconds", "n_real", "n_fake", "extractor",
    "extractor_sha256", "protocol", "budget", "data", "versions", "command", "sample_grid",
    "created_at",
)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"row value of type {type(obj).__name__} is not JSON serialisable")


def dumps_row(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=_json_default, allow_nan=True)


def write_row(run_dir: Path, row: dict[str, Any]) -> Path:
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise ValueError(f"result row lacks keys {missing}")
    path = Path(run_dir) / ROW_FILE
    atomic_write_text(path, dumps_row(row) + "\n")
    return path


def read_row(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / ROW_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{i}: not a JSON row ({exc})") from None
    return rows


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    return (str(row.get("spec_hash")), str(row.get("label")))


def merge_rows(*groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union of rows; a (spec_hash, label) that repeats keeps its newest row."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for rows in groups:
        for row in rows:
            key = row_key(row)
            old = merged.get(key)
            if old is None or str(row.get("created_at", "")) >= str(old.get("created_at", "")):
                merged[key] = row
    return list(merged.values())


def collect_rows(root: Path) -> list[dict[str, Any]]:
    """Every run directory's row under ``root`` (one level down), merged."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(root).glob(f"*/{ROW_FILE}"))]
    return merge_rows(rows)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    atomic_write_text(Path(path), "".join(dumps_row(r) + "\n" for r in rows))
    return Path(path)


def git_state(start: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the source tree genbench runs from; (None, None) outside git."""
    cwd = Path(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            # generated leaderboards are outputs, not source: regenerating one must not mark it dirty
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports/leaderboards"],
            cwd=cwd, capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def versions() -> dict[str, str]:
    import numpy
    import torch

    from genbench.bench import PROTOCOL_VERSION, __version__

    return {
        "genbench": __version__,
        "protocol": str(PROTOCOL_VERSION),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


RESULTS_FILE = "results.jsonl"


def refresh_results(out_dir: Path) -> Path:
    """Rewrite ``out_dir/results.jsonl`` as the merge of every run's row file.

    Under an exclusive lock, so that runs finishing at the same time in one folder never
    lose each other's rows; each rewrite is atomic.
    """
    import fcntl

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return write_jsonl(out_dir / RESULTS_FILE, collect_rows(out_dir))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
