"""Run one spec end to end (validate -> train -> sample -> one feature pass -> row) and suites.

``run(spec)`` is the Python API behind ``genbench run``. Everything that can be checked
before training (baseline, hyperparameters, dataset, extractor weights) is checked before
anything is written, so bad input leaves no run directory behind.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shlex
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genbench.baselines.base import Baseline, TaskKind, resolve_baseline
from genbench.bench import distributed, results
from genbench.bench import i2i_eval, style_data
from genbench.bench.datasets import Dataset, load_dataset
from genbench.bench.evaluation import cached_reference_stats, reference_subset
from genbench.bench.interval import IntervalEvaluator, sample_seed
from genbench.bench.perf import apply_perf, check_perf, perf_record, precision
from genbench.bench.spec import EvalProtocol, RunSpec, SpecError
from genbench.bench.timing import Stopwatch
from genbench.bench.train import TrainProgress, train
from genbench.metrics import FeatureStats, compute_metrics, cuda_or_none, load_extractor
from genbench.metrics.conditional import class_accuracy, code_label_accuracy
from genbench.metrics.lpips_metrics import diversity_metrics
from genbench.metrics.modes import MODES_HIGHER_IS_BETTER, mode_metrics, stacked_digit_labels, stacked_mode_metrics
from genbench.reports.grids import save_image_grid, save_points_plot

GRID_FILE = "samples.png"
GRID_N = 64


@dataclass
class Prepared:
    spec: RunSpec
    cls: type[Baseline]
    hparams: dict[str, Any]
    dataset: Dataset
    extractor: Any | None  # a FeatureExtractor for image data, None for points


def _check_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise SpecError(f"bad device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    return dev


def _load_extractor(protocol: EvalProtocol, weights_path: str | None, device: Any = "cpu") -> Any:
    return load_extractor(
        protocol.extractor, weights_path=weights_path, expected_sha256=protocol.weights_sha256,
        device=device, resize_mode=protocol.resize_mode,
    )


def prepare(spec: RunSpec) -> Prepared:
    """Resolve and validate everything a run needs; raises before anything is written."""
    cls = resolve_baseline(spec.baseline)
    hparams = cls.resolve_hparams(spec.hparams)
    device = _check_device(spec.device)
    check_perf(spec.perf, device)
    dataset = load_dataset(spec.dataset, spec.data_root)
    if dataset.info.kind not in cls.data_kinds:
        raise SpecError(
            f"baseline {spec.baseline!r} takes {cls.data_kinds} data, but dataset "
            f"{spec.dataset!r} is {dataset.info.kind!r}"
        )
    train_n = dataset.info.split_sizes["train"]
    if hparams["batch_size"] > train_n:
        raise SpecError(f"batch_size {hparams['batch_size']} exceeds the {train_n} training samples")
    distributed.check_spec(spec, hparams["batch_size"], cls)  # world size > 1: divisible batch, device, baseline
    extractor = None
    i2i = i2i_eval.check_run(cls, dataset)  # image-to-image: shapes and metrics checked in bench/i2i_eval.py
    if cls.task is TaskKind.STYLE_TRANSFER:  # scored on VGG features (bench/style_data.py), no extractor
        style_data.check_style_spec(spec, cls, hparams, dataset)
    elif dataset.info.kind == "image":
        extractor = _load_extractor(spec.protocol, spec.weights_path, device)
        want = (1, *dataset.info.shape[1:]) if _stacked(dataset) else tuple(dataset.info.shape)
        if not i2i and not getattr(extractor, "any_size", False) and tuple(extractor.input_shape) != want:
            raise SpecError(
                f"extractor {extractor.name!r} takes {tuple(extractor.input_shape)} images but "
                f"dataset {spec.dataset!r} has {dataset.info.shape}; pick a matching --extractor"
            )
        ref_n = dataset.info.split_sizes[spec.protocol.split]
        if spec.protocol.n_real is not None and spec.protocol.n_real > ref_n:
            raise SpecError(f"protocol n_real {spec.protocol.n_real} exceeds the {ref_n} {spec.protocol.split} samples")
    return Prepared(spec, cls, hparams, dataset, extractor)


def spec_command(spec: RunSpec, out_dir: Path | str) -> str:
    """A `genbench run` command line that reproduces ``spec``."""
    b = spec.budget
    args = ["genbench", "run", "--baseline", spec.baseline, "--dataset", spec.dataset]
    if b.max_steps is not None:
        args += ["--steps", str(b.max_steps)]
    if b.max_kimg is not None:
        args += ["--kimg", repr(b.max_kimg)]
    if b.max_wall_seconds is not None:
        args += ["--minutes", repr(b.max_wall_seconds / 60.0)]
    args += ["--seed", str(spec.seed), "--eval-seed", str(spec.eval_seed), "--device", spec.device]
    p, default = spec.protocol, EvalProtocol()
    if p.extractor != default.extractor:
        args += ["--extractor", p.extractor]
    if p.n_fake != default.n_fake:
        args += ["--n-fake", str(p.n_fake)]
    if p.n_real != default.n_real:
        args += ["--n-real", str(p.n_real)]
    if p.split != default.split:
        args += ["--split", p.split]
    if p.resize_mode is not None:
        args += ["--resize-mode", p.resize_mode]
    if p.weights_sha256 is not None:
        args += ["--weights-sha256", p.weights_sha256]
    if spec.weights_path:
        args += ["--weights", spec.weights_path]
    for k, v in spec.overrides:
        args += ["--set", f"{k}={results.dumps_row(v) if not isinstance(v, str) else v}"]
    if spec.data_root:
        args += ["--data-root", spec.data_root]
    if spec.perf.amp != "off":
        args += ["--amp", spec.perf.amp]
    args += [flag for flag, on in (("--channels-last", spec.perf.channels_last), ("--compile", spec.perf.compile),
                                   ("--tf32", spec.perf.tf32)) if on]
    if spec.world_size > 1:
        args += ["--nproc", str(spec.world_size)]
    args += ["--out", str(out_dir)]
    if spec.interval_eval is not None:  # `genbench run` has no flags for it: the sweep command takes any spec
        blob = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))
        return shlex.join(["genbench", "sweep", "--spec", blob, "--out", str(out_dir)])
    return shlex.join(args)


def reference_stats(dataset: Dataset, protocol: EvalProtocol, extractor: Any, eval_seed: int) -> FeatureStats:
    """Feature statistics of the reference split (a seeded subset when n_real is set), cached."""
    n = protocol.n_real or len(dataset.split(protocol.split))
    return cached_reference_stats(dataset, protocol.split, n, eval_seed, extractor)[2]


def _stacked(dataset: Dataset) -> bool:
    return dataset.extras.get("mode_eval") == "stacked-digits"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def network_width(cls: Any, hparams: dict[str, Any]) -> dict[str, Any] | None:
    """The paper's widths, the run's, and whether the run's networks are narrower (None: no paper widths)."""
    paper = dict(getattr(cls, "paper_widths", None) or {})
    if not paper:
        return None
    used = {k: hparams.get(k) for k in paper}
    narrower = any(isinstance(used[k], (int, float)) and used[k] < v for k, v in paper.items())
    return {"paper": paper, "used": used, "narrower_than_paper": narrower}


