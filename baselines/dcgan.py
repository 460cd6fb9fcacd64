"""DCGAN (Radford, Metz and Chintala 2016): the all-convolutional GAN with BatchNorm."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.nets import EMA, check_images, doubling_stack, init_dcgan_, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError

LOSSES = ("ns", "minimax")


class DCGANGenerator(nn.Module):
    """z float32 (B, z_dim) -> images float32 (B, C, S, S) in [-1, 1].

    A projection by a transposed conv to ``base x base`` (7 for S = 28, else 4), then
    stride-2 transposed convs that halve the channels and double the size up to S; BatchNorm
    and ReLU on every layer but the output, which is Tanh (Radford et al. 2016, sec. 3).
    Widths: ngf * 2**(n-1), ..., ngf, C for n doublings (S = 64: 8ngf, 4ngf, 2ngf, ngf, C).
    """

    def __init__(self, z_dim: int, shape: tuple[int, int, int], ngf: int) -> None:
        super().__init__()
        c, size, _ = shape
        base, n = doubling_stack(size)
        ch = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images float32 (B, C, S, S) in [-1, 1] -> logits float32 (B,).

    The generator mirrored: stride-2 convs that double the channels (ndf, 2ndf, ...) down to
    ``base x base``, LeakyReLU(0.2) everywhere, BatchNorm on all but the input layer, and a
    final ``base x base`` conv to one logit (no fully connected layers; sec. 3).
    """

    def __init__(self, shape: tuple[int, int, int], ndf: int) -> None:
        super().__init__()
        c, size, _ = shape
        base, n = doubling_stack(size)
        layers: list[nn.Module] = [nn.Conv2d(c, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def generator_loss(d_fake: torch.Tensor, kind: str) -> torch.Tensor:
    """'ns': -log D(G(z)) (Goodfellow et al. 2014, sec. 3); 'minimax': log(1 - D(G(z)))."""
    return F.softplus(-d_fake).mean() if kind == "ns" else -F.softplus(d_fake).mean()


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))) from logits, averaged over each batch."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


