"""Reference statistics (`genbench ref`) and evaluation of outside samples (`genbench eval`).

Python API behind the two subcommands; every function validates its input completely before
it computes or writes anything, and raises ``EvalInputError`` (a ValueError: the CLI exits 2)
with a message that says which input was wrong and what to do.

>>> import numpy as np, tempfile, os
>>> from genbench.bench.datasets import load_dataset
>>> digits = load_dataset("mnist").split("test").x.numpy()           # uint8 (500, 1, 28, 28)
>>> d = tempfile.mkdtemp(); np.save(os.path.join(d, "real.npy"), digits[:250])
>>> np.save(os.path.join(d, "fake.npy"), digits[250:].transpose(0, 2, 3, 1))   # NHWC works too
>>> out = evaluate(os.path.join(d, "real.npy"), os.path.join(d, "fake.npy"), metrics=["fd", "kid"])
>>> sorted(out["metrics"]), out["fake"]["layout"], out["n_real"]
(['fd_mnist', 'kid_mnist', 'kid_mnist_std'], 'NHWC', 250)
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

import genbench.bench
from genbench.bench.datasets import Dataset, load_dataset
from genbench.bench.fingerprint import feature_fingerprint
from genbench.metrics import FeatureStats, compute_metrics, cuda_or_none, load_extractor, stats_key
from genbench.metrics.evaluate import GROUPS, select_metrics

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
REF_KIND = "genbench-reference-stats"
DEFAULT_EXTRACTOR = "mnist-lenet"
FEATURES_SUFFIX = "features"  # metric suffix with --features (no extractor): fd_features, kid_features


class EvalInputError(ValueError):
    """A REAL/FAKE input or a ref/eval argument is unusable; the message names it and says what to do."""


@dataclass
class Side:
    """One loaded input of `eval`.

    kind: 'images' (uint8 (N, C, H, W) in ``images``), 'stats' (a FeatureStats from `genbench ref`)
    or 'features' (float (N, D) in ``features``). layout: how the images were stored
    ('NCHW', 'NHWC', 'NHW', 'folder'), else None.
    """

    role: str
    path: str
    kind: str
    images: torch.Tensor | None = None
    stats: FeatureStats | None = None
    features: torch.Tensor | None = None
    layout: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        if self.images is not None:
            return int(self.images.shape[0])
        if self.features is not None:
            return int(self.features.shape[0])
        return int(self.stats.n)

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "layout": self.layout, "n": self.n}


# --- loading images, features and statistics ----------------------------------------------------
def _fail(role: str, path: Path | str, what: str) -> EvalInputError:
    return EvalInputError(f"{role} {path}: {what}")


def images_from_array(arr: np.ndarray, role: str, path: Path | str) -> tuple[torch.Tensor, str]:
    """uint8 (N, C, H, W) tensor and the detected layout from a uint8 NCHW, NHWC or (N, H, W) array (C in 1, 3)."""
    if arr.dtype != np.uint8:
        raise _fail(role, path, f"images must be uint8 in [0, 255], got dtype {arr.dtype}; convert float images "
                    "x in [0, 1] with (x * 255).round().clip(0, 255).astype(np.uint8) (or pass --features "
                    "for a float feature matrix)")
    if arr.ndim == 3:
        if arr.shape[2] in (3, 4) and arr.shape[1] > 4:
            # one H x W x C picture, not N grayscale images of width 3 (RGB) or 4 (RGBA)
            raise _fail(role, path, f"shape {arr.shape} looks like one (H, W, C) image, not (N, H, W) grayscale "
                        "images; store a batch: (N, H, W, C) or (N, C, H, W), at least 2 images")
        arr, layout = arr[:, None], "NHW"
    elif arr.ndim == 4:
        first, last = arr.shape[1] in (1, 3), arr.shape[3] in (1, 3)
        if first and last:
            raise _fail(role, path, f"shape {arr.shape} is ambiguous (NCHW or NHWC?); store images larger than 3x3")
        if not (first or last):
            raise _fail(role, path, f"shape {arr.shape} has no channel axis of size 1 or 3 at position 1 (NCHW) "
                        "or 3 (NHWC); store grayscale or RGB images")
        layout = "NCHW" if first else "NHWC"
        if layout == "NHWC":
            arr = arr.transpose(0, 3, 1, 2)
    else:
        raise _fail(role, path, f"images must be a 4-D NCHW/NHWC or 3-D (N, H, W) array, got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise _fail(role, path, f"needs at least 2 images, got {arr.shape[0]}")
    if arr.size >= 1024 and int(arr.max()) == 1:
        # only 0 and 1 in a thousand pixels: most likely [0, 1] floats cast with astype(uint8) (every
        # value but 1.0 becomes 0), scored as near-black squares. A warning, not an error: a collapsed
        # generator's output may be that dark, and it must still be scored
        warnings.warn(f"{role} {path}: every pixel is 0 or 1; if these are images in [0, 1] cast to uint8 without "
                      "scaling, convert with (x * 255).round().clip(0, 255).astype(np.uint8)", stacklevel=2)
    # a fresh C-order copy: views with size-1 axes keep odd strides that torch may read as
    # channels_last, and conv kernels then differ from NCHW input in the last float bits
    return torch.from_numpy(np.array(arr, order="C", copy=True)), layout


def images_from_folder(folder: Path, role: str) -> torch.Tensor:
    """uint8 (N, C, H, W) from the PNG/JPEG files directly in ``folder`` (sorted by name).

    Grayscale ('L') files give C=1, RGB (and palette) files C=3; every file must have the same
    size and channel count.
    """
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise _fail(role, folder, f"needs at least 2 image files ({', '.join(IMAGE_SUFFIXES)}), found {len(files)}")
    arrays, first_key = [], None
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB") if im.mode == "P" else im
                if im.mode not in ("L", "RGB"):
                    raise _fail(role, f, f"image mode {im.mode!r} is neither grayscale (L) nor RGB; convert it")
                a = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as e:
            raise _fail(role, f, f"not a readable image ({e})") from None
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        key = a.shape
        if first_key is None:
            first_key = key
        elif key != first_key:
            raise _fail(role, f, f"image is (C, H, W) = {key} but {files[0].name} is {first_key}; all images "
                        "in a folder must have the same size and channels")
        arrays.append(a)
    return torch.from_numpy(np.stack(arrays))


def _is_stats_npz(keys: Iterable[str]) -> bool:
    return {"format_version", "mean", "cov"} <= set(keys)


def _load_npz_array(path: Path, role: str) -> np.ndarray | None:
    """The image array of an .npz (its only array, or 'images' / 'x'); None if it is a stats file."""
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        if _is_stats_npz(keys):
            return None
        for name in ([keys[0]] if len(keys) == 1 else []) + ["images", "x"]:
            if name in keys:
                return z[name]
    raise _fail(role, path, f"an .npz of images must hold one array (or one named 'images' or 'x'); found {keys}")


def load_features(path: Path, role: str) -> torch.Tensor:
    """float (N, D) feature matrix from a .npy (N >= 2, finite)."""
    if path.suffix != ".npy":
        raise _fail(role, path, "with --features, inputs are float feature matrices (N, D) saved as .npy")
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise _fail(role, path, f"features must be a float (N, D) matrix, got {arr.dtype} {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _fail(role, path, "features contain NaN or inf; the features are broken")
    if arr.shape[0] < 2:
        raise _fail(role, path, f"needs at least 2 feature rows, got {arr.shape[0]}")
    return torch.from_numpy(arr)


def load_side(path: str | Path, role: str, features: bool = False) -> Side:
    """Load REAL or FAKE: an image folder, a .npy/.npz of uint8 images, a `genbench ref` .npz, or features."""
    p = Path(path)
    if not p.exists():
        raise _fail(role, p, "no such file or folder")
    try:
        if features:
            return Side(role, str(p), "features", features=load_features(p, role))
        if p.is_dir():
            return Side(role, str(p), "images", images=images_from_folder(p, role), layout="folder")
        if p.suffix == ".npy":
            imgs, layout = images_from_array(np.load(p, allow_pickle=False), role, p)
            return Side(role, str(p), "images", images=imgs, layout=layout)
        if p.suffix == ".npz":
            arr = _load_npz_array(p, role)
            if arr is None:
                stats = FeatureStats.load(p)
                return Side(role, str(p), "stats", stats=stats, meta=dict(stats.meta))
            imgs, layout = images_from_array(arr, role, p)
            return Side(role, str(p), "images", images=imgs, layout=layout)
    except EvalInputError:
        raise
    except (ValueError, OSError, EOFError) as e:  # np.load / zip errors
        raise _fail(role, p, f"not a readable array file ({e})") from None
    raise _fail(role, p, "expected an image folder, a .npy/.npz of uint8 images or a `genbench ref` .npz")


# --- reference statistics ------------------------------------------------------------------------
def cache_dir() -> Path:
    """Reference-statistics cache: $GENBENCH_CACHE/stats, else ~/.cache/genbench/stats."""
    root = os.environ.get("GENBENCH_CACHE") or Path.home() / ".cache" / "genbench"
    return Path(root) / "stats"


def reference_subset(total: int, n: int, seed: int) -> torch.Tensor:
    """Sorted int64 indices of n of total rows: torch.randperm(total, Generator().manual_seed(seed))[:n].

    Used by `genbench ref`, by every run's reference statistics and by the real-data rows.
    """
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def _check_n(n: int | None, available: int, what: str) -> int:
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n > available:
        raise EvalInputError(f"--n must be an integer in [2, {available}] (the {what} size), got {n!r}")
    return n


def make_reference(
    dataset: str,
    extractor: str = DEFAULT_EXTRACTOR,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    data_root: str | None = None,
    weights: str | Path | None = None,
    weights_sha256: str | None = None,
    resize_mode: str | None = None,
    device: str = "cpu",
) -> tuple[Path, bool]:
    """Write the reference statistics of ``dataset``/``split`` (features and logits kept); returns (path, reused).

    n: rows used (default the whole split; fewer are a seeded subset, see ``reference_subset``).
    The file is keyed by ``stats_key`` of everything that changes the numbers (data hash,
    splits, split, n, seed, extractor, weights sha256, resize mode, protocol version, feature
    code fingerprint); a valid file with the same key is reused. out: explicit .npz path
    (default ``cache_dir()/ref-<dataset>-<split>-<extractor>-<key>.npz``).
    Written atomically (FeatureStats.save). The meta records the provenance.
    """
    if out is not None and Path(out).suffix != ".npz":
        raise EvalInputError(f"--out must end in .npz, got {out}")
    data = load_dataset(dataset, data_root)
    if data.info.kind != "image":
        raise EvalInputError(f"dataset {dataset!r} is {data.info.kind!r} data; reference statistics need images")
    rows = data.split(split)
    n = _check_n(n, len(rows), f"{dataset} {split} split")
    ext = load_extractor(extractor, weights_path=weights, expected_sha256=weights_sha256,
                         device=device, resize_mode=resize_mode)
    ext.check_images(rows.x[:1])
    path, reused, _ = cached_reference_stats(data, split, n, seed, ext, out=out, device=device)
    return path, reused


def cached_reference_stats(
    data: Dataset, split: str, n: int, seed: int, ext: Any, out: str | Path | None = None, device: Any = None,
) -> tuple[Path, bool, FeatureStats]:
    """Features + logits of ``n`` rows of ``data``'s ``split`` (all of them, or a seeded subset),
    cached under a key of everything that changes the numbers; returns (path, reused, stats).

    The one reference-statistics cache: `genbench ref` and every run's evaluation use it. The key
    includes ``PROTOCOL_VERSION`` and ``feature_fingerprint()`` (a hash of the extractor, resize,
    statistics and dataset code), as stylegan2-ada's cache keys do everything that changes the
    numbers: after a change to that code, statistics computed before it are recomputed, not reused.
    Files written before these fields existed have another key, so they are recomputed too.
    """
    rows = data.split(split)
    meta = {
        "kind": REF_KIND, "dataset": data.info.name, "data_sha256": data.info.sha256, "split": split, "n": n,
        "seed": seed if n < len(rows) else None, "extractor": ext.name, "weights_sha256": ext.weights_sha256,
        "official_weights": ext.official, "resize_mode": ext.resize_mode, "metric_suffix": ext.metric_suffix,
        **_feature_code(),
    }
    key = stats_key(splits=data.info.to_dict()["splits"], **meta)
    meta["key"] = key
    path = Path(out) if out is not None else cache_dir() / f"ref-{data.info.name}-{split}-{ext.name}-{key}.npz"
    if path.is_file():
        try:
            stats = FeatureStats.load(path)
            if stats.meta.get("key") == key:
                return path, True, stats
        except ValueError:
            pass  # unreadable or stale: recompute and replace it
    x = rows.x if n == len(rows) else rows.x[reference_subset(len(rows), n, seed)]
    feats, logits = ext.extract(x, device=device)
    stats = FeatureStats.from_features(feats, logits, meta=meta, device=cuda_or_none(device))
    stats.save(path)
    return path, False, stats


# --- evaluation ---------------------------------------------------------------------------------
def _selected_groups(metrics: Iterable[str] | None, features: bool) -> tuple[list[str], dict[str, str]]:
    """Metric groups to compute and the unavailable ones with the reason."""
    groups = list(GROUPS) if metrics is None else [m.strip() for m in metrics if m.strip()]
    try:
        select_metrics(groups)
    except ValueError as e:
        raise EvalInputError(f"--metrics: {e}") from None
    unavailable: dict[str, str] = {}
    if features and "is" in groups:
        if metrics is not None:
            raise EvalInputError("--metrics is: the Inception Score needs classifier logits, which --features "
                                 "inputs do not have; drop 'is' or pass images")
        groups.remove("is")
        unavailable["is"] = "unavailable with --features: no classifier logits"
    return groups, unavailable


def _feature_code() -> dict[str, Any]:
    """The version of the code behind reference statistics, as stored in their meta (read at call time)."""
    return {"protocol_version": genbench.bench.PROTOCOL_VERSION, "feature_fingerprint": feature_fingerprint()}


def _ref_command(meta: dict[str, Any]) -> str:
    """The `genbench ref` command that recomputes the statistics described by ``meta``."""
    cmd = f"genbench ref --dataset {meta.get('dataset')} --split {meta.get('split')}"
    cmd += f" --extractor {meta.get('extractor')}"
    if meta.get("seed") is not None:
        cmd += f" --n {meta.get('n')} --seed {meta['seed']}"
    if meta.get("resize_mode") not in (None, "none"):
        cmd += f" --resize-mode {meta['resize_mode']}"
    if meta.get("official_weights") is False and meta.get("weights_sha256"):
        cmd += f" --weights WEIGHTS_FILE --weights-sha256 {meta['weights_sha256']}"
    return cmd  # an on-disk dataset also needs its --data-root, which the file does not record


def _check_ref_matches(side: Side, ext: Any) -> None:
    meta = side.meta
    if meta.get("kind") != REF_KIND:
        return  # stats saved by other code: trust the caller
    now = _feature_code()
    made = {k: meta.get(k) for k in now}  # None in files written before these fields existed
    if made != now:
        raise _fail(side.role, side.path, f"reference statistics were made by other feature code ({made}) than "
                    f"this genbench's ({now}): the features may differ; recompute them with `{_ref_command(meta)}`")
    want = {"extractor": ext.name, "weights_sha256": ext.weights_sha256, "resize_mode": ext.resize_mode}
    got = {k: meta.get(k) for k in want}
    if got != want:
        raise _fail(side.role, side.path, f"reference statistics were made with {got}, but this evaluation "
                    f"uses {want}; pass the matching --extractor/--weights/--resize-mode or rerun `genbench ref`")


def _stats_of(side: Side, ext: Any, batch_size: int, device: str) -> FeatureStats:
    if side.kind == "stats":
        _check_ref_matches(side, ext)
        return side.stats
    if side.kind == "features":
        return FeatureStats.from_features(side.features)
    try:
        ext.check_images(side.images)
    except ValueError as e:
        raise _fail(side.role, side.path, str(e)) from None
    feats, logits = ext.extract(side.images, batch_size=batch_size, device=device)
    return FeatureStats.from_features(feats, logits, device=cuda_or_none(device))


def evaluate(
    real: str | Path,
    fake: str | Path,
    metrics: Iterable[str] | None = None,
    extractor: str | None = None,
    features: bool = False,
    seed: int = 0,
    weights: str | Path | None = None,
    weights_sha256: str | None = None,
    resize_mode: str | None = None,
    device: str = "cpu",
    batch_size: int = 500,
) -> dict[str, Any]:
    """Score FAKE against REAL (paths; see ``load_side``) with one feature pass per side.

    metrics: groups to compute (fd, kid, is, precision, recall, density, coverage; None = all
      available). extractor: registry name (default: the REAL reference file's, else mnist-lenet).
    features: inputs are float (N, D) .npy matrices; no extractor runs and IS is unavailable.
    seed: the evaluation seed (KID subsets). Returns one JSON-able dict: metrics,
    higher_is_better, unavailable, n_real, n_fake, extractor, weights_sha256, resize_mode,
    metric settings, inputs and seconds. Raises EvalInputError (ValueError) on bad input.
    """
    t0 = time.perf_counter()
    groups, unavailable = _selected_groups(metrics, features)
    if features and (extractor or weights or weights_sha256 or resize_mode):
        raise EvalInputError("--features takes feature matrices and runs no extractor; drop --extractor/--weights/"
                             "--weights-sha256/--resize-mode")
    sides = [load_side(real, "REAL", features), load_side(fake, "FAKE", features)]
    ext = None
    if not features:
        name = extractor or sides[0].meta.get("extractor") or DEFAULT_EXTRACTOR
        ext = load_extractor(name, weights_path=weights, expected_sha256=weights_sha256,
                             device=device, resize_mode=resize_mode)
    real_stats, fake_stats = (_stats_of(s, ext, batch_size, device) for s in sides)
    if real_stats.dim != fake_stats.dim:
        raise EvalInputError(f"REAL has {real_stats.dim}-d features but FAKE has {fake_stats.dim}-d; "
                             "compute both with the same extractor")
    details: dict[str, Any] = {}
    values, higher = compute_metrics(
        real_stats, fake_stats, ext.metric_suffix if ext else FEATURES_SUFFIX, seed=seed, metrics=groups,
        names=getattr(ext, "metric_names", None), details=details,
        device=cuda_or_none(device),
    )
    return {
        "metrics": values, "higher_is_better": higher, "unavailable": unavailable,
        "n_real": real_stats.n, "n_fake": fake_stats.n,
        "extractor": ext.name if ext else None, "weights_sha256": ext.weights_sha256 if ext else None,
        "official_weights": ext.official if ext else None, "resize_mode": ext.resize_mode if ext else None,
        "seed": seed, "settings": details, "real": sides[0].describe(), "fake": sides[1].describe(),
        "seconds": time.perf_counter() - t0,
    }