def _base_row(spec: RunSpec, prep: Prepared, label: str, kind: str, command: str) -> dict[str, Any]:
    commit, dirty = results.git_state()
    ext = prep.extractor
    return {
        "label": label, "kind": kind, "baseline": spec.baseline, "dataset": spec.dataset,
        "seed": spec.seed, "eval_seed": spec.eval_seed, "split": spec.protocol.split,
        "spec_hash": spec.hash, "spec": spec.to_dict(), "git_commit": commit, "git_dirty": dirty,
        "status": "ok", "error": None, "steps": 0, "kimg": 0.0, "wall_seconds": 0.0,
        "stopped_by": None, "train_img_per_s": None, "sec_per_kimg": None, "sample_img_per_s": None,
        "peak_mem_bytes": None, "device": str(spec.device), "threads": torch.get_num_threads(),
        "world_size": spec.world_size, "train_img_per_s_per_rank": None,
        "metrics": {}, "higher_is_better": {}, "metric_seconds": None, "n_real": None, "n_fake": None,
        "extractor": ext.name if ext is not None else None,
        "extractor_sha256": ext.weights_sha256 if ext is not None else None,
        "resize_mode": ext.resize_mode if ext is not None else None,
        "extractor_provenance": ext.provenance() if ext is not None else None,
        "protocol": spec.protocol.to_dict(), "budget": spec.budget.to_dict(),
        "data": prep.dataset.info.to_dict(), "versions": results.versions(), "command": command,
        "sample_grid": None, "created_at": _now(), "hparams": prep.hparams,
        # which state the metrics score, and the interval evaluation (bench/interval.py) if any
        "checkpoint": None, "checkpoint_step": None, "curve": None, "interval_eval": None,
        "perf": perf_record(spec.perf, spec.device),
        "network_width": network_width(prep.cls, prep.hparams),
    }


