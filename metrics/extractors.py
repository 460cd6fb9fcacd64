"""Feature extractors: a registry of specs, weights loading with sha256 checks, one feature pass.

An extractor maps uint8 images to (features, logits). Metrics are named after its
``metric_suffix`` (``fd_mnist``); weights whose sha256 differs from the registered one are a
*custom* extractor and get a different suffix (``mnist-custom``), so their numbers are never
confused with the official ones. The TF Inception with its official weights and its default
('legacy-tf') resize additionally owns the bare names ``fid``, ``kid``, ``is``
(``FeatureExtractor.metric_names``); with any other weights or resize those names are never used.

Weights are looked up, in order: the explicit ``weights_path``; for extractors whose weights ship
with genbench, ``metrics/weights/<file>``; otherwise ``$GENBENCH_WEIGHTS_DIR/<file>`` and then the
torch hub cache ``torch.hub.get_dir()/checkpoints/<file>``. Nothing is ever downloaded.

>>> from genbench.metrics.extractors import EXTRACTORS
>>> "mnist-lenet" in EXTRACTORS and "inception-v3-tf" in EXTRACTORS
True
>>> EXTRACTORS.get("mnist-lenet").feature_dim, EXTRACTORS.get("inception-v3-tf").feature_dim
(128, 2048)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from genbench.bench.registry import Registry
from genbench.bench.timing import tf32_mode
from genbench.metrics import inception
from genbench.metrics.resize import RESIZE_MODES, check_uint8_images

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_DIR_ENV = "GENBENCH_WEIGHTS_DIR"


class ExtractorError(RuntimeError):
    """Weights are missing, damaged or do not fit; the message says which file and what to do."""


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered extractor.

    build: returns the network (weights loaded by ``load_state_dict``) unless ``load`` is given;
      its ``forward_features(x)`` maps float32 (N, C, H, W) in [0, 1] -- or uint8 in [0, 255]
      when the network has ``takes_uint8 = True`` -- to (features float32 (N, feature_dim),
      logits float32 (N, num_classes)).
    load: optional ``load(weights_path, resize_mode) -> network`` for networks built from a file
      (the Inception); called only after the file's sha256 is checked.
    metric_suffix: the ``<suffix>`` of metric names (``fd_<suffix>``) with the official weights.
    input_shape: (C, H, W) of the uint8 images it accepts; with ``any_size`` any (1 or 3, H, W).
    resize_mode: the default resize; resize_modes: every mode it accepts ('none': sizes must match).
    weights_file / weights_sha256: the file name and the official file's hash.
    ships_weights: True when the file is in ``metrics/weights/``; else it is looked up in
      $GENBENCH_WEIGHTS_DIR and the torch hub cache and ``weights_url`` says where it is published.
    make_command: the shell command that regenerates (or fetches) the weights file.
    label_datasets: datasets whose class labels the logits predict (class-conditional accuracy).
    official_names: (metric, row key) pairs that replace ``<metric>_<suffix>`` with the official
      weights and default resize, e.g. ('fd', 'fid').
    """

    name: str
    build: Callable[[], nn.Module] | None
    metric_suffix: str
    input_shape: tuple[int, int, int]
    feature_dim: int
    num_classes: int
    weights_file: str
    weights_sha256: str
    make_command: str
    resize_mode: str = "none"
    description: str = ""
    load: Callable[[Path, str], nn.Module] | None = None
    resize_modes: tuple[str, ...] = ("none",)
    any_size: bool = False
    ships_weights: bool = True
    weights_url: str = ""
    label_datasets: tuple[str, ...] = ()
    official_names: tuple[tuple[str, str], ...] = ()

    @property
    def default_weights_path(self) -> Path:
        """Where the weights are put by default: metrics/weights/ or the torch hub cache."""
        if self.ships_weights:
            return WEIGHTS_DIR / self.weights_file
        return hub_checkpoints_dir() / self.weights_file

    def weights_candidates(self) -> list[Path]:
        """Every path searched for the weights file, in order."""
        if self.ships_weights:
            return [WEIGHTS_DIR / self.weights_file]
        found = [Path(os.environ[WEIGHTS_DIR_ENV]) / self.weights_file] if os.environ.get(WEIGHTS_DIR_ENV) else []
        return found + [hub_checkpoints_dir() / self.weights_file]


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint cache (``torch.hub.get_dir()/checkpoints``), where load_state_dict_from_url saves."""
    return Path(torch.hub.get_dir()) / "checkpoints"


EXTRACTORS: Registry[ExtractorSpec] = Registry("feature extractor")


# --- the MNIST classifier shipped by this project -----------------------------------------
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MnistLeNet(nn.Module):
    """conv32 -> pool -> conv64 -> pool -> conv128 -> global average pool (128-d) -> linear 10.

    Input: float32 (N, 1, 28, 28) in [0, 1] (normalised inside with the MNIST mean and std).
    """

    feature_dim = 128
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(1, 32), nn.MaxPool2d(2),  # 14x14
            _conv_block(32, 64), nn.MaxPool2d(2),  # 7x7
            _conv_block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (N, 1, 28, 28) in [0, 1] -> (features (N, 128), logits (N, 10))."""
        feats = self.body((x - MNIST_MEAN) / MNIST_STD)
        return feats, self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits float32 (N, 10) (used for training)."""
        return self.forward_features(x)[1]


MNIST_LENET_SHA256 = "852c22c766960cfea398765dd83db1ba61c8580a1dc3f8a80db05ea05acc4006"  # metrics/weights/mnist-lenet.json

EXTRACTORS.register(
    "mnist-lenet",
    ExtractorSpec(
        name="mnist-lenet",
        build=MnistLeNet,
        metric_suffix="mnist",
        input_shape=(1, 28, 28),
        feature_dim=MnistLeNet.feature_dim,
        num_classes=MnistLeNet.num_classes,
        weights_file="mnist-lenet.pt",
        weights_sha256=MNIST_LENET_SHA256,
        make_command="python -m genbench.bench.train_extractor",
        description="small CNN trained by genbench on the embedded MNIST train split; "
        "features: 128-d global-average-pooled last conv layer; logits: 10 digit classes",
        label_datasets=("mnist", "mnist-full"),
    ),
)


# --- the TF Inception of FID / KID / IS (torch-fidelity's port) -----------------------------
EXTRACTORS.register(
    "inception-v3-tf",
    ExtractorSpec(
        name="inception-v3-tf",
        build=None,
        load=inception.load_inception,
        metric_suffix="inception",
        input_shape=(3, 299, 299),
        any_size=True,
        feature_dim=inception.FEATURE_DIM,
        num_classes=inception.NUM_CLASSES,
        weights_file=inception.INCEPTION_FILE,
        weights_sha256=inception.INCEPTION_SHA256,
        ships_weights=False,
        weights_url=inception.INCEPTION_URL,
        make_command=f"curl -L --create-dirs -o <destination> {inception.INCEPTION_URL}",
        resize_mode="legacy-tf",
        resize_modes=RESIZE_MODES,
        official_names=(("fd", "fid"), ("kid", "kid"), ("kid_std", "kid_std"), ("is", "is"), ("is_std", "is_std")),
        description="TF Inception-v3 (2015-12-05 weights, torch-fidelity's port) of FID (Heusel et al. 2017), "
        "KID (Binkowski et al. 2018) and IS (Salimans et al. 2016); features: 2048-d pool_3; "
        "logits: 1008-way logits_unbiased; any HxW uint8, grayscale repeated to RGB",
    ),
)


# --- the wrapper ---------------------------------------------------------------------------
def _metric_suffix(spec: ExtractorSpec, official: bool, resize_mode: str) -> str:
    """'mnist', 'mnist-custom', 'inception-clean', 'inception-custom-clean', ..."""
    suffix = spec.metric_suffix if official else f"{spec.metric_suffix}-custom"
    return suffix if resize_mode == spec.resize_mode else f"{suffix}-{resize_mode}"


class FeatureExtractor(nn.Module):
    """A loaded extractor: the network plus everything that names and checks its inputs.

    Attributes: name, metric_suffix ('mnist'; 'mnist-custom' for unofficial weights;
    '-<resize mode>' appended for a non-default resize, e.g. 'inception-clean'),
    metric_names (metric -> row key overriding ``<metric>_<suffix>``: {'fd': 'fid', 'kid': 'kid',
    'is': 'is', ...} only for the official Inception with its default resize, else {}),
    input_shape (C, H, W), any_size, feature_dim, num_classes, weights_sha256 (of the loaded
    file), official (whether that hash is the registered one), resize_mode, label_datasets.
    """

    def __init__(
        self, spec: ExtractorSpec, net: nn.Module, weights_sha256: str, official: bool, resize_mode: str | None = None
    ) -> None:
        super().__init__()
        self.spec = spec
        self.net = net.eval()
        self.name = spec.name
        self.resize_mode = spec.resize_mode if resize_mode is None else resize_mode
        self.metric_suffix = _metric_suffix(spec, official, self.resize_mode)
        default_protocol = official and self.resize_mode == spec.resize_mode
        self.metric_names: dict[str, str] = dict(spec.official_names) if default_protocol else {}
        self.input_shape = tuple(spec.input_shape)
        self.any_size = spec.any_size
        self.feature_dim = spec.feature_dim
        self.num_classes = spec.num_classes
        self.weights_sha256 = weights_sha256
        self.official = official
        self.label_datasets = tuple(spec.label_datasets)

    def metric_name(self, metric: str, default: str | None = None) -> str:
        """Row key of ``metric`` ('fd', 'is', ...): the official name if any, else ``default`` or '<metric>_<suffix>'."""
        return self.metric_names.get(metric, default or f"{metric}_{self.metric_suffix}")

    def provenance(self) -> dict[str, object]:
        """What a result row records about the extractor."""
        return {
            "extractor": self.name,
            "metric_suffix": self.metric_suffix,
            "weights_sha256": self.weights_sha256,
            "official_weights": self.official,
            "resize_mode": self.resize_mode,
        }

    def check_images(self, images: torch.Tensor) -> None:
        """Raise ValueError unless ``images`` is a uint8 (N, *input_shape) tensor with N >= 1 (any (1|3, H, W) if any_size)."""
        if self.any_size:
            check_uint8_images(images, self.name)
            return
        want = f"uint8 (N, {', '.join(map(str, self.input_shape))})"
        if not isinstance(images, torch.Tensor):
            raise ValueError(f"{self.name}: expected a torch.Tensor of {want} images, got {type(images).__name__}")
        got = f"{str(images.dtype).replace('torch.', '')} {tuple(images.shape)}"
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self.name}: expected {want} images, got {got}; pass uint8 images in [0, 255] "
                f"(a model's float output x in [-1, 1] becomes ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))"
            )
        if images.shape[0] == 0:
            raise ValueError(f"{self.name}: got 0 images; pass at least one")

    @torch.no_grad()  # not inference_mode: callers may modify or reuse the outputs freely
    def extract(
        self, images: torch.Tensor, batch_size: int = 500, device: str | torch.device | None = None,
        channels_last: bool = False, allow_tf32: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One feature pass over uint8 (N, C, H, W) images in [0, 255].

        Returns (features float32 (N, feature_dim), logits float32 (N, num_classes)) on the CPU.
        Runs in eval mode without autograd; results do not depend on ``batch_size`` (per-sample
        network). device: where the network runs (None: where it is now). On a GPU, batches are
        uploaded from pinned memory without blocking and the outputs stay on the GPU until the
        end (one download), so the GPU never waits for the host. The pass is plain fp32 with
        TF32 off unless ``allow_tf32`` (kept for speed comparisons with tools that leave
        PyTorch's default on); ``channels_last`` runs the convolutions in NHWC.
        """
        self.check_images(images)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.eval()
        if device is None:
            device = next(self.net.parameters()).device
        device = torch.device(device)
        self.net.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        takes_uint8 = getattr(self.net, "takes_uint8", False)
        on_gpu = device.type == "cuda"
        feats, logits = [], []
        with tf32_mode(allow_tf32):
            for start in range(0, images.shape[0], batch_size):
                # a standard-layout copy: views of NHWC arrays otherwise change results at ~1e-10
                x = images[start : start + batch_size].clone(memory_format=torch.contiguous_format)
                if on_gpu and x.device.type == "cpu":
                    x = x.pin_memory()
                x = x.to(device, non_blocking=on_gpu)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                f, l = self.net.forward_features(x if takes_uint8 else x.float().div_(255.0))
                feats.append(f.float() if on_gpu else f.float().cpu())
                logits.append(l.float() if on_gpu else l.float().cpu())
        return torch.cat(feats).cpu(), torch.cat(logits).cpu()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.extract(images)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _missing_weights_error(spec: ExtractorSpec, searched: list[Path], want: str) -> ExtractorError:
    where = ", ".join(str(p) for p in searched)
    if spec.weights_url:
        dest = spec.default_weights_path
        how = (
            f"it is published at {spec.weights_url}; put it at {dest} (the torch hub cache) or in "
            f"${WEIGHTS_DIR_ENV}/, or pass its path (weights_path= / --weights PATH), e.g. "
            f"`curl -L --create-dirs -o {dest} {spec.weights_url}`"
        )
    else:
        how = f"make it with `{spec.make_command}`"
    return ExtractorError(
        f"weights file {spec.weights_file} for extractor {spec.name!r} (sha256 {want}) is missing; "
        f"looked in: {where}; {how}"
    )


