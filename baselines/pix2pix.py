"""pix2pix (Isola et al. 2017): a U-Net generator and a PatchGAN, conditional GAN loss + L1.

Also the image-to-image helpers that cyclegan.py and stargan.py share: the A|B layout of
paired / unpaired data, the PatchGAN, seeded dropout, and ``translate`` in chunks.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.dcgan import discriminator_loss, generator_loss
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, init_dcgan_, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError

# --- shared by the image-to-image families ----------------------------------------------------------


def pair_shape(data: DataInfo, family: str) -> tuple[int, int]:
    """(C, S) of A|B data stored side by side as (C, S, 2S) (bench/i2i_data.py); SpecError otherwise."""
    c, h, w = data.shape if len(data.shape) == 3 else (0, 0, 0)
    if data.kind != "image" or w != 2 * h or h < 8:
        raise SpecError(
            f"{family} trains on image-to-image pairs stored A|B side by side, (C, S, 2S) with S >= 8, "
            f"but dataset {data.name!r} has shape {data.shape}; use an image-to-image dataset "
            "(genbench list datasets: edges2digits, gray2color, digits2textured, facades, ...)"
        )
    return c, h


def split_pair(x: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float (B, C, S, 2S) A|B batch -> (A, B), each (B, C, S, S)."""
    if x.dim() != 4 or x.shape[-1] != 2 * size or x.shape[-2] != size:
        raise ValueError(f"an A|B batch must have shape (B, C, {size}, {2 * size}), got {tuple(x.shape)}")
    return x[..., :size], x[..., size:]


def to_float(images: torch.Tensor, shape: tuple[int, ...], name: str = "images") -> torch.Tensor:
    """uint8 (N, *shape) on any device -> float32 in [-1, 1]; ValueError for another dtype or shape."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or tuple(images.shape[1:]) != tuple(shape):
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{name} must be uint8 (N, {', '.join(map(str, shape))}) images in [0, 255], got {got}")
    return images.float() / 127.5 - 1.0


@torch.no_grad()
def translate_in_chunks(
    nets: Sequence[nn.Module], fn: Callable[..., torch.Tensor], tensors: Sequence[torch.Tensor],
    device: torch.device, chunk: int,
) -> torch.Tensor:
    """``fn(*chunk_of_each_tensor)`` over ``chunk``-sized slices with ``nets`` in eval mode (modes
    restored); float outputs in [-1, 1] -> uint8 on the CPU. Per-sample networks (no batch
    statistics in eval mode), so results do not depend on ``chunk``."""
    modes = [n.training for n in nets]
    for n in nets:
        n.eval()
    try:
        parts = [fn(*(t.to(device) for t in ts)) for ts in zip(*(t.split(chunk) for t in tensors))]
    finally:
        for n, m in zip(nets, modes):
            n.train(m)
    return to_uint8(torch.cat(parts))


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``self.generator`` (set by the model) instead of the global
    RNG, so that a resumed run is bit-identical. Identity in eval mode or with generator None."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or self.generator is None:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


NORMS = ("batch", "instance", "instance-affine")


def norm_layer(kind: str, ch: int) -> nn.Module:
    """'batch' (pix2pix), 'instance' (CycleGAN: InstanceNorm2d, no affine, no running statistics)
    or 'instance-affine' (StarGAN: with a learned scale and shift; per-sample in train and eval)."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind in ("instance", "instance-affine"):
        return nn.InstanceNorm2d(ch, affine=kind == "instance-affine", track_running_stats=False)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def patch_receptive_field(n_down: int) -> int:
    """Receptive field in pixels of ``PatchGAN(n_down=...)`` (4x4 kernels): 10, 16, 34, 70 (the
    paper's 70x70), 142 for n_down = 0, 1, 2, 3, 4."""
    rf = 1
    strides = [1, 1] + [2] * n_down if n_down else [1, 1, 1]  # from the output back to the input
    for stride in strides:
        rf = (rf - 1) * stride + 4
    return rf


PATCH_FRACTION = 70 / 256  # the paper's 70x70 patches on 256x256 images


def auto_patch_layers(size: int) -> int:
    """The n_down whose receptive field is closest to 70/256 of the image side: 28 -> 0 (10 px),
    64 -> 1 (16 px), 128 -> 2 (34 px), 256 -> 3 (70 px, the paper's)."""
    return min(range(6), key=lambda n: abs(patch_receptive_field(n) - PATCH_FRACTION * size))


