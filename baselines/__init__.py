"""genbench.baselines: model families, one file each, registered by name.

>>> from genbench.baselines import BASELINES
>>> "dcgan" in BASELINES and "vae" in BASELINES
True
"""

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind, resolve_baseline

# Importing a family module registers it.
from genbench.baselines import dcgan as _dcgan  # noqa: F401,E402
from genbench.baselines import vae as _vae  # noqa: F401,E402

__all__ = ["BASELINES", "Baseline", "Batch", "TaskKind", "resolve_baseline"]
