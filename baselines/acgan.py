"""AC-GAN (Odena, Olah and Shlens 2017): a class-conditional G and a D with an auxiliary classifier."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.cgan import (
    check_conditional_hp, sample_in_chunks, batch_labels, condition_labels, num_classes_of,
)
from genbench.baselines.dcgan import DCGANDiscriminator, DCGANGenerator, discriminator_loss, generator_loss
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, init_dcgan_, seeded_init
from genbench.bench.spec import DataInfo, SpecError


class ACDiscriminator(nn.Module):
    """images float32 (B, C, S, S) in [-1, 1] -> (source logit (B,), class logits (B, k)).

    The DCGAN discriminator's body (all layers but its last) shared by two heads, made as one
    final ``base x base`` conv with 1 + k outputs (Odena et al. 2017, sec. 3: "the same
    network" outputs P(S | X) and P(C | X)).
    """

    def __init__(self, shape: tuple[int, int, int], ndf: int, k: int) -> None:
        super().__init__()
        plain = DCGANDiscriminator(shape, ndf)
        last = plain.net[-1]
        self.body = nn.Sequential(*list(plain.net)[:-1])
        self.head = nn.Conv2d(last.in_channels, 1 + k, last.kernel_size, 1, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.body(x)).flatten(1)
        return out[:, 0], out[:, 1:]


@BASELINES.register("acgan")
class ACGAN(GeneratorDiscriminatorState, Baseline):
    """AC-GAN, Odena, Olah and Shlens, "Conditional Image Synthesis with Auxiliary Classifier
    GANs", ICML 2017.

    Objective (sec. 3, eqs. 2-3): L_S = E log P(S=real | x_real) + E log P(S=fake | x_fake),
    L_C = E log P(C=c | x_real) + E log P(C=c | x_fake). D maximises L_S + L_C and G
    maximises L_C - L_S; both terms have weight 1 (``aux_weight`` = 1.0, as in the paper).
    G's source term is the non-saturating -log D(G(z)) by default ('ns'; 'minimax' is eq. 2).

    Paper defaults kept (app. B / Table 1, the CIFAR-10 settings): Adam lr 2e-4, beta1 0.5,
    mini-batch 100, a 110-dim generator input (here 100 noise dims N(0, I) plus the k-dim
    one-hot class, so 110 for 10 classes). Fake-class labels are drawn uniformly.

    Deviations: the DCGAN conv stacks of ``dcgan.py`` (Radford et al. 2016) instead of the
    paper's deeper ImageNet/CIFAR nets, at ``ngf = ndf = 32`` for CPU speed (``--set ngf=64
    --set ndf=64`` widens them); no dropout in D (the paper's 0.5), so that all randomness
    comes from the seeded generator.
    """

    task = TaskKind.CLASS_CONDITIONAL
    paper = "Odena, Olah, Shlens. Conditional Image Synthesis with Auxiliary Classifier GANs. ICML 2017"
    defaults: Mapping[str, Any] = {
        "batch_size": 100,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "z_dim": 100,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "loss": "ns",
        "aux_weight": 1.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}
    sample_batch: int = 500

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G: DCGAN generator on z_dim + k inputs; D: ACDiscriminator; one Adam each."""
        self.k = num_classes_of(data, "acgan")
        check_conditional_hp(hp, data, "acgan")
        if hp["aux_weight"] < 0:
            raise SpecError(f"acgan aux_weight must be >= 0, got {hp['aux_weight']}")
        shape = tuple(data.shape)
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(DCGANGenerator(hp["z_dim"] + self.k, shape, hp["ngf"]), cpu_g, hp["init_std"])
            self.D = init_dcgan_(ACDiscriminator(shape, hp["ndf"], self.k), cpu_g, hp["init_std"])
        self.place_and_optimize(hp["lr"], hp["lr"], (hp["beta1"], hp["beta2"]))

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z float32 (B, z_dim), y int64 (B,) -> images float32 (B, C, S, S) in [-1, 1]."""
        return self.G(torch.cat([z, F.one_hot(y, self.k).float()], dim=1))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D update on -(L_S + w L_C), then one G update on the G source loss + w CE(fake).

        Returns 0-d tensors: loss_d, loss_g, the class cross-entropies cls_real / cls_fake, and
        acc_real, D's classification accuracy on the real batch.
        """
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        y = batch_labels(batch, self.k, "acgan")
        b, w = len(batch), self.hp["aux_weight"]
        z = torch.randn(b, self.hp["z_dim"], generator=self.generator, device=self.device)
        y_fake = torch.randint(0, self.k, (b,), generator=self.generator, device=self.device)
        fake = self.generate(z, y_fake)
        (s_real, c_real), (s_fake, c_fake) = self.D(batch.x), self.D(fake.detach())
        cls_real, cls_fake = F.cross_entropy(c_real, y), F.cross_entropy(c_fake, y_fake)
        loss_d = discriminator_loss(s_real, s_fake) + w * (cls_real + cls_fake)
        self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        s_g, c_g = self.D(fake)
        loss_g = generator_loss(s_g, self.hp["loss"]) + w * F.cross_entropy(c_g, y_fake)
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "cls_real": cls_real.detach(), "cls_fake": cls_fake.detach(),
            "acc_real": (c_real.detach().argmax(1) == y).float().mean(),
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (n, C, H, W) on the CPU of the requested classes (int64 (n,) in [0, k);
        None -> ``arange(n) % k``); z ~ N(0, I) for all n drawn first from ``generator``."""
        y = condition_labels(condition, n, self.k)
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        return sample_in_chunks(self.G, self.generate, z, y, self, self.sample_batch)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """D's auxiliary classifier: images float32 (B, C, S, S) in [-1, 1] -> logits (B, k)."""
        return self.D(x.to(self.device))[1]
