"""LPIPS distance and sample diversity via the ``lpips`` package, loaded strictly offline.

LPIPS (Zhang, Isola, Efros, Shechtman and Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018) compares unit-normalised activations of five
backbone layers, weighted by learned 1x1 linear layers. The default is the AlexNet backbone
with the v0.1 linear layers (the paper's Table 5 / the package README recommend 'alex' as
the forward metric).

Weights, two files per network, both sha256-checked:

- the linear layers ship inside the ``lpips`` package (``lpips/weights/v0.1/<net>.pth``);
- the backbone is torchvision's ImageNet AlexNet / VGG16 file, which ``lpips`` would
  download. genbench never downloads: the backbone is built randomly initialised
  (``pnet_rand=True``) and its weights are loaded from the first of: the explicit
  ``weights`` path, ``$GENBENCH_WEIGHTS_DIR/<file>``, ``<torch hub dir>/checkpoints/<file>``
  (where torchvision itself stores it, ``~/.cache/torch/hub/checkpoints`` by default).

torchvision publishes only the first 8 hex digits of each backbone file's sha256 (in the file
name, ``alexnet-owt-7be5be79.pth``), and ``torch.hub`` verifies exactly that prefix; genbench
does the same: a file whose full sha256 starts with the published prefix is official.
Any other file must be named by its full hash (``expected_sha256=``); its numbers are then
named ``*_<net>-custom``, flagged ``official: False`` and never ranked. When no backbone file
is found the metric's value is the marker ``"skipped: weights absent"``.

Inputs: uint8 (N, C, H, W) images, C in {1, 3}; grayscale is repeated to 3 channels; values
are mapped to [-1, 1] (x / 127.5 - 1, asserted). Images whose shorter side is under 64 pixels
are bilinearly upsampled (align_corners=False, no antialiasing) so that it becomes 64: on a
28x28 MNIST digit, AlexNet's second max-pool would get a 2x2 map and fail (the LPIPS layers
need H, W >= 31), and at 32x32 its last layers would see 1x1 maps. 64 is the input size
``lpips`` itself uses in its examples and the smallest size at which AlexNet's relu5 map is
larger than 1x1 (it is 3x3).

>>> import torch
>>> from genbench.metrics.lpips_metrics import lpips_status
>>> lpips_status("alex", weights="/nonexistent/alexnet.pth")
'skipped: weights absent'
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SKIPPED = "skipped: weights absent"
MIN_SIDE = 64  # shorter image side fed to the backbone (see the module docstring)
DEFAULT_NET = "alex"
DEFAULT_PAIRS = 1000
WEIGHTS_ENV = "GENBENCH_WEIGHTS_DIR"


class LpipsWeightsError(RuntimeError):
    """LPIPS weights are missing, damaged or unofficial; the message says which file and what to do."""


@dataclass(frozen=True)
class LpipsNet:
    """One LPIPS backbone.

    backbone_file: torchvision's file name; backbone_sha256_prefix: the sha256 prefix it carries.
    slices: indices into torchvision's ``features`` Sequential that make up lpips' slice1..5.
    linear_sha256: sha256 of ``lpips/weights/v0.1/<name>.pth`` as shipped by lpips 0.1.4.
    """

    name: str
    backbone_file: str
    backbone_sha256_prefix: str
    slices: tuple[tuple[int, ...], ...]
    linear_sha256: str

    @property
    def url(self) -> str:
        return f"https://download.pytorch.org/models/{self.backbone_file}"


LPIPS_NETS: dict[str, LpipsNet] = {
    "alex": LpipsNet(
        "alex", "alexnet-owt-7be5be79.pth", "7be5be79",
        ((0, 1), (2, 3, 4), (5, 6, 7), (8, 9), (10, 11)),
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    ),
    "vgg": LpipsNet(
        "vgg", "vgg16-397923af.pth", "397923af",
        (tuple(range(0, 4)), tuple(range(4, 9)), tuple(range(9, 16)), tuple(range(16, 23)), tuple(range(23, 30))),
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    ),
}


def _net(name: str) -> LpipsNet:
    if name not in LPIPS_NETS:
        raise ValueError(f"unknown LPIPS network {name!r}; choose one of {sorted(LPIPS_NETS)}")
    return LPIPS_NETS[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def candidate_paths(net: str = DEFAULT_NET, weights: str | Path | None = None) -> list[Path]:
    """Where the backbone file is looked for, in order (explicit path, env dir, torch hub cache)."""
    spec = _net(net)
    if weights is not None:
        return [Path(weights)]
    paths = []
    if os.environ.get(WEIGHTS_ENV):
        paths.append(Path(os.environ[WEIGHTS_ENV]) / spec.backbone_file)
    paths.append(Path(torch.hub.get_dir()) / "checkpoints" / spec.backbone_file)
    return paths


def find_backbone(net: str = DEFAULT_NET, weights: str | Path | None = None) -> Path | None:
    """The first existing backbone file among ``candidate_paths``, or None."""
    return next((p for p in candidate_paths(net, weights) if p.is_file()), None)


def lpips_status(net: str = DEFAULT_NET, weights: str | Path | None = None) -> str | None:
    """None when the backbone file is present (LPIPS can run), else ``SKIPPED``."""
    return None if find_backbone(net, weights) is not None else SKIPPED


def _absent_message(spec: LpipsNet, tried: list[Path]) -> str:
    where = "\n".join(f"    {p}" for p in tried)
    return (
        f"LPIPS backbone weights {spec.backbone_file} not found; looked in:\n{where}\n"
        f"It is torchvision's ImageNet {spec.name} file (sha256 starts with {spec.backbone_sha256_prefix}), "
        f"published at {spec.url}. genbench never downloads: copy the file to "
        f"${WEIGHTS_ENV}/{spec.backbone_file} or {Path(torch.hub.get_dir()) / 'checkpoints' / spec.backbone_file}, "
        "or pass its path (weights=...)."
    )


def check_backbone(spec: LpipsNet, path: Path, expected_sha256: str | None) -> tuple[str, bool]:
    """Return (sha256, official) of the backbone file or raise LpipsWeightsError."""
    digest = _sha256(path)
    official = digest.startswith(spec.backbone_sha256_prefix)
    if expected_sha256 is not None:
        if digest != expected_sha256.strip().lower():
            raise LpipsWeightsError(
                f"LPIPS backbone {path} has sha256 {digest}, but expected_sha256={expected_sha256}; "
                "pass the right file or its actual hash"
            )
    elif not official:
        raise LpipsWeightsError(
            f"LPIPS backbone {path} has sha256 {digest}, which is not torchvision's {spec.backbone_file} "
            f"(sha256 starting {spec.backbone_sha256_prefix}, published at {spec.url}). Replace it with "
            f"that file, or to use it as custom weights pass expected_sha256='{digest}' "
            f"(numbers are then named *_{spec.name}-custom and never ranked)"
        )
    return digest, official


def _import_lpips():
    try:
        import lpips
    except ImportError as e:
        raise ImportError("LPIPS needs the lpips package: pip install 'lpips==0.1.4'") from e
    return lpips


def _linear_path(spec: LpipsNet) -> Path:
    lpips = _import_lpips()
    return Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / f"{spec.name}.pth"


def _check_linear(spec: LpipsNet) -> Path:
    path = _linear_path(spec)
    if not path.is_file():
        raise LpipsWeightsError(f"the lpips package lacks its linear weights {path}; reinstall it (pip install lpips==0.1.4)")
    digest = _sha256(path)
    if digest != spec.linear_sha256:
        raise LpipsWeightsError(
            f"lpips linear weights {path} have sha256 {digest}, expected {spec.linear_sha256} (lpips 0.1.4, v0.1); "
            "reinstall the package (pip install --force-reinstall lpips==0.1.4)"
        )
    return path


def backbone_state_to_lpips(spec: LpipsNet, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ``features.<i>.*`` keys -> lpips ``slice<k>.<i>.*`` keys (classifier keys dropped)."""
    out = {}
    for k, indices in enumerate(spec.slices, start=1):
        for i in indices:
            for key, value in state.items():
                if key.startswith(f"features.{i}."):
                    out[f"slice{k}.{key[len('features.'):]}"] = value
    return out


