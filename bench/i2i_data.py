"""Image-to-image datasets: paired, unpaired and multi-domain tasks, offline and on disk.

Layouts (the baselines read them from ``DataInfo.shape`` alone):

- **paired and unpaired** ("A|B"): each sample stores its source image A and its target-domain
  image B side by side, ``x = cat([a, b], dim=-1)``: uint8 (N, C, S, 2S), the aligned format
  of pix2pix's datasets (Isola et al. 2017, ``datasets/combine_A_and_B.py``). For unpaired
  tasks the pairing is arbitrary (a seeded draw of different instances), models must not use
  it, and CycleGAN-style models see each side as an independent sample of its domain.
- **multi-domain** ("image+domain"): ``x`` uint8 (N, C, S, S) images and ``y`` int64 (N,)
  domain ids in [0, k), k = ``DataInfo.num_classes`` (StarGAN, Choi et al. 2018).

Every dataset carries a ``TranslationInfo`` in ``Dataset.extras['translation']``: the task, its
domains and the per-split digit labels that the evaluation uses for content preservation.

Tasks built offline, deterministically (fixed seeds), from data that packages ship:

- ``edges2digits`` (paired): Canny edge map of an embedded MNIST digit -> the digit.
- ``gray2color`` (paired): grayscale -> colour 64x64 patches cut from the photographs bundled
  with scikit-image (``skimage.data``; the ones it fetches from the network are not used),
  with held-out source photos for val and test.
- ``digits2textured`` (unpaired): plain MNIST digits <-> other MNIST digits blended onto
  scikit-image's brick, grass and gravel textures.
- ``digit-domains`` (multi-domain): MNIST digits in 4 domains, red or blue ink, regular or bold
  strokes; the project's ``digit-domains`` classifier (``metrics/translation.py``) names them.

Real sets read from a local root, never downloaded: ``facades`` and ``edges2shoes`` (pix2pix's
A|B jpg folders), ``horse2zebra`` (CycleGAN's trainA/trainB/testA/testB) and ``celeba-hair``
(CelebA's aligned images and attribute list; StarGAN's hair-colour domains).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.bench.datasets import (
    DATASETS,
    SPLIT_NAMES,
    Dataset,
    DatasetEntry,
    DatasetError,
    Split,
    _digest,
    _load_embedded_mnist,
    _read_rgb,
)
from genbench.bench.spec import DataInfo
from genbench.metrics.translation import DOMAIN_CLASSES  # also registers the digit-domains extractor

TASKS = ("paired", "unpaired", "multi-domain")
I2I_SEED = 2017  # fixed: the data is part of the benchmark, not of a run's seed
MNIST_LICENSE = "CC BY-SA 3.0 (MNIST, LeCun, Cortes and Burges)"
SKIMAGE_LICENSE = "scikit-image's bundled data (BSD-3-Clause package; image credits in skimage.data docstrings)"


# --- the task description every i2i dataset carries -------------------------------------------
@dataclass(frozen=True)
class Domain:
    """One image domain.

    name: readable name. digits: its images are white-on-black MNIST digits (after a max over
    colour channels) that the MNIST classifier reads, so content preservation is measurable on
    translations into it. classifier_class: its class in the ``digit-domains`` classifier, or
    None when that classifier does not know it. fd_extractor: the extractor whose features the
    Fréchet distance to this domain uses; None = the run protocol's extractor when it takes
    these images, else ``inception-v3-tf``.
    """

    name: str
    digits: bool = False
    classifier_class: int | None = None
    fd_extractor: str | None = None


@dataclass(frozen=True)
class TranslationInfo:
    """What an image-to-image dataset is.

    task: 'paired', 'unpaired' or 'multi-domain'. domains: (A, B) for paired/unpaired, the k
    domains in id order for multi-domain. digit_labels: per split, int64 (N,) MNIST labels of
    the images the evaluation translates (A for paired/unpaired, every image for multi-domain),
    or None. target_digit_labels: per split, labels of the B images (unpaired), or None.
    """

    task: str
    domains: tuple[Domain, ...]
    digit_labels: dict[str, torch.Tensor] | None = None
    target_digit_labels: dict[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task != "multi-domain" and len(self.domains) != 2:
            raise ValueError(f"a {self.task} task has 2 domains (A, B), got {len(self.domains)}")

    @property
    def packed(self) -> bool:
        """True for the A|B side-by-side layout (paired and unpaired tasks)."""
        return self.task != "multi-domain"


def translation_info(dataset: Dataset) -> TranslationInfo | None:
    """The dataset's TranslationInfo, or None when it is not an image-to-image dataset."""
    info = dataset.extras.get("translation")
    return info if isinstance(info, TranslationInfo) else None


