"""WGAN-GP (Gulrajani et al. 2017): the critic's Lipschitz constraint as a gradient penalty."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from genbench.baselines.base import BASELINES, TaskKind
from genbench.baselines.nets import doubling_stack, eager, init_dcgan_
from genbench.baselines.wgan import CriticGAN
from genbench.bench.spec import DataInfo, SpecError

NORMS = ("layer", "none")


class ConvCritic(nn.Module):
    """images float32 (B, C, S, S) in [-1, 1] -> scores float32 (B,).

    DCGAN's discriminator shape (stride-2 4x4 convs doubling the channels ndf, 2ndf, ...
    down to base x base, LeakyReLU(0.2), a final base x base conv to one score) without
    BatchNorm: ``norm='layer'`` normalises each sample over (C, H, W) with a per-channel
    affine (``GroupNorm(1, C)``, the layer norm of Gulrajani et al.'s code) on every layer
    but the input one; ``norm='none'`` uses no normalisation.
    """

    def __init__(self, shape: tuple[int, int, int], ndf: int, norm: str = "layer") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        c, size, _ = shape
        base, n = doubling_stack(size)
        layers: list[nn.Module] = [nn.Conv2d(c, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(n - 1):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "layer":
                layers.append(nn.GroupNorm(1, ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps * real + (1 - eps) * fake
    (Gulrajani et al. 2017, Alg. 1 lines 6-7), differentiable w.r.t. the critic's weights.

    real, fake: float (B, ...) of one shape; eps: float (B,) in [0, 1]. Returns a 0-d tensor.
    Under fp16 autocast the penalty's own pass runs in fp32: the GradScaler scales the final loss,
    not this inner gradient, whose small entries fp16's 5-bit exponent would flush to zero (bf16
    keeps fp32's range and stays autocast). A critic compiled by ``--compile`` runs this pass
    eagerly (``nets.eager``: torch.compile does not support double backward).
    """
    critic = eager(critic)
    e = eps.view(-1, *([1] * (real.ndim - 1)))
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    dev = x_hat.device.type
    if torch.is_autocast_enabled(dev) and torch.get_autocast_dtype(dev) == torch.float16:
        with torch.autocast(dev, enabled=False):
            (grad,) = torch.autograd.grad(critic(x_hat.float()).float().sum(), x_hat, create_graph=True)
    else:
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


@BASELINES.register("wgan-gp")
class WGANGP(CriticGAN):
    """WGAN-GP, Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville, "Improved Training of
    Wasserstein GANs", NeurIPS 2017.

    Algorithm 1 defaults: gradient penalty weight lambda = 10, n_critic = 5, Adam with
    lr 1e-4 and betas (0, 0.9), batch 64. The critic minimises
    ``mean D(G(z)) - mean D(x) + lambda * E[(||grad D(x_hat)||_2 - 1)^2]`` on random
    interpolates x_hat (eps ~ U[0, 1] per sample, drawn from the model's generator); G
    minimises ``-mean D(G(z))``. Logged: ``w_estimate`` = mean D(x) - mean D(G(z)) and ``gp``,
    the penalty before weighting.

    Networks: DCGAN's generator; the critic is DCGAN's discriminator without BatchNorm
    (sec. 4: batch norm invalidates the per-sample penalty; layer normalisation is the
    recommended drop-in, the default ``critic_norm='layer'``; 'none' drops it). DCGAN init.
    Deviation: widths ngf = ndf = 32 for CPU speed (``--set ngf=64 --set ndf=64`` for the
    DCGAN reference widths). ema_kimg > 0 samples from an EMA of G (not in the paper).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017"
    name = "wgan-gp"
    defaults: Mapping[str, Any] = {
        "batch_size": 64,
        "lr": 1e-4,
        "beta1": 0.0,
        "beta2": 0.9,
        "gp_lambda": 10.0,
        "n_critic": 5,
        "critic_norm": "layer",
        "z_dim": 100,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "ema_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}

    def _check(self, hp: Mapping[str, Any], data: DataInfo) -> None:  # type: ignore[override]
        super()._check(hp, data)
        if hp["critic_norm"] not in NORMS:
            raise SpecError(f"wgan-gp critic_norm must be one of {NORMS}, got {hp['critic_norm']!r}")
        if hp["gp_lambda"] < 0:
            raise SpecError(f"wgan-gp gp_lambda must be >= 0, got {hp['gp_lambda']}")

    def make_critic(self, hp: Mapping[str, Any], shape: tuple[int, ...], cpu_g: torch.Generator) -> nn.Module:
        return init_dcgan_(ConvCritic(shape, hp["ndf"], hp["critic_norm"]), cpu_g, hp["init_std"])

    def make_optimizers(self, hp: Mapping[str, Any]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        betas = (hp["beta1"], hp["beta2"])
        return (
            torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas),
            torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas),
        )

    def critic_loss(self, x: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        f_real, f_fake = self.D(x).mean(), self.D(fake).mean()
        eps = torch.rand(len(x), generator=self.generator, device=self.device)
        gp = gradient_penalty(self.D, x, fake, eps)
        return f_fake - f_real + self.hp["gp_lambda"] * gp, {"w_estimate": f_real - f_fake, "gp": gp}

    def gen_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean()
