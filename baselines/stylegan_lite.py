"""StyleGAN-lite: the StyleGAN2 generator and discriminator ideas at small sizes for CPUs."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.nets import EMA, check_images, doubling_stack, eager, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2), the gain-corrected activation of StyleGAN2."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualLinear(nn.Module):
    """Linear layer with the equalized learning rate of Karras et al. 2018 (ProGAN, sec. 4.1):
    weights ~ N(0, 1/lr_mul^2), scaled at run time by lr_mul / sqrt(fan_in)."""

    def __init__(self, fan_in: int, fan_out: int, lr_mul: float = 1.0, bias_init: float = 0.0, act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(fan_in), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.act else y


class EqualConv2d(nn.Module):
    """Conv2d with the equalized learning rate (weights ~ N(0, 1), scale 1/sqrt(fan_in))."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.pad = 1.0 / math.sqrt(cin * k * k), k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class MappingNetwork(nn.Module):
    """z float32 (B, z_dim) -> w float32 (B, w_dim): pixel norm of z then ``n_layers`` FC
    layers with LeakyReLU and learning-rate multiplier 0.01 (StyleGAN, Karras et al. 2019,
    sec. 2 and app. C)."""

    def __init__(self, z_dim: int, w_dim: int, n_layers: int, lr_mul: float) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * n_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul, act=True) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = layer(x)
        return x


