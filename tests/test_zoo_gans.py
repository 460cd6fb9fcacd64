"""Unit tests of the unconditional GAN losses: gan, lsgan, wgan, wgan-gp, sngan."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from torch import nn

from genbench.baselines import BASELINES, Batch
from genbench.baselines.gan import GAN, Maxout, mode_coverage
from genbench.baselines.lsgan import ls_d_loss, ls_g_loss
from genbench.baselines.sngan import StandardCNNCritic, hinge_d_loss
from genbench.baselines.wgan_gp import ConvCritic, gradient_penalty
from genbench.bench.datasets import load_dataset, ring_modes
from genbench.bench.spec import DataInfo, SpecError

MNIST = DataInfo(name="mnist", kind="image", shape=(1, 28, 28), num_classes=10, splits=(("train", 4000),))
RING = DataInfo(name="ring8", kind="points", shape=(2,), num_classes=8, splits=(("train", 50000),))
SMALL = {"ngf": 8, "ndf": 8, "batch_size": 8}


def make(name: str, data: DataInfo = MNIST, seed: int = 0, **overrides: Any):
    model = BASELINES.get(name)()
    model.setup(overrides, data, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return model


def image_batches(model, n: int = 8, seed: int = 0) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [Batch(torch.rand(n, 1, 28, 28, generator=g) * 2 - 1) for _ in range(model.batches_per_step)]


# --- losses on known values ---------------------------------------------------------------


def test_hinge_loss_known_values():
    d_real, d_fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # real: relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25; fake: relu(1-2)=0, relu(1+0)=1 -> 0.5
    assert hinge_d_loss(d_real, d_fake).item() == pytest.approx(0.75)


def test_least_squares_losses_known_values():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    # a,b = 0,1: 0.5*mean([0,4]) + 0.5*mean([0,4]) = 2
    assert ls_d_loss(d_real, d_fake, a=0.0, b=1.0).item() == pytest.approx(2.0)
    # a,b = -1,1: 0.5*mean([0,4]) + 0.5*mean([1,9]) = 1 + 2.5
    assert ls_d_loss(d_real, d_fake, a=-1.0, b=1.0).item() == pytest.approx(3.5)
    assert ls_g_loss(d_fake, c=1.0).item() == pytest.approx(0.5)
    assert ls_g_loss(d_fake, c=0.0).item() == pytest.approx(1.0)


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x> has grad w everywhere, so the penalty is (||w|| - 1)^2 exactly."""
    w = torch.zeros(1, 2, 2)
    w[0, 0, 0], w[0, 1, 1] = 3.0, 4.0  # ||w|| = 5
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 1, 2, 2, generator=g), torch.randn(6, 1, 2, 2, generator=g)
    gp = gradient_penalty(critic, real, fake, torch.rand(6, generator=g))
    assert gp.item() == pytest.approx(16.0)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    lin = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, 0.0, 0.0, 0.0]]))  # ||w|| = 2 -> gp = 1, d gp / dw0 = 2
    critic = lambda x: lin(x).view(-1)  # noqa: E731
    gp = gradient_penalty(critic, torch.randn(5, 4), torch.randn(5, 4), torch.rand(5))
    gp.backward()
    assert gp.item() == pytest.approx(1.0)
    assert lin.weight.grad[0, 0].item() == pytest.approx(2.0)



def test_gradient_penalty_runs_in_fp32_under_fp16_autocast():
    """fp16 autocast (with its GradScaler) leaves the penalty's inner gradient unscaled: a critic
    with tiny weights has input gradients below fp16's range, and the penalty's pull on the weights
    was flushed to zero (it was, before the penalty ran in fp32); now it equals fp32's. bf16 keeps
    fp32's range and stays autocast."""

    def weight_grad(dtype):
        lin = nn.Linear(16, 1, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.linspace(1, 2, 16).view(1, 16) * 1e-9)
        g = torch.Generator().manual_seed(1)
        real, fake, eps = torch.randn(4, 16, generator=g), torch.randn(4, 16, generator=g), torch.rand(4, generator=g)
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            gp = gradient_penalty(lambda x: lin(x).view(-1), real, fake, eps)
        gp.backward()
        return lin.weight.grad[0]

    plain = weight_grad(None)
    assert plain.abs().min() > 0.1
    assert torch.equal(weight_grad(torch.float16), plain)
    bf16 = weight_grad(torch.bfloat16)
    assert not torch.equal(bf16, plain) and torch.allclose(bf16, plain, rtol=1e-2)  # really bf16, and close


