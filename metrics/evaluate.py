"""Every feature-based metric from one feature pass per side, and the METRICS registry.

Metric names are ``<metric>_<suffix>`` where suffix is the extractor's ``metric_suffix``
(``fd_mnist``, ``precision_mnist``; ``fd_mnist-custom`` with unofficial weights). A metric
whose ``higher_is_better`` is None is informational (an error bar such as ``is_mnist_std``):
it is reported next to its metric but never ranked, and ``compute_metrics`` leaves it out of
the returned ``higher_is_better`` dict.

>>> import torch
>>> from genbench.metrics.stats import FeatureStats
>>> g = torch.Generator().manual_seed(0)
>>> real = FeatureStats.from_features(torch.randn(300, 8, generator=g), torch.randn(300, 10, generator=g))
>>> fake = FeatureStats.from_features(torch.randn(300, 8, generator=g), torch.randn(300, 10, generator=g))
>>> values, higher = compute_metrics(real, fake, "toy")
>>> sorted(values)
['coverage_toy', 'density_toy', 'fd_toy', 'is_toy', 'is_toy_std', 'precision_toy', 'recall_toy']
>>> higher["fd_toy"], higher["precision_toy"], "is_toy_std" in higher
(False, True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from genbench.bench.registry import Registry
from genbench.metrics.frechet import frechet_distance
from genbench.metrics.inception_score import inception_score
from genbench.metrics.prdc import prdc
from genbench.metrics.stats import FeatureStats


@dataclass(frozen=True)
class MetricInfo:
    """A feature metric: its name template, direction and inputs.

    template: the row key with ``{suffix}`` for the extractor suffix (``fd_{suffix}``).
    higher_is_better: True / False, or None for informational values that are not ranked.
    needs: what it reads: 'real_stats', 'fake_stats' (mean, cov), 'real_features',
      'fake_features' (FeatureStats.features), 'fake_logits' (FeatureStats.logits).
    """

    name: str
    template: str
    higher_is_better: bool | None
    needs: tuple[str, ...]
    description: str

    def key(self, suffix: str) -> str:
        return self.template.format(suffix=suffix)


METRICS: Registry[MetricInfo] = Registry("metric")

_FEATURES = ("real_features", "fake_features")
for _info in (
    MetricInfo("fd", "fd_{suffix}", False, ("real_stats", "fake_stats"),
               "Fréchet distance between Gaussians fitted to real and fake features (FID with Inception)"),
    MetricInfo("is", "is_{suffix}", True, ("fake_logits",),
               "Inception Score of the fake samples' class predictions, mean over splits"),
    MetricInfo("is_std", "is_{suffix}_std", None, ("fake_logits",),
               "std of the Inception Score over splits (informational, not ranked)"),
    MetricInfo("precision", "precision_{suffix}", True, _FEATURES,
               "fraction of fakes inside the real k-NN manifold (k = pr_k, default 3)"),
    MetricInfo("recall", "recall_{suffix}", True, _FEATURES,
               "fraction of reals inside the fake k-NN manifold (k = pr_k, default 3)"),
    MetricInfo("density", "density_{suffix}", True, _FEATURES,
               "mean count of real k-NN balls holding a fake, over k (k = dc_k, default 5); ~1 when matched"),
    MetricInfo("coverage", "coverage_{suffix}", True, _FEATURES,
               "fraction of real k-NN balls holding at least one fake (k = dc_k, default 5)"),
):
    METRICS.register(_info.name, _info)


def _require(stats: FeatureStats, attr: str, side: str, why: str) -> None:
    if getattr(stats, attr) is None:
        raise ValueError(
            f"{side} FeatureStats has no {attr} ({why}); build it with "
            f"FeatureStats.from_features(features, logits, keep_features=True)"
        )


def _check_suffix(suffix: str) -> None:
    if not isinstance(suffix, str) or not suffix or any(c.isspace() for c in suffix):
        raise ValueError(f"suffix must be a non-empty string without spaces (e.g. 'mnist'), got {suffix!r}")


def compute_metrics(
    real: FeatureStats,
    fake: FeatureStats,
    suffix: str,
    pr_k: int = 3,
    is_splits: int = 10,
    dc_k: int | None = 5,
) -> tuple[dict[str, float], dict[str, bool]]:
    """All feature metrics of ``fake`` against ``real``; returns (values, higher_is_better).

    real: stats of the reference split with features; fake: stats of the samples with
    features and logits (from the same extractor). suffix: the extractor's metric_suffix.
    pr_k: k of precision/recall; is_splits: splits of the IS; dc_k: k of density/coverage
    (None skips them). ``values`` holds every key, ``higher_is_better`` only the ranked ones
    (not ``is_<suffix>_std``). Raises ValueError when an input lacks what a metric needs.
    """
    _check_suffix(suffix)
    _require(real, "features", "real", "precision/recall need the raw real features")
    _require(fake, "features", "fake", "precision/recall need the raw fake features")
    _require(fake, "logits", "fake", "the Inception Score needs the fake logits")
    if real.dim != fake.dim:
        raise ValueError(f"real and fake stats differ in feature dim ({real.dim} vs {fake.dim}); use one extractor")
    vals: dict[str, float] = {"fd": frechet_distance(real.mean, real.cov, fake.mean, fake.cov)}
    vals["is"], vals["is_std"] = inception_score(fake.logits, splits=is_splits)
    pr = prdc(real.features, fake.features, k=pr_k)
    vals["precision"], vals["recall"] = pr["precision"], pr["recall"]
    if dc_k is not None:
        dc = pr if dc_k == pr_k else prdc(real.features, fake.features, k=dc_k)
        vals["density"], vals["coverage"] = dc["density"], dc["coverage"]
    values = {METRICS.get(name).key(suffix): float(v) for name, v in vals.items()}
    higher = {
        METRICS.get(name).key(suffix): METRICS.get(name).higher_is_better
        for name in vals
        if METRICS.get(name).higher_is_better is not None
    }
    return values, higher
