"""Scoring of image-to-image runs (paired, unpaired, multi-domain) and their reference rows.

``bench/runner.py`` hands every run whose dataset carries a ``TranslationInfo``
(``bench/i2i_data.py``) to this module: ``check_run`` in ``prepare``, ``score_run`` after
training, ``score_reference`` for the 'real data' row. Models are used only through
``translate(images uint8 (N, C, S, S), target int64 (N,)) -> uint8 (N, C, S, S)`` (domain ids:
0 = A, 1 = B for paired / unpaired data; [0, k) for multi-domain). Every source image of the
reported split (``protocol.split``, 'test') is translated; ``n_fake`` on the row is the number of
outputs scored (``protocol.n_fake`` does not apply: the split fixes the sources).

What is measured (metric names end in the extractor's suffix as everywhere in genbench):

- paired (A -> B): ``psnr``, ``ssim``, ``l1``, ``lpips_alex`` against the ground truth B
  (LPIPS reads "skipped: weights absent" without its backbone file), ``fd_<suffix>`` of the
  outputs to the split's real B images, and ``content_acc_mnist`` when B is digits.
- unpaired: both directions, keys ending in ``_ab`` (A -> B) and ``_ba`` (B -> A):
  ``fd_<suffix>_ab`` to the real B images, ``domain_acc_domains_ab`` (the digit-domains
  classifier names B), ``content_acc_mnist_ab`` when B is digits (the MNIST classifier's
  accuracy against the source digit's label), and the cycle error ``cycle_l1_aba`` =
  mean |a - G_BA(G_AB(a))| on [0, 1] pixels; the same for ``_ba`` / ``cycle_l1_bab``.
- multi-domain: every image to every other domain, pooled: ``fd_<suffix>`` to the split's real
  images, ``domain_acc_domains``, ``content_acc_mnist``, ``cycle_l1`` (back to the source domain).

FD extractor of a domain: its ``fd_extractor`` when it names one (digit-domains for textured
and coloured digits), else the protocol's extractor when it takes the images (mnist-lenet for
plain digits), else ``inception-v3-tf`` (photos); when that extractor's weights are absent the
FD reads "skipped: weights absent". Extractor provenance goes to ``row['translation']``.

The 'real data' row scores real images in the outputs' place: n real target-domain images of
the train split for FD (as the generative rows' real-data row: the best FD reachable at this
n), the split's own real target images for the classifier accuracies (their ceilings). Paired
distances and cycle errors have no real-data counterpart and are left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genbench.baselines.base import TaskKind
from genbench.bench.i2i_data import Domain, TranslationInfo, translation_info, unpack_pairs
from genbench.bench.spec import SpecError
from genbench.metrics import EXTRACTORS, FeatureStats, frechet_distance, load_extractor
from genbench.metrics.extractors import ExtractorError
from genbench.metrics.lpips_metrics import SKIPPED
from genbench.metrics.translation import (
    TRANSLATION_HIGHER_IS_BETTER,
    as_digit,
    as_rgb,
    content_accuracy,
    cycle_l1,
    domain_accuracy,
    paired_translation_metrics,
)
from genbench.reports.grids import save_translation_grid

TASK_OF: dict[TaskKind, str] = {
    TaskKind.PAIRED: "paired",
    TaskKind.UNPAIRED: "unpaired",
    TaskKind.MULTI_DOMAIN: "multi-domain",
}
# data each model task trains on: an unpaired model may ignore the pairing of paired data
TRAINS_ON: dict[str, tuple[str, ...]] = {
    "paired": ("paired",),
    "unpaired": ("unpaired", "paired"),
    "multi-domain": ("multi-domain",),
}
I2I_DATASETS_HINT = "edges2digits, gray2color, facades, edges2shoes (paired); digits2textured, horse2zebra " \
    "(unpaired); digit-domains, celeba-hair (multi-domain)"
GRID_FILE = "samples.png"
GRID_ROWS = 16
MNIST_EXTRACTOR, DOMAIN_EXTRACTOR, PHOTO_EXTRACTOR = "mnist-lenet", "digit-domains", "inception-v3-tf"


def check_run(cls: type, dataset: Any) -> bool:
    """True when (baseline class, dataset) is an image-to-image run scored here, False when
    neither is image-to-image; SpecError (saying what to use) for any mismatch."""
    info = translation_info(dataset)
    task = TASK_OF.get(getattr(cls, "task", None))
    name = dataset.info.name
    if info is None and task is None:
        return False
    if task is None:
        raise SpecError(
            f"dataset {name!r} is an image-to-image ({info.task}) dataset, but baseline {cls.__name__} is "
            f"{cls.task.value}; translate it with pix2pix (paired), cyclegan (unpaired) or stargan (multi-domain)"
        )
    if info is None:
        raise SpecError(
            f"baseline {cls.__name__} is a {task} image-to-image model, but dataset {name!r} is not an "
            f"image-to-image dataset; use one of: {I2I_DATASETS_HINT}"
        )
    if info.task not in TRAINS_ON[task]:
        raise SpecError(
            f"baseline {cls.__name__} is a {task} model and cannot train on {info.task} dataset {name!r}; "
            f"it takes {' or '.join(TRAINS_ON[task])} data ({I2I_DATASETS_HINT})"
        )
    if not callable(getattr(cls, "translate", None)):
        raise SpecError(f"image-to-image baseline {cls.__name__} must implement translate(images, target)")
    return True


# --- feature extractors ------------------------------------------------------------------------------
class _Extractors:
    """Loads each extractor once per scoring; records provenance or why it was skipped."""

    def __init__(self, prep: Any) -> None:
        self.protocol_extractor = prep.extractor
        self.loaded: dict[str, Any] = {prep.extractor.name: prep.extractor} if prep.extractor is not None else {}
        self.skipped: dict[str, str] = {}

    def get(self, name: str) -> Any | None:
        if name in self.loaded:
            return self.loaded[name]
        if name in self.skipped:
            return None
        try:
            self.loaded[name] = load_extractor(name)
        except ExtractorError as e:
            self.skipped[name] = str(e)
            return None
        return self.loaded[name]

    def fd_extractor_name(self, domain: Domain, images: torch.Tensor) -> str:
        if domain.fd_extractor is not None:
            return domain.fd_extractor
        ext = self.protocol_extractor
        if ext is not None and (ext.any_size or tuple(ext.input_shape) == tuple(images.shape[1:])):
            return ext.name
        return PHOTO_EXTRACTOR

    def provenance(self) -> dict[str, Any]:
        return {
            "extractors": {n: e.provenance() for n, e in self.loaded.items()},
            "skipped": {n: SKIPPED for n in self.skipped},
        }


def _fit(ext: Any, images: torch.Tensor) -> torch.Tensor:
    """Images as the extractor takes them (grayscale repeated for a 3-channel net)."""
    return as_rgb(images) if tuple(ext.input_shape)[0] == 3 and not ext.any_size else images


@dataclass
class Direction:
    """One translation direction to score.

    outputs: uint8 (N, C, S, S) translations (or real images for the reference row).
    real: uint8 real images of the target domain (the FD reference). domain: the target Domain.
    labels: int64 (N,) source digit labels or None. target_class: int64 (N,) digit-domains
    classes of each output's target, or None. cycle: (sources, reconstructions) or None.
    suffix: '' or '_ab' / '_ba'.
    """

    outputs: torch.Tensor
    real: torch.Tensor
    domain: Domain
    labels: torch.Tensor | None
    target_class: torch.Tensor | None
    allowed: tuple[int, ...]
    cycle: tuple[torch.Tensor, torch.Tensor] | None
    suffix: str = ""
    cycle_name: str = "cycle_l1"


def _direction_metrics(d: Direction, exts: _Extractors, values: dict[str, Any], hib: dict[str, bool],
                       fd_outputs: torch.Tensor | None = None) -> None:
    """FD, content accuracy, domain accuracy and cycle error of one direction into values / hib."""
    fd_imgs = d.outputs if fd_outputs is None else fd_outputs
    name = exts.fd_extractor_name(d.domain, d.real)
    ext = exts.get(name)
    if ext is None:
        values[f"fd_{EXTRACTORS.get(name).metric_suffix}{d.suffix}"] = SKIPPED
    else:
        fake = FeatureStats.from_features(ext.extract(_fit(ext, fd_imgs))[0])
        real = FeatureStats.from_features(ext.extract(_fit(ext, d.real))[0])
        key = f"{ext.metric_name('fd')}{d.suffix}"
        values[key] = frechet_distance(fake.mean, fake.cov, real.mean, real.cov)
        hib[key] = False
    if d.domain.digits and d.labels is not None:
        lenet = exts.get(MNIST_EXTRACTOR)
        if lenet is not None:
            key = f"content_acc_{lenet.metric_suffix}{d.suffix}"
            values[key] = content_accuracy(lenet.extract(as_digit(d.outputs))[1], d.labels)
            hib[key] = TRANSLATION_HIGHER_IS_BETTER["content_acc"]
    if d.target_class is not None and len(d.allowed) >= 2:  # one known domain: nothing to tell apart
        dom = exts.get(DOMAIN_EXTRACTOR)
        if dom is not None:
            key = f"domain_acc_{dom.metric_suffix}{d.suffix}"
            values[key] = domain_accuracy(dom.extract(as_rgb(d.outputs))[1], d.target_class, d.allowed)
            hib[key] = TRANSLATION_HIGHER_IS_BETTER["domain_acc"]
    if d.cycle is not None:
        values[d.cycle_name] = cycle_l1(*d.cycle)
        hib[d.cycle_name] = TRANSLATION_HIGHER_IS_BETTER["cycle_l1"]


def _classes(domain: Domain, n: int) -> torch.Tensor | None:
    return None if domain.classifier_class is None else torch.full((n,), domain.classifier_class, dtype=torch.int64)


def _allowed(info: TranslationInfo) -> tuple[int, ...]:
    return tuple(d.classifier_class for d in info.domains if d.classifier_class is not None)


def _labels(mapping: dict[str, torch.Tensor] | None, split: str) -> torch.Tensor | None:
    return None if mapping is None else mapping[split]


def _train_subset(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n images of x drawn without replacement (all of them, in a seeded order, when n >= len(x))."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: min(n, len(x))]
    return x[idx]


# --- model rows -------------------------------------------------------------------------------------
def score_run(row: dict[str, Any], model: Any, prep: Any, run_dir: Path) -> None:
    """Translate the reported split with ``model``, write the grid, and every metric into ``row``."""
    info = translation_info(prep.dataset)
    split_name = prep.spec.protocol.split
    split = prep.dataset.split(split_name)
    exts = _Extractors(prep)
    values: dict[str, Any] = {}
    hib: dict[str, bool] = {}
    extra: dict[str, Any] = {}
    t_translate = 0.0
    n_translated = 0

    def translate(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nonlocal t_translate, n_translated
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.translate(x, target)
        t_translate += time.perf_counter() - t0
        n_translated += len(x)
        if out.dtype != torch.uint8 or out.shape != x.shape:
            raise ValueError(f"{type(model).__name__}.translate returned {out.dtype} {tuple(out.shape)}, expected uint8 {tuple(x.shape)}")
        return out

    t_start = time.perf_counter()
    if info.packed:
        a, b = unpack_pairs(split.x)
        dom_a, dom_b = info.domains
        ones, zeros = torch.ones(len(a), dtype=torch.int64), torch.zeros(len(b), dtype=torch.int64)
        ab = translate(a, ones)
        labels_a = _labels(info.digit_labels, split_name)
        if info.task == "paired":
            grid = [a, ab, b]
            v, h, prov = paired_translation_metrics(ab, b)
            values.update(v)
            hib.update(h)
            extra["lpips"] = prov
            _direction_metrics(Direction(ab, b, dom_b, labels_a, _classes(dom_b, len(ab)), _allowed(info), None), exts, values, hib)
            n_scored = len(ab)
        else:
            ba = translate(b, zeros)
            aba, bab = translate(ab, zeros), translate(ba, ones)
            labels_b = _labels(info.target_digit_labels, split_name)
            allowed = _allowed(info)
            _direction_metrics(Direction(ab, b, dom_b, labels_a, _classes(dom_b, len(ab)), allowed, (a, aba), "_ab", "cycle_l1_aba"), exts, values, hib)
            _direction_metrics(Direction(ba, a, dom_a, labels_b, _classes(dom_a, len(ba)), allowed, (b, bab), "_ba", "cycle_l1_bab"), exts, values, hib)
            grid = [a, ab, aba, b, ba, bab]
            n_scored = len(ab) + len(ba)
    else:
        x, src = split.x, split.y
        k = len(info.domains)
        sources, targets = [], []
        for t in range(k):
            keep = src != t
            sources.append(keep.nonzero().flatten())
            targets.append(torch.full((int(keep.sum()),), t, dtype=torch.int64))
        idx, trg = torch.cat(sources), torch.cat(targets)
        out = translate(x[idx], trg)
        rec = translate(out, src[idx])
        labels = _labels(info.digit_labels, split_name)
        cls_of = torch.tensor([d.classifier_class if d.classifier_class is not None else -1 for d in info.domains])
        target_class = cls_of[trg] if bool((cls_of >= 0).all()) else None
        _direction_metrics(Direction(out, x, info.domains[0], None if labels is None else labels[idx], target_class,
                                     _allowed(info), (x[idx], rec)), exts, values, hib)
        # a content / FD view valid for every domain: only 'digits' and fd_extractor of the first
        # domain are read, and every domain of a multi-domain set shares them (checked below)
        _check_uniform_domains(info)
        # the grid: each of the first images to every domain
        shown = x[:GRID_ROWS]
        grid = [shown] + [translate(shown, torch.full((len(shown),), t, dtype=torch.int64)) for t in range(k)]
        n_scored = len(out)
    save_translation_grid([g[:GRID_ROWS] for g in grid], run_dir / GRID_FILE)
    row["sample_grid"] = GRID_FILE
    row["n_fake"] = int(n_scored)
    row["n_real"] = int(len(split))
    row["sample_img_per_s"] = n_translated / max(t_translate, 1e-9)
    row["metrics"].update(values)
    row["higher_is_better"].update(hib)
    row["translation"] = {"task": info.task, "split": split_name, "grid_columns": _grid_columns(info), **extra,
                          **exts.provenance()}
    row["metric_seconds"] = time.perf_counter() - t_start - t_translate


def _check_uniform_domains(info: TranslationInfo) -> None:
    first = info.domains[0]
    if any(d.digits != first.digits or d.fd_extractor != first.fd_extractor for d in info.domains):
        raise ValueError("a multi-domain dataset's domains must share `digits` and `fd_extractor` (one pooled FD)")


def _grid_columns(info: TranslationInfo) -> list[str]:
    if info.task == "paired":
        return ["input (A)", "output", "target (B)"]
    if info.task == "unpaired":
        return ["A", "A->B", "A->B->A", "B", "B->A", "B->A->B"]
    return ["input"] + [f"to {d.name}" for d in info.domains]


# --- the 'real data' reference row -------------------------------------------------------------------
def score_reference(row: dict[str, Any], prep: Any, run_dir: Path) -> None:
    """Real images in the outputs' place (see the module docstring); writes a grid of real pairs."""
    info = translation_info(prep.dataset)
    split_name, seed = prep.spec.protocol.split, prep.spec.eval_seed
    split, train = prep.dataset.split(split_name), prep.dataset.split("train")
    exts = _Extractors(prep)
    values: dict[str, Any] = {}
    hib: dict[str, bool] = {}
    t0 = time.perf_counter()
    if info.packed:
        a, b = unpack_pairs(split.x)
        ta, tb = unpack_pairs(train.x)
        dom_a, dom_b = info.domains
        allowed = _allowed(info)
        suffix = "" if info.task == "paired" else "_ab"
        la, lb = _labels(info.digit_labels, split_name), _labels(info.target_digit_labels, split_name)
        if info.task == "paired":
            lb = la
        _direction_metrics(Direction(b, b, dom_b, lb, _classes(dom_b, len(b)), allowed, None, suffix), exts, values, hib,
                           fd_outputs=_train_subset(tb, len(b), seed))
        n_scored = len(b)
        if info.task == "unpaired":
            _direction_metrics(Direction(a, a, dom_a, la, _classes(dom_a, len(a)), allowed, None, "_ba"), exts, values, hib,
                               fd_outputs=_train_subset(ta, len(a), seed))
            n_scored += len(a)
        grid = [a, b]
    else:
        k = len(info.domains)
        n_out = int(sum((split.y != t).sum() for t in range(k)))
        cls_of = torch.tensor([d.classifier_class if d.classifier_class is not None else -1 for d in info.domains])
        target_class = cls_of[split.y] if bool((cls_of >= 0).all()) else None
        _check_uniform_domains(info)
        _direction_metrics(Direction(split.x, split.x, info.domains[0], _labels(info.digit_labels, split_name),
                                     target_class, _allowed(info), None), exts, values, hib,
                           fd_outputs=_train_subset(train.x, n_out, seed))
        n_scored = n_out
        grid = [split.x]
    save_translation_grid([g[:GRID_ROWS] for g in grid], run_dir / GRID_FILE)
    row["sample_grid"] = GRID_FILE
    row["n_fake"] = int(n_scored)
    row["n_real"] = int(len(split))
    row["metrics"].update(values)
    row["higher_is_better"].update(hib)
    row["translation"] = {"task": info.task, "split": split_name, "reference": "real images in the outputs' place",
                          **exts.provenance()}
    row["metric_seconds"] = time.perf_counter() - t0


def is_translation(dataset: Any) -> bool:
    """True for image-to-image datasets (scored by this module)."""
    return translation_info(dataset) is not None


def headline_metric(prep: Any) -> str:
    """The row key that interval evaluation selects on by default: FD to the (B) target domain
    when its extractor's weights are present, else ``l1`` (paired) or the cycle error."""
    info = translation_info(prep.dataset)
    exts = _Extractors(prep)
    target = info.domains[1] if info.packed else info.domains[0]
    x = prep.dataset.split("val").x
    shape_probe = unpack_pairs(x[:1])[1] if info.packed else x[:1]
    name = exts.fd_extractor_name(target, shape_probe)
    ext = exts.get(name)
    suffix = "_ab" if info.task == "unpaired" else ""
    if ext is not None:
        return f"{ext.metric_name('fd')}{suffix}"
    return {"paired": "l1", "unpaired": "cycle_l1_aba", "multi-domain": "cycle_l1"}[info.task]