CONDITIONAL_TASKS = (TaskKind.CLASS_CONDITIONAL,)
# Scored on a whole split at once (style transfer, image-to-image): in data-parallel runs rank 0
# scores alone; every other task is scored from samples sharded over the ranks.
WHOLE_SPLIT_TASKS = (TaskKind.STYLE_TRANSFER, TaskKind.PAIRED, TaskKind.UNPAIRED, TaskKind.MULTI_DOMAIN)


def eval_condition(prep: Prepared) -> torch.Tensor | None:
    """Balanced requested labels (i % num_classes) for class-conditional models, else None."""
    info = prep.dataset.info
    if prep.cls.task not in CONDITIONAL_TASKS or not info.num_classes:
        return None
    return torch.arange(prep.spec.protocol.n_fake) % info.num_classes


def _class_accuracy(row: dict[str, Any], logits: torch.Tensor, condition: torch.Tensor, prep: Prepared) -> None:
    """Accuracy of the extractor's classifier on samples, against the labels requested."""
    ext = prep.extractor
    if prep.dataset.info.name not in getattr(ext.spec, "label_datasets", ()):
        return  # the classifier's classes are not this dataset's labels
    acc = class_accuracy(logits, condition, prep.dataset.info.num_classes)
    key = f"class_acc_{ext.metric_suffix}"
    row["metrics"][key] = acc["overall"]
    row["higher_is_better"][key] = True
    row["class_acc_per_class"] = acc["per_class"]


def _code_accuracy(row: dict[str, Any], model: Baseline, prep: Prepared) -> None:
    """InfoGAN-style models: how well the categorical code predicts the classifier's label.

    Uses the best one-to-one code -> label mapping (Hungarian), as in Chen et al. 2016, on
    n_fake samples drawn with the evaluation seed + 1 (independent of the scored samples).
    """
    ext = prep.extractor
    if not hasattr(model, "sample_with_codes") or ext is None:
        return
    if prep.dataset.info.name not in getattr(ext.spec, "label_datasets", ()):
        return
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(prep.spec.eval_seed + 1)
    with torch.no_grad():
        images, codes = model.sample_with_codes(prep.spec.protocol.n_fake, gen)
    labels = ext.extract(images)[1].argmax(1)
    key = f"code_acc_{ext.metric_suffix}"
    row["metrics"][key] = code_label_accuracy(codes, labels, int(model.hp.get("k_cat", ext.num_classes)))
    row["higher_is_better"][key] = True
    row["metric_seconds"] = (row["metric_seconds"] or 0.0) + time.perf_counter() - t0


