"""InfoGAN (Chen et al. 2016): latent codes whose mutual information with G's output is maximised."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.dcgan import discriminator_loss, generator_loss
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, init_dcgan_, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError


SLOPE = 0.01  # LeakyReLU slope: the authors' custom_ops.leaky_rectify default (Table 1 gives none)


class InfoGenerator(nn.Module):
    """latent float32 (B, noise + k_cat + n_cont) -> images float32 (B, C, S, S) in [-1, 1].

    Chen et al. 2016, app. C.1, Table 1 (MNIST): FC 1024 ReLU BN; FC (S/4)^2 * 128 ReLU BN;
    4x4 stride-2 upconv 64 ReLU BN; 4x4 stride-2 upconv C (Tanh here: data in [-1, 1]). Each
    layer is normalised before its ReLU, as in the authors' code (regularized_gan.py:
    ``custom_fully_connected(1024).fc_batch_norm().apply(tf.nn.relu)``; the table lists the parts).
    """

    def __init__(self, in_dim: int, shape: tuple[int, int, int], fc: int = 1024, ch: int = 128) -> None:
        super().__init__()
        c, s, _ = shape
        self.s4, self.ch = s // 4, ch
        self.fc = nn.Sequential(
            nn.Linear(in_dim, fc), nn.BatchNorm1d(fc), nn.ReLU(True),
            nn.Linear(fc, self.s4 * self.s4 * ch), nn.BatchNorm1d(self.s4 * self.s4 * ch), nn.ReLU(True),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), nn.BatchNorm2d(ch // 2), nn.ReLU(True),
            nn.ConvTranspose2d(ch // 2, c, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(latent).view(-1, self.ch, self.s4, self.s4))


class InfoDiscriminator(nn.Module):
    """images float32 (B, C, S, S) -> (D logit (B,), Q categorical logits (B, k), Q means (B, n_cont)).

    Table 1: 4x4 stride-2 conv 64 lReLU; 4x4 stride-2 conv 128 BN lReLU; FC 1024 BN lReLU
    (the body D and Q share); D: FC -> 1; Q: FC 128 BN lReLU, FC -> k + n_cont. The
    continuous codes' factored Gaussian has a fixed unit std (the authors' MNIST code).
    """

    def __init__(self, shape: tuple[int, int, int], k: int, n_cont: int, fc: int = 1024) -> None:
        super().__init__()
        c, s, _ = shape
        self.k = k
        self.body = nn.Sequential(
            nn.Conv2d(c, 64, 4, 2, 1), nn.LeakyReLU(SLOPE, True),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(SLOPE, True),
            nn.Flatten(), nn.Linear(128 * (s // 4) ** 2, fc), nn.BatchNorm1d(fc), nn.LeakyReLU(SLOPE, True),
        )
        self.d_head = nn.Linear(fc, 1)
        self.q_head = nn.Sequential(
            nn.Linear(fc, 128), nn.BatchNorm1d(128), nn.LeakyReLU(SLOPE, True), nn.Linear(128, k + n_cont)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(x)
        q = self.q_head(h)
        return self.d_head(h).view(-1), q[:, : self.k], q[:, self.k :]


def mi_loss(
    cat_logits: torch.Tensor, cont_mean: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor,
    lambda_cat: float, lambda_cont: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative variational MI lower bound L_I (Chen et al. 2016, eq. 4), up to the constant H(c).

    cat_logits float32 (B, k), cat int64 (B,): categorical cross-entropy, -E log Q(c_cat | x).
    cont_mean float32 (B, n), cont float32 (B, n): unit-variance Gaussian NLL without its
    constant, 0.5 * sum_j (c_j - mu_j)^2. Returns (weighted total, cat term, cont term).
    """
    l_cat = F.cross_entropy(cat_logits, cat)
    l_cont = 0.5 * (cont - cont_mean).pow(2).sum(1).mean() if cont.shape[1] else cat_logits.new_zeros(())
    return lambda_cat * l_cat + lambda_cont * l_cont, l_cat, l_cont


