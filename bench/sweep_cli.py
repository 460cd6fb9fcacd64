"""`genbench sweep`: a suite or a TOML grid of runs in parallel worker processes (logic in bench/sweep.py)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED = 0, 1


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `sweep` subcommand to ``subparsers``; its handler is ``args.handler``."""
    p = subparsers.add_parser(
        "sweep", help="run a suite or a TOML grid of runs in parallel, resuming where it stopped",
        description="Run every run of SOURCE (a suite name, or a .toml sweep file: baselines x datasets x "
        "seeds x budgets; see examples/sweeps/) in --workers processes. Runs already finished under --out "
        "(same spec hash) are skipped, so rerunning an interrupted sweep resumes it; a run that fails, "
        "diverges or whose worker dies becomes a row with its status and error, and the sweep goes on. "
        "Exit 0 when every run is ok, 1 when some failed or diverged, 2 on bad input, 130 when interrupted. "
        "Example: genbench sweep examples/sweeps/gans_seeds.toml --workers 2",
    )
    p.add_argument("source", nargs="?", help="suite name (genbench list suites) or sweep .toml file")
    p.add_argument("--spec", action="append", default=[], metavar="JSON",
                   help="instead of SOURCE: one RunSpec as JSON (as in a row's 'spec'); repeatable")
    p.add_argument("--out", default=None, help="runs folder (default runs/<sweep name>)")
    p.add_argument("--executor", default=None, metavar="NAME",
                   help="where the runs execute: local (worker processes, the default), ray, slurm (submitit); "
                   "overrides the file's [executor] name, whose other keys still apply (see docs/cluster.md)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="runs at once (local: worker processes, default 1; ray/slurm: default no cap)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="torch threads (and CPUs) per run (local default: usable cores, or $OMP_NUM_THREADS if "
                   "smaller, / workers; ray/slurm: [executor] cpus_per_job, default 1)")
    p.add_argument("--leaderboard", default=None, help="also write a leaderboard of the sweep's rows to this folder")
    p.add_argument("--dry-run", action="store_true", help="list the runs and which are already finished; run nothing")
    p.add_argument("--no-progress", action="store_true", help="log one line per run instead of a progress bar")
    p.set_defaults(handler=cmd_sweep)
    return p


def _load(args: argparse.Namespace):
    from genbench.bench.spec import RunSpec, SpecError
    from genbench.bench.sweep import Sweep, SweepError, SweepTask, load_sweep

    if bool(args.source) == bool(args.spec):
        raise SweepError("give either SOURCE (a suite name or a .toml file) or --spec JSON, not both or neither")
    if args.source:
        name = Path(args.source).stem if args.source.endswith(".toml") else args.source
        sweep = load_sweep(args.source, args.out or f"runs/{name}")
        if args.out is None and sweep.name != name:  # the file names itself: its default folder follows
            sweep = load_sweep(args.source, f"runs/{sweep.name}")
        return sweep
    out = args.out or "runs"
    tasks = []
    for i, text in enumerate(args.spec, 1):
        try:
            spec = RunSpec.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError, SpecError) as exc:
            raise SweepError(f"--spec #{i} is not a RunSpec as JSON: {exc}") from None
        tasks.append(SweepTask(spec, out, spec.baseline))
    return Sweep("specs", tasks)


def _hours(h: float) -> str:
    return f"{h * 3600:.1f} s" if h < 1 / 30 else f"{h * 60:.1f} min" if h < 2 else f"{h:.2f} h"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_sweep(args: argparse.Namespace) -> int:
    from genbench.bench.executors import compute_hours, make_executor
    from genbench.bench.sweep import finished_row, run_sweep, validate

    sweep = _load(args)
    if args.dry_run:
        tasks = validate(sweep.tasks)
        for t in tasks:
            done = finished_row(t)
            state = f"done ({done['status']})" if done else "to run"
            print(f"{state:15} {t.label} | {t.spec.dataset} | seed {t.spec.seed} | {Path(t.out_dir) / t.spec.run_name}")
        print(f"{len(tasks)} runs, {sum(finished_row(t) is not None for t in tasks)} already finished")
        return EXIT_OK
    executor = make_executor(sweep.executor, sweep.tasks[0].out_dir, name=args.executor, workers=args.workers,
                             threads=args.threads)
    old = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops the workers and merges results too
    try:
        result = run_sweep(sweep, executor, progress=False if args.no_progress else None)
    finally:
        signal.signal(signal.SIGTERM, old)
    c = result.counts
    print(f"[{sweep.name}] done: {c['ok']} ok, {c['failed']} failed, {c['diverged']} diverged, "
          f"{c['skipped']} already finished; rows: {Path(sweep.tasks[0].out_dir) / 'results.jsonl'}")
    gpus = getattr(executor, "gpus_per_job", 0)
    h = compute_hours(result.rows, gpus)
    gpu_h = f" x {gpus} GPU(s) per run = {h['gpu_h']:.3g} GPU-hours" if gpus else ""
    print(f"[{sweep.name}] compute in the rows: {_hours(h['run_h'])} ({_hours(h['train_h'])} training + "
          f"{_hours(h['eval_h'])} evaluation){gpu_h}")
    for row in result.rows:
        if row.get("status") != "ok":
            print(f"  {row['status']}: {row['label']} ({row.get('run_dir')}): {row.get('error')}", file=sys.stderr)
    if args.leaderboard:
        from genbench.reports.leaderboard import write_leaderboard

        note = sweep.suite.note if sweep.suite is not None else None
        write_leaderboard(result.rows, Path(args.leaderboard), title=f"genbench sweep: {sweep.name}", note=note)
        print(f"leaderboard: {Path(args.leaderboard) / 'README.md'}")
    return EXIT_OK if all(r.get("status") == "ok" for r in result.rows) else EXIT_FAILED