def pack_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, S, S) sources and targets -> (N, C, S, 2S), A left, B right."""
    if a.shape != b.shape or a.dim() != 4 or a.shape[-1] != a.shape[-2]:
        raise DatasetError(f"pack_pairs needs two (N, C, S, S) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return torch.cat([a, b], dim=-1).contiguous()


def unpack_pairs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, S, 2S) -> (A, B), each (N, C, S, S) (views)."""
    s = x.shape[-2]
    if x.dim() != 4 or x.shape[-1] != 2 * s:
        raise DatasetError(f"A|B samples must have shape (N, C, S, 2S), got {tuple(x.shape)}")
    return x[..., :s], x[..., s:]


def _dataset(name: str, splits: dict[str, Split], shape: tuple[int, ...], num_classes: int | None,
             source: str, license: str, info: TranslationInfo, **extras: Any) -> Dataset:
    data = DataInfo(
        name=name, kind="image", shape=shape, num_classes=num_classes,
        splits=tuple((s, len(splits[s])) for s in SPLIT_NAMES), source=source, license=license,
        sha256=_digest(splits),
    )
    return Dataset(data, splits, {"translation": info, **extras})


def _skimage():
    try:
        from skimage import color, data, feature, transform
    except ImportError as e:
        raise DatasetError(
            "the offline image-to-image datasets are built from scikit-image's bundled images: "
            "pip install 'scikit-image>=0.19'"
        ) from e
    return data, feature, transform, color


def _mnist_splits() -> dict[str, Split]:
    mnist = _load_embedded_mnist()
    return {s: mnist.split(s) for s in SPLIT_NAMES}


# --- edges2digits (paired) -----------------------------------------------------------------------
EDGE_SIGMA = 1.0


def canny_edges(digits: torch.Tensor, sigma: float = EDGE_SIGMA) -> torch.Tensor:
    """uint8 (N, 1, H, W) digits -> uint8 (N, 1, H, W) Canny edge maps (255 on edges, 0 elsewhere)
    (``skimage.feature.canny`` on x / 255 with Gaussian ``sigma``; skimage's default thresholds)."""
    _, feature, _, _ = _skimage()
    x = digits[:, 0].numpy().astype(np.float64) / 255.0
    edges = np.stack([feature.canny(d, sigma=sigma) for d in x]) if len(x) else np.zeros(x.shape, bool)
    return torch.from_numpy(edges.astype(np.uint8) * 255).unsqueeze(1)


@functools.lru_cache(maxsize=1)
def load_edges2digits(root: str | None = None) -> Dataset:
    """edges2digits: A = Canny edge map (sigma 1) of an embedded MNIST digit, B = the digit.

    uint8 (N, 1, 28, 56) A|B; y = digit labels; splits are the embedded MNIST's 4000 / 500 / 500.
    """
    mnist = _mnist_splits()
    splits = {s: Split(pack_pairs(canny_edges(m.x), m.x), m.y) for s, m in mnist.items()}
    info = TranslationInfo(
        "paired", (Domain("edges"), Domain("digits", digits=True, classifier_class=0)),
        digit_labels={s: m.y for s, m in mnist.items()},
    )
    return _dataset(
        "edges2digits", splits, (1, 28, 56), 10,
        f"embedded MNIST digits (B) and their Canny edge maps (A, skimage.feature.canny, sigma {EDGE_SIGMA}), "
        "side by side; train 4000 / val 500 / test 500",
        MNIST_LICENSE, info,
    )


