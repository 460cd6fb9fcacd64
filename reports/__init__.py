"""genbench.reports: leaderboards (Markdown, CSV, JSONL), sample grids and point plots.

Reads result rows (plain dicts) and arrays; never imports a model, a metric or the training
loop, so it runs anywhere the rows and PNGs are.
"""

from genbench.reports.grids import GridError, make_grid, save_image_grid, save_points_plot
from genbench.reports.leaderboard import ReportError, load_rows, report, to_frame, write_leaderboard

__all__ = [
    "GridError", "make_grid", "save_image_grid", "save_points_plot",
    "ReportError", "load_rows", "report", "to_frame", "write_leaderboard",
]
