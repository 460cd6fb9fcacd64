"""Paired image-to-image metrics: PSNR / L1 by hand, the PSNR cap, SSIM against skimage (Wang et
al.'s valid-region mean) on MNIST digits and an RGB photo, SSIM identities, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.metrics import paired as P
from genbench.metrics.paired import PAIRED_HIGHER_IS_BETTER, PSNR_MAX_DB, paired_metrics, psnr_per_image, ssim_per_image

torch.set_num_threads(1)


def _images(n: int, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


def test_psnr_and_l1_match_hand_computation():
    pred, target = _images(5, seed=1), _images(5, seed=2)
    p, t = pred.numpy().astype(np.float64) / 255, target.numpy().astype(np.float64) / 255
    mse = ((p - t) ** 2).reshape(5, -1).mean(1)
    want_psnr = float(np.mean(10 * np.log10(1.0 / mse)))
    m = paired_metrics(pred, target)
    assert m["psnr"] == pytest.approx(want_psnr, rel=1e-6)  # torchmetrics: 10 / ln(10) in float32
    assert m["l1"] == pytest.approx(float(np.abs(p - t).mean()), rel=1e-12)
    assert set(m) == {"psnr", "ssim", "l1"}


def test_psnr_is_mean_over_images_not_pooled():
    target = torch.full((2, 1, 16, 16), 100, dtype=torch.uint8)
    pred = target.clone()
    pred[0] += 1  # every pixel off by 1/255
    pred[1] += 10
    want = np.mean([20 * math.log10(255 / 1), 20 * math.log10(255 / 10)])
    assert paired_metrics(pred, target)["psnr"] == pytest.approx(want, rel=1e-6)


def test_identical_images():
    x = _images(3, seed=3)
    m = paired_metrics(x, x)
    assert m["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert m["l1"] == 0.0 and m["psnr"] == PSNR_MAX_DB == 100.0  # capped, not +inf


def test_one_exact_prediction_keeps_the_mean_psnr_finite():
    """An exact match scores PSNR_MAX_DB, so one of them cannot make the test-set mean +inf."""
    target = _images(6, seed=7)
    noise = torch.randint(-40, 41, target.shape, generator=torch.Generator().manual_seed(1))
    pred = (target.int() + noise).clamp(0, 255).to(torch.uint8)
    pred[0] = target[0]
    p, t = pred.numpy().astype(np.float64) / 255, target.numpy().astype(np.float64) / 255
    mse = ((p - t) ** 2).reshape(6, -1).mean(1)
    per_image = [PSNR_MAX_DB] + [10 * math.log10(1.0 / v) for v in mse[1:]]
    assert max(per_image[1:]) < 40  # the other five are ordinary, far under the cap
    got = psnr_per_image(pred.double() / 255, target.double() / 255)
    assert got.dtype == torch.float64 and got[0].item() == PSNR_MAX_DB
    torch.testing.assert_close(got[1:], torch.tensor(per_image[1:], dtype=torch.float64), rtol=1e-6, atol=0)
    psnr = paired_metrics(pred, target)["psnr"]
    assert math.isfinite(psnr) and psnr == pytest.approx(float(np.mean(per_image)), rel=1e-6)


def test_psnr_cap_changes_only_exact_matches_at_these_sizes():
    """The closest distinct uint8 pair (one value off by one) stays under the cap: 48.1 + 10 log10(C H W) dB."""
    target = torch.full((1, 3, 64, 64), 100, dtype=torch.uint8)
    pred = target.clone()
    pred[0, 0, 0, 0] += 1
    want = 20 * math.log10(255) + 10 * math.log10(3 * 64 * 64)
    assert want < PSNR_MAX_DB and paired_metrics(pred, target)["psnr"] == pytest.approx(want, rel=1e-6)


def test_ssim_orders_degradation_and_is_symmetric():
    x = _images(4, c=1, size=28, seed=4)
    noise = torch.randint(-20, 21, x.shape, generator=torch.Generator().manual_seed(0))
    mild = (x.int() + noise).clamp(0, 255).to(torch.uint8)
    strong = (x.int() + 5 * noise).clamp(0, 255).to(torch.uint8)
    s_mild, s_strong = paired_metrics(mild, x)["ssim"], paired_metrics(strong, x)["ssim"]
    assert 1.0 > s_mild > s_strong
    a, b = x.double() / 255, mild.double() / 255
    torch.testing.assert_close(ssim_per_image(a, b), ssim_per_image(b, a))


def test_lpips_fn_is_averaged_and_checked():
    x, y = _images(4, seed=5), _images(4, seed=6)
    m = paired_metrics(x, y, lpips_fn=lambda a, b: torch.arange(4, dtype=torch.float32))
    assert m["lpips"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="shape"):
        paired_metrics(x, y, lpips_fn=lambda a, b: torch.zeros(3))
    assert set(PAIRED_HIGHER_IS_BETTER) == {"psnr", "ssim", "l1", "lpips"}
    assert PAIRED_HIGHER_IS_BETTER["psnr"] and not PAIRED_HIGHER_IS_BETTER["lpips"]


@pytest.mark.parametrize(
    "pred,target,match",
    [
        (_images(2), _images(3), "differ in shape"),
        (_images(2), _images(2, c=1), "differ in shape"),
        (_images(2).float(), _images(2), "uint8"),
        (_images(2), _images(2).to(torch.int16), "uint8"),
        (_images(2)[0], _images(2)[0], "uint8 \\(N, C, H, W\\)"),
        (_images(0), _images(0), "0 image pairs"),
        (_images(2, size=8), _images(2, size=8), "H, W >= 11"),
    ],
)
def test_bad_input(pred, target, match):
    with pytest.raises(ValueError, match=match):
        paired_metrics(pred, target)


def _skimage_ssim(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """skimage's SSIM per image with Wang et al.'s settings; colour via channel_axis (the mean of the
    per-channel SSIMs). uint8 (N, C, H, W) -> float64 (N,)."""
    from skimage.metrics import structural_similarity

    out = []
    for a, b in zip(pred.numpy(), target.numpy()):
        a, b = a.transpose(1, 2, 0) / 255.0, b.transpose(1, 2, 0) / 255.0
        out.append(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1.0, channel_axis=2))
    return np.array(out)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from genbench.bench.datasets import load_dataset

    return load_dataset("mnist").split("test").x[:120]  # uint8 (120, 1, 28, 28), the embedded MNIST


def test_ssim_matches_skimage_on_mnist_digits(digits):
    """Wang et al.'s MSSIM averages only the (H-10) x (W-10) valid positions (ssim_index.m, skimage);
    on 28x28 digits a mean over the reflect-padded full map is off by +0.25 / -0.32."""
    pred, target = digits[:60], digits[60:]  # pairs of different digits
    g = torch.Generator().manual_seed(0)
    noisy = (target.int() + torch.randint(-30, 31, target.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    for p in (pred, noisy):
        want = _skimage_ssim(p, target)
        got = ssim_per_image(p.double() / 255, target.double() / 255)
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-10)
        assert paired_metrics(p, target)["ssim"] == pytest.approx(float(want.mean()), abs=1e-10)


def test_ssim_matches_skimage_on_an_rgb_photo():
    """Colour: the mean over channels of per-channel SSIM, as skimage with channel_axis."""
    from skimage import data

    photo = torch.from_numpy(data.chelsea()).permute(2, 0, 1).contiguous()  # uint8 (3, 300, 451)
    crops = torch.stack([photo[:, :96, :128], photo[:, 100:196, 200:328], photo[:, 200:296, 300:428]])
    g = torch.Generator().manual_seed(2)
    noisy = (crops.int() + torch.randint(-40, 41, crops.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    shifted = torch.roll(crops, shifts=(2, 3), dims=(2, 3))
    for pred in (noisy, shifted):
        want = _skimage_ssim(pred, crops)
        got = ssim_per_image(pred.double() / 255, crops.double() / 255)
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-10)
        assert paired_metrics(pred, crops)["ssim"] == pytest.approx(float(want.mean()), abs=1e-10)
    per_channel = [ssim_per_image(noisy[:, c : c + 1].double() / 255, crops[:, c : c + 1].double() / 255) for c in range(3)]
    torch.testing.assert_close(ssim_per_image(noisy.double() / 255, crops.double() / 255), torch.stack(per_channel).mean(0))


def test_ssim_is_torchmetrics_full_map_cropped_to_the_valid_region(digits):
    """torchmetrics (>= PR #2721) averages its reflect-padded full map; cropped by 5 it is Wang et al.'s."""
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    pred, target = digits[:20].double() / 255, digits[20:40].double() / 255
    full_mean, full = tm_ssim(pred, target, gaussian_kernel=True, sigma=1.5, kernel_size=11, reduction="none",
                              data_range=1.0, return_full_image=True)
    assert full.shape == pred.shape
    ours = ssim_per_image(pred, target)
    torch.testing.assert_close(ours, full[..., 5:-5, 5:-5].flatten(1).mean(1), rtol=0, atol=1e-10)
    assert (full_mean - ours).abs().max() > 0.05  # the full-map mean is a different number
    assert P.ssim_map(pred, target).shape == (20, 1, 18, 18)


def test_ssim_window_is_wang_et_al():
    w = P.gaussian_window()
    x = torch.arange(-5, 6, dtype=torch.float64)
    torch.testing.assert_close(w, torch.exp(-(x**2) / (2 * 1.5**2)) / torch.exp(-(x**2) / (2 * 1.5**2)).sum())
    assert (P.SSIM_KERNEL, P.SSIM_SIGMA, P.SSIM_K1, P.SSIM_K2) == (11, 1.5, 0.01, 0.03)


@pytest.mark.parametrize("shape", [(2, 1, 10, 40), (2, 3, 40, 10)])
def test_ssim_rejects_images_smaller_than_its_window(shape):
    """The SSIM map exists only where the 11x11 window fits; smaller images are an error, not a padded guess."""
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"H, W >= 11, got \(\d+, \d+\)"):
        ssim_per_image(x, x.flip(-1))


def test_ssim_per_image_checks_its_input():
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match="differ in shape"):
        ssim_per_image(x, x[:1])
    with pytest.raises(ValueError, match="float \\(N, C, H, W\\)"):
        ssim_per_image((x * 255).to(torch.uint8), x)


def test_ssim_does_not_depend_on_the_chunk_size(monkeypatch):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (7, 3, 24, 20), generator=g, dtype=torch.uint8)
    y = (x.int() + torch.randint(-40, 41, x.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    a, b = x.double() / 255, y.double() / 255
    whole = ssim_per_image(a, b)
    monkeypatch.setattr(P, "SSIM_CHUNK", 3)
    torch.testing.assert_close(ssim_per_image(a, b), whole, rtol=0, atol=1e-14)
    torch.testing.assert_close(ssim_per_image(a[[4]], b[[4]]), whole[[4]], rtol=0, atol=1e-14)