# --- digit domains: textures, colours, stroke widths -------------------------------------------------
TEXTURES = ("brick", "grass", "gravel")
TEXTURE_SIZE = 128  # textures (512x512) are downscaled to this before 28x28 crops: a few bricks per crop
TEXTURE_GAIN = 0.6  # the texture is darkened so the white digit stays readable


@functools.lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    data, _, transform, _ = _skimage()
    return tuple(
        transform.resize(getattr(data, n)().astype(np.float64) / 255.0, (TEXTURE_SIZE, TEXTURE_SIZE), anti_aliasing=True)
        for n in TEXTURES
    )


def texture_digits(digits: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) digits blended onto random texture crops: d + (1 - d) * 0.6 * t, uint8.

    Each digit gets a texture (brick, grass, gravel) and a crop position drawn from ``rng``.
    """
    tex = _textures()
    n, _, h, w = digits.shape
    which = rng.integers(0, len(tex), n)
    pos = rng.integers(0, TEXTURE_SIZE - h + 1, (n, 2))
    crops = np.stack([tex[k][i : i + h, j : j + w] for k, (i, j) in zip(which, pos)]) if n else np.zeros((0, h, w))
    d = digits[:, 0].numpy().astype(np.float64) / 255.0
    out = d + (1.0 - d) * TEXTURE_GAIN * crops
    return torch.from_numpy(np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)).unsqueeze(1)


@functools.lru_cache(maxsize=1)
def load_digits2textured(root: str | None = None) -> Dataset:
    """digits2textured: A = plain digits, B = *other* digits on brick / grass / gravel textures.

    Each embedded MNIST split is shuffled (fixed seed) and halved: the first half gives A, the
    second half (textured) gives B, so the domains never share a digit instance. uint8
    (N, 1, 28, 56) A|B (arbitrary pairing); y = A's digit labels; train 2000 / val 250 / test 250.
    """
    rng = np.random.default_rng(I2I_SEED)
    splits, labels_a, labels_b = {}, {}, {}
    for s, m in _mnist_splits().items():
        perm = torch.from_numpy(rng.permutation(len(m)))
        half = len(m) // 2
        ia, ib = perm[:half], perm[half : 2 * half]
        splits[s] = Split(pack_pairs(m.x[ia], texture_digits(m.x[ib], rng)), m.y[ia])
        labels_a[s], labels_b[s] = m.y[ia], m.y[ib]
    info = TranslationInfo(
        "unpaired", (Domain("digits", digits=True, classifier_class=0), Domain("textured", classifier_class=1, fd_extractor="digit-domains")),
        digit_labels=labels_a, target_digit_labels=labels_b,
    )
    return _dataset(
        "digits2textured", splits, (1, 28, 56), 10,
        f"embedded MNIST: plain digits (A) and other digits blended onto skimage textures {', '.join(TEXTURES)} "
        f"(B, d + (1 - d) * {TEXTURE_GAIN} * texture), seed {I2I_SEED}; train 2000 / val 250 / test 250 per domain",
        f"{MNIST_LICENSE}; textures: {SKIMAGE_LICENSE}", info,
    )


# (name, ink colour RGB, bold) in domain-id order
DIGIT_DOMAINS: tuple[tuple[str, tuple[int, int, int], bool], ...] = (
    ("red", (255, 64, 64), False),
    ("red-bold", (255, 64, 64), True),
    ("blue", (64, 128, 255), False),
    ("blue-bold", (64, 128, 255), True),
)


def render_domain(digits: torch.Tensor, domain: int) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) digits -> uint8 (N, 3, 28, 28) in DIGIT_DOMAINS[domain]:
    bold strokes by a 3x3 grey dilation (scipy.ndimage), then the ink colour times the intensity."""
    from scipy import ndimage

    _, rgb, bold = DIGIT_DOMAINS[domain]
    d = digits[:, 0].numpy()
    if bold:
        d = ndimage.grey_dilation(d, size=(1, 3, 3))
    ink = np.asarray(rgb, np.float64)[None, :, None, None] / 255.0
    out = np.rint(d[:, None].astype(np.float64) * ink)
    return torch.from_numpy(out.astype(np.uint8))


