"""Paired image-to-image metrics: PSNR, SSIM, L1 and (optionally) LPIPS against the target.

Conventions (pix2pix-style evaluation, Isola et al. 2017; SSIM of Wang et al. 2004):

- uint8 (N, C, H, W) images are mapped to float64 [0, 1] (x / 255); ``data_range`` is 1.0.
- PSNR = 10 log10(1 / MSE) computed **per image** and averaged over the N images (the usual
  "mean PSNR over the test set"; torchmetrics' default pools the MSE over the whole batch
  instead). An identical pair has MSE 0 and PSNR +inf, which would make the mean over the test
  set +inf because of a single exact prediction; so each image's PSNR is capped at
  ``PSNR_MAX_DB`` = 100 dB (a round ceiling above every finite PSNR at this project's image
  sizes; the mean then stays finite and an exact match still scores highest). Between uint8
  images that differ, PSNR is at most 20 log10(255) + 10 log10(C H W) dB (one value off by one),
  which is under 100 dB up to C H W = 153,800 values (3x226x226): there the cap changes only
  exact matches. torchmetrics applies the factor 10 / ln(10) in float32, so values agree with a
  float64 hand computation to ~1e-7 relative.
- SSIM as Wang et al. 2004 define and compute it (their reference ``ssim_index.m``): Gaussian
  window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03 (Sec. III-C), L = ``data_range`` = 1; the
  SSIM map exists only where the whole window lies inside the image (``filter2(..., 'valid')``:
  (H - 10) x (W - 10) positions) and a pair's SSIM is the mean of that map (the MSSIM of their
  eq. 17). This equals ``skimage.metrics.structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1.0)`` (tests/test_paired.py, to 1e-10).
  Colour: Wang et al. define SSIM on greyscale; here the map is computed per channel and the
  image's SSIM is the mean over channels and positions, i.e. the mean of the per-channel
  SSIMs, which is what skimage returns with ``channel_axis``. Images need H, W >= 11.
  torchmetrics' ``structural_similarity_index_measure`` is not used: since its PR #2721 (2024;
  1.9 here) it reflect-pads the images by 5 and averages the full H x W map, so the border
  positions, whose windows read mirrored pixels, count too. On 28x28 digits they are 59% of the
  map, and SSIM moves by +0.25 (pairs of different MNIST test digits: 0.36 instead of 0.11) or
  by -0.32 (a digit with uniform +-30 noise against the digit: 0.50 instead of 0.83).
  Computed in float64 with a separable filter: 1.5 s for 500 64x64 RGB pairs on one CPU thread,
  where torchmetrics' float32 path took 3.6 s (its float64 path is ~40x slower still).
- L1: mean absolute error in [0, 1] over all pixels.
- LPIPS: the mean of ``lpips_fn(pred, target)`` (e.g. ``functools.partial(lpips_distance,
  model=load_lpips())``), when given.

>>> import torch
>>> x = torch.full((2, 3, 16, 16), 100, dtype=torch.uint8)
>>> y = x.clone(); y[:, :, :8] += 10
>>> m = paired_metrics(x, y)
>>> round(m["psnr"], 4), round(m["ssim"], 4) < 1.0, round(m["l1"], 6)
(31.1411, True, 0.019608)
>>> paired_metrics(x, x)["psnr"]        # capped: identical images are not +inf
100.0
>>> PAIRED_HIGHER_IS_BETTER["l1"]
False
"""

from __future__ import annotations

import math
from typing import Callable

import torch

SSIM_KERNEL = 11  # Wang et al. 2004, Sec. III-C: 11x11 circular-symmetric Gaussian window
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_CHUNK = 64  # images per SSIM pass: bounds the five float64 maps' memory, values do not depend on it
PSNR_MAX_DB = 100.0  # per-image PSNR ceiling (module docstring)
PAIRED_HIGHER_IS_BETTER: dict[str, bool] = {"psnr": True, "ssim": True, "l1": False, "lpips": False}

LpipsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.dim() != 4:
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"paired metrics: {name} must be uint8 (N, C, H, W) images in [0, 255], got {got}")
    if pred.shape != target.shape:
        raise ValueError(
            f"paired metrics: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape; "
            "each prediction needs its own target of the same size"
        )
    if pred.shape[0] == 0:
        raise ValueError("paired metrics: got 0 image pairs")
    _check_ssim_size(pred.shape)


