"""genbench.metrics: feature extractors, feature statistics and the metrics on them.

Pure functions, usable without the rest of genbench: images -> one feature pass ->
FeatureStats -> every metric. Imports nothing from bench/ but its generic Registry.

>>> import torch
>>> from genbench.bench.datasets import load_dataset
>>> from genbench.metrics import FeatureStats, compute_metrics, load_extractor
>>> mnist = load_dataset("mnist")
>>> ext = load_extractor("mnist-lenet")                     # checks the weights' sha256
>>> real = FeatureStats.from_features(*ext.extract(mnist.split("test").x))
>>> fake = FeatureStats.from_features(*ext.extract(mnist.split("train").x[:500]))
>>> values, higher_is_better = compute_metrics(real, fake, ext.metric_suffix)
>>> values["fd_mnist"] < 10.0, higher_is_better["fd_mnist"]
(True, False)
>>> round(frechet_distance(real.mean, real.cov, real.mean, real.cov), 6)
0.0
>>> mean, std = kid(real.features, fake.features, subsets=10, subset_size=200, seed=0)  # (mean, std)
>>> abs(mean) < 0.01, kid(real.features, 0.5 * fake.features, subsets=10, subset_size=200)[0] > 0.1
(True, True)
"""

from genbench.metrics.evaluate import METRICS, MetricInfo, compute_metrics
from genbench.metrics.extractors import (
    EXTRACTORS,
    ExtractorError,
    ExtractorSpec,
    FeatureExtractor,
    load_extractor,
)
from genbench.metrics.frechet import frechet_distance
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid
from genbench.metrics.prdc import prdc
from genbench.metrics.stats import FeatureStats, cuda_or_none, stats_key

__all__ = [
    "EXTRACTORS",
    "ExtractorError",
    "ExtractorSpec",
    "FeatureExtractor",
    "FeatureStats",
    "cuda_or_none",
    "METRICS",
    "MetricInfo",
    "compute_metrics",
    "frechet_distance",
    "inception_score",
    "kid",
    "load_extractor",
    "prdc",
    "stats_key",
]
