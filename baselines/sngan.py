"""SNGAN (Miyato et al. 2018): spectrally normalised discriminator, hinge loss."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.baselines.base import BASELINES, TaskKind
from genbench.baselines.nets import init_dcgan_
from genbench.baselines.wgan import CriticGAN
from genbench.bench.spec import DataInfo, SpecError

LOSSES = ("hinge", "ns")


class StandardCNNCritic(nn.Module):
    """images float32 (B, C, S, S) in [-1, 1] -> scores float32 (B,).

    The "standard CNN" discriminator of Miyato et al. 2018 (Table 3b): convs 3x3/1 ch,
    4x4/2 ch, 3x3/1 2ch, 4x4/2 2ch, 3x3/1 4ch, 4x4/2 4ch, 3x3/1 8ch (padding 1), each followed
    by LeakyReLU(0.1), then a dense layer to one score; ch = 64 in the paper. Spatial size
    S -> S/8 (rounded down: 32 -> 4, 28 -> 3, 64 -> 8). With ``sn`` every conv / dense weight
    is spectrally normalised with one power iteration per forward in training mode; the
    power-iteration vectors ``u``, ``v`` are buffers, so they are in ``state_dict`` and a
    resumed run continues them exactly.
    """

    def __init__(self, shape: tuple[int, int, int], ch: int, slope: float = 0.1, sn: bool = True) -> None:
        super().__init__()
        c, size, _ = shape
        widths = (ch, ch, 2 * ch, 2 * ch, 4 * ch, 4 * ch, 8 * ch)
        layers: list[nn.Module] = []
        d, s = c, size
        for i, w in enumerate(widths):
            k, stride = (3, 1) if i % 2 == 0 else (4, 2)
            layers += [nn.Conv2d(d, w, k, stride, 1), nn.LeakyReLU(slope, True)]
            d, s = w, (s + 2 - k) // stride + 1
        if s < 1:
            raise ValueError(f"image size {size} is too small for the standard CNN critic")
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(d * s * s, 1)
        self.sn = sn

    def apply_spectral_norm(self) -> "StandardCNNCritic":
        """Wrap every conv / dense weight in spectral_norm (call after initialising weights:
        the power-iteration vectors start from the weights present at that moment)."""
        if self.sn:
            for i, m in enumerate(self.features):
                if isinstance(m, nn.Conv2d):
                    self.features[i] = spectral_norm(m)
            self.fc = spectral_norm(self.fc)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1)).view(x.shape[0])


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """mean relu(1 - D(x)) + mean relu(1 + D(G(z))) (Miyato et al. 2018, eq. 17)."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


@BASELINES.register("sngan")
class SNGAN(CriticGAN):
    """SN-GAN, Miyato, Kataoka, Koyama and Yoshida, "Spectral Normalization for Generative
    Adversarial Networks", ICLR 2018.

    Spectral normalisation (sec. 2.1, Alg. 1): every weight of D divided by its largest
    singular value, estimated with one power iteration per update. Loss 'hinge' (default,
    eq. 17: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))]; the
    paper's best standard-CNN scores in Table 2 use it) or 'ns' (the non-saturating loss of
    eq. 3 / DCGAN).

    Optimiser (sec. 4): Adam. The default, lr 2e-4, betas (0.5, 0.999), n_dis = 1, is the
    Radford et al. (DCGAN) setting, one of the six optimizer settings of Table 1 that the
    paper sweeps for the standard CNN. Its ResNet experiments use lr 2e-4, betas (0, 0.9),
    n_dis = 5 (``--set beta1=0 --set beta2=0.9 --set n_dis=5``). Batch 64; z ~ N(0, I_128).

    Networks: D is the paper's standard CNN (Table 3b) with width ``ndf`` (paper 64); G is
    DCGAN's generator with width ``ngf`` (the paper's standard-CNN generator, Table 3a, is the
    same DCGAN-style stack for 32x32; DCGAN's stack also covers 28x28). DCGAN's N(0, 0.02)
    init before normalisation. Deviation: ngf = ndf = 32 for CPU speed
    (``--set ndf=64 --set ngf=64`` restores the paper's D width). ema_kimg > 0 samples from
    an EMA of G (not in the paper).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Miyato, Kataoka, Koyama, Yoshida. Spectral Normalization for Generative Adversarial Networks. ICLR 2018"
    name = "sngan"
    n_critic_key = "n_dis"
    defaults: Mapping[str, Any] = {
        "batch_size": 64,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "n_dis": 1,
        "loss": "hinge",
        "z_dim": 128,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "ema_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}

    def _check(self, hp: Mapping[str, Any], data: DataInfo) -> None:  # type: ignore[override]
        super()._check(hp, data)
        if hp["loss"] not in LOSSES:
            raise SpecError(f"sngan loss must be one of {LOSSES}, got {hp['loss']!r}")

    def make_critic(self, hp: Mapping[str, Any], shape: tuple[int, ...], cpu_g: torch.Generator) -> nn.Module:
        critic = init_dcgan_(StandardCNNCritic(shape, hp["ndf"]), cpu_g, hp["init_std"])
        return critic.apply_spectral_norm()  # u, v drawn from the seeded global RNG of seeded_init

    def make_optimizers(self, hp: Mapping[str, Any]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        betas = (hp["beta1"], hp["beta2"])
        return (
            torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas),
            torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas),
        )

    def critic_loss(self, x: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = self.D(x), self.D(fake)
        if self.hp["loss"] == "hinge":
            loss = hinge_d_loss(d_real, d_fake)
        else:
            loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        return loss, {"d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def gen_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean() if self.hp["loss"] == "hinge" else F.softplus(-d_fake).mean()
