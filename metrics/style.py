"""Neural style transfer: VGG features loaded offline, Gram matrices, content and style losses,
and the metrics of a style-transfer row.

VGG weights are torchvision's ImageNet files (``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``;
the names and URLs come from ``torchvision.models.VGG*_Weights``). genbench never downloads
them: the file is looked up, like LPIPS's backbone (``metrics/lpips_metrics.py``), at the
explicit ``weights`` path, else ``$GENBENCH_WEIGHTS_DIR/<file>``, else
``<torch hub dir>/checkpoints/<file>`` (where torchvision itself stores it). torchvision
publishes the first 8 hex digits of each file's sha256 (in its name) and torch.hub checks
exactly that prefix; so does genbench. Any other file must be named by its full hash
(``expected_sha256=``): its numbers are then named ``*_<net>-custom``, flagged
``official: False`` and never ranked. With no file at all, ``vgg_status`` returns the marker
``"skipped: weights absent"`` that rows carry instead of numbers.

Only the ``features.<i>.*`` convolutions up to the deepest layer asked for are built (with
torchvision's own ``make_layers``) and loaded, so a file may hold just that prefix (tests save
a randomly initialised prefix with ``save_random_vgg``). Layers are named by torchvision's
module order: conv1_1, relu1_1, ..., pool1, conv2_1, ... (VGG19: relu4_2 is ``features.22``).

Images: float (N, 3, H, W) in [-1, 1] (the baselines' convention), mapped to [0, 1] and
normalised with ImageNet's mean and std before the first convolution.

The metrics (the style-transfer protocol of the rows; VGG19, as in Gatys et al. 2016):

- ``content_loss_<vgg>``: mean over pairs of the mean squared difference between the relu4_2
  maps of output and content image (Gatys et al.'s content layer; their eq. 1 divided by
  N·M/2 so that it does not grow with the image size).
- ``style_loss_<vgg>``: mean over pairs of Gatys et al.'s eq. 5, sum over relu1_1, relu2_1,
  relu3_1, relu4_1, relu5_1 of w_l·E_l with w_l = 1/5 and
  E_l = 1/(4 N_l² M_l²) Σ (G_l - A_l)², G = F Fᵀ of output, A of the style image; written
  with normalised Grams Ĝ = F Fᵀ / (N_l M_l) (Johnson et al.'s normalisation) this is
  E_l = ¼ Σ (Ĝ_l - Â_l)².
- ``lpips_content_<net>``: LPIPS (AlexNet, ``metrics/lpips_metrics``) between output and
  content image; ``"skipped: weights absent"`` without the AlexNet file. ``<net>`` is
  'alex-custom' when the AlexNet backbone is not torchvision's file or the row is custom
  (``custom=True``: a VGG of the model is custom), and such a number gets no direction in
  ``higher_is_better``: it is shown, never ranked or gated (as LPIPS diversity and paired LPIPS,
  ``bench/runner.py``, ``metrics/translation.py``).
- ``ms_per_image``: measured by the harness (``bench/style_data.py``), not here.

>>> import torch
>>> f = torch.ones(1, 2, 3, 3)
>>> gram_matrix(f)                       # F Fᵀ / (C H W): 9 / 18
tensor([[[0.5000, 0.5000],
         [0.5000, 0.5000]]])
>>> vgg_status("vgg19", weights="/nonexistent/vgg19.pth")
'skipped: weights absent'
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from genbench.metrics.extractors import WEIGHTS_DIR_ENV, hub_checkpoints_dir, sha256_file
from genbench.metrics.lpips_metrics import SKIPPED

__all__ = [
    "SKIPPED", "VGG_NETS", "VggSpec", "VggFeatures", "VggWeightsError", "CONTENT_LAYER", "STYLE_LAYERS",
    "vgg_candidates", "find_vgg", "vgg_status", "load_vgg", "save_random_vgg", "gram_matrix", "mean_std",
    "content_loss", "gram_loss", "split_pairs", "join_pairs", "check_pairs", "style_losses", "style_metrics",
]

CONTENT_LAYER = "relu4_2"  # Gatys et al. 2016, Sec. 3
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys et al. 2016, Fig. 2
METRIC_NET = "vgg19"


class VggWeightsError(RuntimeError):
    """VGG weights are missing, damaged or unofficial; the message says which file and what to do."""


def _layer_names(cfg: Sequence[int | str]) -> list[str]:
    """Module names of torchvision's ``make_layers(cfg)`` in order: conv1_1, relu1_1, ..., pool1, ..."""
    names, block, k = [], 1, 0
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block, k = block + 1, 0
        else:
            k += 1
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
    return names


