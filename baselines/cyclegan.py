"""CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN + cycle + identity losses."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.lsgan import ls_d_loss
from genbench.baselines.nets import check_images, init_dcgan_, seeded_init
from genbench.baselines.pix2pix import (
    PatchGAN,
    auto_patch_layers,
    norm_layer,
    pair_shape,
    split_pair,
    to_float,
    translate_in_chunks,
)
from genbench.bench.spec import DataInfo, SpecError


class ResnetBlock(nn.Module):
    """x + [pad 1, conv3x3, norm, ReLU, pad 1, conv3x3, norm](x) (Johnson et al. 2016); ``pad``
    'reflect' (CycleGAN) or 'zeros' (StarGAN)."""

    def __init__(self, ch: int, norm: str, pad: str = "reflect") -> None:
        super().__init__()
        bias = norm == "instance"
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1, bias=bias, padding_mode=pad), norm_layer(norm, ch), nn.ReLU(True),
            nn.Conv2d(ch, ch, 3, 1, 1, bias=bias, padding_mode=pad), norm_layer(norm, ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """images float32 (B, C_in, S, S) in [-1, 1] -> float32 (B, C_out, S, S) in [-1, 1]; S % 4 == 0.

    Zhu et al. 2017, appendix 7.2 (after Johnson et al. 2016): c7s1-ngf, d2ngf, d4ngf,
    ``n_blocks`` residual blocks R4ngf, u2ngf, ungf, c7s1-C_out; ReLU, Tanh output. CycleGAN:
    reflection padding (zero padding in d), instance norm, 3x3 (transposed) convs for d and u
    (``kernel=3``).
    StarGAN (Choi et al. 2018, appendix, Table 4) has the same shape with zero padding, affine
    instance norm and 4x4 kernels for d and u (``pad='zeros', norm='instance-affine', kernel=4``).
    """

    def __init__(self, c_in: int, c_out: int, ngf: int, n_blocks: int, norm: str = "instance",
                 pad: str = "reflect", kernel: int = 3) -> None:
        super().__init__()
        if kernel not in (3, 4):
            raise ValueError(f"kernel must be 3 or 4, got {kernel}")
        bias = norm == "instance"  # a following affine norm makes a bias redundant
        layers: list[nn.Module] = [nn.Conv2d(c_in, ngf, 7, 1, 3, bias=bias, padding_mode=pad), norm_layer(norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, kernel, 2, 1, bias=bias), norm_layer(norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm, pad) for _ in range(n_blocks)]
        for _ in range(2):
            up = nn.ConvTranspose2d(ch, ch // 2, kernel, 2, 1, output_padding=1 if kernel == 3 else 0, bias=bias)
            layers += [up, norm_layer(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.Conv2d(ch, c_out, 7, 1, 3, padding_mode=pad), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool:
    """The history of generated images that D is updated on (Shrivastava et al. 2017; CycleGAN
    sec. 4): up to ``size`` past fakes. Until it is full each new image is stored and returned;
    then each is, with probability 1/2, swapped for a random stored one (which is returned) or
    returned as is. Draws come from ``generator``; the stored tensor is checkpointed.

    The decisions stay on the device: one draw of the swap coins and one of the slots per call,
    each image taken in turn with ``torch.where`` (so a slot written by an earlier image of the
    batch is what a later one gets), and no value is read back to the host. The reference code
    draws the slot only for a swap; drawing it always gives the same distribution."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: torch.Tensor | None = None  # (n_stored, C, H, W)

    @torch.no_grad()
    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        stored = 0 if self.images is None else len(self.images)
        fill = min(self.size - stored, len(images))  # filling: stored and returned as is
        if fill:
            new = images[:fill].clone()
            self.images = new if self.images is None else torch.cat([self.images, new])
        rest = images[fill:]
        if not len(rest):
            return images
        draw = {"generator": generator, "device": generator.device}
        swap = (torch.rand(len(rest), **draw) < 0.5).to(images.device)
        slots = torch.randint(0, self.size, (len(rest),), **draw).to(images.device)
        out = []
        for i in range(len(rest)):
            slot, img = slots[i : i + 1], rest[i : i + 1]
            old = self.images.index_select(0, slot)
            out.append(torch.where(swap[i], old, img))
            self.images.index_copy_(0, slot, torch.where(swap[i], img, old).to(self.images.dtype))
        return torch.cat([images[:fill], *out])

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.images = None if state["images"] is None else state["images"].clone()


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """E[(D(G(x)) - 1)^2] (CycleGAN eq. 2 as LSGAN, Mao et al. 2017; no factor 1/2, as in the
    authors' code, so the cycle weight 10 is relative to this)."""
    return F.mse_loss(d_fake, torch.ones_like(d_fake))