class PatchGAN(nn.Module):
    """images float32 (B, C, S, S) -> a map of patch logits float32 (B, 1, S', S').

    Isola et al. 2017's PatchGAN (their code's NLayerDiscriminator): 4x4 convs, ``n_down``
    stride-2 layers (widths ndf, 2ndf, 4ndf, ... capped at 8ndf), one stride-1 layer at the next
    width, and a stride-1 conv to 1 channel; no norm on the first layer, LeakyReLU(0.2). With
    n_down = 0 the first layer has stride 1 too. Each logit sees a
    ``patch_receptive_field(n_down)`` square (n_down = 3: 70x70).
    """

    def __init__(self, in_ch: int, ndf: int, n_down: int, norm: str = "batch") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2 if n_down > 0 else 1, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for i in range(1, n_down + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_down else 1
            layers += [nn.Conv2d(ch, out, 4, stride, 1, bias=False), norm_layer(norm, out), nn.LeakyReLU(0.2, True)]
            ch = out
        if n_down == 0:
            out = ndf * 2
            layers += [nn.Conv2d(ch, out, 4, 1, 1, bias=False), norm_layer(norm, out), nn.LeakyReLU(0.2, True)]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.receptive_field = patch_receptive_field(n_down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --- the U-Net ------------------------------------------------------------------------------------


def unet_depth(size: int) -> tuple[int, int]:
    """(padded size, number of stride-2 levels down to 1x1): the next power of two >= size.
    28 -> (32, 5); 64 -> (64, 6); 256 -> (256, 8), the paper's."""
    padded = 1 << max(3, math.ceil(math.log2(size)))
    return padded, int(math.log2(padded))


class UNetGenerator(nn.Module):
    """images float32 (B, C_in, S, S) in [-1, 1] -> float32 (B, C_out, S, S) in [-1, 1].

    Isola et al. 2017, appendix 6.1.1: encoder C64-C128-C256-C512-C512-..., 4x4 stride-2 convs,
    BatchNorm (not on the first layer, and, as in their code, not on the innermost 1x1 one),
    LeakyReLU(0.2); decoder of 4x4 stride-2 transposed convs, BatchNorm, ReLU, dropout 0.5 on
    the first three decoder layers, skip connections from encoder layer i to decoder layer
    n - i, Tanh output. Widths ngf * (1, 2, 4, 8, 8, ...). The encoder goes down to 1x1: inputs
    whose side is not a power of two (28) are padded by replication to the next one (32) and
    the output is cropped back.
    """

    def __init__(self, c_in: int, c_out: int, size: int, ngf: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.size = size
        self.padded, depth = unet_depth(size)
        widths = [ngf * min(2 ** i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        ch = c_in
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(ch, w, 4, 2, 1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(w))
            self.down.append(nn.Sequential(*layers))
            ch = w
        self.up = nn.ModuleList()
        self.dropouts: list[SeededDropout] = []
        for j in range(depth):  # j = 0 is the innermost
            i = depth - 1 - j  # the encoder level it mirrors
            w_out = widths[i - 1] if i > 0 else c_out
            w_in = widths[i] if j == 0 else widths[i] * 2
            layers = [nn.ReLU(True), nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(w_out))
                if j < 3 and dropout > 0:
                    drop = SeededDropout(dropout)
                    self.dropouts.append(drop)
                    layers.append(drop)
            else:
                layers.append(nn.Tanh())
            self.up.append(nn.Sequential(*layers))

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        for d in self.dropouts:
            d.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.padded - self.size
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), mode="replicate")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips[-1])
        for j in range(1, len(self.up)):
            x = self.up[j](torch.cat([x, skips[-1 - j]], dim=1))
        if pad:
            x = x[..., pad // 2 : pad // 2 + self.size, pad // 2 : pad // 2 + self.size]
        return x


# --- the family -----------------------------------------------------------------------------------


@BASELINES.register("pix2pix")
class Pix2Pix(GeneratorDiscriminatorState, Baseline):
    """pix2pix, Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with Conditional
    Adversarial Networks", CVPR 2017.

    Objective (eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), lambda = 100, with the
    conditional D judging (input, output) pairs concatenated on channels; G minimises the
    non-saturating -log D(x, G(x)) (sec. 3.3); D's objective is halved (sec. 3.3: "we divide the
    objective by 2 while optimizing D"). Noise only through dropout (sec. 2.2). Optimiser (sec.
    3.3): Adam, lr 2e-4, betas (0.5, 0.999), one D step then one G step; weights ~ N(0, 0.02).

    Generator: the U-Net of appendix 6.1.1 (``UNetGenerator``), down to 1x1 (28x28 inputs are
    padded to 32). Discriminator: the PatchGAN (appendix 6.1.2, ``PatchGAN``). The paper's
    70x70 patch is larger than these 28-64 px images, so the number of stride-2 layers is
    scaled (``d_layers=-1``, auto) to keep the paper's ratio of patch to image side (70/256):
    10x10 patches at 28 px, 16x16 at 64 px, 70x70 at 256 px; ``--set d_layers=3`` gives the 70x70 net.

    Batch 4 (the paper uses 1 to 10 by dataset; at equal CPU time 500 steps of 4 beat 125 of
    16 on edges2digits: PSNR 15.3 vs 13.6 dB). Deviation (CPU budgets): widths ``ngf = ndf =
    16`` (paper 64: ``--set ngf=64 --set ndf=64``). The paper
    keeps dropout at test time and normalises with the test batch's statistics; ``sample`` and
    ``translate`` run G in eval mode (no dropout, BatchNorm running statistics), so scored
    outputs are deterministic and do not depend on the evaluation batch (the paper reports
    "only minor stochasticity" from that dropout).

    Data: paired A|B images (C, S, 2S) (bench/i2i_data.py), A = input, B = target.
    ``translate(a)``: uint8 (N, C, S, S) inputs -> uint8 outputs; ``sample(n, g, condition=a)``
    is the same (the generator is unused).
    """

    task = TaskKind.PAIRED
    paper = "Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional Adversarial Networks. CVPR 2017"
    defaults: Mapping[str, Any] = {
        "batch_size": 4,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "l1_lambda": 100.0,
        "ngf": 16,
        "ndf": 16,
        "d_layers": -1,
        "dropout": 0.5,
        "init_std": 0.02,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}
    sample_batch: int = 250

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        c, s = pair_shape(data, "pix2pix")
        for key in ("batch_size", "ngf", "ndf"):
            if hp[key] < 1:
                raise SpecError(f"pix2pix {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["l1_lambda"] < 0 or not 0 <= hp["dropout"] < 1 or hp["d_layers"] < -1:
            raise SpecError("pix2pix needs lr > 0, l1_lambda >= 0, 0 <= dropout < 1 and d_layers >= -1 (-1: auto)")
        self.c, self.s = c, s
        n_down = auto_patch_layers(s) if hp["d_layers"] == -1 else hp["d_layers"]
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(UNetGenerator(c, c, s, hp["ngf"], hp["dropout"]), cpu_g, hp["init_std"])
            self.D = init_dcgan_(PatchGAN(2 * c, hp["ndf"], n_down), cpu_g, hp["init_std"])
        self.place_and_optimize(hp["lr"], hp["lr"], (hp["beta1"], hp["beta2"]))
        self.G.set_dropout_generator(self.generator)

    @property
    def patch_size(self) -> int:
        """The PatchGAN's receptive field in pixels."""
        return self.D.receptive_field

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D update on (A, B) vs (A, G(A)), then one G update: GAN + lambda * L1(G(A), B)."""
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        a, b = split_pair(batch.x, self.s)
        fake = self.G(a)
        d_real = self.D(torch.cat([a, b], 1))
        d_fake = self.D(torch.cat([a, fake.detach()], 1))
        loss_d = 0.5 * discriminator_loss(d_real, d_fake)
        self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        loss_gan = generator_loss(self.D(torch.cat([a, fake], 1)), "ns")
        loss_l1 = (fake - b).abs().mean()
        loss_g = loss_gan + self.hp["l1_lambda"] * loss_l1
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_gan.detach(), "l1": loss_l1.detach(),
            "d_real": torch.sigmoid(d_real.detach()).mean(), "d_fake": torch.sigmoid(d_fake.detach()).mean(),
        }

    def translate(self, images: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (N, C, S, S) inputs (domain A) -> uint8 (N, C, S, S) outputs (domain B) on the CPU."""
        if target is not None and not bool((torch.as_tensor(target) == 1).all()):
            raise ValueError("pix2pix translates A -> B only; target must be None or all 1 (domain B)")
        x = to_float(images, (self.c, self.s, self.s))
        return translate_in_chunks([self.G], self.G, [x], self.device, self.sample_batch)

    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``translate(condition)``: condition is required, uint8 (n, C, S, S) inputs."""
        if condition is None or len(condition) != n:
            raise ValueError(f"pix2pix translates images: pass condition = uint8 ({n}, C, S, S) inputs")
        return self.translate(condition)
