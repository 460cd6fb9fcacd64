"""Shared fixtures. Reference statistics are cached in a per-session temp dir."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Never read or write the user's ~/.cache/genbench from tests."""
    old = os.environ.get("GENBENCH_CACHE")
    os.environ["GENBENCH_CACHE"] = str(tmp_path_factory.mktemp("genbench-cache"))
    yield
    if old is None:
        os.environ.pop("GENBENCH_CACHE", None)
    else:
        os.environ["GENBENCH_CACHE"] = old
