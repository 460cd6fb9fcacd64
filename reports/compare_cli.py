"""`genbench compare BASE NEW`: the regression gate on the command line.

Exit 0 when nothing regressed, 1 when something did, 2 on bad input (the CLI's main turns
ReportError, a ValueError, into exit 2 with the message). Logic in reports/compare.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "handle"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `compare` subcommand to ``subparsers``; its handler is ``args.handler``."""
    p = subparsers.add_parser(
        "compare", help="regression gate: compare NEW result rows with BASE, exit 1 on a regression",
        description=(
            "For each (entry, dataset, metric) and speed field, report NEW - BASE and flag a regression when NEW "
            "is worse by more than the noise allows: with >= 2 seeds on both sides Welch's t-test, Holm-corrected "
            "over all comparisons, plus a minimum effect size; with one seed a relative tolerance. Entries that "
            "are missing or failed in NEW, or whose protocol changed, also count. BASE and NEW are results.jsonl "
            "files or folders holding one (a leaderboard, a runs folder). Exit 0: no regression, 1: regression, "
            "2: bad input. Example: genbench compare reports/leaderboards/quick runs/pr/results.jsonl"
        ),
    )
    p.add_argument("base", help="BASE rows: a results.jsonl or a folder with one (e.g. a committed leaderboard)")
    p.add_argument("new", help="NEW rows: a results.jsonl or a folder with one")
    p.add_argument("--json", action="store_true", help="print every comparison as JSON")
    p.add_argument("--all", action="store_true", help="also list comparisons that did not move beyond noise")
    p.add_argument("--tol", action="append", default=[], metavar="NAME=REL",
                   help="relative tolerance with one seed on a side, per metric / speed field or 'quality' / 'speed' "
                        "(defaults quality=0.05, speed=0.25; repeatable)")
    p.add_argument("--min-effect", action="append", default=[], metavar="NAME=REL",
                   help="relative minimum effect size with seeds (defaults quality=0.02, speed=0.10; repeatable)")
    p.add_argument("--atol", action="append", default=[], metavar="NAME=ABS",
                   help="absolute floor of the threshold, e.g. kid_mnist=0.002 for metrics near 0 (repeatable)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate of the Holm-corrected tests")
    p.add_argument("--no-speed-gate", action="store_true",
                   help="report speed changes without gating on them (e.g. BASE was timed on another machine)")
    p.add_argument("--markdown", default=None, metavar="PATH", help="also write the comparison as a Markdown diff")
    p.set_defaults(handler=handle)
    return p


def handle(args: argparse.Namespace) -> int:
    from genbench.reports.compare import Thresholds, compare_rows, parse_assignments, render_markdown_diff, render_text, to_json_text
    from genbench.reports.grids import atomic_write_bytes
    from genbench.reports.leaderboard import load_rows

    th = Thresholds(
        tol=parse_assignments(args.tol, "--tol"), min_effect=parse_assignments(args.min_effect, "--min-effect"),
        atol=parse_assignments(args.atol, "--atol"), alpha=args.alpha, gate_speed=not args.no_speed_gate,
    )
    result = compare_rows(load_rows(args.base), load_rows(args.new), th)
    if args.markdown:
        atomic_write_bytes(Path(args.markdown), render_markdown_diff(result, args.base, args.new).encode("utf-8"))
    sys.stdout.write(to_json_text(result) if args.json else render_text(result, show_all=args.all))
    return result.exit_code
