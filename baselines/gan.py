"""The original GAN (Goodfellow et al. 2014) as MLPs on 2-D toy data (ring8, grid25)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.dcgan import discriminator_loss, generator_loss
from genbench.baselines.nets import seeded_init
from genbench.bench.spec import DataInfo, SpecError

LOSSES = ("ns", "minimax")


class Maxout(nn.Module):
    """Linear maxout (Goodfellow et al. 2013): float32 (B, d_in) -> (B, d_out), the max over
    ``pieces`` affine maps per output unit."""

    def __init__(self, d_in: int, d_out: int, pieces: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out * pieces)
        self.d_out, self.pieces = d_out, pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.d_out, self.pieces).amax(dim=2)


class MLPGenerator(nn.Module):
    """z float32 (B, z_dim) -> points float32 (B, d_out), unbounded.

    ``depth`` hidden layers of ``width`` units, each Linear (no bias) -> BatchNorm -> ReLU,
    then a linear output layer with bias (PacGAN's 2-D generator).
    """

    def __init__(self, z_dim: int, d_out: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = z_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(True)]
            d = width
        layers.append(nn.Linear(d, d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MaxoutDiscriminator(nn.Module):
    """points float32 (B, d_in) -> logits float32 (B,): ``depth`` maxout layers of ``width``
    units with ``pieces`` pieces each, then a linear unit (PacGAN's 2-D discriminator)."""

    def __init__(self, d_in: int, width: int, depth: int, pieces: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for _ in range(depth):
            layers.append(Maxout(d, width, pieces))
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def init_normal_(module: nn.Module, generator: torch.Generator, std: float) -> nn.Module:
    """Linear weights ~ N(0, std), biases 0, BatchNorm gamma 1 and beta 0 (PacGAN config)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


@BASELINES.register("gan")
class GAN(Baseline):
    """GAN, Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, with the MLP
    networks of the 2-D mixture benchmark of PacGAN (Lin, Khetan, Fanti and Oh, "PacGAN: The
    power of two samples in generative adversarial networks", NeurIPS 2018: the synthetic-data
    experiments of its Table 1, as configured in the authors' ``synthetic_data_experiments``;
    the 2D-ring / 2D-grid protocol of VEEGAN, Srivastava et al. 2017). Points only (datasets
    ring8, grid25): the paper's image MLPs are not provided.

    Losses (Goodfellow et al. 2014, sec. 3): D minimises -log D(x) - log(1 - D(G(z)));
    G minimises log(1 - D(G(z))) ('minimax', the value function itself) or -log D(G(z))
    ('ns', the non-saturating heuristic the paper recommends early in learning; default).
    Algorithm 1: ``k_disc`` D updates (k = 1 in the paper's experiments) then one G update
    per step, each D update on a fresh real batch and fresh latents; the G update draws new
    latents.

    Networks and optimiser (PacGAN's GAN baseline, the defaults): z ~ N(0, I_2); G has 4
    hidden layers of 400 ReLU units with BatchNorm and a linear output; D has 3 maxout
    layers of 200 units with 5 pieces and a linear output; weights ~ N(0, 0.02), biases 0;
    Adam with lr 1e-4, beta1 0.8 (beta2 0.999); batch 100. No deviations: the toy networks
    are cheap on a CPU. (Goodfellow et al.'s own experiments used SGD with momentum and
    image-sized MLPs; the toy protocol is the field's standard for mode counting.)

    Sampling runs G in eval mode (BatchNorm running statistics), so each sample depends on
    its own latent only.
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014 (toy MLPs: Lin et al., PacGAN, NeurIPS 2018)"
    data_kinds = ("points",)
    defaults: Mapping[str, Any] = {
        "batch_size": 100,
        "lr": 1e-4,
        "beta1": 0.8,
        "beta2": 0.999,
        "z_dim": 2,
        "g_width": 400,
        "g_depth": 4,
        "d_width": 200,
        "d_depth": 3,
        "maxout_pieces": 5,
        "init_std": 0.02,
        "loss": "ns",
        "k_disc": 1,
    }

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G, D initialised from ``generator`` and their Adam optimizers."""
        self._check(hp, data)
        (dim,) = data.shape
        with seeded_init(generator) as cpu_g:
            self.G = init_normal_(MLPGenerator(hp["z_dim"], dim, hp["g_width"], hp["g_depth"]), cpu_g, hp["init_std"])
            self.D = init_normal_(
                MaxoutDiscriminator(dim, hp["d_width"], hp["d_depth"], hp["maxout_pieces"]), cpu_g, hp["init_std"]
            )
        self.G.to(self.device)
        self.D.to(self.device)
        betas = (hp["beta1"], hp["beta2"])
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas)
        self.batches_per_step = hp["k_disc"]
        self.steps = 0

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        if hp["loss"] not in LOSSES:
            raise SpecError(f"gan loss must be one of {LOSSES}, got {hp['loss']!r}")
        for key in ("batch_size", "z_dim", "g_width", "g_depth", "d_width", "d_depth", "maxout_pieces", "k_disc"):
            if hp[key] < 1:
                raise SpecError(f"gan {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["init_std"] <= 0:
            raise SpecError("gan lr and init_std must be > 0")
        if len(data.shape) != 1:
            raise SpecError(f"gan takes points of shape (D,), got {data.shape} for dataset {data.name!r}")

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hp["z_dim"], generator=self.generator, device=self.device)

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """``k_disc`` D updates (one per batch, x float32 (B, D)) then one G update.

        Returns 0-d tensors: loss_d (the last D update's), loss_g, and d_real / d_fake, D's
        mean probability on the last real and fake batch before its update.
        """
        for batch in batches:
            x = batch.x
            if x.ndim != 2 or x.shape[1] != self.data_info.shape[0]:
                raise ValueError(f"batch.x must be points (B, {self.data_info.shape[0]}), got {tuple(x.shape)}")
            with torch.no_grad():
                fake = self.G(self._z(len(x)))
            d_real, d_fake = self.D(x), self.D(fake)
            loss_d = discriminator_loss(d_real, d_fake)
            self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        loss_g = generator_loss(self.D(self.G(self._z(len(batches[-1])))), self.hp["loss"])
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(d_real.detach()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean(),
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n points, float32 (n, D) on the CPU; latents drawn from ``generator``, G in eval mode."""
        if condition is not None:
            raise ValueError("gan is unconditional; condition must be None")
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        was_training = self.G.training
        self.G.eval()
        try:
            out = self.G(z.to(self.device)) if n else torch.empty(0, *self.data_info.shape)
        finally:
            self.G.train(was_training)
        return out.float().cpu()

    def train(self) -> None:
        self.G.train()
        self.D.train()

    def eval(self) -> None:
        self.G.eval()
        self.D.eval()

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers and the step counter (shares storage with the live model)."""
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.steps = int(state["steps"])


def mode_coverage(points: torch.Tensor, modes: torch.Tensor, std: float, n_sigma: float = 3.0) -> tuple[int, float]:
    """(modes covered, high-quality fraction) by the VEEGAN / PacGAN 3-std rule.

    points: float (N, 2); modes: float (K, 2). A sample is high quality when it lies within
    ``n_sigma * std`` of its nearest mode; a mode is covered when at least one high-quality
    sample is nearest to it. (A quick check for experiments and tests; the official mode
    metrics live in ``genbench.metrics``.)
    """
    dist = torch.cdist(points.double(), modes.double())
    nearest, which = dist.min(dim=1)
    good = nearest <= n_sigma * std
    covered = int(torch.unique(which[good]).numel())
    return covered, float(good.double().mean()) if len(points) else 0.0
