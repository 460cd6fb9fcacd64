"""BEGAN (Berthelot, Schumm and Metz 2017): an autoencoder D and the k_t equilibrium controller."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind
from genbench.baselines.nets import GeneratorDiscriminatorState, check_images, doubling_stack, seeded_init, to_uint8
from genbench.bench.spec import DataInfo, SpecError

BASES = (7, 8)  # 28 -> 7 x 2 x 2; 32 -> 8 x 2 x 2; 64 -> 8 x 2 x 2 x 2 (the paper starts at 8x8)


def _conv(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.ELU(inplace=True)]


class BEGANDecoder(nn.Module):
    """h float32 (B, h_dim) -> images float32 (B, C, S, S) (no output nonlinearity).

    Berthelot et al. 2017, sec. 3.5 / Fig. 1: FC to base x base x n, then per level two 3x3
    convs of n channels with ELU and a nearest-neighbour x2 upsampling (none after the last
    level), and a 3x3 conv to C channels. G and D's decoder share this architecture.
    """

    def __init__(self, h_dim: int, shape: tuple[int, int, int], n: int) -> None:
        super().__init__()
        c, s, _ = shape
        self.base, levels = doubling_stack(s, BASES)
        self.n = n
        self.fc = nn.Linear(h_dim, n * self.base * self.base)
        layers: list[nn.Module] = []
        for i in range(levels + 1):
            layers += _conv(n, n) + _conv(n, n)
            if i < levels:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers.append(nn.Conv2d(n, c, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(h).view(-1, self.n, self.base, self.base))


class BEGANEncoder(nn.Module):
    """images float32 (B, C, S, S) -> embedding float32 (B, h_dim) (sec. 3.5 / Fig. 1).

    A 3x3 conv to n, then per level two 3x3 convs of n * i channels and a stride-2 3x3 conv to
    n * (i + 1) (sub-sampling; none after the last level), ELU throughout; FC to h_dim.
    """

    def __init__(self, shape: tuple[int, int, int], n: int, h_dim: int) -> None:
        super().__init__()
        c, s, _ = shape
        base, levels = doubling_stack(s, BASES)
        layers: list[nn.Module] = _conv(c, n)
        for i in range(1, levels + 2):
            layers += _conv(n * i, n * i) + _conv(n * i, n * i)
            if i <= levels:
                layers += _conv(n * i, n * (i + 1), stride=2)
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(n * (levels + 1) * base * base, h_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BEGANDiscriminator(nn.Module):
    """The autoencoder D: images float32 (B, C, S, S) -> reconstructions of the same shape."""

    def __init__(self, shape: tuple[int, int, int], n: int, h_dim: int) -> None:
        super().__init__()
        self.enc = BEGANEncoder(shape, n, h_dim)
        self.dec = BEGANDecoder(h_dim, shape, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(x))


def recon_loss(D: nn.Module, v: torch.Tensor) -> torch.Tensor:
    """Per-image L(v) = mean over pixels of |v - D(v)| (eta = 1, sec. 3.1): float32 (B,)."""
    return (v - D(v)).abs().flatten(1).mean(1)


def update_k(k: Any, lambda_k: float, gamma: float, loss_real: Any, loss_fake_g: Any) -> Any:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1) (sec. 3.4, eq. for k_t).

    Numbers in, a number out; float64 tensors in (the train step's, on its device, so that no
    step waits for a host read), a float64 tensor out with the same value: the same operations in
    the same order, each correctly rounded in float64 like Python's floats.
    """
    k = k + lambda_k * (gamma * loss_real - loss_fake_g)
    return k.clamp(0.0, 1.0) if isinstance(k, torch.Tensor) else min(max(k, 0.0), 1.0)