NETS = ("G_AB", "G_BA", "D_A", "D_B")


@BASELINES.register("cyclegan")
class CycleGAN(Baseline):
    """CycleGAN, Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using
    Cycle-Consistent Adversarial Networks", ICCV 2017.

    Losses (eq. 3, sec. 4): L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda (||G_BA(G_AB(a)) - a||_1
    + ||G_AB(G_BA(b)) - b||_1), lambda = 10, with the least-squares GAN loss (sec. 4: D minimises
    E[(D(b) - 1)^2] + E[D(G(a))^2] (halved, as in their code), G minimises E[(D(G(a)) - 1)^2]),
    plus the identity loss of sec. 5.2 / their code, weight 0.5 * lambda = 5:
    ||G_AB(b) - b||_1 + ||G_BA(a) - a||_1. D is updated on a history of 50 generated images
    (``ImagePool``, sec. 4). Adam lr 2e-4, betas (0.5, 0.999); weights ~ N(0, 0.02). Each step
    updates both generators, then both discriminators (their code's order).

    Networks (appendix 7.2): the ResNet generator (c7s1-64, d128, d256, 6 residual blocks for
    128 px images, 9 for 256, u128, u64, c7s1-3; instance norm, reflection padding) and the
    70x70 PatchGAN with instance norm. The PatchGAN's depth is scaled to the 28-64 px images as
    in pix2pix.py (``d_layers=-1``: 10x10 patches at 28 px, 16x16 at 64 px; 3 = the paper's 70x70).

    Batch 1 (the paper's). Deviations (CPU budgets): widths ngf = ndf = 16 (paper 64: ``--set
    ngf=64 --set ndf=64``); constant learning rate (the paper's linear decay over the last 100
    of 200 epochs needs an epoch count the model does not know).

    Data: unpaired A|B images (C, S, 2S), S % 4 == 0 (bench/i2i_data.py); the pairing is never
    used (each side is a sample of its domain). ``translate(x, target)``: target 1 = A -> B
    (G_AB), 0 = B -> A (G_BA), per image; None = A -> B.
    """

    task = TaskKind.UNPAIRED
    paper = "Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks. ICCV 2017"
    defaults: Mapping[str, Any] = {
        "batch_size": 1,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "cycle_lambda": 10.0,
        "identity": 0.5,
        "pool_size": 50,
        "ngf": 16,
        "ndf": 16,
        "n_blocks": 6,
        "d_layers": -1,
        "init_std": 0.02,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}
    sample_batch: int = 250

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        c, s = pair_shape(data, "cyclegan")
        if s % 4:
            raise SpecError(f"cyclegan's generator downsamples twice: the image side must be a multiple of 4, got {s}")
        for key in ("batch_size", "ngf", "ndf"):
            if hp[key] < 1:
                raise SpecError(f"cyclegan {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["cycle_lambda"] < 0 or hp["identity"] < 0 or hp["pool_size"] < 0 or hp["n_blocks"] < 0 or hp["d_layers"] < -1:
            raise SpecError("cyclegan needs lr > 0, cycle_lambda, identity, pool_size, n_blocks >= 0 and d_layers >= -1")
        self.c, self.s = c, s
        n_down = auto_patch_layers(s) if hp["d_layers"] == -1 else hp["d_layers"]
        with seeded_init(generator) as cpu_g:
            self.G_AB = init_dcgan_(ResnetGenerator(c, c, hp["ngf"], hp["n_blocks"]), cpu_g, hp["init_std"])
            self.G_BA = init_dcgan_(ResnetGenerator(c, c, hp["ngf"], hp["n_blocks"]), cpu_g, hp["init_std"])
            self.D_A = init_dcgan_(PatchGAN(c, hp["ndf"], n_down, "instance"), cpu_g, hp["init_std"])
            self.D_B = init_dcgan_(PatchGAN(c, hp["ndf"], n_down, "instance"), cpu_g, hp["init_std"])
        for name in NETS:
            getattr(self, name).to(self.device)
        betas = (hp["beta1"], hp["beta2"])
        self.opt_G = torch.optim.Adam([*self.G_AB.parameters(), *self.G_BA.parameters()], lr=hp["lr"], betas=betas)
        self.opt_D = torch.optim.Adam([*self.D_A.parameters(), *self.D_B.parameters()], lr=hp["lr"], betas=betas)
        self.pool_A, self.pool_B = ImagePool(hp["pool_size"]), ImagePool(hp["pool_size"])
        self.steps = 0

    @property
    def patch_size(self) -> int:
        return self.D_A.receptive_field

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """Both generators (GAN + cycle + identity), then both discriminators on pooled fakes."""
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        a, b = split_pair(batch.x, self.s)
        lam, idt = self.hp["cycle_lambda"], self.hp["identity"] * self.hp["cycle_lambda"]
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        rec_a, rec_b = self.G_BA(fake_b), self.G_AB(fake_a)
        self.D_A.requires_grad_(False)
        self.D_B.requires_grad_(False)
        loss_gan = lsgan_g_loss(self.D_B(fake_b)) + lsgan_g_loss(self.D_A(fake_a))
        loss_cycle = (rec_a - a).abs().mean() + (rec_b - b).abs().mean()
        loss_g = loss_gan + lam * loss_cycle
        loss_idt = torch.zeros((), device=self.device)
        if idt > 0:
            loss_idt = (self.G_AB(b) - b).abs().mean() + (self.G_BA(a) - a).abs().mean()
            loss_g = loss_g + idt * loss_idt
        self.minimize(loss_g, self.opt_G)
        self.D_A.requires_grad_(True)
        self.D_B.requires_grad_(True)
        pooled_b = self.pool_B.query(fake_b, self.generator)
        pooled_a = self.pool_A.query(fake_a, self.generator)
        loss_d = ls_d_loss(self.D_B(b), self.D_B(pooled_b), 0.0, 1.0) + ls_d_loss(self.D_A(a), self.D_A(pooled_a), 0.0, 1.0)
        self.minimize(loss_d, self.opt_D)
        self.steps += 1
        return {"loss_d": loss_d.detach(), "loss_g": loss_gan.detach(), "cycle": loss_cycle.detach(), "identity": loss_idt.detach()}

    def translate(self, images: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (N, C, S, S) -> uint8 (N, C, S, S) on the CPU; target int64 (N,): 1 = to B
        (G_AB), 0 = to A (G_BA); None = all to B."""
        x = to_float(images, (self.c, self.s, self.s))
        t = torch.ones(len(x), dtype=torch.int64) if target is None else torch.as_tensor(target).to(torch.int64).cpu()
        if t.shape != (len(x),) or not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"cyclegan target must be int64 ({len(x)},) domain ids in {{0 (A), 1 (B)}}")

        def run(xc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
            out = torch.empty_like(xc)
            to_b = tc == 1
            if to_b.any():
                out[to_b] = self.G_AB(xc[to_b])
            if (~to_b).any():
                out[~to_b] = self.G_BA(xc[~to_b])
            return out

        return translate_in_chunks([self.G_AB, self.G_BA], run, [x, t], self.device, self.sample_batch)

    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``translate(condition)`` (A -> B): condition is required, uint8 (n, C, S, S) images of A."""
        if condition is None or len(condition) != n:
            raise ValueError(f"cyclegan translates images: pass condition = uint8 ({n}, C, S, S) images of domain A")
        return self.translate(condition)

    def train(self) -> None:
        for name in NETS:
            getattr(self, name).train()

    def eval(self) -> None:
        for name in NETS:
            getattr(self, name).eval()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: getattr(self, name).state_dict() for name in NETS}
        state.update(opt_G=self.opt_G.state_dict(), opt_D=self.opt_D.state_dict(), steps=self.steps,
                     pool_A=self.pool_A.state_dict(), pool_B=self.pool_B.state_dict())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in NETS:
            getattr(self, name).load_state_dict(state[name])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.pool_A.load_state_dict(state["pool_A"])
        self.pool_B.load_state_dict(state["pool_B"])
        self.steps = int(state["steps"])