# --- wgan: clipping and n_critic ------------------------------------------------------------


def test_wgan_clips_every_critic_weight_after_a_step():
    model = make("wgan", lr=1e-2, clip=0.01, **SMALL)  # a large lr pushes weights past c
    assert model.batches_per_step == 5
    model.train()
    losses = model.train_step(image_batches(model))
    assert set(losses) >= {"loss_d", "loss_g", "w_estimate"}
    params = torch.cat([p.detach().flatten() for p in model.D.parameters()])
    assert params.abs().max().item() <= 0.01 + 1e-8
    assert (params.abs() >= 0.01 - 1e-8).float().mean() > 0.1  # clipping was active


def test_wgan_refuses_the_wrong_number_of_batches():
    model = make("wgan", **SMALL)
    with pytest.raises(ValueError, match="5 batches per step"):
        model.train_step(image_batches(model)[:1])


def test_wgan_uses_rmsprop_and_gp_uses_adam_betas_0_09():
    assert isinstance(make("wgan", **SMALL).opt_D, torch.optim.RMSprop)
    gp = make("wgan-gp", **SMALL)
    assert isinstance(gp.opt_D, torch.optim.Adam)
    assert gp.opt_D.param_groups[0]["betas"] == (0.0, 0.9) and gp.opt_D.param_groups[0]["lr"] == 1e-4


# --- wgan-gp: critic without batch norm -------------------------------------------------------


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_gp_critic_scores_each_sample_independently(norm):
    """No batch norm: a sample's score does not depend on the rest of the batch (sec. 4)."""
    critic = ConvCritic((1, 28, 28), 8, norm).train()
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    x = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(critic(x)[:2], critic(x[:2]))


def test_wgan_gp_step_logs_penalty_and_critic_learns():
    """With G fixed, critic updates on one real batch raise the Wasserstein estimate."""
    model = make("wgan-gp", n_critic=1, lr=1e-3, **SMALL)
    model.train()
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        fake = model.G(torch.randn(8, 100, generator=torch.Generator().manual_seed(2)))
    estimates = []
    for _ in range(15):
        loss, stats = model.critic_loss(x, fake)
        model.opt_D.zero_grad()
        loss.backward()
        model.opt_D.step()
        estimates.append(stats["w_estimate"].item())
        assert stats["gp"].item() >= 0
    assert estimates[-1] > estimates[0] + 0.1


# --- sngan: spectral norm ---------------------------------------------------------------------


def _sn_weights(critic: nn.Module) -> list[torch.Tensor]:
    mods = [m for m in critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert mods and all(hasattr(m, "parametrizations") for m in mods)
    return [m.weight.detach().flatten(1) for m in mods]


def test_sngan_weights_have_spectral_norm_one():
    model = make("sngan", **SMALL)
    model.train()
    x = torch.randn(4, 1, 28, 28)
    for _ in range(30):  # power iterations run on every forward in training mode
        model.D(x)
    sigmas = [torch.linalg.matrix_norm(w, ord=2).item() for w in _sn_weights(model.D)]
    assert all(abs(s - 1.0) < 0.02 for s in sigmas), sigmas


def test_sngan_power_iteration_vectors_are_checkpointed():
    a = make("sngan", seed=0, **SMALL)
    a.train()
    a.train_step(image_batches(a))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)  # a copy, as the loop's checkpoint is
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    assert any(k.endswith("_u") for k in state["D"]) and any(k.endswith("_v") for k in state["D"])
    b = make("sngan", seed=99, **SMALL)
    b.load_state_dict(state)
    b.train()
    batches = image_batches(a, seed=3)
    for m in (a, b):
        m.generator.manual_seed(5)
    la, lb = a.train_step(batches), b.train_step(batches)
    assert all(torch.equal(la[k], lb[k]) for k in la)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_standard_cnn_critic_shapes(size):
    critic = StandardCNNCritic((3, size, size), 4).apply_spectral_norm()
    assert critic(torch.randn(2, 3, size, size)).shape == (2,)


