"""StarGAN (Choi et al. 2018): one generator for every domain, a critic with a domain classifier."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.cgan import batch_labels, label_maps
from genbench.baselines.cyclegan import ResnetGenerator
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, eager, seeded_init
from genbench.baselines.pix2pix import to_float, translate_in_chunks
from genbench.baselines.wgan_gp import gradient_penalty
from genbench.bench.spec import DataInfo, SpecError


def critic_depth(size: int) -> int:
    """Stride-2 layers of the StarGAN critic: halve while the side stays even and >= 2
    (128 -> 6 layers down to 2x2, the paper's; 64 -> 5; 28 -> 2, down to 7x7)."""
    n = 0
    while size % 2 == 0 and size // 2 >= 2:
        size //= 2
        n += 1
    if n == 0:
        raise SpecError(f"stargan's critic needs an even image side, got {size}")
    return n


class StarGANDiscriminator(nn.Module):
    """images float32 (B, C, S, S) -> (patch scores float32 (B, 1, S', S'), domain logits (B, k)).

    Choi et al. 2018, appendix Table 5: 4x4 stride-2 convs doubling the width from ndf,
    LeakyReLU(0.01), no normalisation (the gradient penalty is per sample); D_src a 3x3 conv to
    one channel (a PatchGAN output), D_cls a conv over the whole final map to k logits.
    """

    def __init__(self, c: int, size: int, k: int, ndf: int) -> None:
        super().__init__()
        n = critic_depth(size)
        layers: list[nn.Module] = [nn.Conv2d(c, ndf, 4, 2, 1), nn.LeakyReLU(0.01)]
        ch = ndf
        for _ in range(1, n):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.src = nn.Conv2d(ch, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(ch, k, size >> n, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.src(h), self.cls(h).flatten(1)


@BASELINES.register("stargan")
class StarGAN(GeneratorDiscriminatorState, Baseline):
    """StarGAN, Choi, Choi, Kim, Ha, Kim and Choo, "StarGAN: Unified Generative Adversarial
    Networks for Multi-Domain Image-to-Image Translation", CVPR 2018.

    One generator G(x, c) takes the image and the target domain c (one-hot label maps on extra
    input channels); the critic D has an adversarial head D_src and a domain classifier D_cls.
    Losses (eqs. 1-4, 8): D minimises -D_src(x) + D_src(G(x, c)) + lambda_gp GP + lambda_cls
    CE(D_cls(x), c'); G minimises -D_src(G(x, c)) + lambda_cls CE(D_cls(G(x, c)), c) +
    lambda_rec ||x - G(G(x, c), c')||_1, with c' the source domain, lambda_cls = 1,
    lambda_rec = 10 and WGAN-GP's penalty (Gulrajani et al. 2017, lambda_gp = 10; ``wgan_gp.
    gradient_penalty`` on D_src). Sec. 4.1 / appendix: Adam lr 1e-4, betas (0.5, 0.999), batch
    16, n_critic = 5 critic updates per generator update (a step here holds the 5, as in
    ``wgan``); target domains are the batch's labels in a random permutation (the authors'
    code). PyTorch's default initialisation (as their code).

    Networks (appendix, Tables 4-5): G is the ResNet-style generator (c7s1-64, two 4x4 stride-2
    downsamplings, 6 residual blocks, two 4x4 transposed upsamplings, c7s1-C, Tanh) with affine
    instance norm and zero padding (``cyclegan.ResnetGenerator``); D has 6 stride-2 layers for
    128 px, here as many as keep an even side >= 2 (2 for 28 px, 5 for 64 px). The authors'
    instance norms keep running statistics and use them in eval mode; here they normalise each
    sample in train and eval alike (``track_running_stats=False``).

    Deviations (CPU budgets): widths ngf = ndf = 16 (paper 64: ``--set ngf=64 --set ndf=64``);
    constant learning rate (the paper's linear decay needs an iteration count the model does not
    know). Domains are single labels (its RaFD setting); its CelebA multi-attribute setting is
    served by ``celeba-hair`` (three hair-colour domains).

    Data: images (C, S, S), S % 4 == 0, with int64 domain labels in [0, k), k = num_classes
    (bench/i2i_data.py ``digit-domains``, ``celeba-hair``). ``translate(x, target)`` maps each
    image to its target domain; ``sample(n, g, condition=x)`` draws uniform targets from ``g``.
    """

    task = TaskKind.MULTI_DOMAIN
    paper = "Choi et al. StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation. CVPR 2018"
    defaults: Mapping[str, Any] = {
        "batch_size": 16,
        "lr": 1e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "n_critic": 5,
        "cls_lambda": 1.0,
        "rec_lambda": 10.0,
        "gp_lambda": 10.0,
        "ngf": 16,
        "ndf": 16,
        "n_blocks": 6,
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64, "n_blocks": 6}
    sample_batch: int = 250

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        c, h, w = data.shape if len(data.shape) == 3 else (0, 0, 0)
        if h != w or h % 4 or h < 8:
            raise SpecError(
                f"stargan takes square images (C, S, S) with S % 4 == 0 and domain labels, but dataset "
                f"{data.name!r} has shape {data.shape}; use a multi-domain dataset (digit-domains, celeba-hair)"
            )
        if not data.num_classes or data.num_classes < 2:
            raise SpecError(f"stargan needs >= 2 domains (num_classes), but {data.name!r} has {data.num_classes}")
        for key in ("batch_size", "ngf", "ndf", "n_critic"):
            if hp[key] < 1:
                raise SpecError(f"stargan {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or min(hp["cls_lambda"], hp["rec_lambda"], hp["gp_lambda"], hp["n_blocks"]) < 0:
            raise SpecError("stargan needs lr > 0 and cls_lambda, rec_lambda, gp_lambda, n_blocks >= 0")
        self.c, self.s, self.k = c, h, int(data.num_classes)
        self.batches_per_step = hp["n_critic"]
        with seeded_init(generator):
            self.G = ResnetGenerator(c + self.k, c, hp["ngf"], hp["n_blocks"], norm="instance-affine", pad="zeros", kernel=4)
            self.D = StarGANDiscriminator(c, h, self.k, hp["ndf"])
        self.place_and_optimize(hp["lr"], hp["lr"], (hp["beta1"], hp["beta2"]))

    def generate(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """float32 (B, C, S, S) images, int64 (B,) target domains -> float32 (B, C, S, S) in [-1, 1]."""
        return self.G(torch.cat([x, label_maps(c, self.k, self.s).to(x.dtype)], dim=1))

    def _critic_step(self, x: torch.Tensor, c_org: torch.Tensor) -> dict[str, torch.Tensor]:
        c_trg = c_org[torch.randperm(len(c_org), generator=self.generator, device=self.device)]
        with torch.no_grad():
            fake = self.generate(x, c_trg)
        src_real, cls_real = self.D(x)
        src_fake, _ = self.D(fake)
        eps = torch.rand(len(x), generator=self.generator, device=self.device)
        gp = gradient_penalty(lambda t: eager(self.D)(t)[0], x, fake, eps)
        loss_cls = F.cross_entropy(cls_real, c_org)
        w = src_real.mean() - src_fake.mean()
        loss_d = -w + self.hp["cls_lambda"] * loss_cls + self.hp["gp_lambda"] * gp
        self.minimize(loss_d, self.opt_D)
        return {"loss_d": loss_d.detach(), "w_estimate": w.detach(), "gp": gp.detach(), "d_cls": loss_cls.detach()}

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """``n_critic`` critic updates (one per batch), then one G update on the last batch."""
        if len(batches) != self.batches_per_step:
            raise ValueError(f"stargan takes {self.batches_per_step} batches per step (n_critic), got {len(batches)}")
        for batch in batches:
            check_images(batch.x, tuple(self.data_info.shape), "batch.x")
            logs = self._critic_step(batch.x, batch_labels(batch, self.k, "stargan"))
        x, c_org = batches[-1].x, batches[-1].y
        c_trg = c_org[torch.randperm(len(c_org), generator=self.generator, device=self.device)]
        self.D.requires_grad_(False)
        fake = self.generate(x, c_trg)
        src_fake, cls_fake = self.D(fake)
        rec = self.generate(fake, c_org)
        loss_adv = -src_fake.mean()
        loss_cls = F.cross_entropy(cls_fake, c_trg)
        loss_rec = (x - rec).abs().mean()
        loss_g = loss_adv + self.hp["cls_lambda"] * loss_cls + self.hp["rec_lambda"] * loss_rec
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {**logs, "loss_g": loss_adv.detach(), "g_cls": loss_cls.detach(), "rec": loss_rec.detach()}

    def translate(self, images: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (N, C, S, S) images and int64 (N,) target domains in [0, k) -> uint8 (N, C, S, S)."""
        x = to_float(images, (self.c, self.s, self.s))
        if target is None:
            raise ValueError("stargan translate needs target: int64 (N,) domain ids")
        t = torch.as_tensor(target)
        if t.shape != (len(x),) or t.is_floating_point() or (len(t) and (int(t.min()) < 0 or int(t.max()) >= self.k)):
            raise ValueError(f"stargan target must be int64 ({len(x)},) domain ids in [0, {self.k}), got {t.dtype} {tuple(t.shape)}")
        return translate_in_chunks([self.G], self.generate, [x, t.to(torch.int64).cpu()], self.device, self.sample_batch)

    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``condition`` uint8 (n, C, S, S) images, each translated to a target domain drawn
        uniformly from ``generator``."""
        if condition is None or len(condition) != n:
            raise ValueError(f"stargan translates images: pass condition = uint8 ({n}, C, S, S) images")
        target = torch.randint(0, self.k, (n,), generator=generator, device=generator.device).cpu()
        return self.translate(condition, target)
