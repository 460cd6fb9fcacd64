"""The TF Inception-v3 (2015-12-05 weights) that FID, KID and IS are defined on, via torch-fidelity.

The network is torch-fidelity's ``FeatureExtractorInceptionV3`` (a port of the TF graph used by
Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule...", for FID and by Salimans
et al. 2016 for IS); genbench only chooses the resize (``metrics/resize.py``) and reads out:

- features: the 2048-d ``pool_3`` activations (FID, KID, precision/recall, density/coverage);
- logits: the 1008-way ``logits_unbiased`` (``pool_3 @ fc.weight.T``, no bias), which is what the
  original TF IS code feeds to its softmax and what torch-fidelity uses for IS.

Weights file: ``weights-inception-2015-12-05-6726825d.pth`` (95,628,359 bytes), published in
torch-fidelity's GitHub release v0.2.0 (INCEPTION_URL); pytorch-fid publishes the same bytes as
``pt_inception-2015-12-05-6726825d.pth``. Its full sha256 (INCEPTION_SHA256) is recorded
publicly next to pytorch-fid's release URL in other projects' pinned-weights tables (torch hub
itself only checks the 8-hex prefix ``6726825d`` in the file name). Only that exact hash makes
the official extractor whose metrics are named ``fid``, ``kid``, ``is``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genbench.metrics.resize import RESIZE_MODES, check_uint8_images, resize

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FEATURE_DIM, NUM_CLASSES = 2048, 1008

# the trunk of torch-fidelity's FeatureExtractorInceptionV3.forward, in order, up to pool_3
_TRUNK = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool",
)


def build_torch_fidelity_inception(weights_path: Path) -> nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 with the (already sha256-checked) weights at ``weights_path``.

    The file is first loaded with ``weights_only=True`` so that a file holding anything but tensors
    is refused before torch-fidelity (which loads with ``weights_only=False``) reads it.
    Raises ImportError naming the package when torch-fidelity is not installed.
    """
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the inception-v3-tf extractor needs torch-fidelity: pip install torch-fidelity") from e
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"{weights_path} is not an Inception-v3 state_dict (no 'fc.weight')")
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(weights_path))


class InceptionV3TF(nn.Module):
    """uint8 images of any size -> (pool_3 features float32 (N, 2048), logits_unbiased float32 (N, 1008)).

    resize_mode: 'legacy-tf' (torch-fidelity's default, TF1 bilinear) or 'clean' (clean-fid).
    ``forward_features`` takes uint8 (N, 1|3, H, W) in [0, 255]; grayscale is repeated to RGB.
    """

    takes_uint8 = True

    def __init__(self, net: nn.Module, resize_mode: str = "legacy-tf") -> None:
        super().__init__()
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {resize_mode!r}; choose one of {', '.join(RESIZE_MODES)}")
        self.net = net.eval()
        self.resize_mode = resize_mode

    def pool3_and_logits(self, x299: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (N, 3, 299, 299) in [0, 255] -> (pool_3 (N, 2048), logits_unbiased (N, 1008))."""
        x = (x299.to(torch.float32) - 128) / 128  # the graph's (x - 128) * 0.0078125, bit-exact
        for name in _TRUNK:
            x = getattr(self.net, name)(x)
        feats = torch.flatten(x, 1)
        return feats, feats.mm(self.net.fc.weight.T)

    def forward_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (N, 1|3, H, W) -> (features float32 (N, 2048), logits float32 (N, 1008))."""
        check_uint8_images(images, "inception-v3-tf")
        return self.pool3_and_logits(resize(images, self.resize_mode))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_features(images)


def load_inception(weights_path: Path, resize_mode: str = "legacy-tf") -> InceptionV3TF:
    """The InceptionV3TF network on checked weights (the ExtractorSpec ``load`` hook)."""
    return InceptionV3TF(build_torch_fidelity_inception(weights_path), resize_mode)


def random_inception_state(seed: int) -> dict[str, torch.Tensor]:
    """State dict of torch-fidelity's Inception with seeded random weights whose activations keep their scale.

    For tests and speed benchmarks only (nothing is downloaded here): its sha256 is not the
    official one, so an extractor loaded from it names its metrics '*_inception-custom', never
    fid/kid/is, and such rows are never ranked with official ones.

    Convolutions: He-normal (std sqrt(2 / fan_in)); batch norms: non-trivial affine and running
    stats; fc: std 1/sqrt(2048). The module is built on the meta device (shapes only, no init cost)
    with its weight loading patched out, since its __init__ would otherwise download the weights.
    """
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with torch.device("meta"), mock.patch.object(
        FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None
    ), mock.patch("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {}):
        shapes = {k: v.shape for k, v in FeatureExtractorInceptionV3("random", ["2048"]).state_dict().items()}
    g = torch.Generator().manual_seed(seed)

    def draw(key: str, shape: torch.Size) -> torch.Tensor:
        if key.endswith("num_batches_tracked"):
            return torch.zeros(shape, dtype=torch.long)
        if key.endswith("conv.weight"):
            return torch.randn(shape, generator=g) * (2.0 / shape[1:].numel()) ** 0.5
        if key.endswith(("bn.weight", "bn.running_var")):
            return torch.rand(shape, generator=g) + 0.5
        if key == "fc.weight":
            return torch.randn(shape, generator=g) * 2048**-0.5
        return torch.randn(shape, generator=g) * 0.1  # bn.bias, bn.running_mean, fc.bias

    return {k: draw(k, shape) for k, shape in shapes.items()}
