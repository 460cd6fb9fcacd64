"""Paired image-to-image metrics: PSNR / L1 by hand, SSIM identities, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.metrics.paired import PAIRED_HIGHER_IS_BETTER, paired_metrics, ssim_per_image

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
    assert m["l1"] == 0.0 and m["psnr"] == math.inf


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


def test_ssim_in_float32_matches_float64():
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (6, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = (x.int() + torch.randint(-40, 41, x.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    want = float(ssim_per_image(x.double() / 255, y.double() / 255).mean())
    assert paired_metrics(x, y)["ssim"] == pytest.approx(want, abs=1e-5)
