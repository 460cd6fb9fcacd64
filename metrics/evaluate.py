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
['coverage_toy', 'density_toy', 'fd_toy', 'is_toy', 'is_toy_std', 'kid_toy', 'kid_toy_std', 'precision_toy', 'recall_toy']
>>> higher["fd_toy"], higher["kid_toy"], higher["precision_toy"], "is_toy_std" in higher
(False, False, True, False)
>>> compute_metrics(real, fake, "toy", metrics=["fd", "kid"], names={"fd": "fd50k"})[0].keys()
dict_keys(['fd50k', 'kid_toy', 'kid_toy_std'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import torch

from genbench.bench.registry import Registry
from genbench.metrics.frechet import frechet_distance
from genbench.metrics.inception_score import IS_SHUFFLE_SEED, inception_score
from genbench.metrics.kid import effective_subset_size, kid
from genbench.metrics.prdc import prdc_multi
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
    MetricInfo("kid", "kid_{suffix}", False, _FEATURES,
               "Kernel Inception Distance: unbiased MMD^2, cubic kernel, mean over 100 seeded subsets of "
               "min(1000, n) (Binkowski et al. 2018)"),
    MetricInfo("kid_std", "kid_{suffix}_std", None, _FEATURES,
               "std of the KID over its subsets (informational, not ranked)"),
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


# Metrics computed together: asking for one computes (and reports) its partner too.
GROUPS: dict[str, tuple[str, ...]] = {
    "fd": ("fd",), "kid": ("kid", "kid_std"), "is": ("is", "is_std"),
    "precision": ("precision",), "recall": ("recall",), "density": ("density",), "coverage": ("coverage",),
}
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # Binkowski et al. 2018 App. D; torch-fidelity defaults


def metric_key(name: str, suffix: str, names: Mapping[str, str] | None = None) -> str:
    """Row key of registered metric ``name``: ``names[name]`` when given, else its template with ``suffix``.

    >>> metric_key("kid_std", "mnist"), metric_key("fd", "mnist", {"fd": "fid"})
    ('kid_mnist_std', 'fid')
    """
    if names and name in names:
        return names[name]
    return METRICS.get(name).key(suffix)


def select_metrics(metrics: Iterable[str] | None) -> list[str]:
    """Registered metric names to compute, partners included (``kid`` -> kid, kid_std); None = all."""
    if metrics is None:
        return [m for group in GROUPS.values() for m in group]
    wanted = [m.strip() for m in metrics if m.strip()]
    unknown = [m for m in wanted if m not in GROUPS]
    if unknown or not wanted:
        raise ValueError(f"unknown metric(s) {unknown or wanted}; choose from {', '.join(GROUPS)}")
    return [m for name in GROUPS if name in wanted for m in GROUPS[name]]


def _check_needs(real: FeatureStats, fake: FeatureStats, selected: list[str]) -> None:
    why = {"real_features": ("real", "features"), "fake_features": ("fake", "features"),
           "fake_logits": ("fake", "logits")}
    for name in selected:
        for need in METRICS.get(name).needs:
            if need in why:
                side, attr = why[need]
                stats = real if side == "real" else fake
                _require(stats, attr, side, f"{name} needs the raw {side} {attr}")


def compute_metrics(
    real: FeatureStats,
    fake: FeatureStats,
    suffix: str,
    pr_k: int = 3,
    is_splits: int = 10,
    dc_k: int | None = 5,
    seed: int = 0,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE,
    metrics: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    details: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
) -> tuple[dict[str, float], dict[str, bool]]:
    """Feature metrics of ``fake`` against ``real``; returns (values, higher_is_better).

    real: stats of the reference split with features; fake: stats of the samples with
    features and logits (from the same extractor). suffix: the extractor's metric_suffix.
    pr_k: k of precision/recall; is_splits: splits of the IS; dc_k: k of density/coverage
    (None skips them). seed: the evaluation seed, which draws KID's subsets (kid_subsets of
    min(kid_subset_size, n_real, n_fake) rows; see metrics/kid.py). metrics: registered names
    to compute (None: all; 'kid' brings 'kid_std', 'is' brings 'is_std'). names: row-key
    overrides per registered name (e.g. {'fd': 'fid'} for the official Inception protocol),
    else ``<metric>_<suffix>``. details: if given, receives the settings that produced the
    numbers (kid_subsets, kid_subset_size (effective), kid_seed, is_splits, pr_k, dc_k).
    device: where precision/recall/density/coverage compute their distances, and KID and IS their
    float64 sums (None: the CPU; a GPU takes 50k x 50k in seconds); FD runs in float64 on the CPU.
    ``values`` holds every key, ``higher_is_better`` only the ranked ones (not the *_std).
    Raises ValueError when an input lacks what a selected metric needs.
    """
    _check_suffix(suffix)
    selected = select_metrics(metrics)
    if dc_k is None:
        selected = [m for m in selected if m not in ("density", "coverage")]
    _check_needs(real, fake, selected)
    if real.dim != fake.dim:
        raise ValueError(f"real and fake stats differ in feature dim ({real.dim} vs {fake.dim}); use one extractor")
    vals: dict[str, float] = {}
    if "fd" in selected:
        vals["fd"] = frechet_distance(real.mean, real.cov, fake.mean, fake.cov)
    if "kid" in selected:
        vals["kid"], vals["kid_std"] = kid(real.features, fake.features, kid_subsets, kid_subset_size, seed, device=device)
    if "is" in selected:
        vals["is"], vals["is_std"] = inception_score(fake.logits, splits=is_splits, device=device)
    want_pr = "precision" in selected or "recall" in selected
    want_dc = "density" in selected or "coverage" in selected
    if want_pr or want_dc:  # one pass over the distances for both ks
        ks = ([pr_k] if want_pr else []) + ([dc_k] if want_dc else [])
        by_k = prdc_multi(real.features, fake.features, ks, device=device)
        if want_pr:
            vals.update({m: by_k[pr_k][m] for m in ("precision", "recall") if m in selected})
        if want_dc:
            vals.update({m: by_k[dc_k][m] for m in ("density", "coverage") if m in selected})
    if details is not None:
        details.update(_settings(selected, real, fake, pr_k, is_splits, dc_k, seed, kid_subsets, kid_subset_size))
    values = {metric_key(name, suffix, names): float(v) for name, v in vals.items()}
    higher = {
        metric_key(name, suffix, names): METRICS.get(name).higher_is_better
        for name in vals
        if METRICS.get(name).higher_is_better is not None
    }
    return values, higher


def _settings(selected: list[str], real: FeatureStats, fake: FeatureStats, pr_k: int, is_splits: int,
              dc_k: int | None, seed: int, kid_subsets: int, kid_subset_size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "kid" in selected:
        out.update(kid_subsets=kid_subsets, kid_seed=seed,
                   kid_subset_size=effective_subset_size(real.n, fake.n, kid_subset_size))
    if "is" in selected:
        out.update(is_splits=is_splits, is_shuffle_seed=IS_SHUFFLE_SEED)  # rows split in RandomState(seed).permutation order
    if "precision" in selected or "recall" in selected:
        out["pr_k"] = pr_k
    if "density" in selected or "coverage" in selected:
        out["dc_k"] = dc_k
    return out
