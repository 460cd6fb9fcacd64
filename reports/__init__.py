"""genbench.reports: leaderboards (Markdown, CSV, JSONL, HTML), sample grids and point plots.

Reads result rows (plain dicts) and arrays; never imports a model, a metric or the training
loop, so it runs anywhere the rows and PNGs are. Names are imported on first use, so that
``genbench.reports.grids`` (which the runner needs) does not pull pandas and scipy into every
worker process.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GridError": "grids", "make_grid": "grids", "save_image_grid": "grids", "save_points_plot": "grids",
    "ReportError": "leaderboard", "load_rows": "leaderboard", "report": "leaderboard", "to_frame": "leaderboard",
    "write_leaderboard": "leaderboard",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genbench.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"genbench.reports.{_EXPORTS[name]}"), name)
