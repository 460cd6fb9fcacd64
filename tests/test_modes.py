"""Mode metrics (toy mixtures, stacked MNIST) and the stacked-mnist dataset."""

from __future__ import annotations

import math

import pytest
import torch

from genbench.bench.datasets import grid_modes, load_dataset, ring_modes
from genbench.metrics.modes import kl_from_uniform, mode_metrics, stacked_digit_labels, stacked_mode_metrics

torch.set_num_threads(1)


@pytest.mark.parametrize("modes,std", [(ring_modes(), 0.01), (grid_modes(), 0.05)], ids=["ring8", "grid25"])
def test_exact_modes_cover_everything(modes, std):
    m = mode_metrics(modes.repeat(3, 1).float(), modes.float(), std)
    assert m == {"modes_covered": len(modes), "high_quality": 1.0, "reverse_kl": 0.0}


@pytest.mark.parametrize("modes,std", [(ring_modes(), 0.01), (grid_modes(), 0.05)], ids=["ring8", "grid25"])
def test_one_mode_gives_log_k(modes, std):
    g = torch.Generator().manual_seed(0)
    pts = modes[3] + std * torch.randn(500, 2, generator=g, dtype=torch.float64) * 0.5
    m = mode_metrics(pts.float(), modes.float(), std)
    assert m["modes_covered"] == 1 and m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(len(modes)), rel=1e-12)


def test_far_points_and_empty_histogram():
    modes = grid_modes().float()
    m = mode_metrics(torch.full((50, 2), 100.0), modes, 0.05)
    assert m == {"modes_covered": 0, "high_quality": 0.0, "reverse_kl": math.inf}


def test_training_data_scores_as_a_good_generator():
    ds = load_dataset("ring8")
    x = ds.split("test").x
    m = mode_metrics(x, ds.extras["modes"], ds.extras["std"])
    assert m["modes_covered"] == 8 and m["high_quality"] > 0.98  # 3-std disc holds 98.9% in 2-D
    assert 0 < m["reverse_kl"] < 0.01


def test_partial_histogram_kl_and_hq_fraction():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    pts = torch.tensor([[0.0, 0.0]] * 3 + [[10.0, 0.0]] + [[5.0, 5.0]] * 4)  # 4 high quality, 4 far
    m = mode_metrics(pts, modes, 0.1)
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    assert m["modes_covered"] == 2 and m["high_quality"] == 0.5
    assert m["reverse_kl"] == pytest.approx(float((p * torch.log(4 * p)).sum()), rel=1e-12)


def test_boundary_is_inclusive_at_three_std():
    origin = torch.zeros(1, 2, dtype=torch.float64)
    on = mode_metrics(torch.tensor([[0.75, 0.0]], dtype=torch.float64), origin, 0.25)  # exactly 3 std
    off = mode_metrics(torch.tensor([[0.7500001, 0.0]], dtype=torch.float64), origin, 0.25)
    assert (on["modes_covered"], on["high_quality"]) == (1, 1.0)
    assert (off["modes_covered"], off["high_quality"]) == (0, 0.0)


def test_stacked_mode_metrics():
    all_modes = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))
    assert stacked_mode_metrics(all_modes) == {"modes_covered": 1000, "reverse_kl": 0.0}
    one = torch.tensor([[4, 0, 7]]).repeat(20, 1)
    m = stacked_mode_metrics(one)
    assert m["modes_covered"] == 1 and m["reverse_kl"] == pytest.approx(math.log(1000), rel=1e-12)
    half = stacked_mode_metrics(torch.tensor([[1, 2, 3], [3, 2, 1]]))
    assert half["modes_covered"] == 2 and half["reverse_kl"] == pytest.approx(math.log(500), rel=1e-12)
    assert kl_from_uniform(torch.zeros(5)) == math.inf


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: mode_metrics(torch.zeros(3, 3), torch.zeros(2, 2), 0.1), "dimension"),
        (lambda: mode_metrics(torch.zeros(0, 2), torch.zeros(2, 2), 0.1), "at least one"),
        (lambda: mode_metrics(torch.zeros(3, 2), torch.zeros(2, 2), 0.0), "std"),
        (lambda: mode_metrics(torch.full((3, 2), math.nan), torch.zeros(2, 2), 0.1), "NaN"),
        (lambda: mode_metrics(torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, 2), 0.1), "float"),
        (lambda: stacked_mode_metrics(torch.zeros(3, 2, dtype=torch.long)), r"\(N, 3\)"),
        (lambda: stacked_mode_metrics(torch.full((3, 3), 10)), "0..9"),
        (lambda: stacked_mode_metrics(torch.zeros(3, 3)), "integer"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the stacked-mnist dataset ------------------------------------------------------------
@pytest.fixture(scope="module")
def stacked():
    return load_dataset("stacked-mnist")


def test_stacked_sizes_and_info(stacked):
    assert stacked.info.kind == "image" and stacked.info.shape == (3, 28, 28) and stacked.info.num_classes == 1000
    for name, n in (("train", 25_600), ("val", 2_000), ("test", 2_000)):
        s = stacked.split(name)
        assert s.x.shape == (n, 3, 28, 28) and s.x.dtype == torch.uint8 and s.y.shape == (n,)
    assert dict(stacked.info.splits) == {"train": 25_600, "val": 2_000, "test": 2_000}


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_stacked_channels_are_source_digits(stacked, split):
    mnist = load_dataset("mnist").split(split)
    s, idx = stacked.split(split), stacked.extras["source_indices"][split]
    rows = torch.arange(0, len(s), 97)
    for c in range(3):
        assert torch.equal(s.x[rows, c], mnist.x[idx[rows, c], 0])
    d = mnist.y[idx]
    assert torch.equal(s.y, 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2])
    assert idx.max() < len(mnist)  # drawn from the same split only


def test_stacked_is_deterministic_and_covers_many_modes(stacked):
    from genbench.bench.datasets import _load_stacked_mnist

    again = _load_stacked_mnist.__wrapped__()
    assert torch.equal(again.split("val").x, stacked.split("val").x)
    assert again.info.sha256 == stacked.info.sha256
    labels = torch.stack([stacked.split("train").y // 100, stacked.split("train").y // 10 % 10, stacked.split("train").y % 10], 1)
    m = stacked_mode_metrics(labels)
    assert m["modes_covered"] == 1000 and m["reverse_kl"] < 0.05


def test_classifier_labels_on_real_stacked_digits(stacked):
    from genbench.metrics.extractors import load_extractor

    ext = load_extractor("mnist-lenet")
    s = stacked.split("test")
    labels = stacked_digit_labels(s.x[:300], ext)
    true = torch.stack([s.y[:300] // 100, s.y[:300] // 10 % 10, s.y[:300] % 10], 1)
    assert labels.shape == (300, 3) and labels.dtype == torch.int64
    assert (labels == true).float().mean() > 0.9  # the shipped classifier on held-out digits
    with pytest.raises(ValueError, match="uint8"):
        stacked_digit_labels(s.x[:2, :1], ext)
