"""Style-transfer data built from scikit-image's bundled photographs, and the scoring of style rows.

Dataset ``skimage-style`` (registered in ``genbench.bench.datasets.DATASETS``): content
patches cut from colour photographs that scikit-image ships inside its wheel
(``skimage.data``; images it would fetch from the network are not used), each paired with
each of S = 3 style images from the same package. Source photographs are held out by split:

- train: astronaut, rocket, motorcycle (left view of ``stereo_motorcycle``)
- val:   camera (greyscale, repeated to RGB)
- test:  chelsea (the cat), coffee
- styles (every split): immunohistochemistry (stained tissue), hubble_deep_field, brick

A photograph is resized (PIL bicubic) so that its shorter side is ``2 * size``; content
patches of ``size`` x ``size`` are cut on a grid with stride ``size / 4`` (train) or
``size / 2`` (val, test). A style image is resized and center-cropped to ``size`` x
``size`` as a whole. Storage: uint8 (N, 3, size, 2 * size), the content patch on the left,
the style image on the right (the aligned layout of pix2pix's datasets); y = the style's
index. Pairs are content-major (pair i*S + s = content i with style s). Nothing is random:
the data is a pure function of the scikit-image files, recorded by its sha256.

Scoring (``runner`` dispatches here for TaskKind.STYLE_TRANSFER): the protocol's extractor
names the metric VGG ('vgg19': the layers of Gatys et al., ``genbench.metrics.style``); the
first n_fake pairs of the reference split are stylised, timed (ms per image) and scored by
content loss, style (Gram) loss and LPIPS to the content image. Without the VGG weights the
row is not trained and says "skipped: weights absent".
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.bench.datasets import DATASETS, SPLIT_NAMES, Dataset, DatasetEntry, DatasetError, Split, _digest
from genbench.bench.spec import DataInfo, RunSpec, SpecError

TASK = "style-transfer"
SIZE = 64
STYLES = ("immunohistochemistry", "hubble_deep_field", "brick")
CONTENTS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "rocket", "motorcycle"),
    "val": ("camera",),
    "test": ("chelsea", "coffee"),
}
GRID_PAIRS = 12  # rows (content | style | output) in a style row's samples.png
STYLE_PROTOCOL_N = 90  # every test pair of skimage-style (30 content patches x 3 styles)


# --- the dataset --------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def skimage_image(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image as uint8 (H, W, 3) RGB ('motorcycle': the left stereo view).

    Cached per process and returned read-only.
    """
    try:
        import skimage.data as skd
    except ImportError as e:
        raise DatasetError("style data is cut from scikit-image's bundled photographs: pip install scikit-image") from e
    try:
        img = skd.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skd, name)()
    except Exception as e:  # noqa: BLE001 - a missing or network-only file
        raise DatasetError(
            f"scikit-image could not load its image {name!r} ({type(e).__name__}: {e}); genbench uses only the "
            "images shipped inside the scikit-image package: reinstall it (pip install --force-reinstall scikit-image)"
        ) from e
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise DatasetError(f"scikit-image image {name!r} is {img.dtype}, expected uint8")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3])
    img.flags.writeable = False
    return img


def _resize_short(img: np.ndarray, short: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    scale = short / min(h, w)
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC), dtype=np.uint8)


def content_patches(img: np.ndarray, size: int, stride: int) -> np.ndarray:
    """uint8 (H, W, 3) -> (n, 3, size, size): resized to shorter side 2·size, patches on a grid."""
    big = _resize_short(img, 2 * size)
    h, w = big.shape[:2]
    tops, lefts = range(0, h - size + 1, stride), range(0, w - size + 1, stride)
    out = [big[t : t + size, l : l + size] for t in tops for l in lefts]
    return np.stack(out).transpose(0, 3, 1, 2).copy()


