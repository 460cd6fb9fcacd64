"""Image-to-image translation metrics and the project's ``digit-domains`` classifier.

Row metrics (pure functions of uint8 images, features or logits; no model inside):

- paired tasks (pix2pix-style evaluation, Isola et al. 2017): PSNR, SSIM and L1 against the
  ground-truth target (``metrics.paired``), LPIPS against it (``lpips_<net>``; the value is
  ``"skipped: weights absent"`` when the backbone file is absent: LPIPS never runs with random
  weights), and the Fréchet distance of the outputs' features to the target domain's.
- unpaired and multi-domain tasks: FD to the target domain, content preservation (the MNIST
  classifier's accuracy on translated digits, against the source digit's label:
  ``content_acc_mnist``), target-domain accuracy of the domain classifier (``domain_acc_domains``)
  and the cycle reconstruction error ``cycle_l1`` (mean |x - F(G(x))| on [0, 1] pixels).

The domain classifier (``digit-domains``, weights shipped in ``metrics/weights/`` with their
sha256, trained by ``python scripts/train_domain_classifier.py``) is a small CNN over 3x28x28
digits that names 6 domains: 0 plain MNIST, 1 textured (``digits2textured``'s B), 2-5
``digit-domains``' red, red-bold, blue, blue-bold. Grayscale images are repeated to 3 channels.
Its 128-d penultimate features are the FD space of the domains the MNIST classifier cannot read.
Domain accuracy takes the argmax over the classes of the dataset's own domains only.

>>> import torch
>>> x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8); r = x.clone(); r[0] = 255
>>> cycle_l1(x, r)
0.5
>>> domain_accuracy(torch.tensor([[0.0, 5.0, 9.0], [3.0, 1.0, 9.0]]), torch.tensor([1, 0]), allowed=[0, 1])
1.0
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from genbench.metrics.conditional import class_accuracy
from genbench.metrics.extractors import EXTRACTORS, ExtractorSpec, _conv_block
from genbench.metrics.lpips_metrics import SKIPPED, load_lpips, lpips_distance, lpips_status
from genbench.metrics.paired import PAIRED_HIGHER_IS_BETTER, paired_metrics

DOMAIN_CLASSES = ("plain", "textured", "red", "red-bold", "blue", "blue-bold")
DOMAINS_SHA256 = "4f37dedfbdb5bf73cb0fc2da02de395f223ff3b3466d85163209db6bfa82560d"  # metrics/weights/digit-domains.json

TRANSLATION_HIGHER_IS_BETTER: dict[str, bool] = {
    "content_acc": True,
    "domain_acc": True,
    "cycle_l1": False,
}


class DomainNet(nn.Module):
    """conv32 -> pool -> conv64 -> pool -> conv128 -> global average pool (128-d) -> linear 6.

    The mnist-lenet body (``metrics.extractors``) on 3 channels. Input: float32 (N, 3, 28, 28)
    in [0, 1] (mapped to [-1, 1] inside).
    """

    feature_dim = 128
    num_classes = len(DOMAIN_CLASSES)

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(3, 32), nn.MaxPool2d(2),
            _conv_block(32, 64), nn.MaxPool2d(2),
            _conv_block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (N, 3, 28, 28) in [0, 1] -> (features (N, 128), logits (N, 6))."""
        feats = self.body(x * 2.0 - 1.0)
        return feats, self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits float32 (N, 6) (used for training); grayscale input is repeated to 3 channels."""
        return self.forward_features(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)[1]


EXTRACTORS.register(
    "digit-domains",
    ExtractorSpec(
        name="digit-domains",
        build=DomainNet,
        metric_suffix="domains",
        input_shape=(3, 28, 28),
        feature_dim=DomainNet.feature_dim,
        num_classes=DomainNet.num_classes,
        weights_file="digit-domains.pt",
        weights_sha256=DOMAINS_SHA256,
        make_command="python scripts/train_domain_classifier.py",
        description="small CNN trained by genbench to name the image-to-image digit domains "
        f"({', '.join(DOMAIN_CLASSES)}); features: 128-d global-average-pooled last conv layer",
    ),
)


# --- image views --------------------------------------------------------------------------------
def _check_uint8(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be uint8 (N, C, H, W) images with C = 1 or 3, got {got}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: got 0 images")


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> uint8 (N, 3, H, W): grayscale repeated to 3 channels."""
    _check_uint8(images, "images")
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


