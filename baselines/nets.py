"""Shared building blocks for the baselines: seeded construction, weight init, EMA, conversions.

Everything here is deterministic given a ``torch.Generator``; nothing reads or leaves a
trace on the global RNG.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Iterator

import torch
from torch import nn

# --- seeded construction ------------------------------------------------------------------


def seed_from(generator: torch.Generator) -> int:
    """A 62-bit integer drawn from ``generator`` (any device); advances the generator."""
    draw = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
    return int(draw.item())


@contextlib.contextmanager
def seeded_init(generator: torch.Generator) -> Iterator[torch.Generator]:
    """Build modules on the CPU with PyTorch's default inits seeded from ``generator``.

    Inside the block the global CPU RNG is seeded from one draw of ``generator`` and
    restored on exit (only the CPU RNG is touched), so ``nn.Conv2d(...)`` etc. initialise
    reproducibly. Yields a CPU generator with the same seed for explicit inits.

    >>> g = torch.Generator().manual_seed(0)
    >>> with seeded_init(g) as cpu_g:
    ...     a = nn.Linear(3, 2)
    >>> g = torch.Generator().manual_seed(0)
    >>> with seeded_init(g) as cpu_g:
    ...     b = nn.Linear(3, 2)
    >>> torch.equal(a.weight, b.weight)
    True
    """
    seed = seed_from(generator)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def init_dcgan_(module: nn.Module, generator: torch.Generator, std: float = 0.02) -> nn.Module:
    """DCGAN init (Radford et al. 2016, sec. 4): conv / linear weights ~ N(0, std), biases 0,
    BatchNorm gamma ~ N(1, std) and beta 0. ``generator`` must be on the parameters' device."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):  # 1d too (InfoGAN's FC layers), as documented
            nn.init.normal_(m.weight, 1.0, std, generator=generator)
            nn.init.zeros_(m.bias)
    return module


# --- shape helpers -------------------------------------------------------------------------


def doubling_stack(size: int, base_sizes: tuple[int, ...] = (7, 4)) -> tuple[int, int]:
    """(base, n_doublings) with ``base * 2**n_doublings == size`` for the first base that fits.

    28 -> (7, 2); 32 -> (4, 3); 64 -> (4, 4). Raises ValueError for other sizes.
    """
    for base in base_sizes:
        n = math.log2(size / base) if size >= base else -1
        if n >= 1 and n == int(n):
            return base, int(n)
    raise ValueError(
        f"image size {size} is not base * 2**n for a base in {base_sizes} and n >= 1 "
        "(supported: 28, 32, 64, 128, ...)"
    )


# --- conversions ---------------------------------------------------------------------------


def eager(net: Any) -> Any:
    """``net``'s uncompiled call (hooks included) when ``nn.Module.compile()`` compiled it, else ``net``.

    For passes that are differentiated twice (gradient penalties: WGAN-GP, StarGAN, StyleGAN's R1):
    torch.compile's aot_autograd does not support double backward ("torch.compile with aot_autograd
    does not currently support double backward"), so under ``--compile`` these passes run eagerly
    and every other pass of the same network stays compiled."""
    if isinstance(net, nn.Module) and getattr(net, "_compiled_call_impl", None) is not None:
        return net._call_impl
    return net


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float images in [-1, 1] (values outside are clipped) -> uint8 [0, 255] on the CPU."""
    return to_uint8_on_device(x).cpu()


def to_uint8_on_device(x: torch.Tensor) -> torch.Tensor:
    """``to_uint8`` where ``x`` is: no copy to the CPU (so no wait for the GPU)."""
    return ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def probs_to_uint8(p: torch.Tensor) -> torch.Tensor:
    """float probabilities / intensities in [0, 1] -> uint8 ``round(p * 255)`` on the CPU."""
    return (p.float() * 255.0).round().clamp(0, 255).to(torch.uint8).cpu()


def check_images(x: torch.Tensor, shape: tuple[int, ...], name: str = "x") -> None:
    """Assert float (B, *shape) images; a clear error otherwise."""
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [-1, 1], got {x.dtype}")


# --- exponential moving average --------------------------------------------------------------


def ema_beta(batch_size: int, half_life_kimg: float) -> float:
    """Per-update decay for a half-life in thousands of images (StyleGAN2-ADA, Karras et al.
    2020, ``training_loop.py``): ``beta = 0.5 ** (batch_size / (half_life_kimg * 1000))``.

    >>> round(ema_beta(1000, 1.0), 3)
    0.5
    >>> ema_beta(64, 0.0)
    0.0
    """
    if half_life_kimg <= 0:
        return 0.0
    return 0.5 ** (batch_size / (half_life_kimg * 1000.0))


class EMA:
    """A frozen copy of ``source`` whose parameters track it with an exponential moving
    average; buffers (e.g. BatchNorm running statistics) are copied as they are, as in
    StyleGAN2-ADA. The copy is always in eval mode and never requires grad.

    half_life_kimg: the half-life in thousands of images; 0 makes the copy follow exactly.
    """

    def __init__(self, source: nn.Module, half_life_kimg: float) -> None:
        if half_life_kimg < 0:
            raise ValueError(f"EMA half-life must be >= 0 kimg, got {half_life_kimg}")
        self.source = source
        self.half_life_kimg = float(half_life_kimg)
        self.module = copy.deepcopy(source).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, batch_size: int) -> float:
        """One update after ``batch_size`` images; returns the beta used."""
        beta = ema_beta(batch_size, self.half_life_kimg)
        for p_ema, p in zip(self.module.parameters(), self.source.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.module.buffers(), self.source.buffers()):
            b_ema.copy_(b)
        return beta

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


# --- shared state of two-network models ----------------------------------------------------


class GeneratorDiscriminatorState:
    """train/eval/state_dict/load_state_dict for a model with networks ``G`` and ``D``, their
    optimizers ``opt_G`` and ``opt_D``, and scalar counters named in ``counters``.

    Mix in before ``Baseline`` (``class CGAN(GeneratorDiscriminatorState, Baseline)``). The
    checkpoint is a plain dict: {'G', 'D', 'opt_G', 'opt_D', <counter>: number, ...}.
    """

    counters: tuple[tuple[str, type], ...] = (("steps", int),)

    def place_and_optimize(self, lr_g: float, lr_d: float, betas: tuple[float, float]) -> None:
        """Move G and D to the model's device, give each its Adam optimizer, and zero the step count."""
        self.G.to(self.device)
        self.D.to(self.device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas)
        self.steps = 0

    def train(self) -> None:
        self.G.train()
        self.D.train()

    def eval(self) -> None:
        self.G.eval()
        self.D.eval()

    def state_dict(self) -> dict:
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
        }
        state.update({name: getattr(self, name) for name, _ in self.counters})
        return state

    def load_state_dict(self, state) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        for name, cast in self.counters:
            setattr(self, name, cast(state[name]))