class ModulatedConv2d(nn.Module):
    """Weight modulation and demodulation (StyleGAN2, Karras et al. 2020, sec. 2.2, eqs. 1-3).

    x float32 (B, cin, H, W), w (B, w_dim) -> (B, cout, H', W'). The style s = A(w) (an
    affine layer, bias 1) scales the input channels of the weights per sample; with
    ``demodulate`` each output channel's weights are renormalised to unit L2 norm. ``up``
    doubles H and W first (bilinear; StyleGAN2 uses a transposed conv with a [1,3,3,1] FIR
    filter). Computed as StyleGAN2-ADA's non-fused path: scale the input channels by s, one
    shared convolution, scale the output channels by the demodulation coefficients; equal to
    convolving each sample with its own modulated and demodulated weights (eqs. 1-3).
    """

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demodulate: bool = True, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.scale, self.pad, self.demodulate, self.up = 1.0 / math.sqrt(cin * k * k), k // 2, demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, cin) styles
        weight = self.weight * self.scale  # (cout, cin, k, k)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * s[:, :, None, None], weight, padding=self.pad)
        if self.demodulate:  # eq. 3: 1 / sqrt(sum_{i,k} (s_i w_ijk)^2) per sample and output channel
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum((2, 3)).t() + 1e-8)  # (B, cout)
            out = out * d[:, :, None, None]
        return out


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, then per-pixel noise times a learned per-layer strength (init 0, as
    in StyleGAN2-ADA), bias and LeakyReLU (StyleGAN, sec. 3.2; StyleGAN2, Fig. 2c)."""

    def __init__(self, cin: int, cout: int, w_dim: int, up: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w) + noise * self.noise_strength
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation to C output channels, plus bias."""

    def __init__(self, cin: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class StyleGenerator(nn.Module):
    """Mapping network + synthesis network with skip (ToRGB) outputs (StyleGAN2 config E/F).

    Synthesis: a learned constant (ch, base, base) (base 7 for S = 28, 4 for 32 and 64), one
    layer at base, then per doubling an upsampling layer and a layer; ``num_ws = 1 + 2 n``
    style inputs, one per layer, and the ToRGB at each resolution uses the style of that
    resolution's last layer. Output float32 (B, C, S, S), roughly in [-1, 1] (not clamped).
    """

    def __init__(self, shape: tuple[int, int, int], z_dim: int, w_dim: int, ch: int, n_mapping: int, mapping_lr_mul: float) -> None:
        super().__init__()
        c, size, _ = shape
        self.base, n = doubling_stack(size)
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, n_mapping, mapping_lr_mul)
        self.const = nn.Parameter(torch.randn(ch, self.base, self.base))
        self.layers = nn.ModuleList([SynthesisLayer(ch, ch, w_dim, up=False)])
        self.torgb = nn.ModuleList([ToRGB(ch, c, w_dim)])
        for _ in range(n):
            self.layers.extend([SynthesisLayer(ch, ch, w_dim, up=True), SynthesisLayer(ch, ch, w_dim, up=False)])
            self.torgb.append(ToRGB(ch, c, w_dim))
        self.num_ws = len(self.layers)
        self.sizes = [self.base] + [self.base * 2 ** (1 + i // 2) for i in range(2 * n)]  # per layer

    def draw_noise(self, n: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Per-layer noise inputs, float32 (n, 1, s, s) for each layer's size s, from ``generator``."""
        return [torch.randn(n, 1, s, s, generator=generator, device=generator.device) for s in self.sizes]

    def synthesis(
        self, ws: torch.Tensor, noise: Sequence[torch.Tensor], return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """ws float32 (B, num_ws, w_dim), noise as from ``draw_noise`` -> images (B, C, S, S);
        with ``return_features`` also each layer's output activations (B, ch, s, s)."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        img, feats = None, []
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise[i])
            feats.append(x)
            if i % 2 == 0:  # last layer of a resolution: skip connection to RGB
                y = self.torgb[i // 2](x, ws[:, i])
                img = y if img is None else F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + y
        return (img, feats) if return_features else img

    def forward(self, z: torch.Tensor, noise: Sequence[torch.Tensor]) -> torch.Tensor:
        """z (B, z_dim) -> images; every layer gets the same w (no mixing)."""
        w = self.mapping(z)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1), noise)


def mix_styles(w1: torch.Tensor, w2: torch.Tensor, num_ws: int, cutoff: int | torch.Tensor) -> torch.Tensor:
    """(B, num_ws, w_dim): w1 for layers [0, cutoff), w2 for layers [cutoff, num_ws) (``cutoff`` an
    int or a 0-d integer tensor on w1's device)."""
    idx = torch.arange(num_ws, device=w1.device)[None, :, None]
    return torch.where(idx < cutoff, w1[:, None], w2[:, None])


class DiscriminatorBlock(nn.Module):
    """Residual block (StyleGAN2 config F, Fig. 7c): two 3x3 convs and a 2x average-pool
    downsample, plus a pooled 1x1 skip; the sum is scaled by 1/sqrt(2)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv0, self.conv1 = EqualConv2d(ch, ch, 3), EqualConv2d(ch, ch, 3)
        self.skip = EqualConv2d(ch, ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)
        return (x + skip) / SQRT2


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one channel with the std over groups of ``group`` samples, averaged over
    features and pixels (Karras et al. 2018, sec. 3). x (B, C, H, W) -> (B, C + 1, H, W)."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean((1, 2, 3))  # (B / g,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


class StyleDiscriminator(nn.Module):
    """images (B, C, S, S) -> logits (B,): FromRGB 1x1, residual blocks down to base x base,
    minibatch stddev, a 3x3 conv, and two FC layers (StyleGAN2 config F)."""

    def __init__(self, shape: tuple[int, int, int], ch: int) -> None:
        super().__init__()
        c, size, _ = shape
        base, n = doubling_stack(size)
        self.fromrgb = EqualConv2d(c, ch, 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(ch) for _ in range(n))
        self.conv = EqualConv2d(ch + 1, ch, 3)
        self.fc = EqualLinear(ch * base * base, ch, act=True)
        self.out = EqualLinear(ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.fromrgb(x))
        for block in self.blocks:
            x = block(x)
        x = lrelu(self.conv(minibatch_stddev(x)))
        return self.out(self.fc(x.flatten(1))).view(-1)


@BASELINES.register("stylegan-lite")
class StyleGANLite(Baseline):
    """StyleGAN-lite: the ideas of StyleGAN (Karras, Laine, Aila, "A Style-Based Generator
    Architecture for Generative Adversarial Networks", CVPR 2019) and StyleGAN2 (Karras, Laine,
    Aittala, Hellsten, Lehtinen, Aila, "Analyzing and Improving the Image Quality of StyleGAN",
    CVPR 2020) in a small network for 28x28, 32x32 and 64x64 images.

    Kept from the papers: an ``n_mapping`` = 8 layer mapping network z -> w with lr multiplier
    0.01 (StyleGAN sec. 2, app. C); StyleGAN2 modulated convolutions with demodulation
    (sec. 2.2) rather than AdaIN; per-layer noise inputs with learned strengths (StyleGAN sec.
    3.2); style-mixing regularisation with probability 0.9 at one uniformly drawn crossover
    layer per batch (StyleGAN sec. 3.1); skip-connection generator and residual discriminator
    with minibatch stddev (StyleGAN2 sec. 4.1, config E/F); non-saturating logistic loss;
    lazy R1 penalty on reals every ``r1_interval`` = 16 D steps, scaled by the interval and taken
    as its own D step (17 D steps per 16 iterations), with Adam lr and betas of D adjusted by
    c = 16/17 for that (StyleGAN2 sec. 3.1, app. B; ADA's Dmain/Dreg phases); Adam lr 0.002,
    betas (0, 0.99), eps 1e-8, batch 32 (StyleGAN2 app. B); generator EMA with a half-life of
    ``ema_kimg`` = 10 kimg (StyleGAN2 configs) ramped up as min(10, 0.05 * kimg seen)
    (StyleGAN2-ADA ``ema_rampup``), used for sampling; equalized learning rate (ProGAN).

    R1 gamma: ``r1_gamma`` = 0.01, the StyleGAN2-ADA (Karras et al. 2020, NeurIPS) CIFAR-10
    32x32 setting (the FFHQ 1024 setting is 10; the penalty scales with resolution).

    Left out (said here so no reader assumes them): progressive growing (StyleGAN2 replaced it
    with the skip/residual architecture, sec. 4.1), path-length regularisation, the truncation
    trick (samples are scored at psi = 1), FIR up/down-sampling filters (bilinear up, average
    pool down instead), mixed precision, ADA augmentation.

    Sizes: 28x28 MNIST is native, not padded: a learned 7x7 constant, 7 -> 14 -> 28 (5 layers);
    32x32: 4 -> 8 -> 16 -> 32 (7 layers); 64x64: 4 -> ... -> 64.
    Deviation for CPU: ``ch`` = 32 channels at every resolution (the StyleGAN2-ADA CIFAR config
    uses 512 at every resolution up to 32x32: ``--set ch=512`` restores it); z and w keep the
    paper's 512 dimensions.
    """

    task = TaskKind.UNCONDITIONAL
    paper = (
        "Karras, Laine, Aila. A Style-Based Generator Architecture for GANs. CVPR 2019; Karras et al. "
        "Analyzing and Improving the Image Quality of StyleGAN. CVPR 2020"
    )
    defaults: Mapping[str, Any] = {
        "batch_size": 32,
        "lr": 0.002,
        "beta1": 0.0,
        "beta2": 0.99,
        "z_dim": 512,
        "w_dim": 512,
        "n_mapping": 8,
        "mapping_lr_mul": 0.01,
        "ch": 32,
        "style_mixing_prob": 0.9,
        "r1_gamma": 0.01,
        "r1_interval": 16,
        "ema_kimg": 10.0,
        "ema_rampup": 0.05,
    }
    paper_widths: Mapping[str, Any] = {"ch": 512}
    sample_batch: int = 250

    # -- construction -------------------------------------------------------------
    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G, D (initialised from ``generator``), Adam for each (D's adjusted for lazy R1), G's EMA."""
        self._check(hp, data)
        shape = tuple(data.shape)
        with seeded_init(generator):
            self.G = StyleGenerator(shape, hp["z_dim"], hp["w_dim"], hp["ch"], hp["n_mapping"], hp["mapping_lr_mul"])
            self.D = StyleDiscriminator(shape, hp["ch"])
        self.G.to(self.device)
        self.D.to(self.device)
        c = hp["r1_interval"] / (hp["r1_interval"] + 1)  # StyleGAN2 app. B: lazy regularisation
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=1e-8)
        self.opt_D = torch.optim.Adam(
            self.D.parameters(), lr=hp["lr"] * c, betas=(hp["beta1"] ** c, hp["beta2"] ** c), eps=1e-8
        )
        self.G_ema = EMA(self.G, hp["ema_kimg"])
        self.steps, self.images = 0, 0
        self.last_r1 = torch.zeros((), device=self.device)  # the last R1 penalty (0 until one is computed)

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        for key in ("batch_size", "z_dim", "w_dim", "n_mapping", "ch", "r1_interval"):
            if hp[key] < 1:
                raise SpecError(f"stylegan-lite {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["mapping_lr_mul"] <= 0:
            raise SpecError("stylegan-lite lr and mapping_lr_mul must be > 0")
        if not 0.0 <= hp["style_mixing_prob"] <= 1.0:
            raise SpecError(f"stylegan-lite style_mixing_prob must be in [0, 1], got {hp['style_mixing_prob']}")
        if hp["r1_gamma"] < 0 or hp["ema_kimg"] < 0 or hp["ema_rampup"] < 0:
            raise SpecError("stylegan-lite r1_gamma, ema_kimg and ema_rampup must be >= 0")
        c, h, w = data.shape
        try:
            doubling_stack(h)
        except ValueError as exc:
            raise SpecError(f"stylegan-lite cannot build for {data.name!r} with shape {data.shape}: {exc}") from exc
        if h != w:
            raise SpecError(f"stylegan-lite needs square images, got {data.shape}")

    # -- training -----------------------------------------------------------------
    def _mixed_ws(self, n: int) -> torch.Tensor:
        """ws (n, num_ws, w_dim) for a training batch with style mixing: two latents, and with
        probability ``style_mixing_prob`` the second one's w from a crossover layer drawn
        uniformly in [1, num_ws) on (one crossover per batch, as StyleGAN2-ADA)."""
        g, dev = self.generator, self.device
        z = torch.randn(2, n, self.hp["z_dim"], generator=g, device=dev)
        cutoff = torch.randint(1, max(self.G.num_ws, 2), (), generator=g, device=dev)
        mix = torch.rand((), generator=g, device=dev) < self.hp["style_mixing_prob"]
        w = self.G.mapping(z.reshape(2 * n, -1)).view(2, n, -1)
        # the crossover stays a device tensor: no value is read back to the host (a GPU sync) per step
        return mix_styles(w[0], w[1], self.G.num_ws, torch.where(mix, cutoff, self.G.num_ws))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D update (logistic loss), every ``r1_interval`` steps a second one on the R1 penalty
        of the reals (lazy regularisation: a separate step, as StyleGAN2 and ADA), then one G
        update (non-saturating loss) on the same fake batch; then the EMA update.

        x float32 (B, C, H, W) in [-1, 1]. Returns 0-d tensors loss_d (the logistic loss), loss_g, r1 (the last
        computed penalty ||grad D(x)||^2, mean over the batch), d_real, d_fake (mean logits).
        """
        (batch,) = batches
        x = batch.x
        check_images(x, tuple(self.data_info.shape), "batch.x")
        n = len(x)
        fake = self.G.synthesis(self._mixed_ws(n), self.G.draw_noise(n, self.generator))
        d_real, d_fake = self.D(x), self.D(fake.detach())
        loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        self.minimize(loss_d, self.opt_D)
        if self.hp["r1_gamma"] > 0 and self.steps % self.hp["r1_interval"] == 0:
            # lazy R1 (StyleGAN2 app. B; ADA's 'Dreg' phase): its own D step on a fresh forward pass,
            # the penalty times the interval; with the main steps that is interval + 1 D steps per
            # interval, which the lr and betas of opt_D (mb_ratio c) are adjusted for
            x_in = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(eager(self.D)(x_in).sum(), x_in, create_graph=True)
            r1 = grad.pow(2).sum((1, 2, 3)).mean()
            self.minimize(r1 * (self.hp["r1_gamma"] / 2) * self.hp["r1_interval"], self.opt_D)
            self.last_r1 = r1.detach()
        self.D.requires_grad_(False)
        loss_g = F.softplus(-self.D(fake)).mean()
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        seen = n * self.world_size  # global images (n is this rank's slice)
        self.steps, self.images = self.steps + 1, self.images + seen
        self._update_ema(seen)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "r1": self.last_r1,
                "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}

    def _update_ema(self, n: int) -> None:
        """EMA half-life min(ema_kimg, ema_rampup * kimg seen) (StyleGAN2-ADA training_loop)."""
        half_life = self.hp["ema_kimg"]
        if self.hp["ema_rampup"] > 0:
            half_life = min(half_life, self.images / 1000.0 * self.hp["ema_rampup"])
        self.G_ema.half_life_kimg = half_life
        self.G_ema.update(n)

    # -- sampling -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n images from the EMA generator, uint8 (n, C, H, W) on the CPU.

        All latents z (n, z_dim) then all noise inputs are drawn first from ``generator``
        (CPU), so results do not depend on the chunk size; no truncation (psi = 1).
        """
        if condition is not None:
            raise ValueError("stylegan-lite is unconditional; condition must be None")
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        noise = self.G_ema.module.draw_noise(n, generator)
        out = []
        for start in range(0, n, self.sample_batch):
            sl = slice(start, start + self.sample_batch)
            out.append(self.G_ema.module(z[sl].to(self.device), [t[sl].to(self.device) for t in noise]))
        return to_uint8(torch.cat(out)) if out else torch.empty(0, *self.data_info.shape, dtype=torch.uint8)

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, EMA, counters and the last R1 value (shares storage)."""
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "G_ema": self.G_ema.state_dict(), "steps": self.steps, "images": self.images,
            "last_r1": self.last_r1,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.steps, self.images = int(state["steps"]), int(state["images"])
        self.last_r1 = state["last_r1"]
