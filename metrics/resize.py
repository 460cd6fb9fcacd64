"""Resizing uint8 images to the 299x299 input of the TF Inception, in the modes the field uses.

Two modes, recorded on every result row (``FeatureExtractor.resize_mode``):

- ``'legacy-tf'``: the bilinear resize of TensorFlow 1.x (``tf.image.resize_bilinear`` with
  ``align_corners=False``: source = destination * in/out, no half-pixel offset, no antialiasing),
  i.e. what the original TF FID / IS code did inside the graph. Computed by torch-fidelity's
  ``interpolate_bilinear_2d_like_tensorflow1x``, its default for FID/KID/IS.
- ``'clean'``: clean-fid's mode (Parmar et al., "On Aliased Resizing and Surprising Subtleties
  in GAN Evaluation", CVPR 2022, Sec. 4): each channel is resized on its own with PIL's bicubic
  filter (antialiased) in float mode ``'F'``, then clipped to [0, 255]. clean-fid's
  ``make_resizer("PIL", quantize_after=False, "bicubic", (299, 299))`` does *not* quantise the
  result back to uint8: its float32 output goes straight to the network. We do the same.

Both return float32 (N, 3, 299, 299) with values in [0, 255]; the network then maps x to
(x - 128) / 128, as torch-fidelity and clean-fid both do. Grayscale (C = 1) is repeated to
3 channels first (as PIL's ``convert('RGB')`` does in clean-fid).

>>> import torch
>>> x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
>>> [tuple(resize(x, m).shape) for m in RESIZE_MODES]
[(2, 3, 299, 299), (2, 3, 299, 299)]
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

RESIZE_MODES = ("legacy-tf", "clean")
INCEPTION_SIZE = 299


def check_uint8_images(images: torch.Tensor, who: str = "resize") -> None:
    """Raise ValueError unless ``images`` is uint8 (N, C, H, W) with N >= 1 and C in {1, 3}."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{who}: expected a torch.Tensor of uint8 (N, 1 or 3, H, W) images, got {type(images).__name__}")
    got = f"{str(images.dtype).replace('torch.', '')} {tuple(images.shape)}"
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"{who}: expected uint8 (N, 1 or 3, H, W) images, got {got}; pass uint8 images in [0, 255] "
            "(NCHW; a float x in [-1, 1] becomes ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))"
        )
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"{who}: got no pixels {tuple(images.shape)}; pass at least one non-empty image")


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> uint8 (N, 3, H, W); grayscale is repeated to 3 channels."""
    check_uint8_images(images, "to_rgb")
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


def resize_legacy_tf(images: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """TF1-compatible bilinear resize (torch-fidelity's): uint8 (N, 1|3, H, W) -> float32 (N, 3, size, size) in [0, 255]."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = to_rgb(images).to(torch.float32)
    return interpolate_bilinear_2d_like_tensorflow1x(x, size=(size, size), align_corners=False)


def _pil_bicubic_channel(channel: np.ndarray, size: int) -> np.ndarray:
    """One float32 (H, W) channel -> float32 (size, size), PIL bicubic in mode 'F', clipped to [0, 255]."""
    img = Image.fromarray(channel.astype(np.float32), mode="F")
    return np.asarray(img.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)


def resize_clean(images: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """clean-fid's 'clean' resize: uint8 (N, 1|3, H, W) -> float32 (N, 3, size, size) in [0, 255], on the CPU."""
    x = to_rgb(images).cpu().numpy()
    out = np.empty((x.shape[0], 3, size, size), dtype=np.float32)
    for i in range(x.shape[0]):
        for c in range(3):
            out[i, c] = _pil_bicubic_channel(x[i, c], size)
    return torch.from_numpy(out)


def resize(images: torch.Tensor, mode: str, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """Resize uint8 (N, 1|3, H, W) images with ``mode`` (one of RESIZE_MODES) to float32 (N, 3, size, size) in [0, 255]."""
    if mode == "legacy-tf":
        return resize_legacy_tf(images, size)
    if mode == "clean":
        return resize_clean(images, size).to(images.device)
    raise ValueError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")
