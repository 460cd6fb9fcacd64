"""TinyGAN: a small MLP GAN written against genbench's public Baseline interface only.

It is what a researcher's own model looks like: one class, subclassing
``genbench.baselines.Baseline``, with its hyperparameters in ``defaults``. genbench trains it
with its generic loop and scores it with the same protocol as the built-in families.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines import Baseline, Batch, TaskKind
from genbench.baselines.nets import seeded_init, to_uint8


def mlp(sizes: Sequence[int], out_act: nn.Module | None) -> nn.Sequential:
    """Linear layers of the given sizes with LeakyReLU(0.2) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class TinyGAN(Baseline):
    """A two-layer MLP GAN (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014)
    with the non-saturating generator loss (sec. 3) and Adam(2e-4, beta1 0.5) as in DCGAN.

    Images: G maps z (B, z_dim) to a flat image reshaped to (B, C, H, W) in [-1, 1] (Tanh);
    D maps a flat image to one logit. Points (ring8, grid25) work the same with shape (D,).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014"
    data_kinds = ("image", "points")
    defaults: Mapping[str, Any] = {"batch_size": 64, "lr": 2e-4, "beta1": 0.5, "z_dim": 64, "hidden": 256}

    def build(self, hp: Mapping[str, Any], data: Any, generator: torch.Generator) -> None:
        self.shape = tuple(data.shape)
        dim = math.prod(self.shape)
        with seeded_init(generator):
            self.G = mlp([hp["z_dim"], hp["hidden"], hp["hidden"], dim], nn.Tanh() if data.kind == "image" else None)
            self.D = mlp([dim, hp["hidden"], hp["hidden"], 1], None)
        self.G.to(self.device)
        self.D.to(self.device)
        betas = (hp["beta1"], 0.999)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas)

    def _g(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z).view(len(z), *self.shape)

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x.flatten(1)).view(len(x))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        (batch,) = batches
        z = torch.randn(len(batch), self.hp["z_dim"], generator=self.generator, device=self.device)
        fake = self._g(z)
        loss_d = F.softplus(-self._d(batch.x)).mean() + F.softplus(self._d(fake.detach())).mean()
        # minimize = zero_grad, backward, step, through the harness (fp16 loss scaling, multi-GPU
        # gradient averaging): a plain loss.backward(); opt.step() also trains, but only in fp32 on one device
        self.minimize(loss_d, self.opt_D)
        loss_g = F.softplus(-self._d(fake)).mean()
        self.minimize(loss_g, self.opt_G)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (n, C, H, W) images, or float32 (n, D) points, on the CPU."""
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        x = self._g(z.to(self.device))
        return to_uint8(x) if self.data_info.kind == "image" else x.float().cpu()

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
