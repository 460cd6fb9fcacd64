"""Dataset registry: the embedded MNIST, the toy mixtures, and the real on-disk loaders.

The real loaders are exercised on MINIATURE copies of the on-disk layouts that torchvision's
own readers accept (idx-ubyte files, CIFAR pickle batches, an ImageFolder tree of PNGs),
written into tmp_path by this file. They are test data, not MNIST/CIFAR: a handful of
synthetic images whose pixel values encode their index so that split order can be checked.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.bench import datasets as ds
from genbench.bench.datasets import DatasetError, load_dataset
from genbench.bench.registry import RegistryError

REAL = ("mnist-full", "fashion-mnist", "cifar10", "imagefolder")


# --- helpers that write miniature layouts ---------------------------------------------
def _idx_images(path: Path, x: np.ndarray) -> None:
    """idx3-ubyte: magic 0x00000803 (uint8, 3 dims), then N, H, W big-endian, then pixels."""
    n, h, w = x.shape
    path.write_bytes(struct.pack(">IIII", 0x803, n, h, w) + x.astype(np.uint8).tobytes())


def _idx_labels(path: Path, y: np.ndarray) -> None:
    """idx1-ubyte: magic 0x00000801 (uint8, 1 dim), then N big-endian, then labels."""
    path.write_bytes(struct.pack(">II", 0x801, len(y)) + y.astype(np.uint8).tobytes())


def _fake_images(n: int, shape: tuple[int, ...], offset: int) -> np.ndarray:
    """Image i is filled with (offset + i) % 256, plus a gradient so it is not constant."""
    x = np.zeros((n, *shape), np.uint8)
    for i in range(n):
        x[i] = (offset + i) % 256
    x[..., 0, 0] = 255
    return x


def write_mini_idx(root: Path, folder: str, n_train: int = 12, n_test: int = 4) -> dict:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    data = {
        "x_train": _fake_images(n_train, (28, 28), 0),
        "y_train": np.arange(n_train) % 10,
        "x_test": _fake_images(n_test, (28, 28), 100),
        "y_test": (np.arange(n_test) + 3) % 10,
    }
    _idx_images(raw / "train-images-idx3-ubyte", data["x_train"])
    _idx_labels(raw / "train-labels-idx1-ubyte", data["y_train"])
    _idx_images(raw / "t10k-images-idx3-ubyte", data["x_test"])
    _idx_labels(raw / "t10k-labels-idx1-ubyte", data["y_test"])
    return data


def write_mini_cifar(root: Path, per_batch: int = 3, n_test: int = 4) -> dict:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    xs, ys = [], []
    for b in range(1, 6):
        x = _fake_images(per_batch, (3, 32, 32), 10 * b)
        x[:, 1] = 7  # green plane differs from red/blue: catches a wrong channel order
        y = [(b + i) % 10 for i in range(per_batch)]
        with open(base / f"data_batch_{b}", "wb") as f:
            pickle.dump({"batch_label": f"mini {b}", "data": x.reshape(per_batch, -1), "labels": y,
                         "filenames": [f"{b}_{i}.png" for i in range(per_batch)]}, f)
        xs.append(x)
        ys += y
    xt = _fake_images(n_test, (3, 32, 32), 200)
    yt = [i % 10 for i in range(n_test)]
    with open(base / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "mini test", "data": xt.reshape(n_test, -1), "labels": yt}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return {"x_train": np.concatenate(xs), "y_train": np.array(ys), "x_test": xt, "y_test": np.array(yt)}


@pytest.fixture
def cifar_md5_off(monkeypatch):
    """torchvision's CIFAR10 checks the md5 of every batch and of batches.meta when it loads
    (not only on download), so miniature files can never pass. For tests only, replace the
    md5 comparison with an existence check; the rest of torchvision's reader (pickle keys,
    reshape, HWC layout, meta) runs unchanged. The real loader keeps the md5 check."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def _png(path: Path, color, size=(6, 4), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