def resolve_weights(spec: ExtractorSpec, weights_path: str | Path | None, expected_sha256: str | None) -> Path:
    """The weights file to load: ``weights_path`` if given, else the first existing candidate; ExtractorError if none."""
    want = expected_sha256 or spec.weights_sha256
    searched = [Path(weights_path)] if weights_path is not None else spec.weights_candidates()
    for path in searched:
        if path.is_file():
            return path
    raise _missing_weights_error(spec, searched, want)


def _check_weights(spec: ExtractorSpec, path: Path, expected_sha256: str | None) -> tuple[str, bool]:
    """Return (sha256, official) of the existing file ``path``, or raise ExtractorError saying what to do."""
    digest = sha256_file(path)
    if expected_sha256 is not None:
        if digest != expected_sha256.lower():
            raise ExtractorError(
                f"weights file {path} has sha256 {digest}, but expected_sha256={expected_sha256}; "
                "pass the right file or its actual hash"
            )
    elif digest != spec.weights_sha256:
        fix = (
            f"download the official file from {spec.weights_url}"
            if spec.weights_url
            else f"restore the file (git checkout {path.name}) or regenerate it with `{spec.make_command}` "
            "and update the registered hash"
        )
        raise ExtractorError(
            f"weights file {path} has sha256 {digest}, expected the official {spec.name!r} weights "
            f"({spec.weights_file}) with sha256 {spec.weights_sha256}. To get them, {fix}; to use these "
            f"weights as a custom extractor pass expected_sha256='{digest}' (metrics are then named "
            f"*_{spec.metric_suffix}-custom)"
        )
    return digest, digest == spec.weights_sha256