def digit_domain_images(digits: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
    """Each digit rendered in its own domain: uint8 (N, 1, 28, 28), int64 (N,) -> uint8 (N, 3, 28, 28)."""
    out = torch.zeros(len(digits), 3, *digits.shape[-2:], dtype=torch.uint8)
    for k in range(len(DIGIT_DOMAINS)):
        idx = (domains == k).nonzero().flatten()
        if len(idx):
            out[idx] = render_domain(digits[idx], k)
    return out


@functools.lru_cache(maxsize=1)
def load_digit_domains(root: str | None = None) -> Dataset:
    """digit-domains: every embedded MNIST digit in one of 4 domains drawn with a fixed seed
    (red, red-bold, blue, blue-bold). x uint8 (N, 3, 28, 28), y = domain id; splits 4000 / 500 / 500."""
    rng = np.random.default_rng(I2I_SEED + 1)
    k = len(DIGIT_DOMAINS)
    splits, labels = {}, {}
    for s, m in _mnist_splits().items():
        dom = torch.from_numpy(rng.integers(0, k, len(m))).to(torch.int64)
        splits[s] = Split(digit_domain_images(m.x, dom), dom)
        labels[s] = m.y
    domains = tuple(Domain(n, digits=True, classifier_class=2 + i, fd_extractor="digit-domains") for i, (n, _, _) in enumerate(DIGIT_DOMAINS))
    return _dataset(
        "digit-domains", splits, (3, 28, 28), k,
        "embedded MNIST digits, each in one of 4 domains (ink red or blue, stroke regular or bold by a 3x3 grey "
        f"dilation) drawn with seed {I2I_SEED + 1}; y = domain id; train 4000 / val 500 / test 500",
        MNIST_LICENSE, TranslationInfo("multi-domain", domains, digit_labels=labels),
    )


# --- gray2color (paired) -----------------------------------------------------------------------------
# Bundled photographs only (skimage.data fetches others from the network). Source photos are
# held out: val and test patches come from photos that no training patch comes from.
PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "rocket", "motorcycle", "immunohistochemistry", "hubble_deep_field"),
    "val": ("coffee",),
    "test": ("chelsea",),
}
PATCHES = {"train": 2000, "val": 250, "test": 500}
PATCH = 64
PHOTO_SHORT_SIDE = 160  # photos are resized so their shorter side is this before cropping