class LpipsModel(nn.Module):
    """A loaded LPIPS network plus its provenance.

    Attributes: net ('alex' / 'vgg'), backbone_path, backbone_sha256, official (torchvision's
    published file), metric_suffix ('alex' or 'alex-custom').
    """

    def __init__(self, module: nn.Module, spec: LpipsNet, path: Path, digest: str, official: bool) -> None:
        super().__init__()
        self.module = module.eval()
        self.net = spec.name
        self.backbone_path = path
        self.backbone_sha256 = digest
        self.official = official
        self.metric_suffix = spec.name if official else f"{spec.name}-custom"

    def provenance(self) -> dict[str, Any]:
        return {
            "lpips_net": self.net,
            "lpips_version": "0.1",
            "lpips_backbone_sha256": self.backbone_sha256,
            "lpips_official": self.official,
            "lpips_resize": f"bilinear upsample to shorter side {MIN_SIDE} when smaller",
        }

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """float32 (N, 3, H, W) in [-1, 1] (asserted) -> LPIPS distances float32 (N,)."""
        for name, t in (("first", x), ("second", y)):
            check_lpips_input(t, name)
        if x.shape != y.shape:
            raise ValueError(f"LPIPS inputs must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        return self.module(x, y).reshape(-1).float()


def load_lpips(
    net: str = DEFAULT_NET,
    weights: str | Path | None = None,
    expected_sha256: str | None = None,
    device: str | torch.device = "cpu",
) -> LpipsModel:
    """Build ``lpips.LPIPS`` without any download and load the checked backbone weights.

    Raises LpipsWeightsError when the file is absent (naming the file, its hash prefix, the
    URL it is published at and where to put it), damaged, unofficial without
    ``expected_sha256``, or not a state dict of the right architecture.
    """
    lpips = _import_lpips()
    spec = _net(net)
    path = find_backbone(net, weights)
    if path is None:
        raise LpipsWeightsError(_absent_message(spec, candidate_paths(net, weights)))
    digest, official = check_backbone(spec, path, expected_sha256)
    _check_linear(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's 'pretrained' deprecation inside lpips
        module = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.net.load_state_dict(backbone_state_to_lpips(spec, state), strict=True)
    except Exception as e:  # noqa: BLE001 - every load failure gets the same advice
        raise LpipsWeightsError(
            f"could not load LPIPS backbone {path} into the {net} network: {e}; the file must be "
            f"torchvision's {spec.backbone_file} state dict (keys features.<i>.weight/bias)"
        ) from e
    return LpipsModel(module, spec, path, digest, official).to(device).eval()


def check_lpips_input(x: torch.Tensor, name: str = "input") -> None:
    """Raise ValueError unless ``x`` is a finite float (N, 3, H, W) tensor in [-1, 1]."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4 or x.shape[1] != 3:
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"LPIPS {name} must be float (N, 3, H, W) in [-1, 1], got {got}")
    if x.numel() and not (torch.isfinite(x).all() and x.min() >= -1.0 and x.max() <= 1.0):
        raise ValueError(
            f"LPIPS {name} must lie in [-1, 1], got values in [{x.min().item():.4g}, {x.max().item():.4g}]; "
            "map uint8 images with x / 127.5 - 1 (lpips_distance does this for you)"
        )


def to_lpips_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W), C in {1, 3} -> float32 (N, 3, H', W') in [-1, 1].

    Grayscale is repeated to 3 channels; a shorter side under MIN_SIDE is bilinearly upsampled
    to MIN_SIDE (aspect ratio kept).
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"LPIPS expects uint8 (N, C, H, W) images with C = 1 or 3, got {got}")
    if images.shape[0] == 0:
        raise ValueError("LPIPS got 0 images; pass at least one")
    x = images.float().div(127.5).sub(1.0)
    check_lpips_input(x.expand(-1, 3, -1, -1), "images")
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    h, w = x.shape[-2:]
    if min(h, w) < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
        x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", align_corners=False)
    return x.clamp_(-1.0, 1.0)  # interpolation is convex; clamp only removes float rounding


def _resolve(model: LpipsModel | None, net: str, weights: str | Path | None, expected_sha256: str | None) -> LpipsModel:
    return model if model is not None else load_lpips(net, weights, expected_sha256)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def lpips_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    net: str = DEFAULT_NET,
    weights: str | Path | None = None,
    *,
    expected_sha256: str | None = None,
    model: LpipsModel | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """LPIPS between paired uint8 (N, C, H, W) images -> float32 (N,) on the CPU (0 when equal).

    ``model`` (from ``load_lpips``) skips loading; otherwise ``net``/``weights`` are loaded.
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        raise ValueError(f"LPIPS needs two image tensors of the same shape, got {getattr(a, 'shape', a)} and {getattr(b, 'shape', b)}")
    _check_batch_size(batch_size)
    m = _resolve(model, net, weights, expected_sha256)
    device = next(m.parameters()).device
    out = []
    for s in range(0, a.shape[0], batch_size):
        x, y = to_lpips_input(a[s : s + batch_size]), to_lpips_input(b[s : s + batch_size])
        out.append(m(x.to(device), y.to(device)).cpu())
    return torch.cat(out)


def random_pairs(n: int, n_pairs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded index pairs (i, j), i != j, uniform over ordered pairs of distinct samples of n."""
    if n < 2:
        raise ValueError(f"LPIPS diversity needs at least 2 samples, got {n}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(n, (n_pairs,), generator=g)
    j = (i + torch.randint(1, n, (n_pairs,), generator=g)) % n
    return i, j


def lpips_diversity(
    samples: torch.Tensor,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    net: str = DEFAULT_NET,
    weights: str | Path | None = None,
    *,
    expected_sha256: str | None = None,
    model: LpipsModel | None = None,
    batch_size: int = 64,
) -> float:
    """Mean LPIPS over ``n_pairs`` seeded random pairs of distinct uint8 (N, C, H, W) samples.

    Higher means more diverse (the diversity score of BicycleGAN, Zhu et al. 2017, Sec. 5).
    Deterministic for a given seed; pairs are drawn with replacement over ordered pairs.
    """
    i, j = random_pairs(int(samples.shape[0]), n_pairs, seed)
    d = lpips_distance(samples[i], samples[j], net, weights, expected_sha256=expected_sha256, model=model, batch_size=batch_size)
    return float(d.double().mean())


def diversity_metrics(
    samples: torch.Tensor,
    net: str = DEFAULT_NET,
    weights: str | Path | None = None,
    expected_sha256: str | None = None,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
) -> tuple[dict[str, float | str], dict[str, Any]]:
    """Row entries for LPIPS diversity: (values, provenance).

    values: ``{'lpips_diversity_<suffix>': float}`` with suffix 'alex' for the official backbone
    and 'alex-custom' otherwise, or ``{'lpips_diversity_<net>': 'skipped: weights absent'}``
    when no backbone file is found. provenance: net, backbone sha256, ``lpips_official``
    (False for random or test weights: such numbers are never ranked), pairs and seed.
    """
    if lpips_status(net, weights) is not None:
        return {f"lpips_diversity_{net}": SKIPPED}, {"lpips_net": net, "lpips_official": False, "lpips_status": SKIPPED}
    model = load_lpips(net, weights, expected_sha256)
    value = lpips_diversity(samples, n_pairs, seed, model=model)
    if not math.isfinite(value):
        raise ValueError(f"LPIPS diversity is {value}; the samples or weights are broken")
    prov = model.provenance() | {"lpips_pairs": n_pairs, "lpips_seed": seed}
    return {f"lpips_diversity_{model.metric_suffix}": value}, prov