def _build(spec: ExtractorSpec, path: Path, resize_mode: str) -> nn.Module:
    """The network with the checked weights at ``path``; ExtractorError if they do not fit."""
    try:
        if spec.load is not None:
            return spec.load(path, resize_mode)
        net = spec.build()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001 - any load failure gets the same advice
        raise ExtractorError(
            f"could not load weights {path} into extractor {spec.name!r}: {e}; "
            f"the file must be the extractor's state_dict ({spec.weights_file}: `{spec.make_command}`)"
        ) from e


def load_extractor(
    name: str,
    weights_path: str | Path | None = None,
    expected_sha256: str | None = None,
    device: str | torch.device = "cpu",
    resize_mode: str | None = None,
) -> FeatureExtractor:
    """Build a registered extractor and load its weights after checking their sha256.

    weights_path: explicit file; else ``metrics/weights/<file>`` for shipped weights, else
      ``$GENBENCH_WEIGHTS_DIR/<file>`` then ``torch.hub.get_dir()/checkpoints/<file>``.
    expected_sha256: without it the file must be the official one; with it the file must
      have this hash, and unless that is the official hash the extractor is custom
      (``metric_suffix`` gets '-custom' and the bare fid/kid/is names are never used).
      There is no way to skip the check. Raises ExtractorError naming the file, the expected
      hash and where to get the weights.
    resize_mode: one of the spec's ``resize_modes`` (inception-v3-tf: 'legacy-tf' (default), 'clean').
    """
    spec = EXTRACTORS.get(name)
    mode = spec.resize_mode if resize_mode is None else resize_mode
    if mode not in spec.resize_modes:
        raise ValueError(f"extractor {name!r} has no resize mode {mode!r}; choose one of {', '.join(spec.resize_modes)}")
    path = resolve_weights(spec, weights_path, expected_sha256)
    digest, official = _check_weights(spec, path, expected_sha256)
    net = _build(spec, path, mode)
    return FeatureExtractor(spec, net, digest, official, mode).to(device).eval()
