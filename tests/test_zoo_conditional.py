"""Unit tests of the conditional and structured GANs (cgan, acgan, infogan, began) and of
metrics/conditional.py (class accuracy, Hungarian code-to-label accuracy)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from genbench.baselines import BASELINES, Batch
from genbench.baselines.began import BEGANDecoder, BEGANEncoder, m_global, recon_loss, times_k, update_k
from genbench.baselines.cgan import condition_labels
from genbench.baselines.infogan import mi_loss
from genbench.bench.datasets import load_dataset
from genbench.bench.spec import SpecError
from genbench.metrics.conditional import class_accuracy, code_label_accuracy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


def make(name: str, mnist, seed: int = 0, **hp):
    model = BASELINES.get(name)()
    model.setup({"batch_size": 16, **hp}, mnist.info, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return model


def real_batch(mnist, n: int = 16, start: int = 0) -> Batch:
    split = mnist.split("train")
    return Batch(x=split.x[start : start + n].float() / 127.5 - 1.0, y=split.y[start : start + n])


# --- metrics/conditional.py ------------------------------------------------------------------


def brute_force_code_accuracy(codes: np.ndarray, labels: np.ndarray, k: int, n_labels: int) -> float:
    best = 0
    for perm in itertools.permutations(range(n_labels), k):
        best = max(best, sum(int(perm[c] == y) for c, y in zip(codes, labels)))
    return best / len(codes)


@pytest.mark.parametrize("k,n_labels", [(4, 4), (3, 5), (5, 5)])
def test_code_accuracy_matches_brute_force(k, n_labels):
    rng = np.random.default_rng(k * 10 + n_labels)
    labels = rng.integers(0, n_labels, 60)
    codes = np.where(rng.random(60) < 0.6, labels % k, rng.integers(0, k, 60))  # partly informative
    got = code_label_accuracy(torch.as_tensor(codes), torch.as_tensor(labels), k)
    assert got == pytest.approx(brute_force_code_accuracy(codes, labels, k, n_labels))


def test_code_accuracy_permutation_and_chance():
    labels = torch.randint(0, 10, (5000,), generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert code_label_accuracy(perm[labels], labels, 10) == 1.0
    noise = torch.randint(0, 10, (5000,), generator=torch.Generator().manual_seed(2))
    assert 0.08 < code_label_accuracy(noise, labels, 10) < 0.16  # chance is about 1/10
    with pytest.raises(ValueError, match=r"\[0, k\)"):
        code_label_accuracy(torch.tensor([0, 10]), torch.tensor([0, 1]), 10)
    with pytest.raises(ValueError, match="same length"):
        code_label_accuracy(torch.tensor([0, 1]), torch.tensor([0]), 10)
    with pytest.raises(ValueError, match="integers"):
        code_label_accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 10)


def test_class_accuracy_overall_and_per_class():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    out = class_accuracy(logits, labels)
    assert out["overall"] == 0.75
    assert out["per_class"] == [1.0, 0.5, None]  # class 2 was never requested
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        class_accuracy(logits[:3], labels)
    with pytest.raises(ValueError, match="NaN"):
        class_accuracy(torch.full((4, 3), float("nan")), labels)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        class_accuracy(logits, torch.tensor([0, 1, 3, 0]))


def test_conditional_metrics_doctests():
    import doctest

    import genbench.metrics.conditional as mod

    result = doctest.testmod(mod)
    assert result.attempted > 0 and result.failed == 0


# --- cgan / acgan --------------------------------------------------------------------------


def test_condition_labels_checks():
    assert condition_labels(None, 12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    with pytest.raises(ValueError, match="shape"):
        condition_labels(torch.zeros(3, dtype=torch.int64), 4, 10)
    with pytest.raises(ValueError, match="integer"):
        condition_labels(torch.zeros(4), 4, 10)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        condition_labels(torch.tensor([0, 1, 2, 10]), 4, 10)


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_conditional_sampling(name, mnist):
    model = make(name, mnist)
    model.eval()
    y = torch.tensor([3] * 8 + [7] * 8)
    a = model.sample(16, torch.Generator().manual_seed(0), condition=y)
    assert a.shape == (16, 1, 28, 28) and a.dtype == torch.uint8
    model.sample_batch = 5  # chunking does not change the samples
    assert torch.equal(a, model.sample(16, torch.Generator().manual_seed(0), condition=y))
    b = model.sample(16, torch.Generator().manual_seed(0), condition=(y + 1) % 10)
    assert not torch.equal(a, b)  # same latents, other labels -> other images
    with pytest.raises(ValueError):
        model.sample(4, torch.Generator(), condition=torch.tensor([0, 1, 2, 11]))


def test_cgan_discriminator_sees_the_label(mnist):
    model = make("cgan", mnist)
    x = real_batch(mnist).x
    same = model.discriminate(x, torch.zeros(16, dtype=torch.int64))
    other = model.discriminate(x, torch.ones(16, dtype=torch.int64))
    assert not torch.allclose(same, other)


@pytest.mark.parametrize("name", ["cgan", "acgan", "infogan", "began"])
def test_unlabelled_or_bad_shape_is_a_spec_error(name, mnist):
    bad_shape = replace(mnist.info, shape=(1, 30, 30))
    with pytest.raises(SpecError):
        BASELINES.get(name)().setup({"batch_size": 8}, bad_shape, torch.device("cpu"), torch.Generator())
    if name in ("cgan", "acgan"):
        unlabelled = replace(mnist.info, num_classes=None)
        with pytest.raises(SpecError, match="labelled"):
            BASELINES.get(name)().setup({"batch_size": 8}, unlabelled, torch.device("cpu"), torch.Generator())


def test_acgan_auxiliary_loss_enters_d_with_weight(mnist):
    """Same seed, same batch: loss_d(w=1) - loss_d(w=0) is exactly the two class CEs."""
    batch = real_batch(mnist)
    with_aux = make("acgan", mnist, aux_weight=1.0).train_step([batch])
    without = make("acgan", mnist, aux_weight=0.0).train_step([batch])
    assert float(with_aux["loss_d"] - without["loss_d"]) == pytest.approx(
        float(with_aux["cls_real"] + with_aux["cls_fake"]), rel=1e-5
    )


def test_acgan_classifier_learns_real_labels(mnist):
    model = make("acgan", mnist, seed=1)
    batch = real_batch(mnist, 32)
    first = model.train_step([batch])["cls_real"]
    for _ in range(14):
        last = model.train_step([batch])["cls_real"]
    assert float(last) < 0.5 * float(first)  # from about log(10) towards 0 on a fixed batch
    assert model.classify(batch.x).shape == (32, 10)


# --- infogan -------------------------------------------------------------------------------


def test_mi_loss_known_values():
    cat = torch.tensor([0, 2])
    logits = torch.zeros(2, 4)  # uniform Q -> CE = log 4
    mean = torch.tensor([[0.0, 1.0], [0.5, 0.0]])
    cont = torch.tensor([[1.0, 1.0], [0.5, -1.0]])
    total, l_cat, l_cont = mi_loss(logits, mean, cat, cont, 1.0, 0.5)
    assert float(l_cat) == pytest.approx(math.log(4))
    assert float(l_cont) == pytest.approx(0.5 * (1.0 + 1.0) / 2)  # 0.5 * mean over rows of sum sq
    assert float(total) == pytest.approx(math.log(4) + 0.5 * 0.5)


def test_infogan_codes_and_sampling(mnist):
    model = make("infogan", mnist)
    assert model.G.fc[0].in_features == 62 + 10 + 2  # the paper's 74-dim input
    model.eval()
    x, codes = model.sample_with_codes(20, torch.Generator().manual_seed(3))
    assert x.shape == (20, 1, 28, 28) and x.dtype == torch.uint8
    assert codes.dtype == torch.int64 and codes.shape == (20,) and 0 <= codes.min() and codes.max() < 10
    assert torch.equal(x, model.sample(20, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, torch.Generator(), condition=torch.tensor([0, 1]))


def test_infogan_networks_follow_the_authors_code(mnist):
    """regularized_gan.py: every G layer is FC/deconv -> batch norm -> ReLU; leaky_rectify's slope
    0.01; batch-norm gammas ~ N(1, 0.02) in the FC layers too (custom_ops' batch norm)."""
    model = make("infogan", mnist, fc_dim=64, g_ch=16)
    g_layers = [*model.G.fc, *model.G.conv]
    relus = [i for i, m in enumerate(g_layers) if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 3 and all(isinstance(g_layers[i - 1], torch.nn.modules.batchnorm._BatchNorm) for i in relus)
    assert {m.negative_slope for m in model.D.modules() if isinstance(m, torch.nn.LeakyReLU)} == {0.01}
    gamma = model.G.fc[1].weight.detach()
    assert isinstance(model.G.fc[1], torch.nn.BatchNorm1d) and 0 < float((gamma - 1).abs().max()) < 0.2


def test_infogan_mi_term_enters_both_losses(mnist):
    """Same seed, same batch: loss_d(lambda=1) - loss_d(lambda=0) is exactly the MI loss
    reported for D's update (the Q head is trained with D)."""
    batch = real_batch(mnist)
    small = {"fc_dim": 64, "g_ch": 16}
    with_mi = make("infogan", mnist, **small).train_step([batch])
    without = make("infogan", mnist, lambda_cat=0.0, lambda_cont=0.0, **small).train_step([batch])
    assert float(with_mi["loss_d"] - without["loss_d"]) == pytest.approx(
        float(with_mi["mi_cat"] + with_mi["mi_cont"]), rel=1e-5
    )


def test_infogan_mi_term_decreases_on_a_fixed_batch(mnist):
    """Minimising L_I alone over G and D/Q on a fixed batch of latents: the categorical
    cross-entropy falls from about log 10 towards 0 and Q recovers the codes."""
    model = make("infogan", mnist, seed=2, fc_dim=64, g_ch=16)
    noise, cat, cont = model.draw_latents(32, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(list(model.G.parameters()) + list(model.D.parameters()), lr=1e-3)
    history = []
    for _ in range(25):
        _, q_cat, q_cont = model.D(model.generate(noise, cat, cont))
        loss, l_cat, _ = mi_loss(q_cat, q_cont, cat, cont, 1.0, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(l_cat.detach()))
    assert history[0] == pytest.approx(math.log(10), abs=0.5)
    assert history[-1] < 0.3 * history[0]
    assert (q_cat.detach().argmax(1) == cat).float().mean() > 0.8  # Q reads the codes back


# --- began ---------------------------------------------------------------------------------


def test_k_update_and_m_global():
    assert update_k(0.2, 0.001, 0.5, 0.4, 0.1) == pytest.approx(0.2 + 0.001 * (0.2 - 0.1))
    assert update_k(0.0, 0.001, 0.5, 0.0, 5.0) == 0.0  # clipped below
    assert update_k(1.0, 0.1, 0.5, 100.0, 0.0) == 1.0  # clipped above
    assert m_global(0.4, 0.1, 0.5) == pytest.approx(0.4 + 0.1)
    assert m_global(0.4, 0.3, 0.5) == pytest.approx(0.4 + 0.1)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_began_shapes(size):
    enc, dec = BEGANEncoder((3, size, size), 4, 8), BEGANDecoder(8, (3, size, size), 4)
    h = enc(torch.zeros(2, 3, size, size))
    assert h.shape == (2, 8) and dec(h).shape == (2, 3, size, size)


def test_began_k_stays_in_unit_interval_and_is_checkpointed(mnist):
    model = make("began", mnist, n=8, lambda_k=0.5)  # a large lambda_k pushes k to its bounds
    batch = real_batch(mnist)
    ks = []
    for _ in range(4):
        out = model.train_step([batch])
        ks.append(float(out["k"]))
        assert 0.0 <= model.k <= 1.0 and out["k"] == model.k.float()
    assert len(set(ks)) > 1 and max(ks) > 0  # k actually moves
    state = model.state_dict()
    assert isinstance(state["k"], float) and state["k"] == model.k
    other = make("began", mnist, n=8, lambda_k=0.5)
    other.load_state_dict(state)
    assert other.k.dtype == torch.float64 and other.k == model.k


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_began_k_times_loss_as_with_a_python_float(dtype):
    """loss_d's k_t * L(G(z_D)) with k_t a float64 tensor equals the Python-float product, value and
    gradient, in every dtype autocast can give the loss (casting k_t to a bf16 loss's dtype would not)."""
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        k = float(torch.rand((), dtype=torch.float64, generator=g))
        a = (torch.rand((), generator=g) * 3).to(dtype).requires_grad_()
        b = a.detach().clone().requires_grad_()
        ref = k * a
        got = times_k(torch.tensor(k, dtype=torch.float64), b)
        ref.backward(torch.ones((), dtype=dtype))
        got.backward(torch.ones((), dtype=dtype))
        assert got.dtype == ref.dtype and torch.equal(got, ref) and torch.equal(a.grad, b.grad)


def test_began_k_on_the_device_equals_the_python_float_update(mnist):
    """k_t is updated from float64 tensors (no host read per step); each step's value equals the
    Python-float update of the same losses, bit for bit, and so does the returned m_global."""
    model = make("began", mnist, n=8, lambda_k=0.3)
    batch, k = real_batch(mnist), 0.0
    for _ in range(5):
        out = model.train_step([batch])
        lx, lg = float(out["loss_real"]), float(out["loss_g"])
        k = update_k(k, 0.3, 0.5, lx, lg)
        assert float(model.k) == k and float(out["m_global"]) == float(torch.tensor(m_global(lx, lg, 0.5)))


def test_began_d_update_ignores_g_loss_when_k_is_zero(mnist):
    """With k_t = 0 (and lambda_k = 0) D's step is an Adam step on L(x) alone: L_G must not
    leak into D's gradients (the simultaneous update)."""
    batch = real_batch(mnist)
    model = make("began", mnist, n=8, lambda_k=0.0)
    ref = make("began", mnist, n=8, lambda_k=0.0)
    model.train_step([batch])
    ref.opt_D.zero_grad()
    recon_loss(ref.D, batch.x).mean().backward()
    ref.opt_D.step()
    for p, q in zip(model.D.parameters(), ref.D.parameters()):
        torch.testing.assert_close(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(model.G.parameters(), ref.G.parameters()))  # G moved


def test_began_evaluate_m_global(mnist):
    model = make("began", mnist, n=8)
    test = mnist.split("test")
    x = test.x[:40]
    out = model.evaluate(x, None, torch.Generator().manual_seed(0))
    assert set(out) == {"m_global"} and model.evaluate_higher_is_better["m_global"] is False
    z = torch.rand(40, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        lx = float(recon_loss(model.D, x.float() / 127.5 - 1).mean())
        lg = float(recon_loss(model.D, model.G(z)).mean())
    assert out["m_global"] == pytest.approx(lx + abs(0.5 * lx - lg), rel=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        model.evaluate(x.float(), None, torch.Generator())