def _score_samples(
    row: dict[str, Any], samples: torch.Tensor, prep: Prepared, run_dir: Path,
    condition: torch.Tensor | None = None, shard: distributed.Dist | None = None,
) -> None:
    """Sample grid + one feature pass + every metric, written into ``row``.

    shard (data-parallel evaluation): ``samples`` are this rank's contiguous shard of the n_fake
    (``condition`` stays whole); features and logits (points and stacked digits: the samples)
    are gathered to rank 0 in rank order, which alone writes the grid and the metrics, equal to
    one process's on the same samples.
    """
    spec, info = prep.spec, prep.dataset.info
    n_fake = spec.protocol.n_fake
    expect = (n_fake if shard is None else shard.shard_size(n_fake), *info.shape)
    want_dtype = torch.uint8 if info.kind == "image" else torch.float32
    if samples.dtype != want_dtype or tuple(samples.shape) != expect:
        raise ValueError(
            f"baseline {spec.baseline!r} sample() returned {samples.dtype} {tuple(samples.shape)}, "
            f"expected {want_dtype} {expect}"
        )
    if shard is not None and (info.kind == "points" or _stacked(prep.dataset)):  # scored at once, on rank 0
        samples, shard = shard.gather_rows(samples), None
        if samples is None:
            return
    grid = samples[:GRID_N] if shard is None else shard.gather_rows(samples[:GRID_N])
    if grid is not None:
        if info.kind == "image":
            save_image_grid(grid[:GRID_N], run_dir / GRID_FILE)
        else:
            save_points_plot(samples, run_dir / GRID_FILE, modes=prep.dataset.extras.get("modes"))
    row["sample_grid"] = GRID_FILE
    row["n_fake"] = n_fake
    t0 = time.perf_counter()
    if info.kind == "points":
        ds = prep.dataset
        row["metrics"].update(mode_metrics(samples, ds.extras["modes"], ds.extras["std"]))
        row["higher_is_better"].update(MODES_HIGHER_IS_BETTER)
        row["metric_seconds"] = time.perf_counter() - t0
        return
    if _stacked(prep.dataset):
        # 1000-mode protocol (Metz et al. 2017; PacGAN): each channel's digit by the classifier
        values = stacked_mode_metrics(stacked_digit_labels(samples, prep.extractor))
        row["metrics"].update(values)
        row["higher_is_better"].update({k: MODES_HIGHER_IS_BETTER[k] for k in values})
        row["metric_seconds"] = time.perf_counter() - t0
        return
    feats, logits = prep.extractor.extract(samples)
    if shard is not None:
        feats, logits = shard.gather_rows(feats), shard.gather_rows(logits)
        if feats is None:  # ranks > 0: rank 0 scores
            return
    real = reference_stats(prep.dataset, spec.protocol, prep.extractor, spec.eval_seed)
    gpu = cuda_or_none(spec.device)  # statistics, KID and PRDC on the GPU for GPU runs
    fake = FeatureStats.from_features(feats, logits, device=gpu)
    settings: dict[str, Any] = {}
    values, hib = compute_metrics(
        real, fake, prep.extractor.metric_suffix, pr_k=spec.protocol.pr_k, is_splits=spec.protocol.is_splits,
        seed=spec.eval_seed, names=prep.extractor.metric_names, details=settings, device=gpu,
    )
    row["metric_settings"] = settings
    row["metrics"].update(values)
    row["higher_is_better"].update(hib)
    if condition is not None:
        _class_accuracy(row, logits, condition, prep)
    _lpips_diversity(row, samples, spec.eval_seed)
    row["metric_seconds"] = time.perf_counter() - t0
    row["n_real"] = int(real.n)


def _lpips_diversity(row: dict[str, Any], samples: torch.Tensor, seed: int) -> None:
    """Mean LPIPS over seeded random pairs of the samples (higher: more diverse), when the AlexNet
    backbone file is present; else the row says 'skipped: weights absent'. Only the official
    backbone's number gets a direction, so numbers from other weights are shown, never ranked."""
    values, provenance = diversity_metrics(samples, seed=seed)
    row["metrics"].update(values)
    row["lpips"] = provenance
    if provenance.get("lpips_official"):
        row["higher_is_better"].update({k: True for k, v in values.items() if isinstance(v, float)})


def _known_failure_hint(spec: RunSpec, exc: BaseException) -> str:
    """What to do about a failure that is PyTorch's, not the model's (seen on the GPU machine)."""
    if spec.perf.compile and "convolution_backward" in str(exc) and "stride" in str(exc):
        return (" [a torch.compile bug on CUDA: the meta kernel of convolution_backward predicts the wrong "
                "strides (pytorch/pytorch#171622; seen with torch 2.11 for dcgan on an H200 and wgan on an "
                "H100; torch 2.14.1's meta registration carries a fix naming that issue); run without "
                "--compile or with a newer torch]")
    return ""


