"""Rows say when their networks are narrower than the paper's; the standard suite runs paper widths."""

from __future__ import annotations

import pytest

from genbench.baselines import BASELINES
from genbench.bench.runner import network_width
from genbench.bench.suites import SUITES
from genbench.reports.leaderboard import _display_labels, build_tables

WITH_PAPER_WIDTHS = [n for n in BASELINES.names() if BASELINES.get(n).paper_widths]


def test_the_gan_families_declare_paper_widths_their_docstrings_cite():
    assert {"dcgan", "lsgan", "wgan", "wgan-gp", "sngan", "cgan", "acgan", "infogan", "began",
            "stylegan-lite"} <= set(WITH_PAPER_WIDTHS)
    for name in WITH_PAPER_WIDTHS:
        cls = BASELINES.get(name)
        assert set(cls.paper_widths) <= set(cls.defaults), name
        doc = cls.__doc__ or ""
        for key, value in cls.paper_widths.items():
            assert str(value) in doc, f"{name}: docstring should give the paper's {key}={value}"


@pytest.mark.parametrize("name", WITH_PAPER_WIDTHS)
def test_defaults_are_narrow_and_the_paper_widths_are_not(name):
    cls = BASELINES.get(name)
    narrow = network_width(cls, cls.resolve_hparams({}))
    assert narrow["narrower_than_paper"] is True and narrow["paper"] == dict(cls.paper_widths)
    wide = network_width(cls, cls.resolve_hparams(dict(cls.paper_widths)))
    assert wide["narrower_than_paper"] is False


def test_no_paper_widths_means_no_field():
    assert network_width(BASELINES.get("vae"), BASELINES.get("vae").resolve_hparams({})) is None


def test_standard_suite_runs_paper_widths():
    runs = [e.spec for e in SUITES.get("standard").entries() if e.kind == "run" and e.spec.baseline in WITH_PAPER_WIDTHS]
    assert runs
    for spec in runs:
        cls = BASELINES.get(spec.baseline)
        assert network_width(cls, cls.resolve_hparams(spec.hparams))["narrower_than_paper"] is False, spec.baseline


def test_leaderboard_marks_narrow_entries():
    def row(label, narrow, fd):
        return {"label": label, "kind": "run", "status": "ok", "baseline": label, "dataset": "mnist", "seed": 0,
                "spec_hash": label, "metrics": {"fd_mnist": fd}, "higher_is_better": {"fd_mnist": False},
                "network_width": {"narrower_than_paper": narrow}, "protocol": {"extractor": "mnist-lenet"}}
    views = build_tables([row("dcgan", True, 5.0), row("vae", False, 9.0)])
    labels = {lab for v in views for lab in _display_labels(v.entries).values()}
    assert labels == {"dcgan (narrow nets)", "vae"}