@BASELINES.register("dcgan")
class DCGAN(Baseline):
    """DCGAN, Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep
    Convolutional Generative Adversarial Networks", ICLR 2016.

    Section 4 settings (the defaults): mini-batch 128; weights ~ N(0, 0.02) (BatchNorm
    gamma ~ N(1, 0.02)); LeakyReLU slope 0.2; Adam with lr 2e-4 and beta1 0.5 (0.9
    oscillated); z ~ U or N with 100 dims (we use N(0, I), as the authors' released code
    does); images scaled to [-1, 1] for the Tanh output. Section 3 guidelines: strided
    (transposed) convs, no pooling, no fully connected hidden layers, BatchNorm in G and D
    except G's output and D's input layer, ReLU in G, LeakyReLU in D. One D update and one
    G update per step on separate real and fake mini-batches; the G update reuses the
    step's fake batch (as in the released code).

    Sizes: (C, 28, 28) uses a 7 -> 14 -> 28 stack; (C, 32, 32) 4 -> 8 -> 16 -> 32;
    (C, 64, 64) the paper's 4 -> ... -> 64 stack; any C.

    Deviation: width ``ngf = ndf = 32`` so that a step at batch 128 on MNIST takes about
    0.1 s on 2 CPU cores (ngf = ndf = 64, the PyTorch example's width: about 0.27 s). The
    architecture is unchanged; ``--set ngf=128 --set ndf=128`` restores the paper's widths
    (its 64x64 LSUN generator, Fig. 1: 1024, 512, 256, 128 channels).

    Hyperparameters: loss 'ns' (non-saturating, the default) or 'minimax'; ema_kimg 0 turns
    the generator EMA off, otherwise ``sample`` uses an EMA of G with that half-life in
    thousands of images (StyleGAN2-ADA style; not in the paper).

    Sampling runs G in eval mode, so BatchNorm uses its running statistics and each sample
    depends only on its own latent: results do not change with ``sample_batch`` (chunk size).
    """

    task = TaskKind.UNCONDITIONAL
    paper = "Radford, Metz, Chintala. Unsupervised Representation Learning with Deep Convolutional GANs. ICLR 2016"
    defaults: Mapping[str, Any] = {
        "batch_size": 128,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "z_dim": 100,
        "ngf": 32,
        "ndf": 32,
        "init_std": 0.02,
        "loss": "ns",
        "ema_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 128, "ndf": 128}
    sample_batch: int = 500

    # -- construction -------------------------------------------------------------
    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """Create G, D (initialised from ``generator``), their Adam optimizers and the EMA."""
        self._check(hp, data)
        shape = tuple(data.shape)
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(DCGANGenerator(hp["z_dim"], shape, hp["ngf"]), cpu_g, hp["init_std"])
            self.D = init_dcgan_(DCGANDiscriminator(shape, hp["ndf"]), cpu_g, hp["init_std"])
        self.G.to(self.device)
        self.D.to(self.device)
        betas = (hp["beta1"], hp["beta2"])
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas)
        self.G_ema = EMA(self.G, hp["ema_kimg"]) if hp["ema_kimg"] > 0 else None
        self.steps = 0

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        if hp["loss"] not in LOSSES:
            raise SpecError(f"dcgan loss must be one of {LOSSES}, got {hp['loss']!r}")
        for key in ("batch_size", "z_dim", "ngf", "ndf"):
            if hp[key] < 1:
                raise SpecError(f"dcgan {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["init_std"] <= 0 or hp["ema_kimg"] < 0:
            raise SpecError("dcgan lr and init_std must be > 0 and ema_kimg >= 0")
        c, h, w = data.shape
        try:
            doubling_stack(h)
        except ValueError as exc:
            raise SpecError(f"dcgan cannot build for dataset {data.name!r} with shape {data.shape}: {exc}") from exc
        if h != w:
            raise SpecError(f"dcgan needs square images, got {data.shape}")

    # -- training -----------------------------------------------------------------
    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D update then one G update on one batch (x float32 (B, C, H, W) in [-1, 1]).

        Returns 0-d tensors: loss_d, loss_g, and d_real / d_fake, D's mean probability
        on the real and the fake batch before its update.
        """
        (batch,) = batches
        x = batch.x
        check_images(x, tuple(self.data_info.shape), "batch.x")
        z = torch.randn(len(x), self.hp["z_dim"], generator=self.generator, device=self.device)
        fake = self.G(z)
        d_real, d_fake = self.D(x), self.D(fake.detach())
        loss_d = discriminator_loss(d_real, d_fake)
        self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        loss_g = generator_loss(self.D(fake), self.hp["loss"])
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.G_ema.update(len(x) * self.world_size)  # global images
        self.steps += 1
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(d_real.detach()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean(),
        }

    # -- sampling -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n images, uint8 (n, C, H, W) on the CPU, from the EMA generator when there is one.

        All n latents z ~ N(0, I) are drawn first from ``generator`` (a CPU generator), then
        G runs in eval mode in chunks of ``sample_batch``; the result does not depend on
        the chunk size. G's train/eval mode is restored afterwards.
        """
        if condition is not None:
            raise ValueError("dcgan is unconditional; condition must be None")
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        net = self.G_ema.module if self.G_ema is not None else self.G
        was_training = net.training
        net.eval()
        try:
            chunks = [net(zc.to(self.device)) for zc in z.split(self.sample_batch)]
        finally:
            net.train(was_training)
        out = torch.cat(chunks) if chunks else torch.empty(0, *self.data_info.shape)
        return to_uint8(out)

    def train(self) -> None:
        self.G.train()
        self.D.train()

    def eval(self) -> None:
        self.G.eval()
        self.D.eval()

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, EMA (or None) and the step counter; shares storage with the
        live model, so save it (``torch.save``) before training on."""
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if (state.get("G_ema") is None) != (self.G_ema is None):
            raise SpecError(
                "checkpoint and model disagree on the generator EMA (ema_kimg); "
                "resume with the hyperparameters the checkpoint was trained with"
            )
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.steps = int(state["steps"])
