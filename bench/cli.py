"""The `genbench` command line. Subcommands only parse arguments and dispatch.

Exit codes: 0 success, 1 a run failed or diverged, 2 bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep the usage line
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"genbench: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genbench", description="Benchmark image generative models under fixed budgets.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list registered baselines, datasets, extractors, metrics or suites")
    ls.add_argument("what", choices=["baselines", "datasets", "extractors", "metrics", "suites"])
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    r = sub.add_parser(
        "run", help="train one baseline under a budget, evaluate it, write its result row",
        description="Train BASELINE on DATASET until the first budget limit is reached, sample, "
        "score every metric from one feature pass, and write OUT/<run>/row.json. "
        "Example: genbench run --baseline dcgan --dataset mnist --steps 500 --seed 0 --out runs",
    )
    r.add_argument("--baseline", required=True, help="registered name (genbench list baselines) or pkg.module:Class")
    r.add_argument("--dataset", required=True, help="registered name (genbench list datasets)")
    r.add_argument("--steps", type=_nonneg_int, help="budget: generator updates")
    r.add_argument("--kimg", type=_positive_float, help="budget: thousands of real images shown to D / the encoder")
    r.add_argument("--minutes", type=_positive_float, help="budget: wall-clock minutes of training")
    r.add_argument("--seed", type=_nonneg_int, default=0, help="training seed (default 0)")
    r.add_argument("--eval-seed", type=_nonneg_int, default=0, help="evaluation seed for sampling (default 0)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter, e.g. --set lr=1e-4 (repeatable)")
    r.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    r.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"],
                   help="autocast train steps and sampling (metrics stay fp32; default off)")
    r.add_argument("--channels-last", action="store_true", help="NHWC memory format for networks and batches")
    r.add_argument("--compile", action="store_true", help="torch.compile the networks (in place)")
    r.add_argument("--tf32", action="store_true",
                   help="TF32 matmuls/convolutions in training (default off; feature extraction is always fp32)")
    r.add_argument("--extractor", default=None, help="feature extractor (default mnist-lenet)")
    r.add_argument("--n-fake", type=int, default=None, help="generated samples scored (default 2000)")
    r.add_argument("--n-real", type=int, default=None, help="reference samples (default: whole split)")
    r.add_argument("--split", default=None, choices=["train", "val", "test"], help="reference split (default test)")
    r.add_argument("--resize-mode", default=None, help="extractor resize mode (inception-v3-tf: legacy-tf | clean)")
    r.add_argument("--weights", default=None, help="extractor weights file (default: shipped / $GENBENCH_WEIGHTS_DIR / torch hub cache)")
    r.add_argument("--weights-sha256", default=None,
                   help="sha256 of custom extractor weights; metrics are then named as a custom extractor's")
    r.add_argument("--data-root", default=None, help="folder with the files of an on-disk dataset")
    r.add_argument("--checkpoint-every", type=_nonneg_int, default=0, help="checkpoint every N steps (0: only at the end)")
    r.add_argument("--nproc", type=_nonneg_int, default=None,
                   help="data-parallel processes on this machine (gloo on cpu; nccl with --device cuda, one GPU "
                   "each); --set batch_size is the global batch. Under torchrun leave it out: WORLD_SIZE is used")
    r.add_argument("--out", default="runs", help="output folder; the run goes to OUT/<baseline>-<dataset>-s<seed>-<hash>")
    r.add_argument("--label", default=None, help="display name in leaderboards (default: the baseline)")
    r.add_argument("--no-resume", action="store_true", help="ignore an existing row/checkpoint of this spec")
    r.add_argument("--json", action="store_true", help="print the result row as JSON")

    s = sub.add_parser("suite", help="run a named suite and write its leaderboard",
                       description="Run every entry of a suite (finished runs are reused) and write the leaderboard.")
    s.add_argument("name", help="suite name (genbench list suites)")
    s.add_argument("--out", default=None, help="runs folder (default runs/<name>)")
    s.add_argument("--leaderboard", default=None, help="leaderboard folder (default reports/leaderboards/<name>)")

    rep = sub.add_parser("report", help="render a leaderboard from result rows",
                         description="Write README.md (Markdown tables: mean and 95%% CI over seeds), leaderboard.csv, "
                         "aggregate.csv, results.jsonl, grids/, plots/ and index.html to --out. With --check: say "
                         "whether the leaderboard RESULTS is stale (exit 0 fresh, 1 stale, 2 bad input).")
    rep.add_argument("results", help="a results.jsonl, or a folder of run directories / with results.jsonl")
    rep.add_argument("--out", default=None, help="leaderboard folder (required unless --check)")
    rep.add_argument("--title", default=None, help="default: the title the leaderboard in --out recorded")
    rep.add_argument("--note", default=None, help="text printed above the tables (default: the recorded one)")
    rep.add_argument("--html", action=argparse.BooleanOptionalAction, default=True,
                     help="also write plots/ and the self-contained index.html (default on)")
    rep.add_argument("--check", action="store_true", help="check the committed leaderboard RESULTS for staleness")

    te = sub.add_parser("train-extractor", help="train the project's MNIST classifier feature extractor",
                        description="Train mnist-lenet on the embedded MNIST train split and write its weights.")
    te.add_argument("name", choices=["mnist-lenet"])
    te.add_argument("--out", default=None, help="weights folder (default: the package's metrics/weights)")
    te.add_argument("--seed", type=_nonneg_int, default=0)
    _add_ref_eval(sub)
    from genbench.reports.compare_cli import register as register_compare  # `genbench compare`; sets args.handler
    register_compare(sub)
    from genbench.bench.sweep_cli import register as register_sweep  # `genbench sweep`; sets args.handler
    register_sweep(sub)
    return p


def _add_ref_eval(sub: Any) -> None:
    """The `ref` and `eval` subcommands (logic in bench/evaluation.py)."""
    ref = sub.add_parser(
        "ref", help="write reference statistics (features, logits, mean, cov) of a dataset split",
        description="Compute the reference statistics of DATASET's SPLIT with an extractor and write them "
        "(npz, atomically), cached by a content hash of everything that changes the numbers; prints the path. "
        "Example: genbench ref --dataset mnist --split test",
    )
    ref.add_argument("--dataset", required=True, help="registered name (genbench list datasets)")
    ref.add_argument("--extractor", default="mnist-lenet", help="feature extractor (default mnist-lenet)")
    ref.add_argument("--split", default="test", choices=["train", "val", "test"], help="split (default test)")
    ref.add_argument("--n", type=_nonneg_int, default=None, help="rows (default: whole split; fewer: a seeded subset)")
    ref.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the subset when --n < the split size")
    ref.add_argument("--out", default=None, help="output .npz (default: the cache, $GENBENCH_CACHE/stats)")
    _add_extractor_args(ref)
    ref.add_argument("--data-root", default=None, help="folder with the files of an on-disk dataset")

    ev = sub.add_parser(
        "eval", help="score FAKE samples against REAL ones (folders, .npy/.npz images, ref stats, features)",
        description="REAL and FAKE are each a folder of PNG/JPEG images (same size), a .npy/.npz of uint8 "
        "images (NCHW, NHWC or NHW), or (REAL) a reference-stats .npz from `genbench ref`; with --features "
        "float (N, D) feature matrices in .npy. Exit 2 on bad input. "
        "Example: genbench eval real_images/ samples.npy --metrics fd,kid --json",
    )
    ev.add_argument("real", help="reference images, `genbench ref` statistics, or features")
    ev.add_argument("fake", help="generated images or features")
    ev.add_argument("--metrics", default=None,
                    help="comma-separated: fd,kid,is,precision,recall,density,coverage (default: all available)")
    ev.add_argument("--extractor", default=None, help="feature extractor (default: REAL's ref stats', else mnist-lenet)")
    ev.add_argument("--features", action="store_true", help="inputs are float (N, D) .npy features; no extractor")
    ev.add_argument("--seed", type=_nonneg_int, default=0, help="evaluation seed (KID subsets; default 0)")
    ev.add_argument("--batch-size", type=int, default=500, help="images per extractor batch (no effect on values)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    _add_extractor_args(ev)


def _add_extractor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None, help="extractor weights file (default: the registered search path)")
    p.add_argument("--weights-sha256", default=None, help="expected sha256 of --weights (unofficial weights: a custom extractor)")
    p.add_argument("--resize-mode", default=None, help="resize mode of the extractor (e.g. legacy-tf, clean)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")


def _print_table(rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False) if rows else "(none)")


def cmd_list(args: argparse.Namespace) -> int:
    from genbench.baselines import BASELINES
    from genbench.bench.datasets import DATASETS
    from genbench.bench.suites import SUITES
    from genbench.metrics import EXTRACTORS, METRICS

    if args.what == "baselines":
        from genbench.baselines.plugins import load_entry_points

        load_entry_points()
        rows = [{"name": n, "task": c.task.value, "paper": c.paper.split(".")[0]} for n, c in BASELINES.items()]
    elif args.what == "datasets":
        rows = [{"name": n, "needs_root": e.needs_root, "description": e.description} for n, e in DATASETS.items()]
    elif args.what == "extractors":
        rows = [_describe(n, e) for n, e in EXTRACTORS.items()]
    elif args.what == "metrics":
        rows = [_describe(n, m) for n, m in METRICS.items()]
    else:
        rows = [{"name": n, "description": s.description} for n, s in SUITES.items()]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        _print_table(rows)
    return EXIT_OK


def _describe(name: str, obj: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(obj):
        d = {k: v for k, v in dataclasses.asdict(obj).items() if not callable(v)}
    else:
        d = {k: v for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)}
    return {"name": name, **{k: v for k, v in d.items() if k != "name"}}


def _spec_from_args(args: argparse.Namespace):
    from genbench.bench.distributed import resolve_world_size
    from genbench.bench.spec import Budget, EvalProtocol, PerfOptions, RunSpec, parse_override

    budget = Budget(
        max_steps=args.steps, max_kimg=args.kimg,
        max_wall_seconds=None if args.minutes is None else args.minutes * 60.0,
    )
    proto = {k: v for k, v in {"extractor": args.extractor, "n_fake": args.n_fake, "n_real": args.n_real,
                               "split": args.split, "resize_mode": args.resize_mode,
                               "weights_sha256": args.weights_sha256}.items() if v is not None}
    return RunSpec(
        baseline=args.baseline, dataset=args.dataset, budget=budget, seed=args.seed,
        eval_seed=args.eval_seed, overrides=dict(parse_override(o) for o in args.overrides),
        protocol=EvalProtocol(**proto), device=args.device, data_root=args.data_root,
        checkpoint_every=args.checkpoint_every, weights_path=args.weights,
        perf=PerfOptions(amp=args.amp, channels_last=args.channels_last, compile=args.compile, tf32=args.tf32),
        world_size=resolve_world_size(getattr(args, "nproc", None)),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from genbench.bench.runner import run

    from genbench.bench.distributed import launch_rank

    spec = _spec_from_args(args)
    row = run(spec, args.out, label=args.label, resume=not args.no_resume)
    if launch_rank() not in (None, 0):  # under torchrun only rank 0 prints
        return EXIT_OK if row["status"] == "ok" else EXIT_FAILED
    if args.json:
        print(json.dumps(row, indent=2, sort_keys=True, default=str))
    else:
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                            for k, v in row["metrics"].items())
        print(f"{row['status']}: {row['label']} on {row['dataset']}: {row['steps']} steps, "
              f"{row['kimg']:.1f} kimg, {row['wall_seconds']:.1f}s (stopped by {row['stopped_by']}); {metrics}")
        print(f"row: {Path(args.out) / spec.run_name / 'row.json'}")
        if row["error"]:
            print(f"error: {row['error']}", file=sys.stderr)
    return EXIT_OK if row["status"] == "ok" else EXIT_FAILED


def cmd_suite(args: argparse.Namespace) -> int:
    from genbench.bench.suites import run_suite

    out = args.out or f"runs/{args.name}"
    board = args.leaderboard or f"reports/leaderboards/{args.name}"
    rows = run_suite(args.name, out, board)
    print(f"leaderboard: {board}/README.md")
    return EXIT_OK if all(r["status"] == "ok" for r in rows) else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from genbench.reports.leaderboard import check_leaderboard, report

    if args.check:
        res = check_leaderboard(args.results)
        for line in res["render"]:
            print(f"stale rendering: {line}")
        for line in res["results"]:
            print(f"stale results: {line}")
        for line in res["warnings"]:
            print(f"note: {line}")
        made = (res["made_at"] or {}).get("commit") or "unknown"
        print(f"{args.results}: {'STALE' if res['stale'] else 'up to date'} (made at {str(made)[:10]}, "
              f"HEAD {str(res['head'].get('commit'))[:10]})")
        return EXIT_FAILED if res["stale"] else EXIT_OK
    if args.out is None:
        raise ValueError("genbench report needs --out DIR (or --check to check a leaderboard)")
    report(args.results, args.out, title=args.title, note=args.note, html=args.html)
    print(f"leaderboard: {Path(args.out) / 'README.md'}")
    return EXIT_OK


def cmd_train_extractor(args: argparse.Namespace) -> int:
    from genbench.bench.train_extractor import main as train_main

    argv = ["--seed", str(args.seed)] + (["--out", args.out] if args.out else [])
    return train_main(argv)


def cmd_ref(args: argparse.Namespace) -> int:
    from genbench.bench.evaluation import make_reference

    path, reused = make_reference(
        args.dataset, extractor=args.extractor, split=args.split, n=args.n, seed=args.seed, out=args.out,
        data_root=args.data_root, weights=args.weights, weights_sha256=args.weights_sha256,
        resize_mode=args.resize_mode, device=args.device,
    )
    if reused:
        print("reference statistics up to date (cached)", file=sys.stderr)
    print(path)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from genbench.bench.evaluation import evaluate

    out = evaluate(
        args.real, args.fake, metrics=None if args.metrics is None else args.metrics.split(","),
        extractor=args.extractor, features=args.features, seed=args.seed, weights=args.weights,
        weights_sha256=args.weights_sha256, resize_mode=args.resize_mode, device=args.device,
        batch_size=args.batch_size,
    )
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return EXIT_OK
    for key, value in out["metrics"].items():
        hib = out["higher_is_better"].get(key)
        direction = "" if hib is None else (" (higher is better)" if hib else " (lower is better)")
        print(f"{key} = {value:.6g}{direction}")
    for key, why in out["unavailable"].items():
        print(f"{key}: {why}")
    for side in ("real", "fake"):
        d = out[side]
        print(f"{side}: {d['path']} ({d['kind']}{', ' + d['layout'] if d['layout'] else ''}, n={d['n']})")
    print(f"n_real={out['n_real']} n_fake={out['n_fake']} extractor={out['extractor']} "
          f"resize={out['resize_mode']} ({out['seconds']:.1f}s)")
    return EXIT_OK


COMMANDS = {
    "list": cmd_list, "run": cmd_run, "suite": cmd_suite, "report": cmd_report,
    "train-extractor": cmd_train_extractor, "ref": cmd_ref, "eval": cmd_eval,
}


def main(argv: Sequence[str] | None = None) -> int:
    from genbench.bench.checkpoint import CheckpointError
    from genbench.bench.datasets import DatasetError
    from genbench.bench.registry import RegistryError
    from genbench.bench.spec import SpecError
    from genbench.metrics.extractors import ExtractorError

    args = build_parser().parse_args(argv)
    try:
        return (getattr(args, "handler", None) or COMMANDS[args.command])(args)
    except (SpecError, RegistryError, DatasetError, CheckpointError, ExtractorError, FileNotFoundError, ValueError) as exc:
        print(f"genbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("genbench: interrupted; finished runs and checkpoints are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
