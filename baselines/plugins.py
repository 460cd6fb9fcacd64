"""Baselines from installed packages: the ``genbench.baselines`` entry point group.

A package declares its model class in its ``pyproject.toml``::

    [project.entry-points."genbench.baselines"]
    mygan = "mypkg.models:MyGAN"

and after ``pip install`` the name runs like a built-in (``genbench run --baseline mygan``).
Entry points are read lazily, the first time a name is not a built-in, so a broken plugin
never stops the built-in families from running. Each class is checked against the
Baseline interface (an error names the missing methods) and may not reuse a built-in name.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from genbench.baselines.base import BASELINES, Baseline, check_baseline_class
from genbench.bench.spec import SpecError

GROUP = "genbench.baselines"

_loaded: dict[str, str] = {}  # plugin name -> "entry point value" of the class registered under it


def _entry_points() -> list[Any]:
    """The installed entry points of ``GROUP`` (importlib.metadata, Python >= 3.10 API)."""
    return list(metadata.entry_points(group=GROUP))


def _origin(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    where = f" (from distribution {dist.name!r})" if dist is not None and getattr(dist, "name", None) else ""
    return f"entry point {ep.name} = {ep.value!r} in group {GROUP!r}{where}"


def load_entry_points() -> dict[str, type[Baseline]]:
    """Register every installed ``genbench.baselines`` entry point in BASELINES (once).

    Returns {name: class} of the plugins registered so far. Raises SpecError when an entry
    point cannot be imported, is not a Baseline class (naming the missing methods), reuses
    a built-in name, or two installed packages declare the same name.
    """
    seen: dict[str, str] = {}
    for ep in _entry_points():
        origin = _origin(ep)
        if ep.name in seen and seen[ep.name] != ep.value:
            raise SpecError(
                f"two installed packages declare the baseline {ep.name!r}: {seen[ep.name]!r} and "
                f"{ep.value!r}; uninstall one or rename its entry point"
            )
        seen[ep.name] = ep.value
        if _loaded.get(ep.name) == ep.value:
            continue
        if ep.name in BASELINES:
            raise SpecError(
                f"{origin} reuses the name of the built-in baseline {ep.name!r}; rename the entry "
                "point in that package's pyproject.toml (built-in names: genbench list baselines)"
            )
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure gets the same advice
            raise SpecError(f"cannot load {origin}: {type(exc).__name__}: {exc}") from exc
        BASELINES.register(ep.name, check_baseline_class(cls, origin))
        _loaded[ep.name] = ep.value
    return {name: BASELINES.get(name) for name in _loaded}


def unload_entry_points() -> None:
    """Unregister every plugin registered by ``load_entry_points`` (for tests)."""
    for name in list(_loaded):
        if name in BASELINES:
            BASELINES.unregister(name)
        del _loaded[name]
