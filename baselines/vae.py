"""Variational autoencoder (Kingma and Welling 2014) with a Bernoulli decoder."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.nets import check_images, probs_to_uint8, seeded_init
from genbench.bench.spec import DataInfo, SpecError

LOG_2PI = math.log(2.0 * math.pi)


class ConvEncoder(nn.Module):
    """images float32 (B, C, S, S) in [0, 1] -> (mu, logvar), each float32 (B, z_dim).

    Two stride-2 4x4 convs (ch, 2ch; ReLU) to S/4 x S/4, then an MLP with one hidden layer.
    """

    def __init__(self, shape: tuple[int, int, int], ch: int, hidden: int, z_dim: int) -> None:
        super().__init__()
        c, s, _ = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, ch, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(2 * ch * (s // 4) ** 2, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * z_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


class ConvDecoder(nn.Module):
    """z float32 (B, z_dim) -> Bernoulli logits float32 (B, C, S, S) (the encoder mirrored)."""

    def __init__(self, shape: tuple[int, int, int], ch: int, hidden: int, z_dim: int) -> None:
        super().__init__()
        c, s, _ = shape
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * ch * (s // 4) ** 2), nn.ReLU(True),
            nn.Unflatten(1, (2 * ch, s // 4, s // 4)),
            nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(ch, c, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def bernoulli_log_lik(logits: torch.Tensor, x01: torch.Tensor) -> torch.Tensor:
    """log p(x | z) summed over pixels: float32 (B,) in nats; x01 in [0, 1], logits (B, C, H, W)."""
    return -F.binary_cross_entropy_with_logits(logits, x01, reduction="none").flatten(1).sum(1)


def binarize(x01: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Stochastic binarisation: each pixel 1 with probability its intensity (x01 in [0, 1]), drawn
    from ``generator`` (Salakhutdinov and Murray 2008; the dynamically binarised MNIST of Burda et
    al. 2016, sec. 5). The Bernoulli likelihood is a distribution over binary images, so only on
    these is log p(x) a log-likelihood: on grey targets its "density" does not sum to 1.

    Drawn as ``rand < x01`` (a uniform per pixel) rather than ``torch.bernoulli``: a sized draw, so
    that in a data-parallel run each rank gets its rows of the global batch's draws
    (``bench.distributed.GlobalDraws``) and the run follows the one-process trajectory."""
    u = torch.rand(x01.shape, generator=generator, device=generator.device)
    return (u.to(x01.device) < x01).to(x01.dtype)


