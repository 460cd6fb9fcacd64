"""Conditional VAE (Sohn, Lee and Yan 2015) on class labels."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from genbench.baselines.base import BASELINES, Batch, TaskKind
from genbench.baselines.nets import check_images, probs_to_uint8, seeded_init
from genbench.baselines.vae import LOG_2PI, VAE, ConvDecoder, ConvEncoder, bernoulli_log_lik, binarize, eval_inputs, gaussian_kl, to_unit
from genbench.bench.spec import DataInfo, SpecError


def label_planes(y: torch.Tensor, num_classes: int, size: int) -> torch.Tensor:
    """int64 labels (B,) -> one-hot float32 planes (B, num_classes, size, size)."""
    onehot = F.one_hot(y, num_classes).float()
    return onehot[:, :, None, None].expand(-1, -1, size, size)


@BASELINES.register("cvae")
class CVAE(VAE):
    """Conditional VAE, Sohn, Lee and Yan, "Learning Structured Output Representation using
    Deep Conditional Generative Models", NeurIPS 2015.

    Model: the conditional ELBO of eq. 4, log p(x|y) >= E_q(z|x,y)[log p(x|z,y)] -
    KL(q(z|x,y) || p(z|y)), with the class label y as the condition and the image x as the
    output. We take the prior independent of the condition, p(z|y) = N(0, I), the relaxation
    the paper names in sec. 3.1 (following Kingma et al. 2014's M2). The label enters the
    encoder as one-hot constant planes concatenated to the image channels and the decoder as
    a one-hot vector concatenated to z. Networks, Bernoulli likelihood on binarised images, Adam lr 1e-3, batch
    128 and z_dim 20 are those of ``genbench.baselines.vae.VAE`` (the paper's MNIST models are
    MLPs with 1000 hidden units trained with Adam, sec. 5.1; widths differ).

    ``sample(n, g, condition)`` decodes z ~ N(0, I) with the requested labels (int64 (n,));
    ``condition=None`` asks for balanced labels ``arange(n) % num_classes``. It returns the
    decoder MEAN, as ``vae`` does. ``evaluate(x, y, g)`` needs the labels and reports
    ``elbo_cond`` (higher is better) and ``nll_iw_cond`` (importance-weighted bound of Burda
    et al. 2016 with k = ``iw_k``, lower is better), in nats per image: bounds on
    log p(x | y), NOT on log p(x), so they are not comparable with the ``vae`` rows' ``elbo``
    and ``nll_iw`` (knowing the label is worth up to log 10 = 2.3 nats on MNIST).
    """

    task = TaskKind.CLASS_CONDITIONAL
    paper = (
        "Sohn, Lee, Yan. Learning Structured Output Representation using Deep Conditional "
        "Generative Models. NeurIPS 2015"
    )
    defaults: Mapping[str, Any] = dict(VAE.defaults)
    evaluate_higher_is_better: Mapping[str, bool] = {"elbo_cond": True, "nll_iw_cond": False}

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """Encoder on C + K channels, decoder on z_dim + K inputs (K classes), one Adam."""
        self._check(hp, data)
        if not data.num_classes:
            raise SpecError(f"cvae needs a labelled dataset; {data.name!r} has no classes")
        self.num_classes = int(data.num_classes)
        c, s, _ = data.shape
        k = self.num_classes
        with seeded_init(generator):
            self.enc = ConvEncoder((c + k, s, s), hp["ch"], hp["hidden"], hp["z_dim"])
            self.dec = ConvDecoder((c, s, s), hp["ch"], hp["hidden"], hp["z_dim"] + k)
        self.enc.to(self.device)
        self.dec.to(self.device)
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        self.opt = torch.optim.Adam(params, lr=hp["lr"])
        self.steps = 0

    def _labels(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """Validated int64 labels (n,) in [0, K) on the model's device (the range is read on the CPU only:
        see ``cgan.batch_labels``; genbench's loop checks the training split's labels once)."""
        if y is None:
            raise ValueError("cvae needs class labels y (int64 (B,)); the dataset has none")
        if y.dtype != torch.int64 or tuple(y.shape) != (n,):
            raise ValueError(f"labels must be int64 of shape ({n},), got {y.dtype} {tuple(y.shape)}")
        if n and y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got [{int(y.min())}, {int(y.max())}]")
        return y.to(self.device)

    def encode(self, x01: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x,y): x01 (B, C, S, S) in [0, 1], y int64 (B,) -> (mu, logvar) (B, z_dim)."""
        return self.enc(torch.cat([x01, label_planes(y, self.num_classes, x01.shape[-1])], 1))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """p(x|z,y): z (B, z_dim), y int64 (B,) -> Bernoulli logits (B, C, S, S)."""
        return self.dec(torch.cat([z, F.one_hot(y, self.num_classes).float()], 1))

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One Adam step on the negative conditional ELBO of one labelled batch.

        Returns 0-d tensors in nats per image: loss (= -ELBO), rec and kl.
        """
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        y = self._labels(batch.y, len(batch))
        x01 = binarize(to_unit(batch.x), self.generator)
        mu, logvar = self.encode(x01, y)
        eps = torch.randn(mu.shape, generator=self.generator, device=self.device)
        z = mu + (0.5 * logvar).exp() * eps
        rec = -bernoulli_log_lik(self.decode(z, y), x01).mean()
        kl = gaussian_kl(mu, logvar).mean()
        loss = rec + kl
        self.minimize(loss, self.opt)
        self.steps += 1
        return {"loss": loss.detach(), "rec": rec.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n decoder means for the labels ``condition`` (int64 (n,); None: arange(n) % K),
        uint8 (n, C, H, W) on the CPU; z ~ N(0, I) (n, z_dim) drawn first from ``generator``."""
        y = torch.arange(n) % self.num_classes if condition is None else condition
        y = self._labels(y, n)
        z = torch.randn(n, self.hp["z_dim"], generator=generator, device=generator.device)
        chunks = [
            torch.sigmoid(self.decode(zc.to(self.device), yc))
            for zc, yc in zip(z.split(self.sample_batch), y.split(self.sample_batch))
        ]
        out = torch.cat(chunks) if chunks else torch.empty(0, *self.data_info.shape)
        return probs_to_uint8(out)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator) -> dict[str, float]:
        """Conditional ELBO and IW bound on log p(x|y) of a labelled split, nats per image.

        x: uint8 (N, C, H, W), binarised once; y: int64 (N,). The binarisation and the noise eps
        (N, k, z_dim) are drawn first from ``generator``, as in ``VAE.evaluate``; the estimators are the same with q(z|x,y) and
        p(x|z,y) in place of q(z|x) and p(x|z).
        """
        if x.dtype != torch.uint8 or tuple(x.shape[1:]) != tuple(self.data_info.shape) or len(x) == 0:
            raise ValueError(f"evaluate needs uint8 (N, *{tuple(self.data_info.shape)}) images, got {x.dtype} {tuple(x.shape)}")
        y = self._labels(y, len(x)).cpu()
        xb, eps = eval_inputs(x, self.hp["iw_k"], self.hp["z_dim"], generator)
        elbo, iw = [], []
        for xc, yc, ec in zip(xb.split(self.eval_batch), y.split(self.eval_batch), eps.split(self.eval_batch)):
            e, w = self._cond_bounds(xc.to(self.device), yc.to(self.device), ec.to(self.device))
            elbo.append(e.double().cpu())
            iw.append(w.double().cpu())
        return {"elbo_cond": float(torch.cat(elbo).mean()), "nll_iw_cond": float(-torch.cat(iw).mean())}

    def _cond_bounds(self, x01: torch.Tensor, y: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ELBO and IW bound float32 (B,); x01 (B, C, S, S), y (B,), eps (B, k, z_dim)."""
        b, k, zd = eps.shape
        mu, logvar = self.encode(x01, y)
        z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps
        logits = self.decode(z.reshape(b * k, zd), y.repeat_interleave(k))
        targets = x01[:, None].expand(b, k, *x01.shape[1:]).reshape(b * k, *x01.shape[1:])
        log_px = bernoulli_log_lik(logits, targets).view(b, k)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar[:, None]).sum(-1)
        elbo = log_px.mean(1) - gaussian_kl(mu, logvar)
        iw = torch.logsumexp(log_px + log_pz - log_qz, dim=1) - math.log(k)
        return elbo, iw