# --- registry ---------------------------------------------------------------------------
def test_unknown_dataset_lists_known_names():
    with pytest.raises(RegistryError) as e:
        load_dataset("no-such-set")
    msg = str(e.value)
    assert "no-such-set" in msg
    for name in ("mnist", "ring8", "grid25", *REAL):
        assert name in msg


@pytest.mark.parametrize("name", REAL)
def test_real_datasets_need_a_root(name):
    assert ds.DATASETS.get(name).needs_root
    with pytest.raises(DatasetError, match="--data-root"):
        load_dataset(name)


# --- embedded MNIST ---------------------------------------------------------------------
def test_embedded_mnist_splits():
    d = load_dataset("mnist")
    assert d.info.split_sizes == {"train": 4000, "val": 500, "test": 500}
    assert d.info.shape == (1, 28, 28) and d.info.num_classes == 10
    assert d.info.sha256 == ds.EMBEDDED_MNIST_SHA256
    per_class = {"train": 400, "val": 50, "test": 50}
    for name, s in d.splits.items():
        assert s.x.dtype == torch.uint8 and s.x.shape == (per_class[name] * 10, 1, 28, 28)
        assert s.y.dtype == torch.int64
        assert torch.bincount(s.y, minlength=10).tolist() == [per_class[name]] * 10
    assert int(d.split("train").x.max()) > 200  # real digits, not an empty array


def test_embedded_mnist_sha_mismatch(monkeypatch):
    monkeypatch.setattr(ds, "EMBEDDED_MNIST_SHA256", "0" * 64)
    ds._load_embedded_mnist.cache_clear()
    try:
        with pytest.raises(DatasetError, match="expected 0000"):
            load_dataset("mnist")
    finally:
        ds._load_embedded_mnist.cache_clear()  # the next load recomputes with the real sha


def test_missing_split_name():
    with pytest.raises(DatasetError, match="no split 'dev'"):
        load_dataset("mnist").split("dev")