def run(
    spec: RunSpec,
    out_dir: Path | str = "runs",
    *,
    label: str | None = None,
    kind: str = "run",
    resume: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train and evaluate ``spec``; returns its result row (also written to run_dir/row.json).

    An existing finished row of the same spec hash is returned as is (resume); an existing
    checkpoint is continued. Bad input raises before anything is written; a failure during
    training or evaluation becomes a row with status 'failed' and the error.

    ``spec.world_size`` > 1 (bench/distributed.py): this call starts that many local ranks,
    or, under a torchrun launch, joins its process group as one rank; each rank runs this
    function, rank 0 writes the one row and every rank returns it.
    """
    ddp = distributed.current()
    if spec.world_size > 1 and ddp is None and distributed.in_launch():  # torchrun: this process is a rank
        return distributed.join_launch(run, spec, out_dir, label=label, kind=kind, resume=resume, progress=progress)
    prep = prepare(spec)
    out_dir = Path(out_dir)
    run_dir = out_dir / spec.run_name
    if resume:
        done = results.read_row(run_dir)
        if finished_on(done, prep.dataset.info.sha256) and (label is None or done.get("label") == label):
            return done
    if spec.world_size > 1 and ddp is None:
        return _launch_ranks(spec, out_dir, label=label, kind=kind, resume=resume, progress=progress)
    row = _base_row(spec, prep, label or spec.baseline, kind, spec_command(spec, out_dir))
    row["run_dir"] = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        _train_and_score(row, prep, run_dir, resume, progress)
    except Exception as exc:  # noqa: BLE001 - a crashed run becomes a row, the suite goes on
        row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}" + _known_failure_hint(spec, exc)
        results.atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        if ddp is not None:  # the other ranks cannot go on alone: the launch stops them
            if ddp.is_main:
                results.write_row(run_dir, row)
            raise
    if ddp is not None and not ddp.is_main:
        return ddp.broadcast_object(None)  # rank 0's row
    results.write_row(run_dir, row)
    results.refresh_results(out_dir)
    return row if ddp is None else ddp.broadcast_object(row)


def _launch_ranks(spec: RunSpec, out_dir: Path, *, label: str | None, kind: str, **kw: Any) -> dict[str, Any]:
    """Run ``spec`` in ``spec.world_size`` spawned local ranks; rank 0 writes the row. A rank that
    raises or dies stops the others and makes a 'failed' row (traceback in error.txt)."""
    run_dir = out_dir / spec.run_name
    try:
        distributed.launch(run, spec, out_dir, label=label, kind=kind, **kw)
    except distributed.RankFailed as exc:
        results.atomic_write_text(run_dir / "error.txt", exc.traceback)
        return write_failed_row(spec, out_dir, str(exc), label=label, kind=kind)
    row = results.read_row(run_dir)
    if row is None:
        return write_failed_row(spec, out_dir, "data-parallel ranks exited without writing a row", label=label, kind=kind)
    return row


def write_failed_row(
    spec: RunSpec, out_dir: Path | str, error: str, *, label: str | None = None, kind: str = "run"
) -> dict[str, Any]:
    """The 'failed' row of a run that died outside ``run`` (e.g. its worker process was killed)."""
    prep = prepare(spec)
    out_dir = Path(out_dir)
    run_dir = out_dir / spec.run_name
    row = _base_row(spec, prep, label or spec.baseline, kind, spec_command(spec, out_dir))
    row.update(status="failed", error=error, run_dir=str(run_dir))
    results.write_row(run_dir, row)
    results.refresh_results(out_dir)
    return row


def build_model(prep: Prepared) -> tuple[Baseline, torch.Generator]:
    """Seed everything from the training seed and build the model on the spec's device."""
    spec = prep.spec
    torch.manual_seed(spec.seed)
    device = torch.device(spec.device)
    gen = torch.Generator(device=device).manual_seed(spec.seed)
    model = prep.cls()
    model.setup(prep.hparams, prep.dataset.info, device, gen)
    apply_perf(model, spec.perf)
    return model, gen


def made_from(row: dict[str, Any]) -> str | None:
    """The sha256 of the data a row was made from (None: a row that does not record it)."""
    return (row.get("data") or {}).get("sha256")


def finished_on(row: dict[str, Any] | None, data_sha256: str | None) -> bool:
    """Whether an existing row is finished ('ok') and was made from the data now loaded: data_root
    is a path, not in the spec hash, so a row made from other data under it is not reused (rows
    without the data's sha256 are taken as they are)."""
    if row is None or row.get("status") != "ok":
        return False
    return made_from(row) in (None, data_sha256)


def _interval_evaluator(prep: Prepared, run_dir: Path, resume: bool) -> Any:
    """The spec's IntervalEvaluator (bench/interval.py), or None without interval evaluation.

    It scores like the reported evaluation (same metrics and code path) but with
    interval_eval.n_fake samples drawn from their own seed (``interval.sample_seed``: a checkpoint
    is never reported on the samples that selected it) against the whole interval_eval.split; the
    latest interval samples' grid goes to run_dir/interval/.
    """
    ie = prep.spec.interval_eval
    if ie is None:
        return None
    protocol = dataclasses.replace(prep.spec.protocol, n_fake=ie.n_fake, split=ie.split, n_real=None)
    sub = dataclasses.replace(prep, spec=prep.spec.replace(protocol=protocol, interval_eval=None))
    device = torch.device(prep.spec.device)
    seed = sample_seed(prep.spec.eval_seed)  # not the reported evaluation's latents

    def score(model: Baseline) -> dict[str, Any]:
        scored: dict[str, Any] = {"metrics": {}, "higher_is_better": {}, "metric_seconds": None, "n_real": None}
        if i2i_eval.is_translation(prep.dataset):  # the interval split's sources, translated
            i2i_eval.score_run(scored, model, sub, run_dir / "interval")
            return scored
        condition = eval_condition(sub)
        with precision(prep.spec.perf, device):
            samples = model.sample(ie.n_fake, torch.Generator().manual_seed(seed), condition)
        _score_samples(scored, samples, sub, run_dir / "interval", condition)
        return scored

    if i2i_eval.is_translation(prep.dataset):
        default = i2i_eval.headline_metric(prep)
    elif prep.extractor is not None and not _stacked(prep.dataset):
        default = prep.extractor.metric_name("fd")
    else:
        default = "reverse_kl"  # mode-counting datasets: continuous, unlike modes_covered
    return IntervalEvaluator(ie, run_dir, prep.spec.hash, score, default, resume=resume, sample_seed=seed)


def _train_and_score(
    row: dict[str, Any], prep: Prepared, run_dir: Path, resume: bool, progress: bool | None
) -> None:
    spec = prep.spec
    device = torch.device(spec.device)
    ddp = distributed.current()  # None, or this rank of a data-parallel run
    main = ddp is None or ddp.is_main
    style = prep.cls.task is TaskKind.STYLE_TRANSFER
    if style and style_data.skip_without_weights(row, prep):
        return  # "skipped: weights absent": nothing is trained or scored
    model, gen = build_model(prep)
    evaluator = _interval_evaluator(prep, run_dir, resume) if main else None
    # ranks > 0 wait at the loop's barrier while rank 0 evaluates at intervals
    hook = evaluator if main or spec.interval_eval is None else distributed.idle_hook
    outcome = train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen, resume, progress,
                    hook=hook, hook_every=spec.interval_eval.every if hook is not None else 0)
    row.update(
        status=outcome.status, error=outcome.error, steps=outcome.steps, kimg=outcome.kimg,
        wall_seconds=outcome.wall_seconds, stopped_by=outcome.stopped_by,
        train_img_per_s=outcome.train_img_per_s, peak_mem_bytes=outcome.peak_mem_bytes,
        sec_per_kimg=(1000.0 / outcome.train_img_per_s) if outcome.train_img_per_s else None,
        last_losses=outcome.last_losses,
        train_img_per_s_per_rank=outcome.train_img_per_s / outcome.world_size if outcome.train_img_per_s else None,
    )
    if outcome.status != "ok":  # no metrics, so no checkpoint they score; the curve up to the end
        if evaluator is not None:
            row.update(evaluator.row_fields(None, None))
        return
    row.update(checkpoint="final", checkpoint_step=outcome.steps)
    if evaluator is not None:  # with select='best' this loads the best state into the model
        row.update(evaluator.finish(model, TrainProgress(outcome.steps, outcome.images, outcome.wall_seconds)))
    if ddp is not None:  # rank 0's state on every rank: its buffers, and with select='best' its best step
        ddp.broadcast_networks(model)
    model.eval()
    if not main and prep.cls.task in WHOLE_SPLIT_TASKS:
        return  # rank 0 scores the whole split alone; run() waits for its row
    if style:  # content|style pairs of the reference split, scored on VGG features
        style_data.score_style(row, model, prep, run_dir)
        return
    if i2i_eval.is_translation(prep.dataset):  # the reference split's sources, translated
        i2i_eval.score_run(row, model, prep, run_dir)
        return
    eval_gen = torch.Generator().manual_seed(spec.eval_seed)
    watch = Stopwatch(device)
    watch.start()
    with torch.no_grad(), precision(spec.perf, device):
        condition = eval_condition(prep)
        if ddp is None:
            samples = model.sample(spec.protocol.n_fake, eval_gen, condition)
        else:  # this rank's shard, with the latents one process draws for it
            samples = ddp.sample_shard(model, spec.protocol.n_fake, eval_gen, condition)
            ddp.barrier()
    row["sample_img_per_s"] = spec.protocol.n_fake / max(watch.stop(), 1e-9)
    _score_samples(row, samples, prep, run_dir, condition, shard=ddp)
    if not main:
        return  # rank 0 alone: code accuracy and the model's own metrics on the whole split
    _code_accuracy(row, model, prep)
    test = prep.dataset.split(spec.protocol.split)
    t0 = time.perf_counter()
    extra = model.evaluate(test.x, test.y, torch.Generator().manual_seed(spec.eval_seed))
    row["metric_seconds"] = (row["metric_seconds"] or 0.0) + time.perf_counter() - t0
    row["metrics"].update({k: float(v) for k, v in extra.items()})
    row["higher_is_better"].update({k: bool(v) for k, v in getattr(model, "evaluate_higher_is_better", {}).items() if k in extra})


