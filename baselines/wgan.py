"""WGAN (Arjovsky, Chintala and Bottou 2017): a weight-clipped critic and RMSprop.

Also holds ``CriticGAN``, the shared skeleton of the convolutional GANs that take
``n_critic`` critic updates per generator update (WGAN, WGAN-GP, SNGAN, LSGAN): it reuses
DCGAN's generator, sampling, EMA and checkpoint code and leaves the networks, optimizers
and losses to each family.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from genbench.baselines.base import BASELINES, Batch, TaskKind
from genbench.baselines.dcgan import DCGAN, DCGANDiscriminator, DCGANGenerator
from genbench.baselines.nets import EMA, check_images, doubling_stack, init_dcgan_, seeded_init
from genbench.bench.spec import DataInfo, SpecError


def check_conv_hparams(name: str, hp: Mapping[str, Any], data: DataInfo, positive_ints: Sequence[str]) -> None:
    """Shared checks for the DCGAN-shaped families: positive sizes, lr > 0, square image sizes
    the DCGAN stack supports (28, 32, 64, ...); a SpecError naming the family otherwise."""
    for key in ("batch_size", "z_dim", "ngf", "ndf", *positive_ints):
        if hp[key] < 1:
            raise SpecError(f"{name} {key} must be >= 1, got {hp[key]}")
    if hp["lr"] <= 0 or hp["init_std"] <= 0 or hp["ema_kimg"] < 0:
        raise SpecError(f"{name} lr and init_std must be > 0 and ema_kimg >= 0")
    _, h, w = data.shape
    if h != w:
        raise SpecError(f"{name} needs square images, got {data.shape}")
    try:
        doubling_stack(h)
    except ValueError as exc:
        raise SpecError(f"{name} cannot build for dataset {data.name!r} with shape {data.shape}: {exc}") from exc


class CriticGAN(DCGAN):
    """``n_critic`` critic (discriminator) updates, then one generator update, per step.

    Each critic update uses its own real batch (so ``batches_per_step = n_critic``) and fresh
    latents; the generator update draws fresh latents too (Arjovsky et al. 2017, Alg. 1;
    Gulrajani et al. 2017, Alg. 1). Subclasses set ``name``, ``defaults`` and implement
    ``make_critic``, ``make_optimizers``, ``critic_loss``, ``gen_loss``; ``after_critic_update``
    is a hook (weight clipping). G is DCGAN's generator; sampling, EMA, train/eval modes and
    checkpoints are DCGAN's.
    """

    name = "critic-gan"
    n_critic_key = "n_critic"
    extra_int_keys: tuple[str, ...] = ()

    # -- construction -------------------------------------------------------------
    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G (DCGAN init), the family's critic, optimizers, EMA; all seeded from ``generator``."""
        self._check(hp, data)
        shape = tuple(data.shape)
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(DCGANGenerator(hp["z_dim"], shape, hp["ngf"]), cpu_g, hp["init_std"])
            self.D = self.make_critic(hp, shape, cpu_g)
        self.G.to(self.device)
        self.D.to(self.device)
        self.opt_G, self.opt_D = self.make_optimizers(hp)
        self.G_ema = EMA(self.G, hp["ema_kimg"]) if hp["ema_kimg"] > 0 else None
        self.batches_per_step = int(hp.get(self.n_critic_key, 1))
        self.steps = 0

    def _check(self, hp: Mapping[str, Any], data: DataInfo) -> None:  # type: ignore[override]
        keys = (self.n_critic_key,) if self.n_critic_key in hp else ()
        check_conv_hparams(self.name, hp, data, keys + self.extra_int_keys)

    def make_critic(self, hp: Mapping[str, Any], shape: tuple[int, ...], cpu_g: torch.Generator) -> nn.Module:
        """images float32 (B, C, H, W) in [-1, 1] -> scores float32 (B,), initialised from cpu_g."""
        raise NotImplementedError

    def make_optimizers(self, hp: Mapping[str, Any]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(optimizer of G, optimizer of D)."""
        raise NotImplementedError

    # -- losses -------------------------------------------------------------------
    def critic_loss(self, x: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic's loss on a real batch x and a detached fake batch, plus 0-d stats to log."""
        raise NotImplementedError

    def gen_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """The generator's loss from the critic's scores (B,) on a fresh fake batch."""
        raise NotImplementedError

    def after_critic_update(self) -> None:
        """Called after every critic optimizer step (WGAN clips the weights here)."""

    # -- training -----------------------------------------------------------------
    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hp["z_dim"], generator=self.generator, device=self.device)

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One critic update per batch (x float32 (B, C, H, W) in [-1, 1]), then one G update.

        Returns 0-d tensors: loss_d (the last critic update's), loss_g and the family's stats
        of the last critic update.
        """
        if len(batches) != self.batches_per_step:
            raise ValueError(f"{self.name} takes {self.batches_per_step} batches per step, got {len(batches)}")
        for batch in batches:
            check_images(batch.x, tuple(self.data_info.shape), "batch.x")
            with torch.no_grad():
                fake = self.G(self._z(len(batch.x)))
            loss_d, stats = self.critic_loss(batch.x, fake)
            self.minimize(loss_d, self.opt_D)
            self.after_critic_update()
        n = len(batches[-1].x)
        self.D.requires_grad_(False)
        loss_g = self.gen_loss(self.D(self.G(self._z(n))))
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.G_ema.update(n * self.world_size)  # global images
        self.steps += 1
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **{k: v.detach() for k, v in stats.items()}}


def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to [-c, c] in place (Arjovsky et al. 2017, Alg. 1
    line 7; all parameters, BatchNorm's included, as in the authors' code)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


@BASELINES.register("wgan")
class WGAN(CriticGAN):
    """WGAN, Arjovsky, Chintala and Bottou, "Wasserstein Generative Adversarial Networks",
    ICML 2017.

    Algorithm 1 defaults: clipping c = 0.01, RMSprop with lr 5e-5, batch m = 64, n_critic = 5
    critic updates per generator update. The critic maximises E[f(x)] - E[f(G(z))], so it
    minimises ``mean f(G(z)) - mean f(x)``; G minimises ``-mean f(G(z))``; f's weights are
    clamped to [-c, c] after every critic update. Logged: ``w_estimate`` = mean f(x) -
    mean f(G(z)) before the last critic update (the paper's loss curve, sec. 4.2).

    Networks (sec. 4): the DCGAN generator and discriminator (BatchNorm in both), the
    discriminator's output used as the critic's score without a sigmoid; DCGAN's N(0, 0.02)
    init. Deviations: widths ngf = ndf = 32 for CPU speed (``--set ngf=64 --set ndf=64``
    gives the DCGAN reference widths); the authors' code also runs 100 critic updates for
    the first 25 generator updates and every 500th, a detail not in Algorithm 1 and not done
    here. ema_kimg > 0 samples from an EMA of G (not in the paper; off by default).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Arjovsky, Chintala, Bottou. Wasserstein Generative Adversarial Networks. ICML 2017"
    name = "wgan"
    defaults: Mapping[str, Any] = {
        "batch_size": 64,
        "lr": 5e-5,
        "clip": 0.01,
        "n_critic": 5,
        "z_dim": 100,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "ema_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}

    def _check(self, hp: Mapping[str, Any], data: DataInfo) -> None:  # type: ignore[override]
        super()._check(hp, data)
        if hp["clip"] <= 0:
            raise SpecError(f"wgan clip must be > 0, got {hp['clip']}")

    def make_critic(self, hp: Mapping[str, Any], shape: tuple[int, ...], cpu_g: torch.Generator) -> nn.Module:
        return init_dcgan_(DCGANDiscriminator(shape, hp["ndf"]), cpu_g, hp["init_std"])

    def make_optimizers(self, hp: Mapping[str, Any]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.RMSprop(self.G.parameters(), lr=hp["lr"]),
            torch.optim.RMSprop(self.D.parameters(), lr=hp["lr"]),
        )

    def critic_loss(self, x: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        f_real, f_fake = self.D(x).mean(), self.D(fake).mean()
        return f_fake - f_real, {"w_estimate": f_real - f_fake}

    def gen_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean()

    def after_critic_update(self) -> None:
        clip_weights_(self.D, self.hp["clip"])