# --- toy mixtures -----------------------------------------------------------------------
@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixture(name, k, std):
    d = load_dataset(name)
    modes = d.extras["modes"]
    assert modes.shape == (k, 2) and d.extras["std"] == std
    assert d.info.split_sizes == dict(ds.TOY_SPLITS)
    if name == "ring8":
        assert torch.allclose(modes.norm(dim=1), torch.ones(k))
        angles = torch.atan2(modes[:, 1], modes[:, 0]).remainder(2 * torch.pi).sort().values
        assert torch.allclose(angles.diff(), torch.full((k - 1,), 2 * torch.pi / k), atol=1e-6)
    else:
        assert sorted(set(modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
        assert len({tuple(m) for m in modes.tolist()}) == 25
    s = d.split("train")
    assert s.x.dtype == torch.float32 and s.x.shape == (50_000, 2)
    resid = s.x.double() - modes.double()[s.y]
    assert abs(resid.std().item() - std) < 0.02 * std
    assert (torch.cdist(s.x, modes).argmin(1) == s.y).all()  # modes are well separated
    assert torch.bincount(s.y, minlength=k).min() > 50_000 / k * 0.9
    again = load_dataset(name)  # fixed data seed: identical every time
    assert torch.equal(again.split("test").x, d.split("test").x)


# --- MNIST / Fashion-MNIST (idx-ubyte) ----------------------------------------------------
@pytest.mark.parametrize(
    "loader,folder,name",
    [(ds.load_mnist_full, "MNIST", "mnist-full"), (ds.load_fashion_mnist, "FashionMNIST", "fashion-mnist")],
)
def test_idx_loader_miniature(tmp_path, loader, folder, name):
    data = write_mini_idx(tmp_path, folder)
    d = loader(tmp_path, val_size=2, official_sizes=False)
    assert d.info.name == name and d.info.shape == (1, 28, 28) and d.info.num_classes == 10
    assert d.info.split_sizes == {"train": 10, "val": 2, "test": 4}
    assert d.info.license and d.info.source and len(d.info.sha256) == 64
    for s in d.splits.values():
        assert s.x.dtype == torch.uint8 and s.y.dtype == torch.int64 and s.x.is_contiguous()
    # train = first n - val of the official train set, val = its last val, test = t10k
    assert torch.equal(d.split("train").x[:, 0], torch.from_numpy(data["x_train"][:10]))
    assert torch.equal(d.split("val").x[:, 0], torch.from_numpy(data["x_train"][10:]))
    assert torch.equal(d.split("test").x[:, 0], torch.from_numpy(data["x_test"]))
    assert d.split("val").y.tolist() == data["y_train"][10:].tolist()
    assert d.split("test").y.tolist() == data["y_test"].tolist()


def test_idx_registered_entry_refuses_non_official_sizes(tmp_path):
    write_mini_idx(tmp_path, "MNIST")
    with pytest.raises(DatasetError, match="official 60,000"):
        load_dataset("mnist-full", str(tmp_path))


@pytest.mark.parametrize("name,folder", [("mnist-full", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_empty_root_names_the_files(tmp_path, name, folder):
    with pytest.raises(DatasetError) as e:
        load_dataset(name, str(tmp_path))
    msg = str(e.value)
    raw = tmp_path / folder / "raw"
    for f in ds.IDX_FILES:
        assert str(raw / f) in msg
    assert "download=True" in msg and "never downloads" in msg


def test_idx_gz_only_says_decompress(tmp_path):
    write_mini_idx(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    for f in ds.IDX_FILES:
        (raw / f"{f}.gz").write_bytes(gzip.compress((raw / f).read_bytes()))
        (raw / f).unlink()
    with pytest.raises(DatasetError, match="gunzip -k"):
        load_dataset("mnist-full", str(tmp_path))


def test_idx_corrupt_file(tmp_path):
    write_mini_idx(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(DatasetError, match="could not read"):
        ds.load_mnist_full(tmp_path, val_size=2, official_sizes=False)


def test_val_size_must_leave_training_data(tmp_path):
    write_mini_idx(tmp_path, "MNIST")
    with pytest.raises(DatasetError, match="val_size"):
        ds.load_mnist_full(tmp_path, val_size=12, official_sizes=False)


# --- CIFAR-10 (pickle batches) ------------------------------------------------------------
def test_cifar10_miniature(tmp_path, cifar_md5_off):
    data = write_mini_cifar(tmp_path)
    d = ds.load_cifar10(tmp_path, val_size=5, official_sizes=False)
    assert d.info.name == "cifar10" and d.info.shape == (3, 32, 32) and d.info.num_classes == 10
    assert d.info.split_sizes == {"train": 10, "val": 5, "test": 4}
    assert d.extras["classes"][0] == "airplane"
    assert "Krizhevsky" in d.info.license
    for s in d.splits.values():
        assert s.x.dtype == torch.uint8 and s.y.dtype == torch.int64 and s.x.shape[1:] == (3, 32, 32)
    x_train = torch.from_numpy(data["x_train"])
    assert torch.equal(d.split("train").x, x_train[:10])  # NCHW, channels in file order
    assert torch.equal(d.split("val").x, x_train[10:])    # the last 5 of data_batch_1..5
    assert (d.split("train").x[:, 1] == 7).all()
    assert d.split("val").y.tolist() == data["y_train"][10:].tolist()
    assert torch.equal(d.split("test").x, torch.from_numpy(data["x_test"]))
    assert d.split("test").y.tolist() == data["y_test"].tolist()


def test_cifar10_registered_entry_refuses_non_official_sizes(tmp_path, cifar_md5_off):
    write_mini_cifar(tmp_path)
    with pytest.raises(DatasetError, match="official 50,000"):
        load_dataset("cifar10", str(tmp_path))


def test_cifar10_md5_mismatch_is_reported(tmp_path):
    write_mini_cifar(tmp_path)  # no monkeypatch: torchvision's own md5 check rejects these files
    with pytest.raises(DatasetError, match="md5 differs.*data_batch_1"):
        load_dataset("cifar10", str(tmp_path))


def test_cifar10_empty_root_names_the_files(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"x")
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", str(tmp_path))
    msg = str(e.value)
    assert "missing data_batch_2" in msg and "data_batch_1," not in msg.split("Expected")[0]
    assert str(tmp_path / "cifar-10-batches-py") + "/data_batch_1..5, test_batch" in msg
    assert "download=True" in msg


# --- ImageFolder ------------------------------------------------------------------------
COLORS = {"cat": (200, 10, 10), "dog": (10, 200, 10)}


def test_imagefolder_automatic_split(tmp_path):
    for c, color in COLORS.items():
        for i in range(20):
            _png(tmp_path / c / f"{i:03d}.png", color, size=(6 + i % 3, 4))
    _png(tmp_path / "dog" / "gray.png", 90, mode="L")  # 21st dog file, sorts last: train
    d = load_dataset("imagefolder", str(tmp_path))
    assert d.info.shape == (3, 32, 32) and d.info.num_classes == 2
    assert d.extras["classes"] == ["cat", "dog"]
    assert d.info.split_sizes == {"train": 37, "val": 2, "test": 2}
    val, test = d.split("val"), d.split("test")
    assert val.y.tolist() == [0, 1] and test.y.tolist() == [0, 1]
    # position 18 of each class (sorted by path) -> val, 19 -> test
    assert torch.equal(val.x[0], torch.tensor(COLORS["cat"], dtype=torch.uint8)[:, None, None].expand(3, 32, 32))
    assert torch.equal(test.x[1], torch.tensor(COLORS["dog"], dtype=torch.uint8)[:, None, None].expand(3, 32, 32))
    train = d.split("train")
    assert train.x.dtype == torch.uint8 and train.y.dtype == torch.int64
    assert torch.bincount(train.y).tolist() == [18, 19]
    assert (train.x[-1] == 90).all()  # grayscale converted to RGB
    again = ds.load_imagefolder(tmp_path)
    assert again.info.sha256 == d.info.sha256


def test_imagefolder_split_folders_and_size(tmp_path):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for c, color in COLORS.items():
            if split == "val" and c == "cat":
                continue  # val lacks a class: labels still follow train/'s class order
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.jpg", color, size=(10, 30))
    d = ds.load_imagefolder(tmp_path, size=16)
    assert d.info.shape == (3, 16, 16)
    assert d.info.split_sizes == {"train": 6, "val": 1, "test": 4}
    assert d.split("val").y.tolist() == [1]
    assert torch.bincount(d.split("test").y).tolist() == [2, 2]


def test_imagefolder_partial_split_folders(tmp_path):
    _png(tmp_path / "train" / "cat" / "0.png", COLORS["cat"])
    _png(tmp_path / "test" / "cat" / "0.png", COLORS["cat"])
    with pytest.raises(DatasetError, match="not val/"):
        ds.load_imagefolder(tmp_path)


def test_imagefolder_too_few_images(tmp_path):
    for i in range(5):
        _png(tmp_path / "cat" / f"{i}.png", COLORS["cat"])
    with pytest.raises(DatasetError, match="would be empty"):
        ds.load_imagefolder(tmp_path)
    assert ds.load_imagefolder(tmp_path, holdout_every=5).info.split_sizes == {"train": 3, "val": 1, "test": 1}


def test_imagefolder_empty_root(tmp_path):
    with pytest.raises(DatasetError, match="one sub-folder per class"):
        load_dataset("imagefolder", str(tmp_path))
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset("imagefolder", str(tmp_path / "nope"))


def test_imagefolder_unreadable_image(tmp_path):
    for i in range(20):
        _png(tmp_path / "cat" / f"{i:02d}.png", COLORS["cat"])
    (tmp_path / "cat" / "05.png").write_bytes(b"broken")
    with pytest.raises(DatasetError, match="05.png"):
        ds.load_imagefolder(tmp_path)
