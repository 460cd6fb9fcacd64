"""The sides of the full-evaluation benchmark, for any device: genbench and the tools people use.

Each side scores uint8 fake images against a real set whose features are computed beforehand
(untimed), with the SAME Inception weights file loaded through each tool's own path:

- genbench: one Inception pass (features + logits) then FID, KID, IS, precision/recall (k=3) and
  density/coverage (k=5) from those features (``compute_metrics``).
- torchmetrics: FrechetInceptionDistance, KernelInceptionDistance and InceptionScore one after
  another (``reset_real_features=False``): each runs its own Inception on the fakes. torchmetrics
  1.9's KID and IS take no weights path, so they get torchmetrics' own ``NoTrainInceptionV3`` built
  on the file; ``antialias=False`` everywhere (the TF protocol). With ``with_prdc``, the prdc
  package adds precision/recall (k=3) and density/coverage (k=5) on features from FID's network.
- torch-fidelity: ``calculate_metrics(isc, fid, kid)``, one shared pass, the real side from its
  cache.

Used by benchmarks/test_bench_eval.py (CPU, a few hundred images) and test_bench_gpu.py (50k).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch


def save_random_inception(folder: Path) -> tuple[Path, str]:
    """A seeded random Inception state_dict under the official file name; (path, sha256)."""
    from genbench.metrics.extractors import sha256_file
    from genbench.metrics.inception import INCEPTION_FILE, random_inception_state

    path = Path(folder) / INCEPTION_FILE
    torch.save(random_inception_state(seed=0), path)
    return path, sha256_file(path)


def random_images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def batches(x: torch.Tensor, batch: int, device: str):
    for i in range(0, len(x), batch):
        yield x[i : i + batch].to(device)


def genbench_side(ext: Any, real_x: torch.Tensor, batch: int, device: str, allow_tf32: bool = False,
                  channels_last: bool = False) -> Callable[[torch.Tensor], dict]:
    """genbench's scorer: exact fp32 extraction by default; allow_tf32/channels_last are extract()'s
    speed options (TF32 is what the peers run by default on Ampere and later)."""
    from genbench.metrics import FeatureStats, compute_metrics, cuda_or_none

    opts = {"batch_size": batch, "device": device, "allow_tf32": allow_tf32, "channels_last": channels_last}

    gpu = cuda_or_none(device)  # statistics, KID and PRDC on the GPU
    real = FeatureStats.from_features(*ext.extract(real_x, **opts), device=gpu)

    def score(fake_x: torch.Tensor) -> dict:
        fake = FeatureStats.from_features(*ext.extract(fake_x, **opts), device=gpu)
        return compute_metrics(real, fake, ext.metric_suffix, device=gpu)[0]

    return score


def torchmetrics_side(weights: Path, real_x: torch.Tensor, n_fake: int, batch: int, device: str,
                      with_prdc: bool = False) -> Callable[[torch.Tensor], dict]:
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    w = str(weights)
    fid = FrechetInceptionDistance(feature=2048, reset_real_features=False, feature_extractor_weights_path=w,
                                   antialias=False).to(device)
    kid_net = NoTrainInceptionV3("inception-v3-compat", ["2048"], w, antialias=False)
    kid = KernelInceptionDistance(feature=kid_net, subsets=100, subset_size=min(1000, len(real_x), n_fake),
                                  reset_real_features=False).to(device)
    isc = InceptionScore(feature=NoTrainInceptionV3("inception-v3-compat", ["logits_unbiased"], w, antialias=False),
                         splits=10).to(device)
    real_feats = []
    with torch.no_grad():
        for b in batches(real_x, batch, device):  # untimed: the real side is precomputed for every tool
            fid.update(b, real=True)
            kid.update(b, real=True)
            if with_prdc:
                real_feats.append(fid.inception(b).cpu())

    def score(fake_x: torch.Tensor) -> dict:
        fid.reset(), kid.reset(), isc.reset()  # keeps the real features (reset_real_features=False)
        fake_feats = []
        for b in batches(fake_x, batch, device):
            fid.update(b, real=False)
            kid.update(b, real=False)
            isc.update(b)
        out = {"fid": float(fid.compute()), "kid": float(kid.compute()[0]), "is": float(isc.compute()[0])}
        if with_prdc:
            import prdc

            with torch.no_grad():  # prdc needs the features themselves: one more pass, as a user would do
                fake_feats = [fid.inception(b).cpu() for b in batches(fake_x, batch, device)]
            r, f = torch.cat(real_feats).numpy(), torch.cat(fake_feats).numpy()
            pr = prdc.compute_prdc(real_features=r, fake_features=f, nearest_k=3)
            dc = prdc.compute_prdc(real_features=r, fake_features=f, nearest_k=5)
            out.update(precision=pr["precision"], recall=pr["recall"], density=dc["density"],
                       coverage=dc["coverage"])
        return out

    return score


class ImageSet(torch.utils.data.Dataset):
    """uint8 CHW images as torch-fidelity's input."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def fidelity_side(weights: Path, real_x: torch.Tensor, n_fake: int, batch: int, device: str,
                  cache_root: Path) -> Callable[[torch.Tensor], dict]:
    import torch_fidelity

    kwargs = dict(input2=ImageSet(real_x), input2_cache_name="genbench-bench-real", cache_root=str(cache_root),
                  cache=True, cuda=torch.device(device).type == "cuda", batch_size=batch, isc=True, fid=True,
                  kid=True, verbose=False, feature_extractor_weights_path=str(weights), kid_subsets=100,
                  kid_subset_size=min(1000, len(real_x), n_fake))
    torch_fidelity.calculate_metrics(input1=ImageSet(real_x[: min(len(real_x), n_fake)]), **kwargs)  # fills the cache

    def score(fake_x: torch.Tensor) -> dict:
        return torch_fidelity.calculate_metrics(input1=ImageSet(fake_x), **kwargs)

    return score
