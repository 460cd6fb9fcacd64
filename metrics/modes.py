"""Mode-collapse metrics for the toy mixtures (ring8, grid25) and stacked MNIST (1000 modes).

Protocol of VEEGAN (Srivastava et al., NeurIPS 2017, Sec. 5.1, the 2D Ring / 2D Grid table)
as extended by PacGAN (Lin et al., NeurIPS 2018, Sec. 3, the 2D-ring / 2D-grid table, which
adds the reverse KL), and of the stacked-MNIST tables of Unrolled GAN (Metz et al., ICLR 2017,
Sec. 3.3.1) / VEEGAN / PacGAN. The exact definitions used here:

Toy mixtures, ``mode_metrics(points, modes, std)``:

- a sample is *high quality* when its Euclidean distance to its nearest mode is <= 3 std;
  ``high_quality`` = (high-quality samples) / N.
- a mode is *covered* when at least one sample lies within 3 std of it; ``modes_covered`` is
  their count (0..K). With the registered mixtures (mode spacing >= 0.76, 3 std <= 0.15) a
  sample can be within 3 std of only one mode, so this equals VEEGAN's "modes whose nearest
  high-quality samples exist".
- ``reverse_kl`` = KL(p_gen || uniform) = sum_k p_k log(K p_k) (natural log, 0 log 0 = 0),
  where p is the histogram of the *high-quality* samples over their nearest modes, normalised
  to sum to one. 0 when every mode gets the same share, log K when all sit on one mode.
  With no high-quality sample the histogram is empty and the KL is undefined: it is reported
  as +inf (worse than any histogram; the value ranks last under lower-is-better).

Stacked MNIST, ``stacked_mode_metrics(digit_labels)``: each image's three channels are
classified by the MNIST classifier; the mode is 100 d0 + 10 d1 + d2 (1000 modes);
``modes_covered`` = number of distinct modes among the N samples; ``reverse_kl`` =
KL(p_gen || uniform over 1000) of their histogram (every sample counts).

>>> import torch
>>> modes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
>>> m = mode_metrics(torch.tensor([[0.0, 0.01], [1.0, 0.0], [5.0, 5.0]]), modes, std=0.05)
>>> m["modes_covered"], round(m["high_quality"], 4), m["reverse_kl"]
(2, 0.6667, 0.0)
>>> stacked_mode_metrics(torch.tensor([[1, 2, 3], [1, 2, 3]]))["modes_covered"]
1
"""

from __future__ import annotations

import math

import torch

MODE_RADIUS_STD = 3.0  # VEEGAN: "within three standard deviations"
STACKED_MODES = 1000
MODES_HIGHER_IS_BETTER: dict[str, bool] = {"modes_covered": True, "high_quality": True, "reverse_kl": False}


def _check_points(points: torch.Tensor, modes: torch.Tensor, std: float) -> None:
    for name, t in (("points", points), ("modes", modes)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() != 2:
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"mode_metrics: {name} must be a float (N, D) tensor, got {got}")
        if not torch.isfinite(t).all():
            raise ValueError(f"mode_metrics: {name} contains NaN or inf")
    if points.shape[1] != modes.shape[1]:
        raise ValueError(f"mode_metrics: points have dimension {points.shape[1]} but modes {modes.shape[1]}")
    if points.shape[0] == 0 or modes.shape[0] == 0:
        raise ValueError(f"mode_metrics: need at least one point and one mode, got {points.shape[0]} and {modes.shape[0]}")
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise ValueError(f"mode_metrics: std must be a positive number, got {std!r}")


def kl_from_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform over K) for a histogram of counts (K,) -> float in [0, log K]; +inf if empty."""
    total = counts.sum()
    if total <= 0:
        return math.inf
    p = counts.double() / total
    nz = p[p > 0]
    return max(0.0, float((nz * torch.log(nz * counts.numel())).sum()))


def mode_metrics(points: torch.Tensor, modes: torch.Tensor, std: float) -> dict[str, float | int]:
    """float (N, D) samples, float (K, D) mode centres, the mixture's std -> mode metrics.

    Returns {'modes_covered': int in [0, K], 'high_quality': float in [0, 1],
    'reverse_kl': float in [0, log K] or +inf}; see the module docstring for the definitions.
    Distances in float64; chunked over N so memory stays O(chunk x K).
    """
    _check_points(points, modes, std)
    k = modes.shape[0]
    radius = MODE_RADIUS_STD * float(std)
    m = modes.double()
    covered = torch.zeros(k, dtype=torch.bool)
    counts = torch.zeros(k, dtype=torch.int64)
    n_hq = 0
    for chunk in points.double().split(65536):
        d = torch.cdist(chunk, m)  # (n, K)
        covered |= (d <= radius).any(0)
        nearest_d, nearest = d.min(1)
        hq = nearest_d <= radius
        n_hq += int(hq.sum())
        counts += torch.bincount(nearest[hq], minlength=k)
    return {
        "modes_covered": int(covered.sum()),
        "high_quality": n_hq / points.shape[0],
        "reverse_kl": kl_from_uniform(counts),
    }


def stacked_mode_metrics(digit_labels: torch.Tensor) -> dict[str, float | int]:
    """int (N, 3) per-channel digit labels in 0..9 -> {'modes_covered': 0..1000, 'reverse_kl'}."""
    if not isinstance(digit_labels, torch.Tensor) or digit_labels.is_floating_point() or digit_labels.dim() != 2 or digit_labels.shape[1] != 3:
        got = f"{digit_labels.dtype} {tuple(digit_labels.shape)}" if isinstance(digit_labels, torch.Tensor) else type(digit_labels).__name__
        raise ValueError(f"stacked_mode_metrics: digit_labels must be an integer (N, 3) tensor, got {got}")
    if digit_labels.shape[0] == 0:
        raise ValueError("stacked_mode_metrics: got 0 samples")
    if digit_labels.min() < 0 or digit_labels.max() > 9:
        raise ValueError(f"stacked_mode_metrics: digit labels must be in 0..9, got [{int(digit_labels.min())}, {int(digit_labels.max())}]")
    mode = (digit_labels.long() * torch.tensor([100, 10, 1])).sum(1)
    counts = torch.bincount(mode, minlength=STACKED_MODES)
    return {"modes_covered": int((counts > 0).sum()), "reverse_kl": kl_from_uniform(counts)}


@torch.no_grad()
def stacked_digit_labels(images: torch.Tensor, extractor, batch_size: int = 500) -> torch.Tensor:
    """uint8 (N, 3, 28, 28) stacked-MNIST images -> int64 (N, 3) digit per channel.

    ``extractor`` is a loaded MNIST classifier (``load_extractor('mnist-lenet')``); each channel
    is classified as a (N, 1, 28, 28) grayscale digit and the argmax of its logits is the label.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"stacked_digit_labels: expected uint8 (N, 3, H, W) images, got {got}")
    labels = [extractor.extract(images[:, c : c + 1].contiguous(), batch_size=batch_size)[1].argmax(1) for c in range(3)]
    return torch.stack(labels, 1)