def style_view(img: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> (3, size, size): the whole image resized and center-cropped (PIL bicubic)."""
    from PIL import Image, ImageOps

    im = ImageOps.fit(Image.fromarray(img), (size, size), method=Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def pair_split(contents: np.ndarray, styles: np.ndarray) -> Split:
    """Every content with every style: x uint8 (n·S, 3, H, 2H) content-major, y = style index."""
    n, s = len(contents), len(styles)
    left = np.repeat(contents, s, axis=0)
    right = np.tile(styles, (n, 1, 1, 1))
    x = torch.from_numpy(np.concatenate([left, right], axis=3))
    return Split(x.contiguous(), torch.arange(s).repeat(n))


def build_style_dataset(
    name: str = "skimage-style",
    size: int = SIZE,
    contents: dict[str, tuple[str, ...]] | None = None,
    styles: tuple[str, ...] = STYLES,
) -> Dataset:
    """The content|style pair dataset (module docstring); ``size`` must be a multiple of 4."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 4:
        raise DatasetError(f"style data size must be an integer >= 8 and a multiple of 4, got {size!r}")
    contents = dict(CONTENTS if contents is None else contents)
    if set(contents) != set(SPLIT_NAMES) or not all(contents.values()):
        raise DatasetError(f"style data needs content photographs for each of {SPLIT_NAMES}, got {contents}")
    shared = set(contents["train"]) & (set(contents["val"]) | set(contents["test"]))
    if shared:
        raise DatasetError(f"style data: photographs {sorted(shared)} are in train and in a held-out split")
    style_imgs = np.stack([style_view(skimage_image(s), size) for s in styles])
    strides = {"train": size // 4, "val": size // 2, "test": size // 2}
    splits = {}
    for split in SPLIT_NAMES:
        patches = np.concatenate([content_patches(skimage_image(p), size, strides[split]) for p in contents[split]])
        splits[split] = pair_split(patches, style_imgs)
    info = DataInfo(
        name=name, kind="image", shape=(3, size, 2 * size), num_classes=len(styles),
        splits=tuple((s, len(splits[s])) for s in SPLIT_NAMES),
        source=(
            f"scikit-image bundled photographs: content patches {size}x{size} (train: {', '.join(contents['train'])}; "
            f"val: {', '.join(contents['val'])}; test: {', '.join(contents['test'])}) paired with every style image "
            f"({', '.join(styles)}), stored side by side (content | style)"
        ),
        license="scikit-image data (BSD-3-Clause package; see skimage/data/README.txt for each image's source and licence)",
        sha256=_digest(splits),
    )
    extras = {
        "task": TASK, "styles": list(styles), "style_images": torch.from_numpy(style_imgs),
        "contents": {k: list(v) for k, v in contents.items()}, "layout": "content | style, side by side",
    }
    return Dataset(info, splits, extras)


@functools.lru_cache(maxsize=1)
def _load_skimage_style(root: str | None = None) -> Dataset:
    return build_style_dataset()


DATASETS.register(
    "skimage-style",
    DatasetEntry(
        _load_skimage_style,
        "style transfer: 64x64 content patches of scikit-image's bundled photographs x 3 style images, "
        "content | style side by side; test photographs held out (train 330 / val 27 / test 90 pairs)",
    ),
)


def is_style_dataset(dataset: Dataset) -> bool:
    return dataset.extras.get("task") == TASK


# --- scoring style-transfer rows (called by bench/runner.py) --------------------------------
def metric_names(net: str, lpips_net: str = "alex") -> list[str]:
    """Row keys of the style metrics with official weights: content/style loss, LPIPS, ms per image."""
    return [f"content_loss_{net}", f"style_loss_{net}", f"lpips_content_{lpips_net}", "ms_per_image"]


def check_style_spec(spec: RunSpec, cls: Any, hparams: dict[str, Any], dataset: Dataset) -> None:
    """Everything a style-transfer run needs that can be checked before anything is written."""
    from genbench.metrics.style import VGG_NETS

    if not is_style_dataset(dataset):
        raise SpecError(
            f"baseline {spec.baseline!r} transfers styles: it needs a content|style pair dataset such as "
            f"'skimage-style', not {spec.dataset!r}"
        )
    p = spec.protocol
    if p.extractor not in VGG_NETS:
        raise SpecError(
            f"style-transfer rows are scored on VGG features, so the protocol's extractor must name the metric "
            f"VGG ({' or '.join(sorted(VGG_NETS))}; the standard is vgg19, Gatys et al.'s layers), got "
            f"{p.extractor!r}: pass --extractor vgg19"
        )
    n_ref = dataset.info.split_sizes[p.split]
    if p.n_fake > n_ref:
        raise SpecError(
            f"protocol n_fake {p.n_fake} exceeds the {n_ref} {p.split} pairs of {spec.dataset!r}: pass --n-fake {n_ref} or fewer"
        )
    if p.resize_mode not in (None, "none"):
        raise SpecError(f"style metrics take the images at their size: resize_mode must be unset, got {p.resize_mode!r}")
    if getattr(spec, "interval_eval", None) is not None:
        raise SpecError("interval evaluation is not available for style-transfer rows; drop interval_eval")
    b = spec.budget
    if getattr(cls, "optimises_per_image", False) and (b.max_steps is None or b.max_kimg is not None or b.max_wall_seconds is not None):
        raise SpecError(
            f"{spec.baseline} trains nothing: its budget is max_steps = optimisation steps per image "
            "(--steps N); --kimg and --minutes do not apply"
        )


def _needed_weights(prep: Any) -> list[tuple[str, str | None]]:
    """(VGG name, explicit path) of the metric VGG and of the model's loss networks."""
    spec = prep.spec
    need = [(spec.protocol.extractor, spec.weights_path)]
    for net in getattr(prep.cls, "vgg_nets", lambda hp: ())(prep.hparams):  # found by the default search
        if (net, None) not in need:
            need.append((net, None))
    return need


def _skipped(row: dict[str, Any], net: str, message: str) -> None:
    from genbench.metrics.style import SKIPPED

    row.update(
        status="skipped", error=f"{SKIPPED}: {message}", extractor=net,
        metrics={k: SKIPPED for k in metric_names(net)}, higher_is_better={k: False for k in metric_names(net)},
    )


def skip_without_weights(row: dict[str, Any], prep: Any) -> bool:
    """When a VGG file is absent: mark the row 'skipped: weights absent' (nothing is trained), True."""
    from genbench.metrics.style import absent_message, vgg_status

    absent = [(net, path) for net, path in _needed_weights(prep) if vgg_status(net, path) is not None]
    if not absent:
        return False
    _skipped(row, prep.spec.protocol.extractor, " ".join(absent_message(net, path) for net, path in absent))
    return True


def _lpips_model(device: torch.device) -> Any | None:
    from genbench.metrics.lpips_metrics import DEFAULT_NET, load_lpips, lpips_status

    return load_lpips(DEFAULT_NET, device=device) if lpips_status(DEFAULT_NET) is None else None


def score_pairs(
    row: dict[str, Any], stylize: Any, prep: Any, run_dir: Path, custom: bool = False, warm_up: bool = True
) -> None:
    """Stylise the first n_fake pairs of the reference split with ``stylize(pairs uint8) -> uint8``,
    time it, score it (``metrics.style.style_metrics``) and write the content|style|output grid."""
    from genbench.bench.perf import precision
    from genbench.bench.timing import Stopwatch
    from genbench.metrics.style import CONTENT_LAYER, STYLE_LAYERS, load_vgg, split_pairs, style_metrics
    from genbench.reports.grids import save_style_grid

    spec = prep.spec
    p, device = spec.protocol, torch.device(spec.device)
    vgg = load_vgg(p.extractor, (CONTENT_LAYER, *STYLE_LAYERS), spec.weights_path, p.weights_sha256, device)
    pairs = prep.dataset.split(p.split).x[: p.n_fake]
    contents, styles = split_pairs(pairs)
    with torch.no_grad(), precision(spec.perf, device):
        if warm_up:  # first-call allocations stay out of the timing
            stylize(pairs[:1])
        watch = Stopwatch(device)
        watch.start()
        outputs = stylize(pairs)
        seconds = watch.stop()
    if outputs.dtype != torch.uint8 or outputs.shape != contents.shape:
        raise ValueError(
            f"baseline {spec.baseline!r} returned {outputs.dtype} {tuple(outputs.shape)} for {len(pairs)} pairs, "
            f"expected uint8 {tuple(contents.shape)}"
        )
    save_style_grid(contents[:GRID_PAIRS], styles[:GRID_PAIRS], outputs[:GRID_PAIRS], run_dir / "samples.png")
    t0 = time.perf_counter()
    values, hib = style_metrics(outputs, contents, styles, vgg, _lpips_model(device), custom=custom)
    values["ms_per_image"], hib["ms_per_image"] = 1000.0 * seconds / len(pairs), False
    row["metrics"].update(values)
    row["higher_is_better"].update(hib)
    row.update(
        metric_seconds=time.perf_counter() - t0, sample_img_per_s=len(pairs) / max(seconds, 1e-9),
        sample_grid="samples.png", n_fake=len(pairs), n_real=None, extractor=vgg.net,
        extractor_sha256=vgg.sha256, resize_mode="none",
        extractor_provenance={"vgg": vgg.net, "vgg_sha256": vgg.sha256, "vgg_official": vgg.official and not custom,
                              "content_layer": CONTENT_LAYER, "style_layers": list(STYLE_LAYERS),
                              "grid": "content | style | output per line"},
    )


def score_style(row: dict[str, Any], model: Any, prep: Any, run_dir: Path) -> None:
    """A trained (or, for Gatys, budgeted) style model's row: stylise, time, score.

    Metric names say '-custom' when the metric VGG or any of the model's loss VGGs is not
    torchvision's file: such rows are never ranked with official ones.
    """
    custom = any(not vgg.official for vgg in model.loss_vggs().values())
    if getattr(model, "optimises_per_image", False):
        row.update(
            kimg=0.0, train_img_per_s=None, sec_per_kimg=None,
            budget_mapping=(
                f"{prep.spec.baseline} trains nothing: max_steps = {row['steps']} optimisation steps per image, "
                "run when the pairs are stylised (their time is in ms_per_image)"
            ),
        )
    gen = torch.Generator().manual_seed(prep.spec.eval_seed)
    model.eval()
    score_pairs(
        row, lambda pairs: model.sample(len(pairs), gen, pairs), prep, run_dir, custom=custom,
        warm_up=not getattr(model, "optimises_per_image", False),
    )


def reference_row(
    dataset: Dataset, protocol: Any, out_dir: Path | str, eval_seed: int = 0, weights_path: str | None = None,
) -> dict[str, Any]:
    """The style datasets' reference row, 'content (copy)': each output is its content image.

    Content loss and LPIPS are 0 by construction; its style loss is where a method starts
    from (style transfer lowers it). Needs the metric VGG; 'skipped: weights absent' without.
    """
    from genbench.bench import results, runner

    name = dataset.info.name
    pseudo = RunSpec(baseline="content-copy", dataset=name, budget={"max_steps": 0}, eval_seed=eval_seed,
                     protocol=protocol, weights_path=weights_path)
    prep = runner.Prepared(pseudo, type(None), {}, dataset, None)  # type: ignore[arg-type]
    check_style_spec(pseudo, None, {}, dataset)
    run_dir = Path(out_dir) / f"content-copy-{name}-{pseudo.hash}"
    done = results.read_row(run_dir)
    if done is not None and done.get("status") == "ok":
        return done
    row = runner._base_row(pseudo, prep, "content (copy)", "reference", f"genbench suite (content-copy reference for {name})")
    row.update(baseline=None, seed=None, stopped_by=None, run_dir=str(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    if not skip_without_weights(row, prep):
        from genbench.metrics.style import split_pairs

        score_pairs(row, lambda pairs: split_pairs(pairs)[0].clone(), prep, run_dir, warm_up=False)
    results.write_row(run_dir, row)
    results.refresh_results(Path(out_dir))
    return row
