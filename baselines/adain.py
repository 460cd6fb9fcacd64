"""Huang and Belongie 2017: arbitrary style transfer with adaptive instance normalisation."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines._style import StyleTransferBaseline
from genbench.baselines.base import BASELINES, Batch
from genbench.baselines.nets import seeded_init
from genbench.bench.spec import DataInfo, SpecError
from genbench.metrics.style import VggFeatures, mean_std

ENCODER_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # Huang and Belongie 2017, Sec. 6.2


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN(x, y) = σ(y) (x - μ(x)) / σ(x) + μ(y), per image and channel (eq. 8).

    content, style: float (B, C, H, W) and (B, C, H', W'); μ, σ over space (``mean_std``).
    """
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(f"adain needs the same (B, C), got {tuple(content.shape)} and {tuple(style.shape)}")
    c_mean, c_std = mean_std(content, eps)
    s_mean, s_std = mean_std(style, eps)
    return (content - c_mean) / c_std * s_std + s_mean


class Decoder(nn.Module):
    """relu4_1 features (B, 512, h, w) -> image float (B, 3, 8h, 8w) (unbounded; clipped when sampled).

    The encoder (VGG19 up to relu4_1) mirrored as in the authors' release: 3x3 convs with
    reflection padding and ReLU (none after the last), nearest x2 upsampling where the
    encoder pools, no normalisation layers (Sec. 6.1). Widths ch, ch/2, ch/4 (paper: 256, 128, 64).
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        c1, c2, c3 = ch, max(ch // 2, 1), max(ch // 4, 1)

        def conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
            return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)] + ([nn.ReLU(True)] if relu else [])

        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        self.net = nn.Sequential(
            *conv(512, c1), up(),
            *conv(c1, c1), *conv(c1, c1), *conv(c1, c1), *conv(c1, c2), up(),
            *conv(c2, c2), *conv(c2, c3), up(),
            *conv(c3, c3), *conv(c3, 3, relu=False),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.net(t)


@BASELINES.register("adain")
class AdaIN(StyleTransferBaseline):
    """Huang and Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization", ICCV 2017.

    A fixed VGG19 encoder f (up to relu4_1), an AdaIN layer that gives the content features
    the channel-wise mean and std of the style features, t = AdaIN(f(c), f(s)) (eq. 8), and a
    decoder g trained so that f(g(t)) matches t (content loss, eq. 12) and the means and stds
    of g(t)'s relu1_1, relu2_1, relu3_1, relu4_1 match the style image's (style loss, eq. 13),
    L = L_c + λ L_s with λ = 10; Adam, lr 1e-4, batches of 8 content-style pairs (Sec. 6.1).
    Any style image works at test time, in one forward pass; ``alpha`` (eq. 14) blends
    content and stylised features (1 = full style, the paper's default).

    As in the authors' released training code, the two losses are mean squared errors and the
    learning rate decays as lr / (1 + lr_decay · step) with lr_decay 5e-5; std is
    sqrt(var + 1e-5).

    Deviations: the encoder is torchvision's ImageNet VGG19 (the authors use a normalised
    Caffe VGG19); images are the dataset's size (64x64 on skimage-style; the paper trains on
    256 crops of 512 px MS-COCO and WikiArt images) and the styles are the dataset's few
    style images; decoder width ``dec_ch`` 256 is the paper's (``--set dec_ch=64`` for CPU).
    """

    paper = "Huang, Belongie. Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization. ICCV 2017"
    defaults: Mapping[str, Any] = {
        "batch_size": 8,
        "lr": 1e-4,
        "lr_decay": 5e-5,
        "style_weight": 10.0,
        "content_weight": 1.0,
        "alpha": 1.0,
        "dec_ch": 256,
        "vgg": "vgg19",
        "vgg_sha256": "",
    }

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """The decoder (initialised from ``generator``), its Adam optimizer and the VGG19 encoder."""
        size, _ = self.check_data(data)
        self.check_vgg_hparams(hp)
        if hp["vgg"] != "vgg19":
            raise SpecError(f"adain's encoder is VGG19 up to relu4_1 (vgg='vgg19'), got {hp['vgg']!r}")
        if hp["dec_ch"] < 4 or hp["lr"] <= 0 or hp["lr_decay"] < 0 or min(hp["style_weight"], hp["content_weight"]) < 0:
            raise SpecError("adain needs dec_ch >= 4, lr > 0, lr_decay >= 0 and weights >= 0")
        if not 0.0 <= hp["alpha"] <= 1.0:
            raise SpecError(f"adain alpha must lie in [0, 1], got {hp['alpha']}")
        if size % 8:
            raise SpecError(f"adain needs an image size divisible by 8 (three poolings to relu4_1), got {size}")
        with seeded_init(generator):
            self.decoder = Decoder(hp["dec_ch"])
        self.decoder.to(self.device)
        self.opt = torch.optim.Adam(self.decoder.parameters(), lr=hp["lr"])
        self.vgg = self.load_loss_vgg("vgg19", STYLE_LAYERS)
        self.steps = 0

    def loss_vggs(self) -> dict[str, VggFeatures]:
        return {"vgg": self.vgg}

    def encode_adain(self, content: torch.Tensor, style: torch.Tensor, alpha: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(t, style features): t = alpha AdaIN(f(c), f(s)) + (1 - alpha) f(c) (eq. 14)."""
        with torch.no_grad():
            f_c = self.vgg(content)[ENCODER_LAYER]
            f_s = self.vgg(style)
            t = adain(f_c, f_s[ENCODER_LAYER])
            t = alpha * t + (1.0 - alpha) * f_c
        return t, f_s

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One decoder update; returns 0-d tensors loss, content (L_c) and style (L_s)."""
        (batch,) = batches
        content, style = self.pairs(batch)
        for group in self.opt.param_groups:  # the released code's inverse-time decay
            group["lr"] = self.hp["lr"] / (1.0 + self.hp["lr_decay"] * self.steps)
        t, f_s = self.encode_adain(content, style, 1.0)
        g = self.decoder(t)
        f_g = self.vgg(g)
        l_c = F.mse_loss(f_g[ENCODER_LAYER], t)
        l_s = torch.zeros((), device=self.device)
        for layer in STYLE_LAYERS:
            (m_g, s_g), (m_s, s_s) = mean_std(f_g[layer]), mean_std(f_s[layer])
            l_s = l_s + F.mse_loss(m_g, m_s) + F.mse_loss(s_g, s_s)
        loss = self.hp["content_weight"] * l_c + self.hp["style_weight"] * l_s
        self.minimize(loss, self.opt)
        self.steps += 1
        return {"loss": loss.detach(), "content": l_c.detach(), "style": l_s.detach()}

    def stylize(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """g(alpha AdaIN(f(c), f(s)) + (1 - alpha) f(c)), one forward pass."""
        t, _ = self.encode_adain(content, style, self.hp["alpha"])
        return self.decoder(t)

    def train(self) -> None:
        self.decoder.train()

    def eval(self) -> None:
        self.decoder.eval()

    def state_dict(self) -> dict[str, Any]:
        """Decoder, optimizer, step counter and the VGG's hash."""
        return {"decoder": self.decoder.state_dict(), "opt": self.opt.state_dict(), "steps": self.steps,
                "vgg": self.vgg_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_vgg_state(state["vgg"])
        self.decoder.load_state_dict(state["decoder"])
        self.opt.load_state_dict(state["opt"])
        self.steps = int(state["steps"])
