"""Named suites: lists of runs (plus reference rows) that make one leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from genbench.bench import runner
from genbench.bench.registry import Registry
from genbench.bench.results import merge_rows
from genbench.bench.spec import Budget, EvalProtocol, RunSpec
from genbench.bench.style_data import STYLE_PROTOCOL_N


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
    protocol: EvalProtocol
    entries: Callable[[], list[SuiteEntry]]


SUITES: Registry[Suite] = Registry("suite")

QUICK_PROTOCOL = EvalProtocol(extractor="mnist-lenet", n_fake=2000, split="test")
STANDARD_PROTOCOL = EvalProtocol(extractor="mnist-lenet", n_fake=4000, split="test")

# (baseline, dataset, quick steps, overrides). Quick step budgets are sized so that the whole
# quick suite (every family, training + evaluation) takes at most 15 minutes on 2 CPU cores;
# networks are the CPU-narrow defaults each family documents.
QUICK_RUNS: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    ("dcgan", "mnist", 800, {}),
    ("vae", "mnist", 700, {}),
    ("beta-vae", "mnist", 500, {}),
    ("cvae", "mnist", 500, {}),
    ("lsgan", "mnist", 600, {}),
    ("wgan", "mnist", 150, {}),
    ("wgan-gp", "mnist", 80, {}),
    ("sngan", "mnist", 120, {}),
    ("cgan", "mnist", 400, {}),
    ("acgan", "mnist", 500, {}),
    ("infogan", "mnist", 150, {}),
    ("began", "mnist", 120, {}),
    ("stylegan-lite", "mnist", 120, {}),
    ("gan", "ring8", 800, {}),
    ("gan", "grid25", 800, {}),
    # image-to-image (bench/i2i_data.py), about 30 s each on 2 cores; StarGAN narrower than its default
    ("pix2pix", "edges2digits", 500, {}),
    ("cyclegan", "digits2textured", 250, {}),
    ("stargan", "digit-domains", 180, {"batch_size": 8, "ngf": 8, "ndf": 8, "n_blocks": 3}),
)
# Families whose generator at step 0 is shown as the 'untrained' reference row.
QUICK_UNTRAINED = ("dcgan", "vae", "gan")

# Overrides that restore each paper's network widths (each family's ``paper_widths``, documented in
# its docstring); the quick suite runs the CPU-narrow defaults and its rows say so (network_width).
def _paper_widths() -> dict[str, dict[str, Any]]:
    from genbench.baselines import BASELINES

    return {name: dict(BASELINES.get(name).paper_widths) for name in BASELINES.names() if BASELINES.get(name).paper_widths}


PAPER_WIDTHS: dict[str, dict[str, Any]] = _paper_widths()
# Runs only in the standard suite: the DCGAN family on 1000-mode stacked MNIST (Metz et al.
# 2017; PacGAN), scored by modes covered and reverse KL with the MNIST classifier per channel.
STANDARD_EXTRA: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    ("dcgan", "stacked-mnist", 1000, {}),
    ("pix2pix", "gray2color", 1000, {}),  # 64x64 photo patches: FD needs the Inception weights
)
# The standard importance-weighted NLL uses k=5000 samples (Burda et al. 2016); the quick suite
# uses each VAE's default (64), which its row records in `hparams`.
STANDARD_OVERRIDES: dict[str, dict[str, Any]] = {name: {"iw_k": 5000} for name in ("vae", "beta-vae", "cvae")}
# StarGAN's quick row is narrower and shallower than its defaults; the standard suite restores them.
STANDARD_OVERRIDES["stargan"] = {"batch_size": 16, "n_blocks": 6}
STANDARD_SEEDS = (0, 1, 2)
STANDARD_STEP_FACTOR = 10  # standard budgets: 10x the quick steps, paper widths, 3 seeds
# Style transfer, standard suite only (VGG19 on CPU does not fit the quick suite's 15 minutes,
# and without torchvision's VGG files the rows say "skipped: weights absent"). Scored on VGG19
# features (Gatys et al.'s layers) over all 90 test pairs of skimage-style. Budgets are given
# as they are (not x10): gatys' steps are L-BFGS steps per image (it trains nothing).
STYLE_PROTOCOL = EvalProtocol(extractor="vgg19", n_fake=STYLE_PROTOCOL_N, split="test")
STANDARD_STYLE: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    ("gatys", "skimage-style", 300, {}),
    ("fast-style", "skimage-style", 5000, {}),
    ("adain", "skimage-style", 5000, {}),
)


def _quick_entries() -> list[SuiteEntry]:
    out = []
    for baseline, dataset, steps, overrides in QUICK_RUNS:
        trained = RunSpec(baseline, dataset, Budget(max_steps=steps), overrides=overrides, protocol=QUICK_PROTOCOL)
        label = baseline  # leaderboard tables are per dataset
        out.append(SuiteEntry(trained, label))
        if baseline in QUICK_UNTRAINED:
            untrained = trained.replace(budget=Budget(max_steps=0))
            out.append(SuiteEntry(untrained, f"untrained ({label})", "reference"))
    return out


def _standard_entries() -> list[SuiteEntry]:
    out = []
    for baseline, dataset, steps, overrides in QUICK_RUNS + STANDARD_EXTRA:
        hp = {**overrides, **PAPER_WIDTHS.get(baseline, {}), **STANDARD_OVERRIDES.get(baseline, {})}
        label = baseline  # leaderboard tables are per dataset
        for seed in STANDARD_SEEDS:
            spec = RunSpec(baseline, dataset, Budget(max_steps=steps * STANDARD_STEP_FACTOR), seed=seed,
                           eval_seed=seed, overrides=hp, protocol=STANDARD_PROTOCOL)
            out.append(SuiteEntry(spec, label))
        if baseline in QUICK_UNTRAINED:
            spec = RunSpec(baseline, dataset, Budget(max_steps=0), overrides=hp, protocol=STANDARD_PROTOCOL)
            out.append(SuiteEntry(spec, f"untrained ({label})", "reference"))
    for baseline, dataset, steps, overrides in STANDARD_STYLE:
        for seed in STANDARD_SEEDS:
            spec = RunSpec(baseline, dataset, Budget(max_steps=steps), seed=seed, eval_seed=seed,
                           overrides=overrides, protocol=STYLE_PROTOCOL)
            out.append(SuiteEntry(spec, baseline))
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
            "the same way. Networks are narrower than the papers' for CPU speed (each row's `hparams` in "
            "results.jsonl has its widths; each family's docstring names the `--set` that restores "
            "the paper's, and the `standard` suite uses them)."
        ),
        protocol=QUICK_PROTOCOL,
        entries=_quick_entries,
    ),
)

SUITES.register(
    "standard",
    Suite(
        name="standard",
        description="every family with its paper's network widths, 10x the quick budgets, 3 seeds (GPU hours)",
        note=(
            "Standard suite: paper-size networks where the family documents them, 10x the quick "
            "step budgets, seeds 0, 1, 2, 4,000 samples scored against the 500 held-out test digits."
        ),
        protocol=STANDARD_PROTOCOL,
        entries=_standard_entries,
    ),
)


def reference_specs(specs: Iterable[RunSpec]) -> dict[str, RunSpec]:
    """Each dataset's first run spec, in order of first appearance: its 'real data' row is scored
    under that run's protocol (a dataset's runs share one: the style datasets' is the VGG one,
    not the suite's), evaluation seed and data settings (``real_data_row``)."""
    out: dict[str, RunSpec] = {}
    for spec in specs:
        out.setdefault(spec.dataset, spec)
    return out


def real_data_row(spec: RunSpec, out_dir: Path | str) -> dict[str, Any]:
    """The 'real data' reference row of ``spec``'s dataset, scored like ``spec``'s runs."""
    return runner.real_data_row(spec.dataset, spec.protocol, out_dir, eval_seed=spec.eval_seed,
                                data_root=spec.data_root, weights_path=spec.weights_path)


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
    for dataset, spec in reference_specs(e.spec for e in entries).items():  # one real-data row per dataset
        log(f"[{name}] reference: real data on {dataset}")
        rows.append(real_data_row(spec, out_dir))
    for i, e in enumerate(entries, 1):
        log(f"[{name}] {i}/{len(entries)}: {e.label} ({e.spec.run_name})")
        row = runner.run(e.spec, out_dir, label=e.label, kind=e.kind, progress=progress)
        log(f"[{name}]   {row['status']} in {row['wall_seconds']:.1f}s: "
            + ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in row["metrics"].items()))
        rows.append(row)
    rows = merge_rows(rows)
    if leaderboard_dir is not None:
        write_leaderboard(rows, Path(leaderboard_dir), title=f"genbench leaderboard: {name}", note=suite.note)
    return rows
