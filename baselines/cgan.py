"""Conditional GAN (Mirza and Osindero 2014): G and D both see the class label."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.dcgan import DCGANDiscriminator, DCGANGenerator, discriminator_loss, generator_loss
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, doubling_stack, init_dcgan_, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError

# --- label helpers shared by the class-conditional families (acgan imports them) -------------


def num_classes_of(data: DataInfo, family: str) -> int:
    """The dataset's number of classes; a SpecError for unlabelled data."""
    if not data.num_classes or data.num_classes < 2:
        raise SpecError(
            f"{family} is class-conditional and needs a labelled dataset with >= 2 classes, "
            f"but {data.name!r} has num_classes={data.num_classes}"
        )
    return int(data.num_classes)


def condition_labels(condition: torch.Tensor | None, n: int, k: int) -> torch.Tensor:
    """Requested labels as int64 (n,) on the CPU; None -> balanced ``arange(n) % k``.

    Raises ValueError for a wrong shape, a non-integer dtype or labels outside [0, k).
    """
    if condition is None:
        return torch.arange(n, dtype=torch.int64) % k
    if not isinstance(condition, torch.Tensor) or condition.shape != (n,):
        got = tuple(condition.shape) if isinstance(condition, torch.Tensor) else type(condition).__name__
        raise ValueError(f"condition must be an int64 tensor of shape ({n},) (one label per sample), got {got}")
    if condition.is_floating_point() or condition.dtype == torch.bool or condition.is_complex():
        raise ValueError(f"condition must hold integer class labels, got dtype {condition.dtype}")
    labels = condition.to(torch.int64).cpu()
    if n and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"condition labels must lie in [0, {k}), got min {int(labels.min())} max {int(labels.max())}")
    return labels


def batch_labels(batch: Batch, k: int, family: str) -> torch.Tensor:
    """The real batch's labels int64 (B,), checked against [0, k): the range only on the CPU, since on
    a GPU reading it back would stall every step (genbench's loop checks the whole training split's
    labels once, in ``BatchStream``; an out-of-range label on a GPU fails in one_hot's device assert)."""
    if batch.y is None:
        raise ValueError(f"{family} trains on labelled batches, but batch.y is None")
    y = batch.y
    if y.shape != (len(batch),) or y.dtype != torch.int64 or (
            y.device.type == "cpu" and len(y) and (int(y.min()) < 0 or int(y.max()) >= k)):
        raise ValueError(f"batch.y must be int64 ({len(batch)},) labels in [0, {k}), got {y.dtype} {tuple(y.shape)}")
    return y


def label_maps(y: torch.Tensor, k: int, size: int) -> torch.Tensor:
    """int64 (B,) labels -> one-hot feature maps float32 (B, k, size, size)."""
    return F.one_hot(y, k).float()[:, :, None, None].expand(-1, -1, size, size)


# --- the family ----------------------------------------------------------------------------


