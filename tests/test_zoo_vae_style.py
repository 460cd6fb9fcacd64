"""beta-VAE, CVAE and StyleGAN-lite: the mechanism each family adds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genbench.baselines import BASELINES, Batch
from genbench.baselines.stylegan_lite import ModulatedConv2d, StyleGenerator, mix_styles
from genbench.bench.datasets import load_dataset
from genbench.bench.spec import DataInfo, SpecError

MNIST = DataInfo("mnist", "image", (1, 28, 28), 10, (("train", 4000),))
RGB32 = DataInfo("rgb32", "image", (3, 32, 32), None, (("train", 100),))


def build(name: str, info: DataInfo = MNIST, seed: int = 0, **hp):
    model = BASELINES.get(name)()
    model.setup(hp, info, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return model


def images(n: int, seed: int, shape=(1, 28, 28)) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- beta-VAE ---------------------------------------------------------------------------------


def test_beta_vae_with_beta_one_is_the_vae():
    vae = build("vae", batch_size=16)
    bvae = build("beta-vae", batch_size=16, beta=1.0, z_dim=vae.hp["z_dim"])
    x = images(16, 1)
    a, b = vae.train_step([Batch(x)]), bvae.train_step([Batch(x)])
    assert torch.equal(a["loss"], b["loss"]) and torch.equal(a["loss"], b["neg_elbo"])
    for (ka, pa), (kb, pb) in zip(vae.dec.state_dict().items(), bvae.dec.state_dict().items()):
        assert ka == kb and torch.equal(pa, pb), ka  # the same update


def test_beta_weights_the_kl_and_reports_the_true_elbo():
    m = build("beta-vae", batch_size=16)
    assert m.hp["beta"] == 4.0
    out = m.train_step([Batch(images(16, 2))])
    assert torch.allclose(out["loss"], out["rec"] + 4.0 * out["kl"])
    assert torch.allclose(out["neg_elbo"], out["rec"] + out["kl"])
    x = ((images(20, 3) + 1) * 127.5).round().to(torch.uint8)
    ev = m.evaluate(x, None, torch.Generator().manual_seed(0))
    vae_view = BASELINES.get("vae").evaluate(m, x, None, torch.Generator().manual_seed(0))
    assert ev["elbo"] == vae_view["elbo"] and ev["nll_iw"] == vae_view["nll_iw"]  # beta = 1 bounds
    assert ev["beta_objective"] > -ev["elbo"]  # KL > 0 weighted by beta - 1 = 3
    with pytest.raises(SpecError, match="beta"):
        build("beta-vae", beta=-1.0)


# -- CVAE -----------------------------------------------------------------------------------


def test_cvae_sampling_conditions_and_errors():
    m = build("cvae", batch_size=16)
    y = torch.tensor([3, 3, 7])
    assert m.sample(3, torch.Generator().manual_seed(0), condition=y).shape == (3, 1, 28, 28)
    a = m.sample(20, torch.Generator().manual_seed(0))
    b = m.sample(20, torch.Generator().manual_seed(0), condition=torch.arange(20) % 10)
    assert torch.equal(a, b)  # None means balanced labels arange(n) % 10
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        m.sample(2, torch.Generator(), condition=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="needs class labels"):
        m.train_step([Batch(images(4, 0))])
    with pytest.raises(SpecError, match="labelled dataset"):
        build("cvae", DataInfo("u", "image", (1, 28, 28), None, (("train", 10),)))


def test_cvae_samples_follow_the_condition():
    """After a short training the MNIST classifier reads the requested digit in samples.

    A small latent (z_dim 8) and lr 3e-3 make the decoder rely on the label early; 300 steps of
    32 images give a mean per-class accuracy of 0.70 (min 0.30; chance is 0.1), while the
    same samples scored against the wrong labels (y + 1) % 10 stay near chance."""
    from genbench.metrics import load_extractor

    torch.manual_seed(0)
    train = load_dataset("mnist").split("train")
    m = build("cvae", batch_size=32, z_dim=8, lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, len(train), (32,), generator=g)
        m.train_step([Batch(train.x[idx].float() / 127.5 - 1.0, train.y[idx])])
    m.eval()
    want = torch.arange(200) % 10
    x = m.sample(200, torch.Generator().manual_seed(1), condition=want)
    _, logits = load_extractor("mnist-lenet").extract(x)
    per_class = torch.stack([(logits.argmax(1)[want == c] == c).float().mean() for c in range(10)])
    assert per_class.mean() > 0.5, per_class
    assert per_class.min() > 0.15, per_class
    assert (logits.argmax(1) == (want + 1) % 10).float().mean() < 0.2
    test = load_dataset("mnist").split("test")
    ev = m.evaluate(test.x[:100], test.y[:100], torch.Generator().manual_seed(0))
    assert ev["nll_iw_cond"] <= -ev["elbo_cond"] + 1e-6  # the IW bound is tighter than the ELBO


# -- StyleGAN-lite -----------------------------------------------------------------------------


def small_generator(shape=(3, 32, 32), seed=0) -> StyleGenerator:
    torch.manual_seed(seed)
    g = StyleGenerator(shape, z_dim=16, w_dim=16, ch=8, n_mapping=2, mapping_lr_mul=0.01)
    with torch.no_grad():  # trained generators have non-zero noise strengths
        for layer in g.layers:
            layer.noise_strength.fill_(0.1)
    return g


def test_modulated_conv_matches_per_sample_weights():
    """The non-fused computation equals eqs. 1-3 applied to each sample's own weights."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, w_dim=6)
    x, w = torch.randn(3, 4, 8, 8), torch.randn(3, 6)
    s = conv.affine(w)
    for i in range(3):
        wi = conv.weight * conv.scale * s[i][None, :, None, None]
        wi = wi / wi.pow(2).sum((1, 2, 3), keepdim=True).add(1e-8).sqrt()
        assert torch.allclose(conv(x, w)[i], F.conv2d(x[i : i + 1], wi, padding=1)[0], atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_style_mixing_leaves_layers_before_the_crossover_unchanged(shape):
    g = small_generator(shape)
    w1, w2 = g.mapping(torch.randn(4, 16)), g.mapping(torch.randn(4, 16))
    noise = g.draw_noise(4, torch.Generator().manual_seed(0))
    cutoff = 2
    _, plain = g.synthesis(mix_styles(w1, w2, g.num_ws, g.num_ws), noise, return_features=True)
    img_mix, mixed = g.synthesis(mix_styles(w1, w2, g.num_ws, cutoff), noise, return_features=True)
    for i in range(cutoff):
        assert torch.equal(plain[i], mixed[i]), i
    for i in range(cutoff, g.num_ws):
        assert not torch.allclose(plain[i], mixed[i]), i
    assert g.num_ws == (7 if shape[1] == 32 else 5) and img_mix.shape == (4, *shape)


def test_training_mixes_styles_with_the_configured_probability():
    m = build("stylegan-lite", RGB32, batch_size=4, ch=8, z_dim=16, w_dim=16, n_mapping=2, style_mixing_prob=1.0)
    ws = m._mixed_ws(3)
    same = [torch.equal(ws[:, i], ws[:, 0]) for i in range(m.G.num_ws)]
    assert same[0] and not all(same) and same == sorted(same, reverse=True)  # one crossover
    m.hp["style_mixing_prob"] = 0.0
    ws = m._mixed_ws(3)
    assert all(torch.equal(ws[:, i], ws[:, 0]) for i in range(m.G.num_ws))


def test_lazy_r1_is_its_own_discriminator_step():
    """StyleGAN2 app. B / ADA's Dreg phase: every r1_interval steps R1 is a separate D step (so D
    takes interval + 1 steps per interval, which opt_D's lr and betas are adjusted for); r1_gamma 0
    leaves one D step per step."""
    from genbench.baselines.base import Batch

    def d_steps(m):
        return int(m.opt_D.state[next(iter(m.D.parameters()))]["step"])

    m = build("stylegan-lite", RGB32, batch_size=4, ch=8, z_dim=16, w_dim=16, n_mapping=2, r1_interval=2)
    x = images(4, 0, (3, 32, 32))
    counts = []
    for _ in range(4):
        out = m.train_step([Batch(x=x, y=None)])
        counts.append(d_steps(m))
    assert counts == [2, 3, 5, 6] and int(m.opt_G.state[next(iter(m.G.parameters()))]["step"]) == 4
    assert float(out["r1"]) > 0 and out["r1"].device == out["loss_d"].device
    off = build("stylegan-lite", RGB32, batch_size=4, ch=8, z_dim=16, w_dim=16, n_mapping=2, r1_gamma=0.0)
    for _ in range(2):
        out = off.train_step([Batch(x=x, y=None)])
    assert d_steps(off) == 2 and float(out["r1"]) == 0.0


def coarse_fraction(d: torch.Tensor) -> float:
    """Share of a difference image's mean magnitude that survives 4x4 block averaging."""
    return float(F.avg_pool2d(d, d.shape[-1] // 4).abs().mean() / d.abs().mean())


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_changes_only_fine_detail(shape, seed):
    """Redrawing only the noise changes the image far less than redrawing z (measured ratio
    0.17-0.30), and what it changes is finer: less of it survives 4x4 averaging (0.39-0.57 of
    the magnitude, against 0.74-0.94 for a new z)."""
    g = small_generator(shape, seed)
    z, z2 = torch.randn(8, 16), torch.randn(8, 16)
    n1, n2 = g.draw_noise(8, torch.Generator().manual_seed(1)), g.draw_noise(8, torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = g(z, n1)
        d_noise, d_z = g(z, n2) - base, g(z2, n1) - base
    assert 0 < d_noise.abs().mean() < 0.5 * d_z.abs().mean()
    assert coarse_fraction(d_noise) < coarse_fraction(d_z) - 0.15


def test_lazy_r1_and_ema():
    m = build("stylegan-lite", RGB32, batch_size=4, ch=8, z_dim=16, w_dim=16, n_mapping=2, r1_interval=4)
    assert m.opt_D.param_groups[0]["lr"] == pytest.approx(0.002 * 4 / 5)
    assert m.opt_D.param_groups[0]["betas"][1] == pytest.approx(0.99 ** 0.8)
    r1 = [float(m.train_step([Batch(images(4, i, (3, 32, 32)))])["r1"]) for i in range(6)]
    assert r1[0] > 0 and r1[0] == r1[1] == r1[2] == r1[3] and r1[4] != r1[3]  # computed at steps 0 and 4
    # EMA half-life ramps up as 0.05 * kimg seen: 24 images -> 1.2 images, so the EMA nearly follows G
    assert m.G_ema.half_life_kimg == pytest.approx(0.05 * 24 / 1000)
    ema, live = m.G_ema.module.const, m.G.const
    assert not torch.equal(ema, live) and torch.allclose(ema, live, atol=1e-2)
