"""Paired image-to-image metrics: PSNR, SSIM, L1 and (optionally) LPIPS against the target.

Conventions (pix2pix-style evaluation, Isola et al. 2017; SSIM of Wang et al. 2004):

- uint8 (N, C, H, W) images are mapped to float64 [0, 1] (x / 255); ``data_range`` is 1.0.
- PSNR = 10 log10(1 / MSE) computed **per image** and averaged over the N images (the usual
  "mean PSNR over the test set"; torchmetrics' default pools the MSE over the whole batch
  instead). Identical images give +inf. torchmetrics applies the factor 10 / ln(10) in
  float32, so values agree with a float64 hand computation to ~1e-7 relative.
- SSIM with torchmetrics' defaults, which are the paper's: Gaussian window 11x11, sigma 1.5,
  K1 = 0.01, K2 = 0.03 (Wang et al. 2004, Sec. III-C); per image, averaged; computed in float32
  (within 1e-5 of float64, ~40x faster on CPU). Images need H, W >= 11.
- L1: mean absolute error in [0, 1] over all pixels.
- LPIPS: the mean of ``lpips_fn(pred, target)`` (e.g. ``functools.partial(lpips_distance,
  model=load_lpips())``), when given.

>>> import torch
>>> x = torch.full((2, 3, 16, 16), 100, dtype=torch.uint8)
>>> y = x.clone(); y[:, :, :8] += 10
>>> m = paired_metrics(x, y)
>>> round(m["psnr"], 4), round(m["ssim"], 4) < 1.0, round(m["l1"], 6)
(31.1411, True, 0.019608)
>>> PAIRED_HIGHER_IS_BETTER["l1"]
False
"""

from __future__ import annotations

import math
from typing import Callable

import torch

SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
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
    if min(pred.shape[-2:]) < SSIM_KERNEL:
        raise ValueError(f"paired metrics: SSIM's {SSIM_KERNEL}x{SSIM_KERNEL} window needs H, W >= {SSIM_KERNEL}, got {tuple(pred.shape[-2:])}")


def _tm_image():
    try:
        import torchmetrics.functional.image as tmi
    except ImportError as e:
        raise ImportError("paired metrics need torchmetrics: pip install torchmetrics (tested with 1.9.0)") from e
    return tmi


def psnr_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [0, 1] -> PSNR in dB per image, float64 (N,) (+inf where equal)."""
    return _tm_image().peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))


def ssim_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [0, 1] -> SSIM per image (N,), Gaussian 11x11, sigma 1.5."""
    return _tm_image().structural_similarity_index_measure(
        pred, target, gaussian_kernel=True, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL,
        reduction="none", data_range=1.0,
    )


def paired_metrics(pred: torch.Tensor, target: torch.Tensor, lpips_fn: LpipsFn | None = None) -> dict[str, float]:
    """uint8 (N, C, H, W) predictions and targets -> {psnr, ssim, l1[, lpips]} (means over N).

    Directions are in PAIRED_HIGHER_IS_BETTER. Raises ValueError on a dtype or shape mismatch.
    """
    _check_pair(pred, target)
    p, t = pred.double() / 255.0, target.double() / 255.0
    values = {
        "psnr": float(psnr_per_image(p, t).mean()),
        # float32: torchmetrics' float64 convolutions are ~40x slower on CPU (58 s for 500 64x64 RGB
        # pairs); the float32 mean agrees with float64 to < 1e-5 (tests/test_paired.py)
        "ssim": float(ssim_per_image(p.float(), t.float()).double().mean()),
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