def times_k(k: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
    """k_t (a float64 0-d tensor) times ``loss`` as the Python float k_t times the tensor computes it:
    in float32, rounded to the loss's dtype (bf16 / fp16 under autocast too), k_t staying on the device."""
    return (k.float() * loss.float()).to(loss.dtype)


def m_global(loss_real: Any, loss_fake: Any, gamma: float) -> Any:
    """Convergence measure M_global = L(x) + |gamma L(x) - L(G(z_G))| (sec. 3.4.1); numbers or tensors."""
    return loss_real + abs(gamma * loss_real - loss_fake)


@BASELINES.register("began")
class BEGAN(GeneratorDiscriminatorState, Baseline):
    """BEGAN, Berthelot, Schumm and Metz, "BEGAN: Boundary Equilibrium Generative Adversarial
    Networks", arXiv:1703.10717, 2017.

    D is an autoencoder and L(v) = |v - D(v)| its per-pixel L1 reconstruction loss (sec. 3.1,
    eta = 1). Objectives (sec. 3.4): L_D = L(x) - k_t L(G(z_D)) for D, L_G = L(G(z_G)) for G,
    both computed with the same D before either update (the paper's simultaneous update),
    with separate latents z_D, z_G ~ U(-1, 1)^h; k_{t+1} = clip(k_t + lambda_k (gamma L(x) -
    L(G(z_G))), 0, 1) with k_0 = 0, lambda_k = 0.001 and diversity ratio gamma = 0.5 (a
    hyperparameter; the paper shows 0.3 to 0.7). Adam lr 1e-4 (sec. 4.1; beta1 0.5 as in the
    widely used reimplementations, the paper does not give betas), batch 16, N_z = N_h = 64,
    ELU, 3x3 convs, nearest-neighbour upsampling and stride-2 sub-sampling (sec. 3.5).
    M_global = L(x) + |gamma L(x) - L(G(z_G))| (sec. 3.4.1) is returned by every step and by
    ``evaluate`` on a held-out split as ``m_global`` (lower is better).

    Deviations: width n = 32 filters for CPU speed (the paper's 64x64 model uses n = 64;
    ``--set n=64`` restores it); no skip connections (an option in the paper); the paper
    halves the learning rate "when the measure of convergence stalls": here ``lr_halve_kimg``
    > 0 halves it every that many kimg of real images (0, the default, keeps it fixed).
    Sizes: 28 (base 7), 32 and 64 (base 8, as in the paper).
    """

    # checkpointed scalars besides the networks and optimizers (GeneratorDiscriminatorState)
    # (k_t, a float64 0-d tensor on the device, is checkpointed as a number by state_dict below)
    counters = (("images", int), ("steps", int))
    task = TaskKind.UNCONDITIONAL
    paper = (
        "Berthelot, Schumm, Metz. BEGAN: Boundary Equilibrium Generative Adversarial Networks. "
        "arXiv:1703.10717, 2017"
    )
    defaults: Mapping[str, Any] = {
        "batch_size": 16,
        "lr": 1e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "h_dim": 64,
        "n": 32,
        "gamma": 0.5,
        "lambda_k": 0.001,
        "k0": 0.0,
        "lr_halve_kimg": 0.0,
    }
    paper_widths: Mapping[str, Any] = {"n": 64}
    evaluate_higher_is_better: Mapping[str, bool] = {"m_global": False}
    sample_batch: int = 250

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """G (a decoder) and the autoencoder D, PyTorch default init seeded from ``generator``."""
        self._check(hp, data)
        shape = tuple(data.shape)
        with seeded_init(generator):
            self.G = BEGANDecoder(hp["h_dim"], shape, hp["n"])
            self.D = BEGANDiscriminator(shape, hp["n"], hp["h_dim"])
        self.G.to(self.device)
        self.D.to(self.device)
        betas = (hp["beta1"], hp["beta2"])
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=hp["lr"], betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=hp["lr"], betas=betas)
        self.k = torch.tensor(float(hp["k0"]), dtype=torch.float64, device=self.device)
        self.images = 0
        self.steps = 0

    @staticmethod
    def _check(hp: Mapping[str, Any], data: DataInfo) -> None:
        for key in ("batch_size", "h_dim", "n"):
            if hp[key] < 1:
                raise SpecError(f"began {key} must be >= 1, got {hp[key]}")
        if hp["lr"] <= 0 or hp["lambda_k"] < 0 or hp["lr_halve_kimg"] < 0:
            raise SpecError("began lr must be > 0, lambda_k and lr_halve_kimg >= 0")
        if not 0.0 <= hp["gamma"] <= 1.0 or not 0.0 <= hp["k0"] <= 1.0:
            raise SpecError(f"began gamma and k0 must lie in [0, 1], got {hp['gamma']}, {hp['k0']}")
        c, h, w = data.shape
        try:
            doubling_stack(h, BASES)
        except ValueError as exc:
            raise SpecError(f"began cannot build for {data.name!r} with shape {data.shape}: {exc}") from exc
        if h != w:
            raise SpecError(f"began needs square images, got {data.shape}")

    def _latent(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, self.hp["h_dim"], generator=generator, device=generator.device) * 2 - 1

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One simultaneous D and G update on one batch, then the k_t update.

        Returns 0-d tensors: loss_d, loss_g (= L(G(z_G))), loss_real (L(x)), k (k_t after the
        update) and m_global.
        """
        (batch,) = batches
        check_images(batch.x, tuple(self.data_info.shape), "batch.x")
        b = len(batch)
        z_d, z_g = self._latent(b, self.generator), self._latent(b, self.generator)
        loss_real = recon_loss(self.D, batch.x).mean()
        loss_fake_d = recon_loss(self.D, self.G(z_d).detach()).mean()
        self.D.requires_grad_(False)
        loss_g = recon_loss(self.D, self.G(z_g)).mean()
        self.D.requires_grad_(True)
        loss_d = loss_real - times_k(self.k, loss_fake_d)
        self.opt_D.zero_grad(set_to_none=True)
        self.opt_G.zero_grad(set_to_none=True)
        self.backward(loss_d)
        self.backward(loss_g)
        self.optimizer_step(self.opt_D)
        self.optimizer_step(self.opt_G)
        lx, lg = loss_real.detach().double(), loss_g.detach().double()  # on the device: no host read per step
        self.k = update_k(self.k, self.hp["lambda_k"], self.hp["gamma"], lx, lg)
        self.images += b * self.world_size  # global images
        self.steps += 1
        self._maybe_halve_lr(b * self.world_size)
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "loss_real": loss_real.detach(),
            "k": self.k.float(), "m_global": m_global(lx, lg, self.hp["gamma"]).float(),
        }

    def state_dict(self) -> dict:
        return {**super().state_dict(), "k": float(self.k)}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.k = torch.tensor(float(state["k"]), dtype=torch.float64, device=self.device)

    def _maybe_halve_lr(self, b: int) -> None:
        """Halve both learning rates each time ``images`` crosses a multiple of lr_halve_kimg."""
        period = self.hp["lr_halve_kimg"] * 1000.0
        if period > 0 and int(self.images // period) > int((self.images - b) // period):
            for opt in (self.opt_G, self.opt_D):
                for group in opt.param_groups:
                    group["lr"] *= 0.5

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """n images, uint8 (n, C, H, W) on the CPU: z ~ U(-1, 1)^h_dim drawn first from
        ``generator``, decoded by G in chunks, clipped to [-1, 1] and quantised."""
        if condition is not None:
            raise ValueError("began is unconditional; condition must be None")
        z = self._latent(n, generator)
        chunks = [self.G(zc.to(self.device)) for zc in z.split(self.sample_batch)]
        return to_uint8(torch.cat(chunks) if chunks else torch.empty(0, *self.data_info.shape))

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator) -> dict[str, float]:
        """``m_global`` on a held-out split (lower is better).

        x: uint8 (N, C, H, W) on the CPU, mapped to [-1, 1] as in training. L(x) is the mean
        per-image reconstruction loss over the split; L(G(z)) the same over N samples with
        z ~ U(-1, 1) drawn from ``generator``; M_global = L(x) + |gamma L(x) - L(G(z))|.
        """
        if x.dtype != torch.uint8 or tuple(x.shape[1:]) != tuple(self.data_info.shape) or len(x) == 0:
            raise ValueError(
                f"evaluate needs uint8 (N, {', '.join(map(str, self.data_info.shape))}) images with N >= 1, "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        z = self._latent(len(x), generator)
        real, fake = [], []
        for xc, zc in zip(x.split(self.sample_batch), z.split(self.sample_batch)):
            real.append(recon_loss(self.D, xc.to(self.device).float() / 127.5 - 1.0).double().cpu())
            fake.append(recon_loss(self.D, self.G(zc.to(self.device))).double().cpu())
        lx, lg = float(torch.cat(real).mean()), float(torch.cat(fake).mean())
        return {"m_global": m_global(lx, lg, self.hp["gamma"])}
