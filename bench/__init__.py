"""genbench.bench: the harness (specs, budgets, datasets, training loop, runner, results, CLI)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("genbench")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

# The evaluation protocol version: bump it whenever a change alters the numbers that an
# unchanged RunSpec produces (metric code, feature extractor, sampling). It is part of
# RunSpec.hash, so stale rows are never reused.
PROTOCOL_VERSION = 1

__all__ = ["__version__", "PROTOCOL_VERSION"]
