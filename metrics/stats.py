"""FeatureStats: the result of one feature pass (mean, covariance, raw features, logits), cacheable.

>>> import torch
>>> s = FeatureStats.from_features(torch.randn(100, 4, generator=torch.Generator().manual_seed(0)))
>>> s.n, s.mean.shape, s.cov.shape, s.mean.dtype
(100, (4,), (4, 4), dtype('float64'))
>>> len(stats_key(data="mnist/test", extractor="mnist-lenet", n=500))
16
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


def _as_2d_float(x: Any, name: str) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N samples, D dims), got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must be a float array, got dtype {t.dtype}")
    if not torch.isfinite(t.double()).all():
        raise ValueError(f"{name} contain NaN or inf; the samples or the extractor are broken (check the images)")
    return t


def _stored_features(feats: torch.Tensor) -> torch.Tensor:
    """The features as FeatureStats keeps them: float64 stays float64, anything else becomes float32."""
    return (feats if feats.dtype == torch.float64 else feats.float()).contiguous()


def cuda_or_none(device: Any) -> Any:
    """``device`` when it is a CUDA device, else None: where the float64 statistics are worth moving."""
    return device if device is not None and torch.device(device).type == "cuda" else None


@dataclass
class FeatureStats:
    """Statistics of one set of features.

    n: number of samples (>= 2).
    mean: float64 (D,); cov: float64 (D, D), unbiased (divides by n - 1).
    features: (N, D) tensor, float64 when given float64 and float32 otherwise, or None when only
      the Gaussian statistics are kept.
    logits: float32 (N, K) tensor of classifier logits (for the Inception Score), or None.
    meta: JSON-able provenance (data, split, extractor, weights sha256, ...); saved with the stats.
    """

    n: int
    mean: np.ndarray
    cov: np.ndarray
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def from_features(
        cls,
        features: Any,
        logits: Any | None = None,
        keep_features: bool = True,
        meta: dict[str, Any] | None = None,
        device: str | torch.device | None = None,
    ) -> "FeatureStats":
        """Build stats from float (N, D) features (N >= 2) and optional float (N, K) logits.

        Mean and covariance are computed in float64 (on ``device``, the CPU when None: a GPU
        does 50k x 2048 in milliseconds). Features are stored on the CPU as float64 when given
        float64 (KID and precision/recall/density/coverage then see the values FD sees; rounded
        to float32, near-ties between a distance and a k-NN radius were decided differently than
        by the float64 reference, the ``prdc`` package), else as float32 (extractors return
        float32; up-casting would double the memory for nothing). Logits are stored as float32.
        Raises ValueError for a wrong shape, NaN/inf, N < 2 or logits of another length.
        """
        feats = _as_2d_float(features, "features")
        n = feats.shape[0]
        if n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, got {n}")
        if logits is not None:
            logits = _as_2d_float(logits, "logits").float()
            if logits.shape[0] != n:
                raise ValueError(f"logits have {logits.shape[0]} rows but features have {n}; pass the same samples")
        x = feats.to(device or "cpu").double()
        mean = x.mean(0)
        xc = x - mean
        cov = (xc.T @ xc) / (n - 1)
        return cls(
            n=n,
            mean=mean.cpu().numpy(),
            cov=cov.cpu().numpy(),
            features=_stored_features(feats) if keep_features else None,
            logits=logits,
            meta=dict(meta or {}),
        )

    def save(self, path: str | Path) -> Path:
        """Write the stats to ``path`` (.npz) atomically: a temp file in the same folder, then rename."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"stats files end in .npz, got {path}")
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "n": np.array(self.n),
            "mean": self.mean,
            "cov": self.cov,
            "meta": np.array(json.dumps(self.meta, sort_keys=True)),
        }
        if self.features is not None:
            arrays["features"] = self.features.numpy()
        if self.logits is not None:
            arrays["logits"] = self.logits.numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        """Read stats written by ``save``; raises FileNotFoundError / ValueError with the path."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no feature stats file at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                version = int(z["format_version"])
                if version != FORMAT_VERSION:
                    raise ValueError(f"format version {version}, this genbench reads {FORMAT_VERSION}")
                return cls(
                    n=int(z["n"]),
                    mean=z["mean"].astype(np.float64),
                    cov=z["cov"].astype(np.float64),
                    features=torch.from_numpy(z["features"]) if "features" in z else None,
                    logits=torch.from_numpy(z["logits"]) if "logits" in z else None,
                    meta=json.loads(str(z["meta"])),
                )
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path} is not a readable feature stats file ({e}); delete it to recompute") from e


def stats_key(**fields: Any) -> str:
    """16-hex-digit content hash (sha256 of canonical JSON) of everything that changes the stats.

    Pass e.g. data, split, extractor, weights_sha256, resize_mode, n, seed. Values must be
    JSON-serialisable (str, int, float, bool, None, lists, dicts).
    """
    try:
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"stats_key fields must be finite JSON values: {e}") from None
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
