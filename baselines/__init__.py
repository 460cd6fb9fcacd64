"""genbench.baselines: model families, one file each, registered by name.

Every module in this package is imported here, which registers its families; a new
family is one new file. Researchers' own classes outside the package run by import path
(``genbench run --baseline mypkg.models:MyGAN``) without being registered.

>>> from genbench.baselines import BASELINES
>>> "dcgan" in BASELINES and "vae" in BASELINES
True
"""

import importlib
import pkgutil

from genbench.baselines.base import BASELINES, Baseline, Batch, TaskKind, resolve_baseline

_NOT_FAMILIES = {"base", "nets", "plugins"}

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _mod.name not in _NOT_FAMILIES and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["BASELINES", "Baseline", "Batch", "TaskKind", "resolve_baseline"]