def real_data_row(
    dataset_name: str, protocol: EvalProtocol, out_dir: Path | str, eval_seed: int = 0,
    data_root: str | None = None, weights_path: str | None = None,
) -> dict[str, Any]:
    """The 'real data' reference row: n_fake training images scored like a model's samples.

    It shows the best score reachable at this n (train split vs the reference split).
    """
    dataset = load_dataset(dataset_name, data_root)
    if style_data.is_style_dataset(dataset):  # style transfer has no 'real data': a content-copy row
        return style_data.reference_row(dataset, protocol, out_dir, eval_seed, weights_path)
    train_split = dataset.split("train")
    i2i = i2i_eval.is_translation(dataset)  # the split's sources fix n, not n_fake
    if not i2i and protocol.n_fake > len(train_split):
        raise SpecError(f"n_fake {protocol.n_fake} exceeds the {len(train_split)} training samples")
    pseudo = RunSpec(
        baseline="real-data", dataset=dataset_name, budget={"max_steps": 0}, eval_seed=eval_seed,
        protocol=protocol, data_root=data_root,
    )
    extractor = _load_extractor(protocol, weights_path) if dataset.info.kind == "image" else None
    prep = Prepared(pseudo, type(None), {}, dataset, extractor)  # type: ignore[arg-type]
    run_dir = Path(out_dir) / f"real-data-{dataset_name}-{pseudo.hash}"
    done = results.read_row(run_dir)
    if finished_on(done, dataset.info.sha256):
        return done
    row = _base_row(pseudo, prep, "real data", "reference", f"genbench suite (real-data reference for {dataset_name})")
    row.update(baseline=None, seed=None, stopped_by=None, run_dir=str(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    if i2i:  # real target-domain images in the outputs' place (bench/i2i_eval.py)
        i2i_eval.score_reference(row, prep, run_dir)
    else:
        samples = train_split.x[reference_subset(len(train_split), protocol.n_fake, eval_seed)]
        _score_samples(row, samples, prep, run_dir)
    results.write_row(run_dir, row)
    results.refresh_results(Path(out_dir))
    return row
