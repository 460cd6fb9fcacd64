"""Feature extractors: a registry of specs, weights loading with sha256 checks, one feature pass.

An extractor maps uint8 images to (features, logits). Metrics are named after its
``metric_suffix`` (``fd_mnist``); weights whose sha256 differs from the registered one are a
*custom* extractor and get a different suffix (``mnist-custom``), so their numbers are never
confused with the official ones.

>>> from genbench.metrics.extractors import EXTRACTORS
>>> "mnist-lenet" in EXTRACTORS
True
>>> EXTRACTORS.get("mnist-lenet").feature_dim
128
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from genbench.bench.registry import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class ExtractorError(RuntimeError):
    """Weights are missing, damaged or do not fit; the message says which file and what to do."""


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered extractor.

    build: returns the network; its ``forward_features(x)`` maps float32 (N, C, H, W) in [0, 1]
      to (features float32 (N, feature_dim), logits float32 (N, num_classes)).
    metric_suffix: the ``<suffix>`` of metric names (``fd_<suffix>``) with the official weights.
    input_shape: (C, H, W) of the uint8 images it accepts; resize_mode: 'none' (sizes must match).
    weights_file: file name inside ``metrics/weights/``; weights_sha256: the official file's hash.
    make_command: the shell command that regenerates the weights file.
    """

    name: str
    build: Callable[[], nn.Module]
    metric_suffix: str
    input_shape: tuple[int, int, int]
    feature_dim: int
    num_classes: int
    weights_file: str
    weights_sha256: str
    make_command: str
    resize_mode: str = "none"
    description: str = ""

    @property
    def default_weights_path(self) -> Path:
        return WEIGHTS_DIR / self.weights_file


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
    ),
)


# --- the wrapper ---------------------------------------------------------------------------
class FeatureExtractor(nn.Module):
    """A loaded extractor: the network plus everything that names and checks its inputs.

    Attributes: name, metric_suffix ('mnist', or 'mnist-custom' for unofficial weights),
    input_shape (C, H, W), feature_dim, num_classes, weights_sha256 (of the loaded file),
    official (whether that hash is the registered one), resize_mode.
    """

    def __init__(self, spec: ExtractorSpec, net: nn.Module, weights_sha256: str, official: bool) -> None:
        super().__init__()
        self.spec = spec
        self.net = net.eval()
        self.name = spec.name
        self.metric_suffix = spec.metric_suffix if official else f"{spec.metric_suffix}-custom"
        self.input_shape = tuple(spec.input_shape)
        self.feature_dim = spec.feature_dim
        self.num_classes = spec.num_classes
        self.weights_sha256 = weights_sha256
        self.official = official
        self.resize_mode = spec.resize_mode

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
        """Raise ValueError unless ``images`` is a uint8 (N, *input_shape) tensor with N >= 1."""
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
        self, images: torch.Tensor, batch_size: int = 500, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One feature pass over uint8 (N, C, H, W) images in [0, 255].

        Returns (features float32 (N, feature_dim), logits float32 (N, num_classes)) on the CPU.
        Runs in eval mode without autograd; results do not depend on ``batch_size`` (per-sample network).
        """
        self.check_images(images)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.eval()
        self.net.to(device)
        feats, logits = [], []
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device).float().div_(255.0)
            f, l = self.net.forward_features(x)
            feats.append(f.float().cpu())
            logits.append(l.float().cpu())
        return torch.cat(feats), torch.cat(logits)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.extract(images)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_weights(spec: ExtractorSpec, path: Path, expected_sha256: str | None) -> tuple[str, bool]:
    """Return (sha256, official) of ``path``, or raise ExtractorError saying what to do."""
    want = expected_sha256 or spec.weights_sha256
    if not path.is_file():
        raise ExtractorError(
            f"weights file {path} for extractor {spec.name!r} is missing (expected sha256 {want}); "
            f"make it with `{spec.make_command}`"
        )
    digest = sha256_file(path)
    if expected_sha256 is not None:
        if digest != expected_sha256.lower():
            raise ExtractorError(
                f"weights file {path} has sha256 {digest}, but expected_sha256={expected_sha256}; "
                "pass the right file or its actual hash"
            )
    elif digest != spec.weights_sha256:
        raise ExtractorError(
            f"weights file {path} has sha256 {digest}, expected the official {spec.name!r} weights "
            f"with sha256 {spec.weights_sha256}. Restore the file (git checkout {path.name}) or "
            f"regenerate it with `{spec.make_command}` and update the registered hash; to use these "
            f"weights as a custom extractor pass expected_sha256='{digest}' (metrics are then named "
            f"*_{spec.metric_suffix}-custom)"
        )
    return digest, digest == spec.weights_sha256


def load_extractor(
    name: str,
    weights_path: str | Path | None = None,
    expected_sha256: str | None = None,
    device: str | torch.device = "cpu",
) -> FeatureExtractor:
    """Build a registered extractor and load its weights after checking their sha256.

    weights_path: defaults to the shipped file in ``metrics/weights/``.
    expected_sha256: without it the file must be the official one; with it the file must
      have this hash, and unless that is the official hash the extractor is custom
      (``metric_suffix`` gets '-custom'). Raises ExtractorError naming the file, the
      expected hash and the command that makes the weights.
    """
    spec = EXTRACTORS.get(name)
    path = Path(weights_path) if weights_path is not None else spec.default_weights_path
    digest, official = _check_weights(spec, path, expected_sha256)
    net = spec.build()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - any load failure gets the same advice
        raise ExtractorError(
            f"could not load weights {path} into extractor {name!r}: {e}; "
            f"the file must be a state_dict made by `{spec.make_command}`"
        ) from e
    return FeatureExtractor(spec, net, digest, official).to(device).eval()
