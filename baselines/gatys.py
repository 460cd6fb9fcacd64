"""Gatys, Ecker and Bethge 2016: style transfer by optimising the image on VGG features."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from genbench.baselines._style import StyleTransferBaseline
from genbench.baselines.base import BASELINES, Batch
from genbench.bench.spec import DataInfo, SpecError
from genbench.metrics.style import CONTENT_LAYER, STYLE_LAYERS, VggFeatures, gram_loss, gram_matrix

INITS = ("noise", "content")
OPTIMIZERS = ("lbfgs", "adam")


@BASELINES.register("gatys")
class Gatys(StyleTransferBaseline):
    """Gatys, Ecker and Bethge, "Image Style Transfer Using Convolutional Neural Networks",
    CVPR 2016.

    Nothing is trained: each output image is optimised from white noise so that its VGG19
    relu4_2 map matches the content image's (L_content = ½ Σ (F - P)², eq. 1) and its Gram
    matrices at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 match the style image's
    (L_style = Σ_l w_l E_l, w_l = 1/5, E_l = 1/(4 N_l² M_l²) Σ (G - A)², eq. 4-5), minimising
    α L_content + β L_style with L-BFGS (Sec. 3); max-pooling replaced by average pooling
    (Sec. 2). These are also the layers and the style loss that the rows' metrics use
    (``genbench.metrics.style``), so Gatys optimises the metric itself: expect it to lead on
    the losses and to be the slowest per image.

    **Budget**: under the harness, ``max_steps`` is the number of optimisation steps per
    image (L-BFGS iterations). The generic loop counts them without
    doing anything (``train_step`` only increments ``steps``; kimg and train img/s do not
    apply), and ``sample`` runs that many steps on each image. ``--kimg`` and ``--minutes``
    budgets are refused for this family. Step 0 returns the initial image (noise).

    Defaults: α = 1 (content_weight) and β/α = 1e3 (the paper's ratio 1e-3, Fig. 3) rescaled
    to torchvision's VGG: the paper's Caffe VGG takes 0-255 inputs, torchvision's takes
    inputs divided by about 255 · 0.226 = 57.6, which (ReLU networks being close to
    positively homogeneous) scales L_content by 57.6⁻² and L_style by 57.6⁻⁴, so the same
    balance needs β = 1e3 · 57.6² ≈ 3.3e6 (style_weight). The initial white noise is uniform
    on [-1, 1] per pixel, drawn from the sampling generator in pair order.
    Optimised pixels are free; the output is clipped to [0, 255] when converted to uint8.

    Deviations: images are the datasets' size (64x64 for skimage-style; the paper used about
    512 px); the optimizer is torch's L-BFGS (history 100, strong-Wolfe line search: without
    one, unit L-BFGS steps can raise the loss) on each image alone (so results do not depend
    on chunking); a step is one L-BFGS iteration, whose line search evaluates the loss one or
    more times. ``--set optimizer=adam --set lr=0.02`` and ``--set init=content`` are options.
    """

    paper = "Gatys, Ecker, Bethge. Image Style Transfer Using Convolutional Neural Networks. CVPR 2016"
    optimises_per_image = True
    defaults: Mapping[str, Any] = {
        "batch_size": 1,  # the loop's no-op steps read one pair each; nothing is trained
        "vgg": "vgg19",
        "vgg_sha256": "",
        "pool": "avg",
        "content_weight": 1.0,
        "style_weight": 3.3e6,
        "init": "noise",
        "optimizer": "lbfgs",
        "lr": 1.0,
        "history_size": 100,
    }
    sample_batch = 1

    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """Check the hyperparameters and the data, and load the frozen VGG."""
        self.check_data(data)
        self.check_vgg_hparams(hp)
        if hp["init"] not in INITS:
            raise SpecError(f"gatys init must be one of {INITS}, got {hp['init']!r}")
        if hp["optimizer"] not in OPTIMIZERS:
            raise SpecError(f"gatys optimizer must be one of {OPTIMIZERS}, got {hp['optimizer']!r}")
        if hp["pool"] not in ("avg", "max"):
            raise SpecError(f"gatys pool must be 'avg' or 'max', got {hp['pool']!r}")
        if hp["content_weight"] < 0 or hp["style_weight"] < 0 or hp["lr"] <= 0 or hp["history_size"] < 1:
            raise SpecError("gatys weights must be >= 0, lr > 0 and history_size >= 1")
        self.vgg = self.load_loss_vgg(hp["vgg"], (CONTENT_LAYER, *STYLE_LAYERS), pool=hp["pool"])
        self.steps = 0

    def loss_vggs(self) -> dict[str, VggFeatures]:
        return {"vgg": self.vgg}

    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """No training: counts one optimisation step per image of the budget."""
        self.steps += 1
        return {}

    # -- the optimisation ---------------------------------------------------------
    def losses(self, x: torch.Tensor, content_feat: torch.Tensor, style_grams: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_content, L_style) of image ``x`` (1, 3, H, W): eq. 1 and eq. 5 of the paper."""
        f = self.vgg(x)
        l_content = 0.5 * (f[CONTENT_LAYER] - content_feat).pow(2).sum()
        l_style = sum(gram_loss(gram_matrix(f[l]), style_grams[l]).sum() for l in STYLE_LAYERS) / len(STYLE_LAYERS)
        return l_content, l_style

    def stylize(self, content: torch.Tensor, style: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Optimise each image for ``self.steps`` steps; noise drawn from ``generator`` in order."""
        noise = torch.rand(content.shape, generator=generator, device=generator.device) * 2 - 1
        return torch.cat([self._one(c[None], s[None], z[None].to(self.device)) for c, s, z in zip(content, style, noise)])

    def _one(self, content: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        hp = self.hp
        with torch.no_grad():  # content and style through the VGG in one pass
            feats = self.vgg(torch.cat([content, style]))
            content_feat = feats[CONTENT_LAYER][:1]
            style_grams = {l: gram_matrix(feats[l][1:]) for l in STYLE_LAYERS}
        x = (content.clone() if hp["init"] == "content" else noise.clone()).requires_grad_(True)
        if self.steps == 0:
            return x.detach()
        alpha, beta = hp["content_weight"], hp["style_weight"]
        with torch.enable_grad():
            if hp["optimizer"] == "lbfgs":
                opt = torch.optim.LBFGS(  # steps = iterations: max_eval never binds (<= 25 per line search)
                    [x], lr=hp["lr"], max_iter=self.steps, max_eval=25 * self.steps + 1, tolerance_grad=0.0,
                    tolerance_change=0.0, history_size=hp["history_size"], line_search_fn="strong_wolfe",
                )

                def closure() -> torch.Tensor:
                    opt.zero_grad(set_to_none=True)
                    l_c, l_s = self.losses(x, content_feat, style_grams)
                    loss = alpha * l_c + beta * l_s
                    loss.backward()
                    return loss

                opt.step(closure)
            else:
                opt = torch.optim.Adam([x], lr=hp["lr"])
                for _ in range(self.steps):
                    opt.zero_grad(set_to_none=True)
                    l_c, l_s = self.losses(x, content_feat, style_grams)
                    (alpha * l_c + beta * l_s).backward()
                    opt.step()
        return x.detach()

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The step count (optimisation steps per image) and the VGG weights' hash."""
        return {"steps": self.steps, "vgg": self.vgg_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_vgg_state(state["vgg"])
        self.steps = int(state["steps"])