def _photo(name: str) -> np.ndarray:
    data, _, transform, _ = _skimage()
    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    h, w = img.shape[:2]
    scale = PHOTO_SHORT_SIDE / min(h, w)
    out = transform.resize(img, (round(h * scale), round(w * scale)), anti_aliasing=True)  # float [0, 1]
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def gray_of(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, H, W) luminance (skimage.color.rgb2gray, ITU-R 709)
    repeated to 3 channels."""
    _, _, _, color = _skimage()
    g = color.rgb2gray(rgb.permute(0, 2, 3, 1).numpy()) if len(rgb) else np.zeros((0, *rgb.shape[-2:]))
    g8 = torch.from_numpy(np.clip(np.rint(g * 255.0), 0, 255).astype(np.uint8))
    return g8.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def photo_patches(names: tuple[str, ...], n: int, rng: np.random.Generator, flip: bool) -> torch.Tensor:
    """n uint8 (3, 64, 64) patches, n // len(names) (+1 for the first ones) per photo, at
    positions drawn from ``rng``; with ``flip`` each is mirrored left-right with probability 1/2."""
    out = []
    for i, name in enumerate(names):
        img = _photo(name)
        m = n // len(names) + (i < n % len(names))
        ys = rng.integers(0, img.shape[0] - PATCH + 1, m)
        xs = rng.integers(0, img.shape[1] - PATCH + 1, m)
        flips = rng.random(m) < 0.5 if flip else np.zeros(m, bool)
        for y, x, f in zip(ys, xs, flips):
            p = img[y : y + PATCH, x : x + PATCH]
            out.append(p[:, ::-1] if f else p)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2)))


@functools.lru_cache(maxsize=1)
def load_gray2color(root: str | None = None) -> Dataset:
    """gray2color: A = grayscale (luminance repeated to 3 channels), B = the colour 64x64 patch.

    uint8 (N, 3, 64, 128) A|B; no labels. Photos resized to a shorter side of 160 px; patches at
    seeded random positions (train mirrored at random); held-out photos for val and test.
    """
    rng = np.random.default_rng(I2I_SEED + 2)
    splits = {}
    for s in SPLIT_NAMES:
        color = photo_patches(PHOTO_SPLITS[s], PATCHES[s], rng, flip=s == "train")
        splits[s] = Split(pack_pairs(gray_of(color), color))
    info = TranslationInfo("paired", (Domain("gray"), Domain("color")))
    photos = "; ".join(f"{s}: {', '.join(p)}" for s, p in PHOTO_SPLITS.items())
    return _dataset(
        "gray2color", splits, (3, PATCH, 2 * PATCH), None,
        f"{PATCH}x{PATCH} patches of scikit-image's bundled photographs ({photos}), resized to a shorter side of "
        f"{PHOTO_SHORT_SIDE} px, seed {I2I_SEED + 2}; A = luminance (rgb2gray) as 3 channels, B = colour; "
        f"train {PATCHES['train']} / val {PATCHES['val']} / test {PATCHES['test']}",
        SKIMAGE_LICENSE, info,
    )


# --- real sets on disk (never downloaded) ----------------------------------------------------------------
REAL_SIZE = 64  # side of the loaded images (the papers train at 256 / 128: a CPU-sized default)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
HOLDOUT_EVERY = 20  # horse2zebra: 1 file in 20 of each train folder (sorted) goes to val


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _image_folders(name: str, base: Path, wanted: list[str], url: str, script: str) -> dict[str, list[Path]]:
    """The image files of each folder in ``wanted`` under ``base``; a clear error naming the missing
    or empty ones and where to get them (``url``, or ``script`` of the pix2pix/CycleGAN repository)."""
    files = {w: _images_in(base / w) for w in wanted}
    empty = [w for w in wanted if not files[w]]
    if empty:
        raise DatasetError(
            f"{name}: expected image folders {', '.join(str(base / w) + '/' for w in wanted)} (jpg/png files); "
            f"{', '.join(e + '/' for e in empty)} missing or empty. Get {url} (or `bash {script} {name}` in "
            "junyanz/pytorch-CycleGAN-and-pix2pix). genbench never downloads data: fetch the archive on a "
            "machine with internet access and unpack it under <root>/ (pass --data-root <root>)"
        )
    return files


def _read_ab(path: Path, size: int, swap: bool) -> np.ndarray:
    """One pix2pix A|B file (width = 2 x height) -> uint8 (3, size, 2 size), each half resized."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w != 2 * h:
                raise DatasetError(f"{path} is {w}x{h}; pix2pix A|B files are twice as wide as high")
            halves = [im.crop((0, 0, h, h)), im.crop((h, 0, w, h))]
            a, b = (np.asarray(x.resize((size, size), Image.Resampling.BICUBIC), np.uint8) for x in halves)
    except OSError as e:
        raise DatasetError(f"cannot read image {path} ({e}); remove or replace it") from e
    if swap:
        a, b = b, a
    return np.concatenate([a, b], axis=1).transpose(2, 0, 1)


