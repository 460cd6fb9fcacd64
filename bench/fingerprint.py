"""Content hashes of the code and data files that make genbench's numbers.

A run's spec hash and a cached reference statistic must change whenever the code that produced
them changes; a version number that has to be bumped by hand is forgotten (PROTOCOL_VERSION stayed
1 through every number-changing commit of the project's first months). So both also hash the
files themselves:

- ``number_fingerprint()``: every file under ``bench/``, ``baselines/`` and ``metrics/`` of the
  installed genbench (sources, the embedded data, the extractor weights; not the READMEs) except the command-line
  front ends and the sweep/cluster launchers, which decide what runs but not its numbers. Nearly
  the folders ``reports.leaderboard.NUMBER_PATHS`` watches (what ``genbench report --check`` calls
  stale); that check also counts pyproject.toml and the READMEs, so it may call a board stale
  whose rows' hashes would not change, never the reverse.
- ``feature_fingerprint()``: the files a reference statistic depends on (feature extractors,
  resizing, feature statistics, dataset loading), so that editing a baseline does not throw away
  cached real-data statistics, while editing an extractor does.
- ``file_fingerprint(path)``: one file (a plugin baseline's own module).

Hashes are of the bytes, independent of where genbench is installed (a wheel and an editable
checkout of the same commit agree); each is computed once per process.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the genbench package: bench/, baselines/, metrics/
NUMBER_DIRS = ("bench", "baselines", "metrics")
# front ends and launchers: what runs, where, with which progress bar; never the numbers of a run
NOT_NUMBERS = ("bench/cli.py", "bench/sweep.py", "bench/executors.py")
SUFFIXES = (".py", ".npz", ".pt", ".json")  # what the wheel ships of those folders (pyproject.toml), docs aside
FEATURE_FILES = (
    "metrics/extractors.py", "metrics/inception.py", "metrics/resize.py", "metrics/stats.py",
    "metrics/translation.py",  # the digit-domains extractor's network and input scaling
    "bench/timing.py",  # tf32_mode, which the extractors run under
    "bench/datasets.py", "bench/i2i_data.py", "bench/style_data.py", "bench/data", "metrics/weights",
)


def _is_number_file(rel: str) -> bool:
    return not (rel in NOT_NUMBERS or (rel.startswith("bench/") and rel.endswith("_cli.py")))


def _files(rels: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for rel in rels:
        p = PACKAGE_ROOT / rel
        if p.is_dir():
            out += [f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES and "__pycache__" not in f.parts]
        elif p.is_file():
            out.append(p)
    return sorted(set(out))


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def number_fingerprint() -> str:
    """16 hex digits over every number-making file of the installed genbench (module docstring)."""
    files = [f for f in _files(NUMBER_DIRS) if _is_number_file(f.relative_to(PACKAGE_ROOT).as_posix())]
    return _digest(files)


@functools.lru_cache(maxsize=None)
def feature_fingerprint() -> str:
    """16 hex digits over the files that reference feature statistics depend on."""
    return _digest(_files(FEATURE_FILES))


@functools.lru_cache(maxsize=None)
def file_fingerprint(path: str) -> str:
    """16 hex digits of one file's bytes ('' when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""
