"""Unit tests for the dcgan and vae baselines and the shared blocks in baselines/nets.py.

Small widths keep the whole file fast on a 2-core CPU.
"""

from __future__ import annotations

import io
import math

import pytest
import torch

from genbench.baselines import BASELINES, Batch
from genbench.baselines.nets import EMA, doubling_stack, ema_beta, seeded_init
from genbench.bench.datasets import load_dataset
from genbench.bench.spec import DataInfo, SpecError

MNIST_INFO = DataInfo("mnist", "image", (1, 28, 28), 10, (("train", 4000), ("val", 500), ("test", 500)))
RGB32_INFO = DataInfo("rgb32", "image", (3, 32, 32), None, (("train", 100),))
RGB64_INFO = DataInfo("rgb64", "image", (3, 64, 64), None, (("train", 100),))
SMALL = {
    "dcgan": {"ngf": 8, "ndf": 8, "z_dim": 16, "batch_size": 8},
    "vae": {"ch": 8, "hidden": 32, "z_dim": 4, "batch_size": 8, "iw_k": 4},
}
INFOS = [MNIST_INFO, RGB32_INFO]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and OpenMP threads slow them badly
    when other processes share the cores; restored after this module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(name: str, info: DataInfo, seed: int = 0, **overrides):
    model = BASELINES.get(name)()
    model.setup({**SMALL[name], **overrides}, info, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return model


def fake_batch(info: DataInfo, n: int = 8, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(1000 + seed)
    return Batch(torch.rand(n, *info.shape, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long))


def roundtrip(state: dict) -> dict:
    """Through torch.save / torch.load(weights_only=True), as a checkpoint would go."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


# --- every baseline -------------------------------------------------------------------------


@pytest.mark.parametrize("info", INFOS, ids=lambda i: i.name)
@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_train_step_returns_finite_scalars(name, info):
    model = make(name, info)
    losses = model.train_step([fake_batch(info)])
    assert losses
    for key, value in losses.items():
        assert isinstance(value, torch.Tensor) and value.ndim == 0, key
        assert torch.isfinite(value), key
        assert not value.requires_grad, key


@pytest.mark.parametrize("info", INFOS, ids=lambda i: i.name)
@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_sample_dtype_shape_range_and_seed(name, info):
    model = make(name, info)
    model.train_step([fake_batch(info)])
    model.eval()
    a = model.sample(7, torch.Generator().manual_seed(3))
    b = model.sample(7, torch.Generator().manual_seed(3))
    c = model.sample(7, torch.Generator().manual_seed(4))
    model.train()
    assert a.dtype == torch.uint8 and a.device.type == "cpu"
    assert tuple(a.shape) == (7, *info.shape)
    assert int(a.min()) >= 0 and int(a.max()) <= 255
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_sample_chunk_size_invariance(name):
    model = make(name, MNIST_INFO)
    for _ in range(2):
        model.train_step([fake_batch(MNIST_INFO)])
    model.eval()
    model.sample_batch = 20
    whole = model.sample(20, torch.Generator().manual_seed(5))
    model.sample_batch = 3
    chunked = model.sample(20, torch.Generator().manual_seed(5))
    assert torch.equal(whole, chunked) or (whole.int() - chunked.int()).abs().max() <= 1


def test_dcgan_sample_restores_training_mode():
    model = make("dcgan", MNIST_INFO)
    model.train()
    model.sample(2, torch.Generator().manual_seed(0))
    assert model.G.training


@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_same_seed_builds_identical_models(name):
    a, b = make(name, MNIST_INFO, seed=1), make(name, MNIST_INFO, seed=1)
    c = make(name, MNIST_INFO, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    net = "G" if name == "dcgan" else "dec"
    assert all(torch.equal(sa[net][k], sb[net][k]) for k in sa[net])
    assert not all(torch.equal(sa[net][k], sc[net][k]) for k in sa[net])


def test_build_leaves_global_rng_alone():
    before = torch.random.get_rng_state()
    make("dcgan", MNIST_INFO)
    make("vae", MNIST_INFO)
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize(
    "name,extra", [("dcgan", {}), ("dcgan", {"ema_kimg": 0.01, "loss": "minimax"}), ("vae", {})]
)
def test_state_dict_roundtrip_resumes_bit_identically(name, extra):
    info = MNIST_INFO
    a = make(name, info, seed=0, **extra)
    for i in range(2):
        a.train_step([fake_batch(info, seed=i)])
    state = roundtrip(a.state_dict())
    b = make(name, info, seed=99, **extra)  # different init, overwritten by the load
    b.load_state_dict(state)
    b.generator.set_state(a.generator.get_state())
    for i in range(2, 4):
        la, lb = a.train_step([fake_batch(info, seed=i)]), b.train_step([fake_batch(info, seed=i)])
        assert la.keys() == lb.keys()
        for key in la:
            assert torch.equal(la[key], lb[key]), key
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["steps"] == sb["steps"] == 4
    a.eval(), b.eval()
    assert torch.equal(a.sample(5, torch.Generator().manual_seed(0)), b.sample(5, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_unknown_or_bad_hyperparameter_is_a_spec_error(name):
    with pytest.raises(SpecError, match="unknown hyperparameter"):
        make(name, MNIST_INFO, no_such_key=1)
    with pytest.raises(SpecError):
        make(name, MNIST_INFO, lr=-1.0)


def test_points_data_is_refused():
    info = DataInfo("ring8", "points", (2,), 8, (("train", 10),))
    with pytest.raises(SpecError, match="points"):
        make("dcgan", info)


# --- dcgan ------------------------------------------------------------------------------


def test_dcgan_shapes_for_64_and_odd_channels():
    model = make("dcgan", RGB64_INFO)
    model.train_step([fake_batch(RGB64_INFO, n=4)])
    assert tuple(model.sample(2, torch.Generator().manual_seed(0)).shape) == (2, 3, 64, 64)
    info = DataInfo("two", "image", (2, 28, 28), None, (("train", 10),))
    assert tuple(make("dcgan", info).sample(2, torch.Generator().manual_seed(0)).shape) == (2, 2, 28, 28)


def test_dcgan_rejects_unsupported_size_and_loss():
    with pytest.raises(SpecError, match="shape"):
        make("dcgan", DataInfo("odd", "image", (1, 30, 30), None, (("train", 10),)))
    with pytest.raises(SpecError, match="loss"):
        make("dcgan", MNIST_INFO, loss="hinge")


def test_dcgan_init_follows_paper():
    model = make("dcgan", MNIST_INFO, ngf=64, ndf=64)
    convs = [m for m in model.G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    w = torch.cat([m.weight.detach().flatten() for m in convs])
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bns = [m for m in model.D.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(abs(float(m.weight.detach().mean()) - 1.0) < 0.01 for m in bns)
    assert not isinstance(list(model.D.net)[1], torch.nn.BatchNorm2d)  # no BN on D's input layer


def test_dcgan_ema_is_used_for_sampling():
    model = make("dcgan", MNIST_INFO, ema_kimg=10.0)
    model.train_step([fake_batch(MNIST_INFO)])
    g_sample = torch.Generator().manual_seed(0)
    with_ema = model.sample(4, g_sample)
    model.G_ema = None
    assert not torch.equal(with_ema, model.sample(4, torch.Generator().manual_seed(0)))


def test_dcgan_rejects_a_condition_and_bad_batches():
    model = make("dcgan", MNIST_INFO)
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, torch.Generator(), condition=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        model.train_step([Batch(torch.zeros(4, 3, 28, 28))])


# --- vae ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


def test_vae_untrained_elbo_is_finite_negative_and_deterministic(mnist):
    model = make("vae", mnist.info)
    x = mnist.split("test").x[:40]
    model.eval()
    r1 = model.evaluate(x, None, torch.Generator().manual_seed(0))
    model.eval_batch = 7
    r2 = model.evaluate(x, None, torch.Generator().manual_seed(0))
    assert set(r1) == set(model.evaluate_higher_is_better) == {"elbo", "nll_iw"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in r1.values())
    assert r1["elbo"] < 0
    assert r1 == pytest.approx(r2, rel=1e-5)
    # the IW bound is at least as tight as the ELBO (up to Monte-Carlo noise)
    assert -r1["nll_iw"] >= r1["elbo"] - 1.0


def test_vae_bounds_are_of_the_binarised_split(mnist):
    """evaluate binarises the split once from the evaluation generator (before the noise) and
    bounds log p of those binary images; the training step sees binary images too."""
    from genbench.baselines.vae import eval_inputs

    model = make("vae", mnist.info, iw_k=4)
    x = mnist.split("test").x[:30]
    model.eval()
    got = model.evaluate(x, None, torch.Generator().manual_seed(5))
    xb, eps = eval_inputs(x, 4, model.hp["z_dim"], torch.Generator().manual_seed(5))
    assert set(xb.unique().tolist()) == {0.0, 1.0} and 0 < float(xb.mean()) < float(x.float().mean() / 255) + 0.05
    with torch.no_grad():
        elbo, iw = model._bounds(xb, eps)
    assert got["elbo"] == pytest.approx(float(elbo.double().mean()), rel=1e-6)
    assert got["nll_iw"] == pytest.approx(float(-iw.double().mean()), rel=1e-6)
    seen = []
    model.enc.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    model.train()
    model.train_step([Batch(x[:8].float() / 127.5 - 1.0)])
    assert set(seen[-1].unique().tolist()) <= {0.0, 1.0}


def test_vae_likelihood_sums_to_one_over_all_binary_images():
    """The bound's estimator exp(iw) is unbiased for p(x) of a binary image, and p is a
    distribution over binary images: over all 2^16 images of a 4x4 model it sums to 1 (the
    Bernoulli formula on grey targets would not: it is not a density there)."""
    info = DataInfo("bin4", "image", (1, 4, 4), None, (("train", 1),))
    model = make("vae", info, ch=2, hidden=8, z_dim=2, iw_k=16)
    model.eval()
    codes = torch.arange(2 ** 16)
    xb = ((codes[:, None] >> torch.arange(16)) & 1).float().view(-1, 1, 4, 4)
    eps = torch.randn(len(xb), 16, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, iw = model._bounds(xb, eps)
    assert float(iw.double().exp().sum()) == pytest.approx(1.0, abs=0.03)


def test_vae_evaluate_rejects_float_images(mnist):
    model = make("vae", mnist.info)
    with pytest.raises(ValueError, match="uint8"):
        model.evaluate(mnist.split("test").x[:4].float(), None, torch.Generator())


def test_vae_elbo_improves_on_real_digits(mnist):
    model = make("vae", mnist.info, seed=0, ch=16, hidden=64, z_dim=8, batch_size=64, iw_k=8)
    test_x = mnist.split("test").x[:100]
    model.eval()
    before = model.evaluate(test_x, None, torch.Generator().manual_seed(0))
    model.train()
    train_x = mnist.split("train").x
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))
    for step in range(50):
        idx = order[(step * 64) % len(train_x):][:64]
        model.train_step([Batch(train_x[idx].float() / 127.5 - 1.0)])
    model.eval()
    after = model.evaluate(test_x, None, torch.Generator().manual_seed(0))
    assert after["elbo"] > before["elbo"] + 50.0
    assert after["nll_iw"] < before["nll_iw"]


def test_vae_sample_is_decoder_mean():
    model = make("vae", MNIST_INFO)
    z = torch.randn(3, SMALL["vae"]["z_dim"], generator=torch.Generator().manual_seed(2))
    expected = (torch.sigmoid(model.dec(z)) * 255).round().to(torch.uint8)
    assert torch.equal(model.sample(3, torch.Generator().manual_seed(2)), expected)


# --- nets -------------------------------------------------------------------------------------


def test_doubling_stack():
    assert doubling_stack(28) == (7, 2)
    assert doubling_stack(32) == (4, 3)
    assert doubling_stack(64) == (4, 4)
    with pytest.raises(ValueError):
        doubling_stack(30)


def test_ema_half_life():
    assert ema_beta(1000, 1.0) == pytest.approx(0.5)
    assert ema_beta(500, 1.0) ** 2 == pytest.approx(0.5)
    assert ema_beta(64, 0.0) == 0.0
    with seeded_init(torch.Generator().manual_seed(0)):
        src = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(src, half_life_kimg=1.0)
    old = ema.module[0].weight.clone()
    with torch.no_grad():
        src[0].weight.add_(1.0)
        src[1].running_mean.fill_(3.0)
    ema.update(1000)  # one half-life: halfway to the source
    assert torch.allclose(ema.module[0].weight, old + 0.5)
    assert torch.equal(ema.module[1].running_mean, src[1].running_mean)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    other = EMA(src, 1.0)
    other.load_state_dict(roundtrip(ema.state_dict()))
    assert torch.equal(other.module[0].weight, ema.module[0].weight)