def load_pix2pix_folder(
    root: str | Path, name: str, *, swap: bool = False, size: int = REAL_SIZE, val_from_train: int = 0,
    domains: tuple[str, str] = ("A", "B"),
) -> Dataset:
    """pix2pix's aligned datasets: <root>/<name>/{train,val[,test]}/*.jpg, each A|B side by side.

    Each half is resized to ``size`` (PIL bicubic); ``swap`` makes the right half the source.
    Without a test/ folder, val/ is the test split and the last ``val_from_train`` train files
    (sorted by name) are the val split. uint8 (N, 3, size, 2 size); no labels.
    """
    base = Path(root) / name
    has_test = bool(_images_in(base / "test"))
    wanted = ["train", "val"] + (["test"] if has_test or not val_from_train else [])
    files = _image_folders(name, base, wanted, PIX2PIX_URL.format(name=name), "datasets/download_pix2pix_dataset.sh")
    if has_test or not val_from_train:
        paths = {"train": files["train"], "val": files["val"], "test": files["test"]}
    else:
        if len(files["train"]) <= val_from_train:
            raise DatasetError(f"{name}: {base / 'train'} has {len(files['train'])} files, need more than {val_from_train}")
        paths = {"train": files["train"][:-val_from_train], "val": files["train"][-val_from_train:], "test": files["val"]}
    splits = {s: Split(torch.from_numpy(np.stack([_read_ab(p, size, swap) for p in paths[s]]))) for s in SPLIT_NAMES}
    how = "val/ as test, the last {} train files as val".format(val_from_train) if not has_test and val_from_train else "train/ val/ test/"
    return _dataset(
        name, splits, (3, size, 2 * size), None,
        f"pix2pix {name} from {base} ({how}; {'right half -> left half' if swap else 'left half -> right half'}), "
        f"each half resized to {size}x{size}",
        "as distributed by the pix2pix authors (see their datasets' sources and licences)",
        TranslationInfo("paired", (Domain(domains[0]), Domain(domains[1]))), root=str(base),
    )