# --- mlp gan on points ------------------------------------------------------------------------


def test_gan_architecture_follows_pacgan():
    model = make("gan", RING)
    linears = [m for m in model.G.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(400, 2), (400, 400), (400, 400), (400, 400), (2, 400)]
    assert [m.bias is None for m in linears] == [True] * 4 + [False]
    maxouts = [m for m in model.D.modules() if isinstance(m, Maxout)]
    assert [(m.d_out, m.pieces) for m in maxouts] == [(200, 5)] * 3
    x = model.sample(7, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.shape == (7, 2)


def test_maxout_takes_the_max_over_pieces():
    m = Maxout(1, 2, 3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.0], [3.0], [-3.0]]))
        m.linear.bias.zero_()
    out = m(torch.tensor([[1.0], [-1.0]]))
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0], [1.0, 3.0]]))


def test_gan_k_disc_consumes_k_batches_and_minimax_loss_is_negative():
    model = make("gan", RING, k_disc=2, loss="minimax", batch_size=16)
    assert model.batches_per_step == 2
    g = torch.Generator().manual_seed(0)
    losses = model.train_step([Batch(torch.randn(16, 2, generator=g)) for _ in range(2)])
    assert losses["loss_g"].item() < 0  # log(1 - D(G(z))) < 0


def test_gan_learns_the_ring_scale_on_a_few_steps():
    """Toy sanity: 150 steps move G's samples from near 0 (init std 0.02) towards radius 1."""
    torch.manual_seed(0)
    data = load_dataset("ring8")
    model = make("gan", data.info, batch_size=64)
    model.train()
    g = torch.Generator().manual_seed(1)
    x = data.split("train").x
    r0 = model.sample(500, torch.Generator().manual_seed(2)).norm(dim=1).mean().item()
    for _ in range(150):
        model.train_step([Batch(x[torch.randint(len(x), (64,), generator=g)])])
    r1 = model.sample(500, torch.Generator().manual_seed(2)).norm(dim=1).mean().item()
    assert abs(r1 - 1.0) < abs(r0 - 1.0) - 0.2, (r0, r1)


def test_mode_coverage_counts_modes_within_three_std():
    modes = ring_modes()
    assert mode_coverage(modes.repeat(3, 1), modes, std=0.01) == (8, 1.0)
    one = modes[:1] + 0.02
    assert mode_coverage(one.repeat(10, 1), modes, std=0.01) == (1, 1.0)  # 0.028 < 0.03
    far = torch.zeros(5, 2)
    assert mode_coverage(far, modes, std=0.01) == (0, 0.0)


# --- bad hyperparameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,data,overrides,match",
    [
        ("wgan", MNIST, {"clip": 0.0}, "clip"),
        ("wgan", MNIST, {"n_critic": 0}, "n_critic"),
        ("wgan-gp", MNIST, {"critic_norm": "batch"}, "critic_norm"),
        ("lsgan", MNIST, {"a": 1.0, "b": 1.0}, "different targets"),
        ("sngan", MNIST, {"loss": "wasserstein"}, "loss"),
        ("gan", MNIST, {}, "points"),
        ("wgan", RING, {}, "image"),
        ("gan", RING, {"loss": "hinge"}, "loss"),
    ],
)
def test_bad_settings_are_clear_errors(name, data, overrides, match):
    with pytest.raises(SpecError, match=match):
        make(name, data, **overrides)


@pytest.mark.parametrize("name", ["gan", "lsgan", "wgan", "wgan-gp", "sngan"])
def test_docstring_cites_paper_and_defaults(name):
    cls = BASELINES.get(name)
    assert cls.paper and cls.__doc__ and "batch_size" in cls.defaults
    year = {"gan": "2014", "lsgan": "2017", "wgan": "2017", "wgan-gp": "2017", "sngan": "2018"}[name]
    assert year in cls.paper and year in cls.__doc__
    assert not math.isnan(float(cls.defaults["lr"]))