@BASELINES.register("cgan")
class CGAN(GeneratorDiscriminatorState, Baseline):
    """Conditional GAN, Mirza and Osindero, "Conditional Generative Adversarial Nets",
    arXiv:1411.1784, 2014.

    The paper's idea (sec. 3.2): feed the label y to both players, so G models p(x | y) and
    D judges (x, y) pairs: min_G max_D E log D(x|y) + E log(1 - D(G(z|y)|y)) (eq. 2).
    Paper defaults kept: z of 100 dims drawn uniformly, mini-batch 100, one-hot labels
    (sec. 4.1). The paper's "unit hypercube" is taken as U(-1, 1)^100, centred: with
    U[0, 1) the shared mean of z enters the first BatchNorm's statistics of the conv G (a
    CPU check with U[0, 1) had collapsed to a single image at step 123; with U(-1, 1) it
    gave varied digit strokes at steps 200 and 400).

    Architecture choice (documented deviation): the paper's MNIST nets are MLPs (G: z -> 200
    ReLU and y -> 1000 ReLU, joined into 1200 ReLU -> 784 sigmoid; D: maxout layers of 240x5
    for x, 50x5 for y, 240x4 joint, dropout 0.5) trained with SGD at lr 0.1 decayed to 1e-6
    and momentum 0.5 -> 0.7, hyperparameters the authors found by cross-validation and
    describe as "preliminary" (not tried here). For a baseline that trains like the rest of
    the zoo at short CPU budgets, this one uses the DCGAN-style conditional net that later work standardised (Radford et
    al. 2016 sec. 3 blocks, reused from ``dcgan.py``): G takes ``[z, onehot(y)]``; D takes the
    image with ``k`` one-hot label planes appended as extra input channels. Optimiser and
    init follow DCGAN sec. 4 (Adam lr 2e-4, beta1 0.5, N(0, 0.02) weights), loss
    non-saturating for G ('ns', paper's practice) or 'minimax' (eq. 2 as written).
    ``ngf = ndf = 32`` for CPU speed; ``--set ngf=64 --set ndf=64`` for the usual width.

    Training labels for fakes are drawn uniformly from ``self.generator``; ``sample`` with
    ``condition=None`` returns balanced labels ``arange(n) % k``.
    """

    task = TaskKind.CLASS_CONDITIONAL
    paper = "Mirza, Osindero. Conditional Generative Adversarial Nets. arXiv:1411.1784, 2014"
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
    }
    paper_widths: Mapping[str, Any] = {"ngf": 64, "ndf": 64}
    sample_batch: int = 500

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G: DCGAN generator on z_dim + k inputs; D: DCGAN discriminator on C + k channels."""
        self.k = num_classes_of(data, "cgan")
        check_conditional_hp(hp, data, "cgan")
        c, s, _ = data.shape
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(DCGANGenerator(hp["z_dim"] + self.k, (c, s, s), hp["ngf"]), cpu_g, hp["init_std"])
            self.D = init_dcgan_(DCGANDiscriminator((c + self.k, s, s), hp["ndf"]), cpu_g, hp["init_std"])
        self.place_and_optimize(hp["lr"], hp["lr"], (hp["beta1"], hp["beta2"]))

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z float32 (B, z_dim), y int64 (B,) -> images float32 (B, C, S, S) in [-1, 1]."""
        return self.G(torch.cat([z, F.one_hot(y, self.k).float()], dim=1))

    def discriminate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """images float32 (B, C, S, S), y int64 (B,) -> logits float32 (B,)."""
        return self.D(torch.cat([x, label_maps(y, self.k, x.shape[-1])], dim=1))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D update on (real x, real y) and (G(z|y'), y'), then one G update (same fakes)."""
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        y = batch_labels(batch, self.k, "cgan")
        b = len(batch)
        z = torch.rand(b, self.hp["z_dim"], generator=self.generator, device=self.device) * 2 - 1
        y_fake = torch.randint(0, self.k, (b,), generator=self.generator, device=self.device)
        fake = self.generate(z, y_fake)
        d_real, d_fake = self.discriminate(batch.x, y), self.discriminate(fake.detach(), y_fake)
        loss_d = discriminator_loss(d_real, d_fake)
        self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        loss_g = generator_loss(self.discriminate(fake, y_fake), self.hp["loss"])
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(d_real.detach()).mean(), "d_fake": torch.sigmoid(d_fake.detach()).mean(),
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (n, C, H, W) on the CPU of the requested classes (int64 (n,) in [0, k);
        None -> ``arange(n) % k``). z ~ U(-1, 1)^z_dim for all n drawn first from ``generator``;
        G runs in eval mode in chunks, so the result does not depend on the chunk size."""
        y = condition_labels(condition, n, self.k)
        z = torch.rand(n, self.hp["z_dim"], generator=generator, device=generator.device) * 2 - 1
        return sample_in_chunks(self.G, self.generate, z, y, self, self.sample_batch)


def check_conditional_hp(hp: Mapping[str, Any], data: DataInfo, family: str) -> None:
    """Shared checks of the DCGAN-style conditional families (cgan, acgan)."""
    if hp["loss"] not in ("ns", "minimax"):
        raise SpecError(f"{family} loss must be 'ns' or 'minimax', got {hp['loss']!r}")
    for key in ("batch_size", "z_dim", "ngf", "ndf"):
        if hp[key] < 1:
            raise SpecError(f"{family} {key} must be >= 1, got {hp[key]}")
    if hp["lr"] <= 0 or hp["init_std"] <= 0:
        raise SpecError(f"{family} lr and init_std must be > 0")
    c, h, w = data.shape
    if h != w:
        raise SpecError(f"{family} needs square images, got {data.shape}")
    try:
        doubling_stack(h)
    except ValueError as exc:
        raise SpecError(f"{family} cannot build for dataset {data.name!r} with shape {data.shape}: {exc}") from exc


def sample_in_chunks(
    net: nn.Module, gen_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z: torch.Tensor, y: torch.Tensor, model: Baseline, chunk: int,
) -> torch.Tensor:
    """Run ``gen_fn(z_chunk, y_chunk)`` with ``net`` in eval mode (mode restored); uint8 out."""
    was_training = net.training
    net.eval()
    try:
        chunks = [gen_fn(zc.to(model.device), yc.to(model.device)) for zc, yc in zip(z.split(chunk), y.split(chunk))]
    finally:
        net.train(was_training)
    out = torch.cat(chunks) if chunks else torch.empty(0, *model.data_info.shape)
    return to_uint8(out)
