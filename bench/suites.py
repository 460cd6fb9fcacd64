"""Named suites: lists of runs (plus reference rows) that make one leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genbench.bench import runner
from genbench.bench.registry import Registry
from genbench.bench.results import merge_rows
from genbench.bench.spec import Budget, EvalProtocol, RunSpec


@dataclass(frozen=True)
class SuiteEntry:
    spec: RunSpec
    label: str
    kind: str = "run"  # run | reference


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    note: str
    datasets: tuple[str, ...]
    protocol: EvalProtocol
    entries: Callable[[], list[SuiteEntry]]


SUITES: Registry[Suite] = Registry("suite")

QUICK_PROTOCOL = EvalProtocol(extractor="mnist-lenet", n_fake=2000, split="test")
# Step budgets sized so that the whole quick suite (training + evaluation) takes well
# under 15 minutes on 2 CPU cores.
QUICK_STEPS = {"dcgan": 2000, "vae": 1500}


def _quick_entries() -> list[SuiteEntry]:
    out = []
    for baseline, steps in QUICK_STEPS.items():
        trained = RunSpec(baseline, "mnist", Budget(max_steps=steps), seed=0, eval_seed=0, protocol=QUICK_PROTOCOL)
        out.append(SuiteEntry(trained, baseline))
        untrained = trained.replace(budget=Budget(max_steps=0))
        out.append(SuiteEntry(untrained, f"untrained ({baseline})", "reference"))
    return out


SUITES.register(
    "quick",
    Suite(
        name="quick",
        description="DCGAN and VAE on the embedded MNIST, one seed, small step budgets (CPU, minutes)",
        note=(
            "**Quick smoke-level budget, one seed per row: this checks that the harness and the "
            "baselines work end to end. It is not a ranking of methods.** Samples are scored "
            "against the 500 held-out test digits; `real data` is 2,000 training digits scored "
            "the same way."
        ),
        datasets=("mnist",),
        protocol=QUICK_PROTOCOL,
        entries=_quick_entries,
    ),
)


def run_suite(
    name: str, out_dir: Path | str, leaderboard_dir: Path | str | None, progress: bool | None = None,
    log: Callable[[str], Any] = print,
) -> list[dict[str, Any]]:
    """Run every entry of suite ``name`` (finished runs are reused) and write its leaderboard."""
    from genbench.reports.leaderboard import write_leaderboard

    suite = SUITES.get(name)
    out_dir = Path(out_dir)
    entries = suite.entries()
    for e in entries:  # validate every spec before running any
        runner.prepare(e.spec)
    rows = []
    for dataset in suite.datasets:
        log(f"[{name}] reference: real data on {dataset}")
        rows.append(runner.real_data_row(dataset, suite.protocol, out_dir))
    for i, e in enumerate(entries, 1):
        log(f"[{name}] {i}/{len(entries)}: {e.label} ({e.spec.run_name})")
        row = runner.run(e.spec, out_dir, label=e.label, kind=e.kind, progress=progress)
        log(f"[{name}]   {row['status']} in {row['wall_seconds']:.1f}s: "
            + ", ".join(f"{k}={v:.4g}" for k, v in row["metrics"].items()))
        rows.append(row)
    rows = merge_rows(rows)
    if leaderboard_dir is not None:
        write_leaderboard(rows, Path(leaderboard_dir), title=f"genbench leaderboard: {name}", note=suite.note)
    return rows
