"""Johnson, Alahi and Fei-Fei 2016: feed-forward style transfer, one network per style image."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines._style import StyleTransferBaseline
from genbench.baselines.base import BASELINES, Batch
from genbench.baselines.nets import seeded_init, to_uint8, to_uint8_on_device
from genbench.bench.spec import DataInfo, SpecError
from genbench.metrics.style import VggFeatures, gram_matrix

NORMS = ("instance", "batch")
CONTENT_LAYER = "relu2_2"  # Johnson et al. 2016, Sec. 4.2
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CHECK_EVERY = 50  # train steps between reads of the on-device style-image check (as the loop's NaN check)


def _different_images(k: int) -> ValueError:
    return ValueError(
        f"fast-style: style index {k} came with different style images; fast-style trains one "
        "network per style image, so each index must always carry the same image"
    )


def _norm(kind: str, ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=True) if kind == "instance" else nn.BatchNorm2d(ch)


class ConvLayer(nn.Sequential):
    """Reflection padding, then a convolution; with ``upsample`` a nearest x2 upsampling first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: bool = False) -> None:
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convs with normalisation, ReLU between, plus the input (Gross and Wilber 2016)."""

    def __init__(self, ch: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(ch, ch, 3), _norm(norm, ch), nn.ReLU(True), ConvLayer(ch, ch, 3), _norm(norm, ch)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """Image float (B, 3, H, W) in [-1, 1] -> stylised image float (B, 3, H, W) in (-1, 1).

    Johnson et al.'s image transformation network (supplementary, Table 1): 9x9 conv (ch),
    two stride-2 3x3 convs (2ch, 4ch), ``n_res`` residual blocks (4ch), two x2 upsampling 3x3
    convs (2ch, ch), 9x9 conv to 3 channels and a tanh (the paper's scaled tanh, here onto
    [-1, 1]); normalisation and ReLU after every conv but the last. H and W must be multiples of 4.
    """

    def __init__(self, ch: int, n_res: int, norm: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, k, s in ((3, ch, 9, 1), (ch, 2 * ch, 3, 2), (2 * ch, 4 * ch, 3, 2)):
            layers += [ConvLayer(c_in, c_out, k, s), _norm(norm, c_out), nn.ReLU(True)]
        layers += [ResidualBlock(4 * ch, norm) for _ in range(n_res)]
        for c_in, c_out in ((4 * ch, 2 * ch), (2 * ch, ch)):
            layers += [ConvLayer(c_in, c_out, 3, upsample=True), _norm(norm, c_out), nn.ReLU(True)]
        layers += [ConvLayer(ch, 3, 9)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))


@BASELINES.register("fast-style")
class FastStyle(StyleTransferBaseline):
    """Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", ECCV 2016.

    One image transformation network per style image, trained to minimise perceptual losses
    from a frozen VGG16: feature reconstruction at relu2_2 and style (Gram) reconstruction at
    relu1_2, relu2_2, relu3_3, relu4_3 (Sec. 3.2, 4.2), with Grams normalised by C·H·W; Adam,
    lr 1e-3, 4 content images per batch (Sec. 4.2). At test time one forward pass per image.

    On a style dataset (``genbench.bench.style_data``), whose pairs combine every content
    patch with each of S fixed style images (``Batch.y`` = style index), the model holds S
    independent networks. Each step trains every network whose style image it has seen on
    all of the batch's content images (so each network sees ``batch_size`` contents per
    update, the paper's batch); a network learns its style image from the first pair that
    carries its index. ``sample`` routes each pair to the network of its style image by exact
    match and refuses a style it was not trained on (a fast-style network knows one style).

    Loss weights and details follow PyTorch's reference implementation of this paper
    (pytorch/examples ``fast_neural_style``), which uses the same torchvision VGG16 and input
    normalisation as genbench: content_weight 1e5, style_weight 1e10, squared errors averaged
    over elements (MSE) for features and Grams, reflection padding, nearest-neighbour x2
    upsampling followed by a conv instead of fractionally strided convs (Odena et al. 2016,
    avoids checkerboard artifacts), instance normalisation (Ulyanov et al. 2016), no total
    variation term (``tv_weight``; the paper uses 1e-6 to 1e-4 on 0-255 images).

    Deviations: ``--set norm=batch`` restores the paper's batch normalisation; images are the
    dataset's (64x64 for skimage-style, the paper trains on 256x256 COCO crops); width ch 32
    and 5 residual blocks are the paper's.
    """

    paper = "Johnson, Alahi, Fei-Fei. Perceptual Losses for Real-Time Style Transfer and Super-Resolution. ECCV 2016"
    # each rank would learn the styles its own slice shows and train a different set of networks,
    # so the ranks' gradient all-reduces would not match (they failed with a collective mismatch)
    data_parallel_refusal = ("it learns its style images from the batches, and each rank would learn those of "
                             "its own slice and train a different set of networks")
    defaults: Mapping[str, Any] = {
        "batch_size": 4,
        "lr": 1e-3,
        "ch": 32,
        "n_res": 5,
        "norm": "instance",
        "content_weight": 1e5,
        "style_weight": 1e10,
        "tv_weight": 0.0,
        "vgg": "vgg16",
        "vgg_sha256": "",
    }

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """S transformation networks (S = the dataset's number of styles), Adam each, the VGG."""
        size, n_styles = self.check_data(data)
        self.check_vgg_hparams(hp)
        if n_styles < 1:
            raise SpecError(f"fast-style needs a style dataset whose num_classes counts its styles; {data.name!r} has none")
        if hp["norm"] not in NORMS:
            raise SpecError(f"fast-style norm must be one of {NORMS}, got {hp['norm']!r}")
        if hp["ch"] < 1 or hp["n_res"] < 0 or hp["lr"] <= 0 or min(hp["content_weight"], hp["style_weight"], hp["tv_weight"]) < 0:
            raise SpecError("fast-style needs ch >= 1, n_res >= 0, lr > 0 and weights >= 0")
        if size % 4:
            raise SpecError(f"fast-style needs an image size divisible by 4 (two stride-2 convs), got {size}")
        with seeded_init(generator):
            self.nets = nn.ModuleList([TransformNet(hp["ch"], hp["n_res"], hp["norm"]) for _ in range(n_styles)])
        self.nets.to(self.device)
        self.opts = [torch.optim.Adam(net.parameters(), lr=hp["lr"]) for net in self.nets]
        self.style_refs = torch.zeros(n_styles, 3, size, size, dtype=torch.uint8)
        self.seen = torch.zeros(n_styles, dtype=torch.bool)
        self.vgg = self.load_loss_vgg(hp["vgg"], tuple(dict.fromkeys((CONTENT_LAYER, *STYLE_LAYERS))))
        self.steps = 0
        self._forget_caches()

    def _forget_caches(self) -> None:
        """Derived from style_refs: each learnt style's Gram targets (the VGG is frozen, so they are
        computed once), and, once every style is known, the device copy of the style images and the
        per-index count of batches whose image differed, checked every CHECK_EVERY steps."""
        self._grams: dict[int, dict[str, torch.Tensor]] = {}
        self._refs_device: torch.Tensor | None = None
        self._mismatch: torch.Tensor | None = None

    def loss_vggs(self) -> dict[str, VggFeatures]:
        return {"vgg": self.vgg}

    # -- training -----------------------------------------------------------------
    def _learn_styles(self, style: torch.Tensor, y: torch.Tensor) -> None:
        """Record each style index's image on first sight; the same index must keep its image.

        Until every style is known this reads the batch back (which networks train depends on it);
        after that the comparison stays on the device and is read every CHECK_EVERY steps (and
        before a checkpoint or a stylisation), so a train step does not wait for the GPU. The
        training loop has checked that the labels lie in [0, S)."""
        if bool(self.seen.all()):  # a CPU tensor: no device read
            if self._refs_device is None:
                self._refs_device = self.style_refs.to(self.device)
                self._mismatch = torch.zeros(len(self.nets), dtype=torch.int64, device=self.device)
            differs = (to_uint8_on_device(style) != self._refs_device[y]).flatten(1).any(1)
            self._mismatch.index_add_(0, y, differs.long())
            if self.steps % CHECK_EVERY == 0:
                self._check_styles()
            return
        images = to_uint8(style)
        for k in torch.unique(y).tolist():
            if not 0 <= k < len(self.nets):
                raise ValueError(f"fast-style: style index {k} outside [0, {len(self.nets)})")
            mine = images[(y == k).cpu()]
            if not self.seen[k]:
                self.style_refs[k], self.seen[k] = mine[0], True
            if not bool((mine == self.style_refs[k]).all()):
                raise _different_images(k)

    def _check_styles(self) -> None:
        """Raise for an index that came with another image since the device check began."""
        if self._mismatch is not None:
            bad = torch.nonzero(self._mismatch).flatten().tolist()
            if bad:
                raise _different_images(bad[0])

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One Adam update of every network whose style is known, on all of the batch's contents.

        Returns 0-d tensors averaged over the updated networks: loss, content, style.
        """
        (batch,) = batches
        content, style = self.pairs(batch)
        if batch.y is None:
            raise ValueError("fast-style needs each pair's style index in Batch.y (the style datasets provide it)")
        self._learn_styles(style, batch.y)
        hp = self.hp
        with torch.no_grad():
            target = self.vgg(content)[CONTENT_LAYER]
        totals = {"loss": [], "content": [], "style": []}
        for k in torch.nonzero(self.seen).flatten().tolist():
            grams = self._grams.get(k)
            if grams is None:
                with torch.no_grad():
                    ref = self.style_refs[k : k + 1].to(self.device).float() / 127.5 - 1.0
                    grams = self._grams[k] = {l: gram_matrix(f) for l, f in self.vgg(ref).items() if l in STYLE_LAYERS}
            out = self.nets[k](content)
            feats = self.vgg(out)
            l_content = hp["content_weight"] * F.mse_loss(feats[CONTENT_LAYER], target)
            l_style = hp["style_weight"] * sum(
                F.mse_loss(gram_matrix(feats[l]), grams[l].expand(len(out), -1, -1)) for l in STYLE_LAYERS
            )
            loss = l_content + l_style
            if hp["tv_weight"] > 0:
                tv = (out[..., 1:, :] - out[..., :-1, :]).abs().mean() + (out[..., 1:] - out[..., :-1]).abs().mean()
                loss = loss + hp["tv_weight"] * tv
            self.minimize(loss, self.opts[k])
            for key, v in (("loss", loss), ("content", l_content), ("style", l_style)):
                totals[key].append(v.detach())
        self.steps += 1
        return {k: torch.stack(v).mean() for k, v in totals.items() if v}

    # -- sampling -----------------------------------------------------------------
    def route(self, style: torch.Tensor) -> torch.Tensor:
        """int64 (B,): the network index of each style image (exact match); ValueError if unseen."""
        self._check_styles()
        images = to_uint8(style)
        match = (images[:, None] == self.style_refs[None]).flatten(2).all(2) & self.seen[None]
        known = match.any(1)
        if not bool(known.all()):
            raise ValueError(
                f"fast-style has one network per training style image (Johnson et al. 2016); {int((~known).sum())} of "
                f"{len(images)} style images are none of the {int(self.seen.sum())} it was trained on"
            )
        return match.float().argmax(1)

    def stylize(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each content through the network of its style image (one forward pass)."""
        which = self.route(style).to(self.device)
        out = torch.empty_like(content)
        for k in torch.unique(which).tolist():
            sel = which == k
            out[sel] = self.nets[k](content[sel])
        return out

    def train(self) -> None:
        self.nets.train()

    def eval(self) -> None:
        self.nets.eval()

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, learnt style images, step counter and the VGG's hash."""
        self._check_styles()
        return {
            "nets": self.nets.state_dict(), "opts": [o.state_dict() for o in self.opts],
            "style_refs": self.style_refs.clone(), "seen": self.seen.clone(), "steps": self.steps,
            "vgg": self.vgg_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_vgg_state(state["vgg"])
        self.nets.load_state_dict(state["nets"])
        for opt, s in zip(self.opts, state["opts"], strict=True):
            opt.load_state_dict(s)
        self.style_refs.copy_(state["style_refs"])
        self.seen.copy_(state["seen"])
        self.steps = int(state["steps"])
        self._forget_caches()
