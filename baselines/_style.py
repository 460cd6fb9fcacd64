"""What the style-transfer families (gatys, fast-style, adain) share: pair data, sampling, VGG.

Data: a style dataset stores each training or evaluation pair as one uint8 image, content on
the left and style on the right, (3, H, 2H) (``genbench.bench.style_data``; the aligned
"AB" layout of pix2pix's datasets). The generic loop hands such pairs over as ``Batch.x``
in [-1, 1]; a batch that carries the style images in ``Batch.x2`` (and contents in ``x``)
is taken as it is. ``Batch.y`` is the style's index in the dataset.

``sample(n, generator, condition)`` stylises ``condition``: n pairs (uint8 or float in
[-1, 1], (n, 3, H, 2H)) -> uint8 (n, 3, H, H). Each family implements
``stylize(content, style, generator)`` on float [-1, 1] tensors.

Loss networks are torchvision's VGGs from ``genbench.metrics.style``: looked up in
``$GENBENCH_WEIGHTS_DIR`` and the torch hub cache, never downloaded. The hyperparameter
``vgg_sha256`` ('' = torchvision's official file only) names custom weights by their hash.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import torch

from genbench.baselines.base import Baseline, Batch, TaskKind
from genbench.baselines.nets import to_uint8
from genbench.bench.spec import DataInfo, SpecError
from genbench.metrics.style import VGG_NETS, VggFeatures, check_pairs, load_vgg, split_pairs


class StyleTransferBaseline(Baseline):
    """Base of the style families. Subclasses implement ``build``, ``train_step``,
    ``stylize``, ``state_dict`` and ``load_state_dict``.

    optimises_per_image: True for Gatys et al.: nothing is trained, the budget's steps are
    optimisation steps per image at sampling time (the harness records this on the row).
    loss_nets: hyperparameter keys whose values name the VGGs the model loads.
    """

    task = TaskKind.STYLE_TRANSFER
    data_kinds = ("image",)
    optimises_per_image: ClassVar[bool] = False
    loss_nets: ClassVar[tuple[str, ...]] = ("vgg",)
    sample_batch: int = 16

    # -- data ---------------------------------------------------------------------
    def check_data(self, data: DataInfo) -> tuple[int, int]:
        """(H, number of styles) of a pair dataset (3, H, 2H); SpecError otherwise."""
        name = type(self).__name__
        shape = tuple(data.shape)
        if len(shape) != 3 or shape[0] != 3 or shape[2] != 2 * shape[1]:
            raise SpecError(
                f"{name} takes content|style pairs stored side by side, (3, H, 2H) (e.g. --dataset "
                f"skimage-style), but dataset {data.name!r} has shape {shape}"
            )
        return shape[1], int(data.num_classes or 0)

    @staticmethod
    def pairs(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(content, style) float (B, 3, H, H) in [-1, 1] from a batch (x2, or x as pairs)."""
        if batch.x2 is not None:
            return batch.x, batch.x2
        return split_pairs(batch.x)

    # -- loss networks ------------------------------------------------------------
    @classmethod
    def vgg_nets(cls, hp: Mapping[str, Any]) -> tuple[str, ...]:
        """The VGG names this model loads with hyperparameters ``hp``."""
        return tuple(hp[k] for k in cls.loss_nets)

    def check_vgg_hparams(self, hp: Mapping[str, Any]) -> None:
        for key in self.loss_nets:
            if hp[key] not in VGG_NETS:
                raise SpecError(f"{type(self).__name__} {key} must be one of {sorted(VGG_NETS)}, got {hp[key]!r}")
        sha = hp.get("vgg_sha256", "")
        if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
            raise SpecError(f"vgg_sha256 must be '' (official weights) or 64 hex digits, got {sha!r}")

    def load_loss_vgg(self, net: str, layers: Sequence[str], pool: str = "max") -> VggFeatures:
        """A frozen VGG for the losses, on ``self.device`` (VggWeightsError when absent)."""
        return load_vgg(net, layers, expected_sha256=self.hp.get("vgg_sha256") or None, device=self.device, pool=pool)

    def vgg_state(self) -> dict[str, Any]:
        """The loss networks' hashes, stored in checkpoints and checked on resume."""
        return {name: vgg.sha256 for name, vgg in sorted(self.loss_vggs().items())}

    def loss_vggs(self) -> dict[str, VggFeatures]:
        return {}

    def check_vgg_state(self, saved: Mapping[str, Any]) -> None:
        now = self.vgg_state()
        if dict(saved) != now:
            raise SpecError(
                f"the checkpoint was trained with VGG weights {dict(saved)}, but these are {now}; "
                "resume with the same weights files"
            )

    # -- sampling -----------------------------------------------------------------
    def stylize(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """float (B, 3, H, H) content and style in [-1, 1] -> float (B, 3, H, H) output."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Stylise ``condition`` (n content|style pairs, (n, 3, H, 2H)) -> uint8 (n, 3, H, H) on the CPU.

        Runs in chunks of ``sample_batch``; randomness (Gatys's initial noise) is drawn from
        ``generator`` in pair order, so the result does not depend on the chunk size.
        """
        name = type(self).__name__
        if condition is None:
            raise ValueError(
                f"{name} transfers styles: pass condition = n content|style pairs, (n, 3, H, 2H), "
                "e.g. a style dataset's test split"
            )
        check_pairs(condition, "condition")
        if condition.shape[0] != n:
            raise ValueError(f"{name}: n = {n} but condition holds {condition.shape[0]} pairs")
        pairs = condition.float() / 127.5 - 1.0 if condition.dtype == torch.uint8 else condition.float()
        content, style = split_pairs(pairs.to(self.device))
        out = [
            self.stylize(c, s, generator).detach()
            for c, s in zip(content.split(self.sample_batch), style.split(self.sample_batch))
        ]
        return to_uint8(torch.cat(out)) if out else torch.empty(0, 3, *content.shape[2:], dtype=torch.uint8)