def as_digit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> uint8 (N, 1, H, W): the max over colour channels (ink intensity of a
    coloured white-on-black digit), what the MNIST classifier reads."""
    _check_uint8(images, "images")
    return images.amax(dim=1, keepdim=True)


# --- metrics --------------------------------------------------------------------------------------
def cycle_l1(original: torch.Tensor, reconstructed: torch.Tensor) -> float:
    """Mean absolute difference in [0, 1] between uint8 (N, C, H, W) images and their cycle
    reconstructions F(G(x)) (0 = perfect reconstruction)."""
    _check_uint8(original, "original")
    _check_uint8(reconstructed, "reconstructed")
    if original.shape != reconstructed.shape:
        raise ValueError(f"original {tuple(original.shape)} and reconstructed {tuple(reconstructed.shape)} differ in shape")
    return float((original.double() - reconstructed.double()).abs().mean() / 255.0)


def content_accuracy(logits: Any, labels: Any) -> float:
    """Accuracy of the MNIST classifier's logits (N, 10) on translated digits against the source
    digits' labels (N,): how often translation kept the digit."""
    return float(class_accuracy(logits, labels)["overall"])


def domain_accuracy(logits: torch.Tensor, targets: Any, allowed: Sequence[int]) -> float:
    """Fraction of outputs whose argmax over the ``allowed`` classes (the dataset's domains)
    is the target class. logits float (N, K); targets int (N,) classifier classes in ``allowed``."""
    allowed = list(allowed)
    if not allowed or len(set(allowed)) != len(allowed):
        raise ValueError(f"allowed must list distinct classes, got {allowed}")
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or max(allowed) >= logits.shape[1] or min(allowed) < 0:
        raise ValueError(f"logits must be (N, K) with every allowed class < K, got {getattr(logits, 'shape', logits)}")
    t = torch.as_tensor(targets, dtype=torch.int64)
    if t.shape != (logits.shape[0],):
        raise ValueError(f"targets must have shape ({logits.shape[0]},), got {tuple(t.shape)}")
    if not set(t.unique().tolist()) <= set(allowed):
        raise ValueError(f"targets {sorted(set(t.unique().tolist()))} must be among the allowed classes {allowed}")
    sub = logits[:, allowed]
    if not torch.isfinite(sub).all():
        raise ValueError("logits contain NaN or inf")
    pred = torch.as_tensor(allowed)[sub.argmax(1)]
    return float((pred == t).double().mean())


def paired_lpips(
    outputs: torch.Tensor, targets: torch.Tensor, net: str = "alex", weights: Any = None,
    expected_sha256: str | None = None,
) -> tuple[dict[str, float | str], dict[str, Any]]:
    """Row entries for LPIPS between outputs and their targets: (values, provenance).

    ``{'lpips_<suffix>': mean distance}`` (suffix 'alex', or 'alex-custom' for unofficial weights),
    or ``{'lpips_<net>': 'skipped: weights absent'}`` when no backbone file is found.
    """
    if lpips_status(net, weights) is not None:
        return {f"lpips_{net}": SKIPPED}, {"lpips_net": net, "lpips_official": False, "lpips_status": SKIPPED}
    model = load_lpips(net, weights, expected_sha256)
    d = lpips_distance(outputs, targets, model=model)
    value = float(d.double().mean())
    if not math.isfinite(value):
        raise ValueError(f"LPIPS is {value}; the images or weights are broken")
    return {f"lpips_{model.metric_suffix}": value}, model.provenance()


def paired_translation_metrics(
    outputs: torch.Tensor, targets: torch.Tensor, lpips_weights: Any = None, lpips_sha256: str | None = None
) -> tuple[dict[str, float | str], dict[str, bool], dict[str, Any]]:
    """PSNR, SSIM, L1 and LPIPS of uint8 outputs against their targets (same shape).

    Returns (values, higher_is_better, provenance); LPIPS may be the 'skipped' marker.
    ``lpips_sha256`` names custom backbone weights by their full hash (``paired_lpips``). Only
    the official backbone's LPIPS gets a direction (lower is better): ``lpips_alex-custom`` and
    the marker are shown, never ranked or gated (as LPIPS diversity in ``bench/runner.py``).
    """
    values: dict[str, float | str] = dict(paired_metrics(outputs, targets))
    hib = {k: PAIRED_HIGHER_IS_BETTER[k] for k in values}
    lp, prov = paired_lpips(outputs, targets, weights=lpips_weights, expected_sha256=lpips_sha256)
    values.update(lp)
    if prov.get("lpips_official"):
        hib.update({k: PAIRED_HIGHER_IS_BETTER["lpips"] for k, v in lp.items() if not isinstance(v, str)})
    return values, hib, prov