@dataclass(frozen=True)
class VggSpec:
    """One torchvision VGG: its ``cfgs`` key, weights enum, file name and published sha256 prefix."""

    name: str
    cfg_key: str
    weights_enum: str

    @functools.cached_property
    def _weights(self) -> Any:
        import torchvision.models as tvm

        return getattr(tvm, self.weights_enum).IMAGENET1K_V1

    @property
    def url(self) -> str:
        return self._weights.url

    @property
    def file(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def sha256_prefix(self) -> str:
        return self.file.rsplit("-", 1)[1].split(".")[0]

    @property
    def cfg(self) -> list[int | str]:
        from torchvision.models.vgg import cfgs

        return list(cfgs[self.cfg_key])

    @property
    def layer_names(self) -> list[str]:
        return _layer_names(self.cfg)

    def index(self, layer: str) -> int:
        names = self.layer_names
        if layer not in names:
            raise ValueError(f"{self.name} has no layer {layer!r}; its layers are {', '.join(names)}")
        return names.index(layer)


VGG_NETS: dict[str, VggSpec] = {
    "vgg16": VggSpec("vgg16", "D", "VGG16_Weights"),
    "vgg19": VggSpec("vgg19", "E", "VGG19_Weights"),
}


def _spec(net: str) -> VggSpec:
    if net not in VGG_NETS:
        raise ValueError(f"unknown VGG {net!r}; choose one of {sorted(VGG_NETS)}")
    return VGG_NETS[net]


# --- finding and checking the weights file ------------------------------------------------
def vgg_candidates(net: str = METRIC_NET, weights: str | Path | None = None) -> list[Path]:
    """Where the weights file is looked for, in order (explicit path, env dir, torch hub cache)."""
    spec = _spec(net)
    if weights is not None:
        return [Path(weights)]
    env = [Path(os.environ[WEIGHTS_DIR_ENV]) / spec.file] if os.environ.get(WEIGHTS_DIR_ENV) else []
    return env + [hub_checkpoints_dir() / spec.file]


def find_vgg(net: str = METRIC_NET, weights: str | Path | None = None) -> Path | None:
    """The first existing file among ``vgg_candidates``, or None."""
    return next((p for p in vgg_candidates(net, weights) if p.is_file()), None)


def vgg_status(net: str = METRIC_NET, weights: str | Path | None = None) -> str | None:
    """None when the weights file is present, else ``SKIPPED`` ('skipped: weights absent')."""
    return None if find_vgg(net, weights) is not None else SKIPPED


def absent_message(net: str, weights: str | Path | None = None) -> str:
    """What was searched, what the file is, and how to get it."""
    spec = _spec(net)
    where = "\n".join(f"    {p}" for p in vgg_candidates(net, weights))
    return (
        f"VGG weights {spec.file} not found; looked in:\n{where}\n"
        f"It is torchvision's ImageNet {spec.name} file (sha256 starts with {spec.sha256_prefix}), "
        f"published at {spec.url}. genbench never downloads: fetch it once, e.g. "
        f"`curl -L --create-dirs -o {hub_checkpoints_dir() / spec.file} {spec.url}`, or copy it to "
        f"${WEIGHTS_DIR_ENV}/{spec.file}, or pass its path (--weights / weights=...)."
    )


@functools.lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached while its size and modification time stay the same."""
    st = Path(path).stat()
    return _cached_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def check_vgg_file(net: str, path: Path, expected_sha256: str | None) -> tuple[str, bool]:
    """Return (sha256, official) of the file or raise VggWeightsError saying what to do."""
    spec = _spec(net)
    digest = file_sha256(path)
    official = digest.startswith(spec.sha256_prefix)
    if expected_sha256:
        if digest != expected_sha256.strip().lower():
            raise VggWeightsError(
                f"VGG weights {path} have sha256 {digest}, but the expected sha256 is {expected_sha256}; "
                "pass the right file or its actual hash"
            )
    elif not official:
        raise VggWeightsError(
            f"VGG weights {path} have sha256 {digest}, which is not torchvision's {spec.file} (sha256 starting "
            f"{spec.sha256_prefix}, published at {spec.url}). Replace it with that file, or to use it as custom "
            f"weights pass its hash ('{digest}'; numbers are then named *_{spec.name}-custom and never ranked)"
        )
    return digest, official


# --- the network --------------------------------------------------------------------------
def _vgg_prefix(spec: VggSpec, last: int) -> nn.Sequential:
    """torchvision's ``make_layers`` for the shortest cfg prefix that reaches module ``last``, cut there."""
    from torchvision.models.vgg import make_layers

    cfg, modules = [], 0
    for v in spec.cfg:
        if modules > last:
            break
        cfg.append(v)
        modules += 1 if v == "M" else 2
    return make_layers(cfg)[: last + 1]


class VggFeatures(nn.Module):
    """torchvision VGG convolutions up to the deepest of ``layers``; frozen, eval mode.

    Built without weights (on the meta device): ``load_torchvision_state`` gives it its
    tensors (``load_vgg`` does this after checking the file).

    forward: float (N, 3, H, W) in [-1, 1] -> {layer: float (N, C_l, H_l, W_l)} for ``layers``.
    pool: 'max' (torchvision) or 'avg' (Gatys et al. 2016 replace max- by average-pooling).
    Attributes: net, sha256, official, suffix ('vgg19' or 'vgg19-custom'), path.
    """

    def __init__(self, net: str, layers: Iterable[str], pool: str = "max") -> None:
        super().__init__()
        spec = _spec(net)
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise ValueError("VggFeatures needs at least one layer name")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        self.indices = {name: spec.index(name) for name in self.layers}
        last = max(self.indices.values())
        with torch.device("meta"):  # no init, no global RNG draw: the weights come from a file
            body = _vgg_prefix(spec, last)
        if pool == "avg":
            body = nn.Sequential(*[nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in body])
        self.body = body
        self.net, self.pool = spec.name, pool
        self.sha256: str | None = None
        self.official = False
        self.path: Path | None = None
        from torchvision.models import VGG19_Weights

        tf = VGG19_Weights.IMAGENET1K_V1.transforms()  # the same ImageNet statistics for VGG16 and VGG19
        self.register_buffer("mean", torch.tensor(tf.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(tf.std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    @property
    def suffix(self) -> str:
        return self.net if self.official else f"{self.net}-custom"

    def conv_keys(self) -> list[str]:
        """The ``features.<i>.weight/bias`` keys this prefix needs from a torchvision state dict."""
        return [f"features.{i}.{p}" for i, m in enumerate(self.body) if isinstance(m, nn.Conv2d) for p in ("weight", "bias")]

    def load_torchvision_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load ``features.<i>.*`` tensors of a torchvision VGG state dict (other keys are ignored)."""
        missing = [k for k in self.conv_keys() if k not in state]
        if missing:
            raise KeyError(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        tensors = {k[len("features."):]: state[k].clone() for k in self.conv_keys()}  # clone: off any file mapping
        self.body.load_state_dict(tensors, strict=True, assign=True)
        self.body.requires_grad_(False)

    def train(self, mode: bool = True) -> "VggFeatures":  # always eval: a frozen loss network
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(f"VGG input must be float (N, 3, H, W) in [-1, 1], got {x.dtype} {tuple(x.shape)}")
        h = ((x + 1.0) * 0.5 - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        want = {i: name for name, i in self.indices.items()}
        last = max(want)
        for i, module in enumerate(self.body):
            h = module(h)
            if i in want:
                out[want[i]] = h
            if i == last:
                break
        return out


def load_vgg(
    net: str,
    layers: Iterable[str],
    weights: str | Path | None = None,
    expected_sha256: str | None = None,
    device: str | torch.device = "cpu",
    pool: str = "max",
) -> VggFeatures:
    """A frozen VggFeatures for ``layers`` with checked weights (see the module docstring).

    Raises VggWeightsError when the file is absent (naming the file, its hash prefix, the URL
    it is published at and where to put it), unofficial without ``expected_sha256``, of the
    wrong hash, or not a torchvision VGG state dict.
    """
    spec = _spec(net)
    module = VggFeatures(net, layers, pool)
    path = find_vgg(net, weights)
    if path is None:
        raise VggWeightsError(absent_message(net, weights))
    digest, official = check_vgg_file(net, path, expected_sha256)
    try:
        try:  # memory-mapped: only the convolutions asked for are read, not the 400 MB classifier
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise TypeError(f"the file holds a {type(state).__name__}, not a state dict")
        module.load_torchvision_state(state)
    except Exception as e:  # noqa: BLE001 - every load failure gets the same advice
        raise VggWeightsError(
            f"could not load VGG weights {path} into {spec.name}: {e}; the file must be torchvision's "
            f"{spec.file} state dict (keys features.<i>.weight/bias)"
        ) from e
    module.sha256, module.official, module.path = digest, official, path
    return module.to(device)


def save_random_vgg(net: str, path: str | Path, seed: int = 0, last_layer: str | None = None) -> str:
    """Write a randomly initialised VGG ``features`` state dict; returns the file's sha256.

    torchvision's VGG init (Kaiming normal, fan_out, ReLU gain; biases 0), drawn from a
    generator seeded with ``seed`` (the global RNG is untouched). For tests and offline smoke
    runs: the hash is not torchvision's, so numbers made with it are custom (``*-custom``,
    never ranked). ``last_layer`` keeps only the prefix up to that layer (a smaller file).
    Written atomically.
    """
    import io

    from genbench.bench.results import atomic_write_bytes  # a file-writing helper, not a metric

    spec = _spec(net)
    last = spec.index(last_layer) if last_layer else len(spec.layer_names) - 1
    with torch.device("meta"):
        body = _vgg_prefix(spec, last)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, m in enumerate(body):
        if isinstance(m, nn.Conv2d):
            c_out, c_in, kh, kw = m.weight.shape
            state[f"features.{i}.weight"] = torch.randn(c_out, c_in, kh, kw, generator=g) * math.sqrt(2.0 / (c_out * kh * kw))
            state[f"features.{i}.bias"] = torch.zeros(c_out)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    return sha256_file(Path(path))


# --- statistics and losses ----------------------------------------------------------------
def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """float (B, C, H, W) features -> (B, C, C) Gram matrices F Fᵀ / (C H W) (Johnson et al. 2016)."""
    if f.dim() != 4:
        raise ValueError(f"gram_matrix expects (B, C, H, W) features, got shape {tuple(f.shape)}")
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and std over space: (B, C, H, W) -> two (B, C, 1, 1).

    std = sqrt(biased variance + eps), as in AdaIN's released code (Huang & Belongie 2017).
    """
    if f.dim() != 4:
        raise ValueError(f"mean_std expects (B, C, H, W) features, got shape {tuple(f.shape)}")
    var = f.var(dim=(2, 3), keepdim=True, unbiased=False)
    return f.mean(dim=(2, 3), keepdim=True), (var + eps).sqrt()


def content_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference of two (B, C, H, W) feature maps -> (B,)."""
    if a.shape != b.shape:
        raise ValueError(f"content_loss needs features of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return (a - b).pow(2).flatten(1).mean(1)


def gram_loss(ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    """Gatys et al.'s E_l from normalised Grams: ¼ Σ (Ĝa - Ĝb)² per image, (B, C, C) -> (B,)."""
    if ga.shape != gb.shape:
        raise ValueError(f"gram_loss needs Grams of one shape, got {tuple(ga.shape)} and {tuple(gb.shape)}")
    return 0.25 * (ga - gb).pow(2).flatten(1).sum(1)


# --- content|style pairs (the style datasets' storage) --------------------------------------
def check_pairs(x: torch.Tensor, name: str = "pairs") -> None:
    """Raise ValueError unless ``x`` is (N, 3, H, 2H): content (left half) | style (right half)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3 or x.shape[3] != 2 * x.shape[2]:
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must be content|style pairs side by side, (N, 3, H, 2H) (content left, style right, "
            f"as the style datasets store them: bench/style_data.py), got {got}"
        )


def split_pairs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, 2H) pairs -> content (N, 3, H, H), style (N, 3, H, H); any dtype."""
    check_pairs(x)
    w = x.shape[3] // 2
    return x[..., :w], x[..., w:]


def join_pairs(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Inverse of ``split_pairs``: two (N, 3, H, H) -> (N, 3, H, 2H)."""
    if content.shape != style.shape or content.dim() != 4 or content.shape[2] != content.shape[3]:
        raise ValueError(f"join_pairs needs two (N, 3, H, H) tensors of one shape, got {tuple(content.shape)} and {tuple(style.shape)}")
    return torch.cat([content, style], dim=3)


def _to_unit(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 in [-1, 1]."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be uint8 (N, 3, H, W) images, got {got}")
    return images.float() / 127.5 - 1.0


def style_losses(
    vgg: VggFeatures, outputs: torch.Tensor, contents: torch.Tensor, styles: torch.Tensor, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair content and style losses of the protocol (module docstring), float64 (N,) each.

    outputs, contents, styles: uint8 (N, 3, H, W) with one shape. ``vgg`` must provide
    CONTENT_LAYER and STYLE_LAYERS. Values do not depend on ``batch_size``.
    """
    if not (outputs.shape == contents.shape == styles.shape):
        raise ValueError(
            f"outputs, contents and styles must have one shape, got {tuple(outputs.shape)}, "
            f"{tuple(contents.shape)}, {tuple(styles.shape)}"
        )
    if outputs.shape[0] == 0:
        raise ValueError("style_losses got 0 images; pass at least one pair")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    need = {CONTENT_LAYER, *STYLE_LAYERS}
    if not need <= set(vgg.layers):
        raise ValueError(f"the metric VGG must provide {sorted(need)}, it has {list(vgg.layers)}")
    device = vgg.mean.device
    c_out, s_out = [], []
    with torch.no_grad():
        for i in range(0, outputs.shape[0], batch_size):
            o, c, s = (_to_unit(t[i : i + batch_size], n).to(device) for t, n in
                       ((outputs, "outputs"), (contents, "contents"), (styles, "styles")))
            fo, fc, fs = vgg(o), vgg(c), vgg(s)
            c_out.append(content_loss(fo[CONTENT_LAYER].double(), fc[CONTENT_LAYER].double()).cpu())
            e = [gram_loss(gram_matrix(fo[l].double()), gram_matrix(fs[l].double())) for l in STYLE_LAYERS]
            s_out.append((torch.stack(e, 1).sum(1) / len(STYLE_LAYERS)).cpu())
    return torch.cat(c_out), torch.cat(s_out)


def style_metrics(
    outputs: torch.Tensor,
    contents: torch.Tensor,
    styles: torch.Tensor,
    vgg: VggFeatures,
    lpips_model: Any | None = None,
    lpips_net: str = "alex",
    batch_size: int = 16,
    custom: bool = False,
) -> tuple[dict[str, float | str], dict[str, bool]]:
    """Row metrics of stylised ``outputs`` for their (content, style) pairs: (values, higher_is_better).

    values: ``content_loss_<vgg>``, ``style_loss_<vgg>`` (means over pairs) and
    ``lpips_content_<net>`` (mean LPIPS to the content image, from ``lpips_model``, a loaded
    ``LpipsModel``; ``"skipped: weights absent"`` when it is None). All lower is better.
    ``<vgg>`` is e.g. 'vgg19', or 'vgg19-custom' when the VGG is not torchvision's file or
    ``custom`` says the outputs came from a model trained with custom weights; ``<net>`` is
    'alex', or 'alex-custom' when the LPIPS backbone is unofficial or ``custom`` is set, and
    then LPIPS has no entry in higher_is_better (a custom-weight LPIPS is never ranked).
    """
    from genbench.metrics.lpips_metrics import lpips_distance

    c, s = style_losses(vgg, outputs, contents, styles, batch_size)
    suffix = f"{vgg.net}-custom" if custom else vgg.suffix
    values: dict[str, float | str] = {
        f"content_loss_{suffix}": float(c.mean()),
        f"style_loss_{suffix}": float(s.mean()),
    }
    unranked: set[str] = set()
    if lpips_model is None:
        values[f"lpips_content_{lpips_net}"] = SKIPPED
    else:
        official = bool(lpips_model.official) and not custom
        key = f"lpips_content_{lpips_model.metric_suffix if official else f'{lpips_model.net}-custom'}"
        values[key] = float(lpips_distance(outputs, contents, model=lpips_model, batch_size=batch_size).double().mean())
        if not official:
            unranked.add(key)
    for k, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{k} is {v}; the outputs or the weights are broken")
    return values, {k: False for k in values if k not in unranked}