def _check_ssim_size(shape: torch.Size) -> None:
    if min(shape[-2:]) < SSIM_KERNEL:
        raise ValueError(
            f"paired metrics: SSIM's {SSIM_KERNEL}x{SSIM_KERNEL} window needs H, W >= {SSIM_KERNEL}, got "
            f"{tuple(shape[-2:])}; evaluate at a larger size (the SSIM map exists only where the window fits)"
        )


def _tm_image():
    try:
        import torchmetrics.functional.image as tmi
    except ImportError as e:
        raise ImportError("paired metrics need torchmetrics: pip install torchmetrics (tested with 1.9.0)") from e
    return tmi


def psnr_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [0, 1] -> PSNR in dB per image, float64 (N,), capped at PSNR_MAX_DB."""
    psnr = _tm_image().peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return psnr.clamp(max=PSNR_MAX_DB)


def gaussian_window() -> torch.Tensor:
    """The 11 taps of Wang et al.'s window, float64: exp(-x² / (2 sigma²)) for x = -5..5, summing
    to 1 (MATLAB's ``fspecial('gaussian', 11, 1.5)`` is their outer product)."""
    x = torch.arange(SSIM_KERNEL, dtype=torch.float64) - (SSIM_KERNEL - 1) / 2
    w = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return w / w.sum()


def _filter_valid(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering without padding: (..., H, W) -> (..., H - 10, W - 10)."""
    k = len(w)
    h, wd = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    rows = x[..., 0:h, :] * w[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + h, :], alpha=float(w[i]))
    out = rows[..., 0:wd] * w[0]
    for j in range(1, k):
        out.add_(rows[..., j : j + wd], alpha=float(w[j]))
    return out


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """float (N, C, H, W) -> Wang et al.'s SSIM map on the valid positions, float64 (N, C, H - 10, W - 10).

    Local means, variances and covariance are Gaussian-weighted (population, not sample,
    statistics), as in ``ssim_index.m``; C1 = (K1 L)², C2 = (K2 L)² with L = ``data_range``.
    """
    _check_ssim_size(pred.shape)
    w = gaussian_window()
    x, y = pred.double(), target.double()
    mx, my, xx, yy, xy = _filter_valid(torch.stack([x, y, x * x, y * y, x * y]), w)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mxy, mx2, my2 = mx * my, mx * mx, my * my
    return ((2 * mxy + c1) * (2 * (xy - mxy) + c2)) / ((mx2 + my2 + c1) * ((xx - mx2) + (yy - my2) + c2))


def ssim_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [0, 1] -> SSIM per image, float64 (N,): the mean of ``ssim_map``
    over channels and valid positions (module docstring). Raises ValueError for H or W < 11."""
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() != 4:
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"ssim_per_image: {name} must be float (N, C, H, W) in [0, 1], got {got}")
    if pred.shape != target.shape:
        raise ValueError(f"ssim_per_image: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    _check_ssim_size(pred.shape)
    parts = [
        ssim_map(pred[i : i + SSIM_CHUNK], target[i : i + SSIM_CHUNK]).flatten(1).mean(1)
        for i in range(0, pred.shape[0], SSIM_CHUNK)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def paired_metrics(pred: torch.Tensor, target: torch.Tensor, lpips_fn: LpipsFn | None = None) -> dict[str, float]:
    """uint8 (N, C, H, W) predictions and targets -> {psnr, ssim, l1[, lpips]} (means over N).

    Directions are in PAIRED_HIGHER_IS_BETTER. Raises ValueError on a dtype or shape mismatch.
    """
    _check_pair(pred, target)
    p, t = pred.double() / 255.0, target.double() / 255.0
    values = {
        "psnr": float(psnr_per_image(p, t).mean()),
        "ssim": float(ssim_per_image(p, t).mean()),
        "l1": float((p - t).abs().mean()),
    }
    if lpips_fn is not None:
        d = lpips_fn(pred, target)
        if not isinstance(d, torch.Tensor) or d.shape != (pred.shape[0],):
            raise ValueError(f"lpips_fn must return a tensor of shape ({pred.shape[0]},), got {getattr(d, 'shape', type(d))}")
        values["lpips"] = float(d.double().mean())
    for k, v in values.items():
        if math.isnan(v):
            raise ValueError(f"paired metric {k} is NaN; check the images")
    return values
