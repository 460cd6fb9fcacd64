"""LSGAN (Mao et al. 2017): least-squares losses on DCGAN's networks."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from genbench.baselines.base import BASELINES, TaskKind
from genbench.baselines.dcgan import DCGANDiscriminator
from genbench.baselines.nets import init_dcgan_
from genbench.baselines.wgan import CriticGAN
from genbench.bench.spec import DataInfo, SpecError


def ls_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """0.5 E[(D(x) - b)^2] + 0.5 E[(D(G(z)) - a)^2] (Mao et al. 2017, eq. 2), a 0-d tensor."""
    return 0.5 * (d_real - b).pow(2).mean() + 0.5 * (d_fake - a).pow(2).mean()


def ls_g_loss(d_fake: torch.Tensor, c: float) -> torch.Tensor:
    """0.5 E[(D(G(z)) - c)^2] (Mao et al. 2017, eq. 2), a 0-d tensor."""
    return 0.5 * (d_fake - c).pow(2).mean()


@BASELINES.register("lsgan")
class LSGAN(CriticGAN):
    """LSGAN, Mao, Li, Xie, Lau, Wang and Smolley, "Least Squares Generative Adversarial
    Networks", ICCV 2017.

    Losses (eq. 2): D minimises 0.5 E[(D(x) - b)^2] + 0.5 E[(D(G(z)) - a)^2] and G minimises
    0.5 E[(D(G(z)) - c)^2], with D's output linear (no sigmoid). Coding (sec. 3.2.2): the
    default a, b, c = 0, 1, 1 (eq. 9, the 0-1 binary coding, c = b), which the paper uses in
    its experiments; a, b, c = -1, 1, 0 (eq. 8, b - c = 1 and b - a = 2, which makes the
    objective the Pearson chi^2 divergence) is ``--set a=-1 --set b=1 --set c=0``.

    Networks and optimiser: DCGAN's generator and discriminator (Radford et al. 2016) rather
    than the paper's larger scene architecture (sec. 4.1, Fig. 3), at ngf = ndf = 32 for CPU
    speed (``--set ngf=64 --set ndf=64`` for DCGAN's reference widths); DCGAN's N(0, 0.02)
    init. Adam with beta1 0.5 as in sec. 4.1 and lr 2e-4 (the DCGAN value); batch 64.
    One D update then one G update per step, the G update on fresh latents.
    ema_kimg > 0 samples from an EMA of G (not in the paper).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Mao et al. Least Squares Generative Adversarial Networks. ICCV 2017"
    name = "lsgan"
    defaults: Mapping[str, Any] = {
        "batch_size": 64,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "a": 0.0,
        "b": 1.0,
        "c": 1.0,
        "z_dim": 100,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "ema_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}

    def _check(self, hp: Mapping[str, Any], data: DataInfo) -> None:  # type: ignore[override]
        super()._check(hp, data)
        if hp["a"] == hp["b"]:
            raise SpecError(f"lsgan needs different targets for fake and real data, got a = b = {hp['a']}")

    def make_critic(self, hp: Mapping[str, Any], shape: tuple[int, ...], cpu_g: torch.Generator) -> nn.Module:
        return init_dcgan_(DCGANDiscriminator(shape, hp["ndf"]), cpu_g, hp["init_std"])

    def make_optimizers(self, hp: Mapping[str, Any]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        betas = (hp["beta1"], hp["beta2"])
        return (
            torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas),
            torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas),
        )

    def critic_loss(self, x: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d_real, d_fake = self.D(x), self.D(fake)
        return ls_d_loss(d_real, d_fake, self.hp["a"], self.hp["b"]), {"d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def gen_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return ls_g_loss(d_fake, self.hp["c"])