def load_cyclegan_folder(root: str | Path, name: str, *, size: int = REAL_SIZE, domains: tuple[str, str] = ("A", "B")) -> Dataset:
    """CycleGAN's unaligned datasets: <root>/<name>/{trainA,trainB,testA,testB}/*.jpg.

    Images resized (shorter side) and center-cropped to ``size`` (PIL bicubic). val = 1 file in
    20 of each sorted train folder; A|B pairs are drawn with a fixed seed: train pairs number
    max(n_A, n_B), the smaller domain's images repeated in a seeded order; val and test pairs
    number min(n_A, n_B) (no image twice). uint8 (N, 3, size, 2 size); no labels.
    """
    base = Path(root) / name
    wanted = ["trainA", "trainB", "testA", "testB"]
    files = _image_folders(name, base, wanted, CYCLEGAN_URL.format(name=name), "datasets/download_cyclegan_dataset.sh")
    rng = np.random.default_rng(I2I_SEED + 4)
    per_split: dict[str, dict[str, list[Path]]] = {"train": {}, "val": {}, "test": {}}
    for d in "AB":
        train = files[f"train{d}"]
        per_split["val"][d] = [p for i, p in enumerate(train) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
        per_split["train"][d] = [p for i, p in enumerate(train) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
        per_split["test"][d] = files[f"test{d}"]
    splits = {}
    for s, by in per_split.items():
        if not by["A"] or not by["B"]:
            raise DatasetError(f"{name}: split {s} would be empty; each train folder needs at least {HOLDOUT_EVERY} files")
        n = max(len(by["A"]), len(by["B"])) if s == "train" else min(len(by["A"]), len(by["B"]))
        picks = []
        for d in "AB":
            m = len(by[d])
            order = np.concatenate([rng.permutation(m) for _ in range(-(-n // m))])[:n]
            picks.append(np.stack([_read_rgb(str(by[d][i]), size) for i in order]).transpose(0, 3, 1, 2))
        splits[s] = Split(pack_pairs(torch.from_numpy(np.ascontiguousarray(picks[0])), torch.from_numpy(np.ascontiguousarray(picks[1]))))
    return _dataset(
        name, splits, (3, size, 2 * size), None,
        f"CycleGAN {name} from {base} (val: 1 in {HOLDOUT_EVERY} train files per domain; A|B pairs drawn with seed "
        f"{I2I_SEED + 4}), resized and center-cropped to {size}x{size}",
        "as distributed by the CycleGAN authors (ImageNet-derived images; see their datasets' sources)",
        TranslationInfo("unpaired", (Domain(domains[0]), Domain(domains[1]))), root=str(base),
    )


CELEBA_HAIR = ("Black_Hair", "Blond_Hair", "Brown_Hair")  # StarGAN's CelebA hair-colour attributes


def load_celeba_hair(root: str | Path, *, size: int = REAL_SIZE) -> Dataset:
    """CelebA for StarGAN's hair-colour domains, from torchvision's layout <root>/celeba/:
    img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt.

    Images whose attributes set exactly one of Black_Hair, Blond_Hair, Brown_Hair; y = that
    domain (0 black, 1 blond, 2 brown). Official partition (0 train, 1 val, 2 test). Center
    crop 178x178 then resize to ``size`` (StarGAN: crop 178, resize 128), PIL bicubic.
    uint8 (N, 3, size, size).
    """
    import pandas as pd

    base = Path(root) / "celeba"
    need = [base / "img_align_celeba", base / "list_attr_celeba.txt", base / "list_eval_partition.txt"]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise DatasetError(
            f"celeba-hair: missing {', '.join(missing)}. Expected torchvision's CelebA layout under {base}/ "
            "(img_align_celeba/ with the aligned jpgs, list_attr_celeba.txt, list_eval_partition.txt), from "
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html; genbench never downloads data"
        )
    try:
        attrs = pd.read_csv(need[1], sep=r"\s+", skiprows=1)
        part = pd.read_csv(need[2], sep=r"\s+", header=None, index_col=0)[1]
        hair = attrs[list(CELEBA_HAIR)].to_numpy() == 1
    except (KeyError, ValueError, pd.errors.ParserError) as e:
        raise DatasetError(f"celeba-hair: cannot parse {need[1]} / {need[2]} ({e}); re-copy the official files") from e
    one = hair.sum(1) == 1
    names = attrs.index[one]
    domain = hair[one].argmax(1)
    where = part.reindex(names).to_numpy()
    splits = {}
    for i, s in enumerate(SPLIT_NAMES):
        sel = np.flatnonzero(where == i)
        if not len(sel):
            raise DatasetError(f"celeba-hair: no image of the {s} partition has exactly one hair colour")
        x = np.stack([_celeba_image(base / "img_align_celeba" / names[j], size) for j in sel])
        splits[s] = Split(torch.from_numpy(x), torch.from_numpy(domain[sel].astype(np.int64)))
    return _dataset(
        "celeba-hair", splits, (3, size, size), len(CELEBA_HAIR),
        f"CelebA aligned faces from {base} with exactly one of {', '.join(CELEBA_HAIR)} (the domain); official "
        f"partition; center crop 178, resized to {size}x{size}",
        "CelebA: non-commercial research purposes only (see its agreement)",
        TranslationInfo("multi-domain", tuple(Domain(h.split("_")[0].lower()) for h in CELEBA_HAIR)), root=str(base),
    )


def _celeba_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            c = min(178, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            im = im.crop((left, top, left + c, top + c)).resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, np.uint8).transpose(2, 0, 1)
    except OSError as e:
        raise DatasetError(f"celeba-hair: cannot read image {path} ({e}); re-copy it") from e


DATASETS.register("edges2digits", DatasetEntry(
    load_edges2digits, "paired: Canny edge map -> embedded MNIST digit, A|B (1, 28, 56), 4000 / 500 / 500"))
DATASETS.register("gray2color", DatasetEntry(
    load_gray2color, "paired: grayscale -> colour 64x64 patches of skimage's bundled photos (held-out photos "
    "for val/test), A|B (3, 64, 128), 2000 / 250 / 500"))
DATASETS.register("digits2textured", DatasetEntry(
    load_digits2textured, "unpaired: plain MNIST <-> other digits on skimage textures (brick, grass, gravel), "
    "A|B (1, 28, 56), 2000 / 250 / 250"))
DATASETS.register("digit-domains", DatasetEntry(
    load_digit_domains, "multi-domain: MNIST digits in 4 domains (red/blue ink x regular/bold), (3, 28, 28), "
    "y = domain, 4000 / 500 / 500"))


# --- training data of the digit-domains classifier (metrics/translation.py) --------------------------
if DOMAIN_CLASSES != ("plain", "textured") + tuple(n for n, _, _ in DIGIT_DOMAINS):
    raise ImportError("metrics.translation.DOMAIN_CLASSES and bench.i2i_data's domains disagree")


def domain_classifier_data(split: str, copies: int = 2, seed: int = I2I_SEED + 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Every embedded MNIST digit of ``split`` in ``copies`` distinct random domain classes.

    Returns uint8 (copies * N, 3, 28, 28) images (plain and textured digits repeated to 3
    channels) and int64 class ids into DOMAIN_CLASSES (0 plain, 1 textured, 2-5 the
    digit-domains), drawn with ``seed``. The test split is never used for training.
    """
    if not 1 <= copies <= len(DOMAIN_CLASSES):
        raise ValueError(f"copies must be in [1, {len(DOMAIN_CLASSES)}], got {copies}")
    rng = np.random.default_rng(seed)
    m = _mnist_splits()[split]
    n = len(m)
    classes = torch.from_numpy(np.argsort(rng.random((n, len(DOMAIN_CLASSES))), axis=1)[:, :copies].T.reshape(-1))
    digits = m.x.repeat(copies, 1, 1, 1)
    out = torch.zeros(len(digits), 3, *m.x.shape[-2:], dtype=torch.uint8)
    for c in range(len(DOMAIN_CLASSES)):
        idx = (classes == c).nonzero().flatten()
        if not len(idx):
            continue
        if c == 0:
            img = digits[idx]
        elif c == 1:
            img = texture_digits(digits[idx], rng)
        else:
            img = render_domain(digits[idx], c - 2)
        out[idx] = img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img
    return out, classes.to(torch.int64)
DATASETS.register("facades", DatasetEntry(
    lambda root: load_pix2pix_folder(root, "facades", swap=True, domains=("labels", "photo")),
    "paired, pix2pix facades from <root>/facades/{train,val,test}/ (A|B jpgs): label map -> photo, 64x64",
    needs_root=True))
DATASETS.register("edges2shoes", DatasetEntry(
    lambda root: load_pix2pix_folder(root, "edges2shoes", val_from_train=1000, domains=("edges", "shoe")),
    "paired, pix2pix edges2shoes from <root>/edges2shoes/{train,val}/: edges -> shoe, 64x64; val/ is the test "
    "split, the last 1,000 train files the val split", needs_root=True))
DATASETS.register("horse2zebra", DatasetEntry(
    lambda root: load_cyclegan_folder(root, "horse2zebra", domains=("horse", "zebra")),
    "unpaired, CycleGAN horse2zebra from <root>/horse2zebra/{trainA,trainB,testA,testB}/, 64x64", needs_root=True))
DATASETS.register("celeba-hair", DatasetEntry(
    lambda root: load_celeba_hair(root),
    "multi-domain, CelebA (torchvision layout <root>/celeba/) in StarGAN's hair-colour domains black / blond / "
    "brown, official partition, 64x64", needs_root=True))