@BASELINES.register("infogan")
class InfoGAN(GeneratorDiscriminatorState, Baseline):
    """InfoGAN, Chen, Duan, Houthooft, Schulman, Sutskever and Abbeel, "InfoGAN: Interpretable
    Representation Learning by Information Maximizing Generative Adversarial Nets", NeurIPS 2016.

    min_{G,Q} max_D V(D, G) - lambda L_I(G, Q) (eq. 6): Q, a head on D's body, predicts the
    codes c from G(z, c), and the variational bound L_I (eq. 4) is maximised by G and by D/Q.
    MNIST setting (sec. 7.2, app. C.1): one categorical code of k = 10, two continuous codes
    c ~ U(-1, 1), 62 noise dims (U(-1, 1), as in the authors' code), so G's input has 74 dims;
    Table 1 networks; Adam with lr 2e-4 for D/Q and 1e-3 for G, beta1 0.5; lambda = 1 for the
    categorical code; the continuous codes' Q is a factored Gaussian with fixed unit std and
    also weight 1 (the authors' run_mnist_exp.py: info_reg_coeff=1.0, fix_std=True); batch
    128 (the same script). The categorical code should capture the digit class (the paper
    reports 5% error classifying digits with c1 under the best code-to-label mapping, sec. 7.2;
    the row's ``code_acc_mnist`` scores generated samples' codes against the MNIST classifier's
    labels instead: related, not the same number).

    Deviations: outputs Tanh on [-1, 1] data (the authors' code uses a Bernoulli mean);
    DCGAN init N(0, 0.02) (BatchNorm gamma N(1, 0.02), as the authors' batch norm); G's adversarial loss
    non-saturating. Width, for CPU speed: ``fc_dim`` = 256 units in the FC layers and ``g_ch``
    = 64 channels in G's 7x7 map (a step at batch 128 is about 3x a cgan step at the paper's
    width, dominated by the 1024 x 6272 FC layers); ``--set fc_dim=1024 --set g_ch=128``
    restores Table 1.

    ``sample`` draws all codes at random; ``sample_with_codes`` also returns the categorical
    codes so that the runner can score them against a classifier's labels
    (``genbench.metrics.conditional.code_label_accuracy``).
    """

    task = TaskKind.UNCONDITIONAL
    paper = (
        "Chen, Duan, Houthooft, Schulman, Sutskever, Abbeel. InfoGAN: Interpretable Representation "
        "Learning by Information Maximizing Generative Adversarial Nets. NeurIPS 2016"
    )
    defaults: Mapping[str, Any] = {
        "batch_size": 128,
        "lr_d": 2e-4,
        "lr_g": 1e-3,
        "beta1": 0.5,
        "beta2": 0.999,
        "noise_dim": 62,
        "k_cat": 10,
        "n_cont": 2,
        "lambda_cat": 1.0,
        "lambda_cont": 1.0,
        "init_std": 0.02,
        "fc_dim": 256,
        "g_ch": 64,
    }
    paper_widths: Mapping[str, Any] = {"fc_dim": 1024, "g_ch": 128}
    sample_batch: int = 500

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G, D/Q (initialised from ``generator``); Adam for G and for D with Q."""
        self._check(hp, data)
        shape = tuple(data.shape)
        in_dim = hp["noise_dim"] + hp["k_cat"] + hp["n_cont"]
        with seeded_init(generator) as cpu_g:
            self.G = init_dcgan_(InfoGenerator(in_dim, shape, hp["fc_dim"], hp["g_ch"]), cpu_g, hp["init_std"])
            D = InfoDiscriminator(shape, hp["k_cat"], hp["n_cont"], hp["fc_dim"])
            self.D = init_dcgan_(D, cpu_g, hp["init_std"])
        self.place_and_optimize(hp["lr_g"], hp["lr_d"], (hp["beta1"], hp["beta2"]))

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        for key in ("batch_size", "noise_dim", "fc_dim"):
            if hp[key] < 1:
                raise SpecError(f"infogan {key} must be >= 1, got {hp[key]}")
        if hp["g_ch"] < 2 or hp["g_ch"] % 2:
            raise SpecError(f"infogan g_ch must be an even number >= 2, got {hp['g_ch']}")
        if hp["k_cat"] < 2 or hp["n_cont"] < 0:
            raise SpecError(f"infogan needs k_cat >= 2 and n_cont >= 0, got {hp['k_cat']}, {hp['n_cont']}")
        if min(hp["lr_d"], hp["lr_g"], hp["init_std"]) <= 0 or min(hp["lambda_cat"], hp["lambda_cont"]) < 0:
            raise SpecError("infogan lr_d, lr_g, init_std must be > 0 and the lambdas >= 0")
        c, h, w = data.shape
        if h != w or h % 4:
            raise SpecError(f"infogan needs square images with a side divisible by 4, got {data.shape}")

    def draw_latents(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noise float32 (n, noise_dim) ~ U(-1, 1), cat int64 (n,) ~ U{0..k-1}, cont float32
        (n, n_cont) ~ U(-1, 1)), drawn in that order from ``generator`` on its device."""
        dev = generator.device
        noise = torch.rand(n, self.hp["noise_dim"], generator=generator, device=dev) * 2 - 1
        cat = torch.randint(0, self.hp["k_cat"], (n,), generator=generator, device=dev)
        cont = torch.rand(n, self.hp["n_cont"], generator=generator, device=dev) * 2 - 1
        return noise, cat, cont

    def generate(self, noise: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        """The latents (as from ``draw_latents``) -> images float32 (n, C, S, S) in [-1, 1]."""
        return self.G(torch.cat([noise, F.one_hot(cat, self.hp["k_cat"]).float(), cont], dim=1))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One D/Q update (GAN loss + lambda * MI loss on the fakes), then one G update.

        Returns 0-d tensors: loss_d, loss_g, mi_cat (categorical CE, <= log k), mi_cont, and
        q_acc, how often Q recovers the categorical code of the fakes.
        """
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        noise, cat, cont = self.draw_latents(len(batch), self.generator)
        fake = self.generate(noise, cat, cont)
        lam = (self.hp["lambda_cat"], self.hp["lambda_cont"])
        d_real, _, _ = self.D(batch.x)
        d_fake, q_cat, q_cont = self.D(fake.detach())
        info_d, l_cat, l_cont = mi_loss(q_cat, q_cont, cat, cont, *lam)
        loss_d = discriminator_loss(d_real, d_fake) + info_d
        self.minimize(loss_d, self.opt_D)
        self.D.requires_grad_(False)
        g_fake, g_cat, g_cont = self.D(fake)
        loss_g = generator_loss(g_fake, "ns") + mi_loss(g_cat, g_cont, cat, cont, *lam)[0]
        self.minimize(loss_g, self.opt_G)
        self.D.requires_grad_(True)
        self.steps += 1
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "mi_cat": l_cat.detach(),
            "mi_cont": l_cont.detach(), "q_acc": (q_cat.detach().argmax(1) == cat).float().mean(),
        }

    @torch.no_grad()
    def sample_with_codes(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(images uint8 (n, C, H, W), categorical codes int64 (n,)), both on the CPU.

        All latents come first from ``generator``; G runs in eval mode in chunks of
        ``sample_batch`` (results do not depend on the chunk size); G's mode is restored.
        """
        noise, cat, cont = self.draw_latents(n, generator)
        was_training = self.G.training
        self.G.eval()
        try:
            parts = zip(*(t.split(self.sample_batch) for t in (noise, cat, cont)))
            chunks = [self.generate(*(t.to(self.device) for t in part)) for part in parts]
        finally:
            self.G.train(was_training)
        out = torch.cat(chunks) if chunks else torch.empty(0, *self.data_info.shape)
        return to_uint8(out), cat.cpu()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n images, uint8 (n, C, H, W) on the CPU, with all codes drawn at random."""
        if condition is not None:
            raise ValueError("infogan is unconditional; condition must be None (use sample_with_codes for codes)")
        return self.sample_with_codes(n, generator)[0]

    @torch.no_grad()
    def predict_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q on images float32 (B, C, S, S) in [-1, 1] -> (categorical logits (B, k), means (B, n_cont))."""
        _, q_cat, q_cont = self.D(x.to(self.device))
        return q_cat, q_cont