def eval_inputs(x: torch.Tensor, k: int, z_dim: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The random inputs of a likelihood evaluation of uint8 images x (N, C, H, W), drawn in this
    order from ``generator`` before any network runs (so nothing depends on a batch size): the
    split's one binarisation (N, C, H, W) in {0, 1}, then the noise eps (N, k, z_dim)."""
    xb = binarize(x.to(generator.device).float() / 255.0, generator)
    eps = torch.randn(len(x), k, z_dim, generator=generator, device=generator.device)
    return xb, eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)), float32 (B,) (Kingma and Welling 2014, app. B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Batch images float [-1, 1] -> pixel intensities in [0, 1]."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


@BASELINES.register("vae")
class VAE(Baseline):
    """VAE, Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

    Model: z ~ N(0, I) with ``z_dim`` 20 (one of the latent sizes of the paper's MNIST
    experiments, Fig. 2: 3, 5, 10, 20, 200); a Bernoulli decoder p(x|z) on pixel intensities
    in [0, 1] (app. C.1); a diagonal Gaussian encoder q(z|x); trained on the SGVB estimator B
    (eq. 10: analytic KL, L = 1 reparameterised sample). The loss is the negative ELBO in nats
    per image (BCE with logits summed over pixels, plus KL), averaged over the batch.

    Deviations from the paper (which used MLPs with 500 hidden units, Adagrad and
    mini-batches of 100): convolutional encoder/decoder (two stride-2 4x4 convs of ``ch`` and
    2 ``ch`` channels plus an MLP layer of ``hidden`` = 500 units), Adam lr 1e-3, batch 128,
    PyTorch's default init. Image sizes: any (C, S, S) with S divisible by 4 (28, 32, 64).

    Data: binarised, as the likelihood literature does (Burda et al. 2016, sec. 5: dynamically
    binarised MNIST): each training batch is binarised anew (pixel ~ Bernoulli(intensity), from
    the run's generator) and the evaluated split once, with the evaluation seed. The Bernoulli
    decoder is a distribution over binary images, so ``elbo`` and ``nll_iw`` are bounds on a true
    log-likelihood, comparable in kind with published binarised-MNIST numbers (Burda et al. 2016,
    Table 1, report VAEs at about 85-87 nats with a k = 5000 bound; a k = 64 bound is looser).
    On grey-level targets, as before this was changed, the same formula is not a likelihood (its
    "density" integrates to less than 1; Loaiza-Ganem and Cunningham 2019).

    ``sample`` returns the decoder MEAN (the Bernoulli probabilities, round(p * 255)), as in
    the paper's figures, not a Bernoulli draw. ``evaluate`` gives ``elbo`` (higher is better)
    and ``nll_iw``, the importance-weighted bound of Burda et al. 2016 with k = ``iw_k``
    samples (an upper bound on -log p(x); lower is better); both in nats per image.
    """

    task = TaskKind.LIKELIHOOD
    paper = "Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014"
    defaults: Mapping[str, Any] = {
        "batch_size": 128,
        "lr": 1e-3,
        "z_dim": 20,
        "hidden": 500,
        "ch": 32,
        "iw_k": 64,
    }
    evaluate_higher_is_better: Mapping[str, bool] = {"elbo": True, "nll_iw": False}
    sample_batch: int = 500
    eval_batch: int = 50  # images per forward pass in evaluate (times iw_k decoder passes)

    # -- construction -------------------------------------------------------------
    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """Create the encoder and decoder (initialised from ``generator``) and one Adam."""
        self._check(hp, data)
        shape = tuple(data.shape)
        with seeded_init(generator):
            self.enc = ConvEncoder(shape, hp["ch"], hp["hidden"], hp["z_dim"])
            self.dec = ConvDecoder(shape, hp["ch"], hp["hidden"], hp["z_dim"])
        self.enc.to(self.device)
        self.dec.to(self.device)
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        self.opt = torch.optim.Adam(params, lr=hp["lr"])
        self.steps = 0

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        for key in ("batch_size", "z_dim", "hidden", "ch", "iw_k"):
            if hp[key] < 1:
                raise SpecError(f"vae {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0:
            raise SpecError(f"vae lr must be > 0, got {hp['lr']}")
        c, h, w = data.shape
        if h != w or h % 4:
            raise SpecError(f"vae needs square images with a side divisible by 4, got {data.shape}")

    # -- training -----------------------------------------------------------------
    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One Adam step on the negative ELBO of one batch (x float32 (B, C, H, W) in [-1, 1]),
        binarised first (from ``self.generator``, before the noise).

        Returns 0-d tensors in nats per image: loss (= -ELBO), rec (-log p(x|z)) and kl.
        """
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        x01 = binarize(to_unit(batch.x), self.generator)
        mu, logvar = self.enc(x01)
        eps = torch.randn(mu.shape, generator=self.generator, device=self.device)
        z = mu + (0.5 * logvar).exp() * eps
        rec = -bernoulli_log_lik(self.dec(z), x01).mean()
        kl = gaussian_kl(mu, logvar).mean()
        loss = rec + kl
        self.minimize(loss, self.opt)
        self.steps += 1
        return {"loss": loss.detach(), "rec": rec.detach(), "kl": kl.detach()}

    # -- sampling -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n decoder means, uint8 (n, C, H, W) on the CPU: z ~ N(0, I) drawn all at once from
        ``generator`` (CPU), decoded in chunks of ``sample_batch``, round(sigmoid(logits) * 255)."""
        if condition is not None:
            raise ValueError("vae is unconditional; condition must be None")
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        chunks = [torch.sigmoid(self.dec(zc.to(self.device))) for zc in z.split(self.sample_batch)]
        out = torch.cat(chunks) if chunks else torch.empty(0, *self.data_info.shape)
        return probs_to_uint8(out)

    # -- model-dependent metrics ----------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator
    ) -> dict[str, float]:
        """ELBO and importance-weighted NLL on a split, in nats per image (float).

        x: uint8 (N, C, H, W) on the CPU, intensities x / 255 in [0, 1], binarised once. The
        binarisation and then all N * k noise draws eps (N, k, z_dim) come first from ``generator``
        (CPU; 4 * N * k * z_dim bytes; ``eval_inputs``), so the values depend only on the
        generator's state, not on any batch size.

        elbo: mean over images of (1/k) sum_i log p(x|z_i) - KL(q(z|x) || p(z)) (eq. 10, with
        the k samples of the IW bound). nll_iw: mean of -(logsumexp_i log w_i - log k), with
        w_i = p(x, z_i) / q(z_i | x) (Burda et al. 2016, eq. 8); k = hp ``iw_k``.
        """
        return self._mean_bounds(*self._eval_inputs(x, generator))

    def _eval_inputs(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``eval_inputs`` of a checked uint8 split: (binarised images, noise)."""
        if x.dtype != torch.uint8 or tuple(x.shape[1:]) != tuple(self.data_info.shape) or len(x) == 0:
            raise ValueError(
                f"evaluate needs uint8 (N, {', '.join(map(str, self.data_info.shape))}) images with N >= 1, "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        return eval_inputs(x, self.hp["iw_k"], self.hp["z_dim"], generator)

    def _mean_bounds(self, xb: torch.Tensor, eps: torch.Tensor) -> dict[str, float]:
        """The split means of the ELBO and the IW bound (``_bounds``) of binarised images xb."""
        elbo, iw = [], []
        for xc, ec in zip(xb.split(self.eval_batch), eps.split(self.eval_batch)):
            e, w = self._bounds(xc.to(self.device), ec.to(self.device))
            elbo.append(e.double().cpu())
            iw.append(w.double().cpu())
        return {"elbo": float(torch.cat(elbo).mean()), "nll_iw": float(-torch.cat(iw).mean())}

    def _bounds(self, x01: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ELBO and IW bound, float32 (B,) each; x01 (B, C, H, W), eps (B, k, z_dim)."""
        b, k, zd = eps.shape
        mu, logvar = self.enc(x01)
        z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps  # (B, k, z_dim)
        logits = self.dec(z.reshape(b * k, zd))
        targets = x01[:, None].expand(b, k, *x01.shape[1:]).reshape(b * k, *x01.shape[1:])
        log_px = bernoulli_log_lik(logits, targets).view(b, k)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar[:, None]).sum(-1)
        elbo = log_px.mean(1) - gaussian_kl(mu, logvar)
        iw = torch.logsumexp(log_px + log_pz - log_qz, dim=1) - math.log(k)
        return elbo, iw

    def train(self) -> None:
        self.enc.train()
        self.dec.train()

    def eval(self) -> None:
        self.enc.eval()
        self.dec.eval()

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Encoder, decoder, optimizer and the step counter (shares storage with the model)."""
        return {
            "enc": self.enc.state_dict(),
            "dec": self.dec.state_dict(),
            "opt": self.opt.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.enc.load_state_dict(state["enc"])
        self.dec.load_state_dict(state["dec"])
        self.opt.load_state_dict(state["opt"])
        self.steps = int(state["steps"])
