"""Image-to-image datasets: the offline tasks built from packaged data, and the on-disk loaders."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from genbench.bench import i2i_data as d
from genbench.bench.datasets import DATASETS, DatasetError, _load_embedded_mnist, load_dataset

OFFLINE = ["edges2digits", "gray2color", "digits2textured", "digit-domains"]
ON_DISK = ["facades", "edges2shoes", "horse2zebra", "celeba-hair"]


def test_every_registered_image_to_image_dataset_is_tested_here():
    mine = {n for n, e in DATASETS.items() if getattr(e.load, "__module__", "") == d.__name__}
    assert mine == set(OFFLINE) | set(ON_DISK)
    assert {n for n in mine if DATASETS.get(n).needs_root} == set(ON_DISK)


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_dataset_layout(name):
    ds = load_dataset(name)
    info = d.translation_info(ds)
    assert info is not None and ds.info.kind == "image"
    c, h, w = ds.info.shape
    for split in ("train", "val", "test"):
        s = ds.split(split)
        assert s.x.dtype == torch.uint8 and tuple(s.x.shape[1:]) == (c, h, w) and len(s) == ds.info.split_sizes[split] > 0
        if info.packed:
            a, b = d.unpack_pairs(s.x)
            assert w == 2 * h and a.shape == b.shape
        else:
            assert h == w and s.y is not None and 0 <= int(s.y.min()) and int(s.y.max()) < ds.info.num_classes
        if info.digit_labels is not None:
            assert len(info.digit_labels[split]) == len(s)
    assert ds.info.sha256 and len(ds.info.sha256) == 64


def test_offline_datasets_are_deterministic():
    """Built twice from scratch (not the cached object): the same bytes."""
    for loader in (d.load_digits2textured, d.load_digit_domains, d.load_gray2color):
        assert loader.__wrapped__().info.sha256 == loader().info.sha256


def test_edges2digits_pairs_edges_with_their_digits():
    ds, mnist = load_dataset("edges2digits"), _load_embedded_mnist()
    a, b = d.unpack_pairs(ds.split("val").x)
    assert torch.equal(b, mnist.split("val").x)  # B = the embedded digits, in order
    assert torch.equal(a[:20], d.canny_edges(mnist.split("val").x[:20]))
    assert set(a.unique().tolist()) == {0, 255}
    assert torch.equal(ds.split("val").y, mnist.split("val").y)


def test_digits2textured_uses_different_digit_instances():
    ds, mnist = load_dataset("digits2textured"), _load_embedded_mnist()
    info = d.translation_info(ds)
    for split in ("train", "test"):
        a, b = d.unpack_pairs(ds.split(split).x)
        plain = {bytes(x.numpy()) for x in mnist.split(split).x}
        assert all(bytes(x.numpy()) in plain for x in a)  # A: real digits of this split
        assert len({bytes(x.numpy()) for x in a}) == len(a)
        # A and B halves partition the split: their labels never exceed the split's counts
        used = Counter(info.digit_labels[split].tolist()) + Counter(info.target_digit_labels[split].tolist())
        assert used <= Counter(mnist.split(split).y.tolist()) and sum(used.values()) == 2 * len(a)
        # B: texture in the background (A's background is black)
        assert a.float().mean() < b.float().mean() and (b == 0).float().mean() < 0.05


def test_texture_blend_keeps_ink_white():
    digits = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    digits[:, :, 10:18, 12:16] = 255
    out = d.texture_digits(digits, np.random.default_rng(0))
    assert (out[digits == 255] == 255).all()
    assert out[digits == 0].float().max() <= 255 * d.TEXTURE_GAIN + 1


def test_digit_domains_render_colour_and_stroke():
    digits = _load_embedded_mnist().split("test").x[:50]
    for k, (name, rgb, bold) in enumerate(d.DIGIT_DOMAINS):
        img = d.render_domain(digits, k)
        assert img.shape == (50, 3, 28, 28)
        ink = img.amax(1, keepdim=True)
        if not bold:
            assert torch.equal(ink, digits)  # the max channel is the digit itself (255 ink)
        else:
            assert ((ink > 0).sum() > (digits > 0).sum()) and (ink >= digits).all()  # dilation grows strokes
        ratio = img.double().sum((0, 2, 3)) / img.double().sum((0, 2, 3)).max()
        torch.testing.assert_close(ratio, torch.tensor(rgb, dtype=torch.float64) / max(rgb), atol=0.01, rtol=0)


def test_gray2color_sources_are_gray_of_targets_and_photos_held_out():
    ds = load_dataset("gray2color")
    a, b = d.unpack_pairs(ds.split("test").x[:40])
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 0], a[:, 2])
    lum = (0.2125 * b[:, 0].double() + 0.7154 * b[:, 1].double() + 0.0721 * b[:, 2].double())  # ITU-R 709
    assert (a[:, 0].double() - lum).abs().max() <= 1.0
    photos = [set(p) for p in d.PHOTO_SPLITS.values()]
    assert not (photos[0] & photos[1]) and not (photos[0] & photos[2]) and not (photos[1] & photos[2])
    assert "held-out" in DATASETS.get("gray2color").description


def test_pack_unpack_roundtrip_and_errors():
    a = torch.randint(0, 255, (3, 2, 8, 8), dtype=torch.uint8)
    b = torch.randint(0, 255, (3, 2, 8, 8), dtype=torch.uint8)
    x = d.pack_pairs(a, b)
    assert x.shape == (3, 2, 8, 16)
    ua, ub = d.unpack_pairs(x)
    assert torch.equal(ua, a) and torch.equal(ub, b)
    with pytest.raises(DatasetError, match="one shape"):
        d.pack_pairs(a, b[:2])
    with pytest.raises(DatasetError, match="2S"):
        d.unpack_pairs(a)


def test_domain_classifier_data_is_balanced_and_never_uses_test_for_training():
    x, y = d.domain_classifier_data("val", copies=2)
    assert x.shape == (1000, 3, 28, 28) and x.dtype == torch.uint8
    counts = torch.bincount(y, minlength=len(d.DOMAIN_CLASSES))
    assert (counts > 100).all()
    first, second = y[:500], y[500:]
    assert (first != second).all()  # the two copies of a digit are in distinct domains


# --- on-disk loaders, with miniature copies of the real layouts -------------------------------------------
def _save(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _ab_file(path, left, right, h=16):
    img = np.zeros((h, 2 * h, 3), np.uint8)
    img[:, :h] = left
    img[:, h:] = right
    _save(path, img)


def test_pix2pix_folder_loader_splits_and_direction(tmp_path):
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        for i in range(n):
            _ab_file(tmp_path / "facades" / split / f"{i}.png", (200, 0, 0), (0, 0, 200))
    ds = d.load_pix2pix_folder(tmp_path, "facades", swap=True, size=8)
    assert ds.info.shape == (3, 8, 16) and ds.info.split_sizes == {"train": 4, "val": 2, "test": 3}
    a, b = d.unpack_pairs(ds.split("train").x)
    assert (a[:, 2] == 200).all() and (a[:, 0] == 0).all()  # swapped: the right half is the source
    assert (b[:, 0] == 200).all()
    assert d.translation_info(ds).task == "paired"


def test_pix2pix_folder_without_test_uses_val_as_test(tmp_path):
    for split, n in (("train", 5), ("val", 2)):
        for i in range(n):
            _ab_file(tmp_path / "edges2shoes" / split / f"{i}.png", (i * 10, 0, 0), (0, 0, 0))
    ds = d.load_pix2pix_folder(tmp_path, "edges2shoes", size=8, val_from_train=2)
    assert ds.info.split_sizes == {"train": 3, "val": 2, "test": 2}
    assert int(d.unpack_pairs(ds.split("val").x)[0][0, 0, 0, 0]) == 30  # the last train files, sorted


def test_cyclegan_folder_loader_pairs(tmp_path):
    counts = {"trainA": 20, "trainB": 25, "testA": 2, "testB": 3}
    for folder, n in counts.items():
        for i in range(n):
            _save(tmp_path / "horse2zebra" / folder / f"{i:03d}.png", np.full((12, 12, 3), 40 if "A" in folder else 220, np.uint8))
    ds = d.load_cyclegan_folder(tmp_path, "horse2zebra", size=8)
    assert ds.info.split_sizes == {"train": 24, "val": 1, "test": 2}
    a, b = d.unpack_pairs(ds.split("train").x)
    assert (a == 40).all() and (b == 220).all()
    assert d.translation_info(ds).task == "unpaired"


def test_celeba_hair_loader(tmp_path):
    base = tmp_path / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    hair = [(1, -1, -1), (-1, 1, -1), (-1, -1, 1), (1, 1, -1), (-1, -1, -1), (1, -1, -1)]  # 4th: two, 5th: none
    header = "Black_Hair Blond_Hair Brown_Hair Male"
    lines = [str(len(names)), header] + [f"{n} {' '.join(map(str, h))} 1" for n, h in zip(names, hair)]
    base.mkdir()
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (base / "list_eval_partition.txt").write_text("\n".join(f"{n} {p}" for n, p in zip(names, [0, 0, 1, 0, 0, 2])) + "\n")
    for n in names:
        _save(base / "img_align_celeba" / n, np.full((218, 178, 3), 128, np.uint8))
    ds = d.load_celeba_hair(tmp_path, size=8)
    assert ds.info.split_sizes == {"train": 2, "val": 1, "test": 1} and ds.info.num_classes == 3
    assert ds.split("train").y.tolist() == [0, 1] and ds.split("val").y.tolist() == [2] and ds.split("test").y.tolist() == [0]


@pytest.mark.parametrize("name", ON_DISK)
def test_on_disk_sets_need_a_root_and_name_missing_files(name, tmp_path):
    assert DATASETS.get(name).needs_root
    with pytest.raises(DatasetError, match="--data-root"):
        load_dataset(name)
    with pytest.raises(DatasetError, match="never downloads") as err:
        load_dataset(name, str(tmp_path))
    assert str(tmp_path) in str(err.value)
