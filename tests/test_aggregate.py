"""reports/aggregate.py: aggregation over seeds, t intervals, Welch, Holm, ranks, protocol separation.

Every row here is FABRICATED TEST DATA (values drawn from a seeded generator or written by
hand); the tests check the statistics against scipy and the rendering, not any model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from genbench.reports import aggregate as A
from genbench.reports import leaderboard as L

SHA_A, SHA_B = "a" * 64, "b" * 64


def make_row(label, seed=0, *, fd=None, prec=None, status="ok", kind="run", sha=SHA_A, steps=200, error=None,
             train_img_per_s=400.0, device="cpu", threads=2, dataset="mnist", overrides=None, metrics=None):
    """A fabricated result row with the documented keys (seeds vary, the configuration does not)."""
    m = dict(metrics or {})
    if fd is not None:
        m["fd_mnist"] = fd
    if prec is not None:
        m["precision_mnist"] = prec
    budget = {"max_steps": steps, "max_kimg": None, "max_wall_seconds": None}
    proto = {"extractor": "mnist-lenet", "n_fake": 2000, "n_real": None, "split": "test", "pr_k": 3, "is_splits": 10}
    ok = status == "ok"
    return {
        "label": label, "kind": kind, "baseline": label.split(" ")[0], "dataset": dataset, "seed": seed,
        "eval_seed": seed, "split": "test", "spec_hash": f"{label}-{seed}-{steps}-{sha[:4]}-{overrides}",
        "spec": {"baseline": label.split(" ")[0], "dataset": dataset, "budget": budget, "seed": seed, "eval_seed": seed,
                 "overrides": overrides or {}, "protocol": proto, "device": device, "checkpoint_every": 0},
        "git_commit": "0123456789abcdef", "git_dirty": False, "status": status, "error": error,
        "steps": steps, "kimg": steps * 0.064, "wall_seconds": 30.0 + seed, "stopped_by": "steps",
        "train_img_per_s": train_img_per_s if ok else None, "sample_img_per_s": 9000.0 if ok else None,
        "sec_per_kimg": 1000.0 / train_img_per_s if ok else None, "peak_mem_bytes": None,
        "device": device, "threads": threads, "metrics": m if ok else {},
        "higher_is_better": {"fd_mnist": False, "precision_mnist": True, "kid_mnist": False, "is_mnist": True},
        "n_real": 500 if ok else None, "n_fake": 2000 if ok else None,
        "extractor": "mnist-lenet" if ok else None, "extractor_sha256": sha if ok else None,
        "protocol": proto, "budget": budget, "versions": {"genbench": "0.1.0", "protocol": "1"},
        "command": f"genbench run {label} --seed {seed}", "sample_grid": None, "created_at": "2025-01-01T00:00:00",
    }


def seeded_rows(label, mean, sd, n, rng, **kw):
    return [make_row(label, s, fd=float(rng.normal(mean, sd)), prec=float(np.clip(rng.normal(0.5, 0.02), 0, 1)), **kw)
            for s in range(n)]


# --- intervals --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_interval_matches_scipy_t(n, confidence):
    x = np.random.default_rng(n).normal(3.0, 2.0, n)
    s = A.summarize(x, confidence)
    lo, hi = stats.t.interval(confidence, n - 1, loc=x.mean(), scale=stats.sem(x))
    assert s.n == n and s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.std == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert (s.low, s.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))


def test_one_seed_has_no_interval_and_nan_is_skipped():
    s = A.summarize([4.0, float("nan"), None, "x", True])  # only 4.0 is a number
    assert (s.n, s.mean, s.half_width, s.ci_text()) == (1, 4.0, None, "n/a")
    assert A.summarize([]).mean is None
    inf = A.summarize([float("inf"), float("inf")])  # untrained reverse KL: a mean, no interval
    assert inf.mean == math.inf and inf.half_width is None
    with pytest.raises(ValueError, match="confidence"):
        A.summarize([1.0, 2.0], confidence=95)


# --- entries --------------------------------------------------------------------------------
def test_entries_group_seeds_and_keep_configurations_apart():
    rng = np.random.default_rng(0)
    rows = seeded_rows("dcgan", 10.0, 1.0, 3, rng) + seeded_rows("dcgan", 8.0, 1.0, 2, rng, steps=400)
    rows.append(make_row("dcgan", 3, status="failed", error="OOM"))
    rows += seeded_rows("dcgan", 9.0, 1.0, 2, rng, overrides={"lr": 1e-4})
    entries = A.entries_of(rows)
    assert [len(e.rows) for e in entries] == [4, 2, 2]  # the failed seed joins its configuration
    e = entries[0]
    assert e.seeds == [0, 1, 2, 3] and len(e.ok_rows) == 3 and len(e.failed) == 1
    fds = [r["metrics"]["fd_mnist"] for r in rows[:3]]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(fds), scale=stats.sem(fds))
    assert e.metrics["fd_mnist"].n == 3
    assert (e.metrics["fd_mnist"].low, e.metrics["fd_mnist"].high) == (pytest.approx(lo), pytest.approx(hi))
    assert e.speed["train_img_per_s"].mean == pytest.approx(400.0) and e.speed["train_img_per_s"].half_width == 0.0
    assert e.progress["wall_seconds"].mean == pytest.approx(31.0)  # failed seed 3 does not count


def test_aggregate_csv_has_mean_and_ci_per_entry(tmp_path):
    rng = np.random.default_rng(1)
    rows = seeded_rows("dcgan", 10.0, 1.0, 4, rng) + seeded_rows("vae", 20.0, 2.0, 3, rng) + [make_row("wgan", fd=50.0)]
    paths = L.write_leaderboard(rows, tmp_path / "b", title="t", html=False)
    df = pd.read_csv(paths["aggregate"]).set_index("label")
    fd = pd.DataFrame([(r["label"], r["metrics"]["fd_mnist"]) for r in rows], columns=["label", "fd"])
    g = fd.groupby("label")["fd"]
    assert df.loc["dcgan", "fd_mnist.mean"] == pytest.approx(g.mean()["dcgan"])
    assert df.loc["vae", "fd_mnist.std"] == pytest.approx(g.std()["vae"])
    half = stats.t.ppf(0.975, 3) * g.std()["dcgan"] / 2.0
    assert df.loc["dcgan", "fd_mnist.ci_high"] == pytest.approx(g.mean()["dcgan"] + half)
    assert np.isnan(df.loc["wgan", "fd_mnist.ci_low"]) and df.loc["wgan", "fd_mnist.n"] == 1
    assert list(df["rank"]) == [1, 2, 3]


# --- tests between entries ---------------------------------------------------------------------
def test_welch_p_matches_scipy_and_handles_degenerate_cases():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 6), rng.normal(1, 3, 4)
    for alt in ("two-sided", "less", "greater"):
        assert A.welch_p(a, b, alt) == pytest.approx(stats.ttest_ind(a, b, equal_var=False, alternative=alt).pvalue)
    assert A.welch_p([1.0], [1.0, 2.0]) is None  # one seed: no test
    assert A.welch_p([2.0, 2.0], [2.0, 2.0]) == 1.0  # exactly reproducible and equal
    assert A.welch_p([2.0, 2.0], [3.0, 3.0]) == 0.0 and A.welch_p([2.0, 2.0], [3.0, 3.0], "greater") == 1.0


def test_holm_hand_checked():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert A.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert A.holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])  # 0.01*2, then 0.2*1
    assert A.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5*2 capped at 1; 0.9*1 raised to keep monotone
    assert A.holm([]) == []
    with pytest.raises(ValueError, match="p-values"):
        A.holm([0.1, 1.5])


def test_holm_matches_statsmodels_when_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(3).uniform(0, 0.2, 12)
    assert A.holm(p) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))


# --- ranks ------------------------------------------------------------------------------------
def _table_lines(md, header_start="| # |"):
    lines = md.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith(header_start))
    out = []
    for x in lines[i:]:
        if not x.startswith("|"):
            break
        out.append([c.strip() for c in x.strip("|").split(" | ")])
    return out[0], out[2:]


def test_ranks_say_when_entries_are_not_separable(tmp_path):
    rng = np.random.default_rng(4)
    rows = (seeded_rows("a", 10.0, 0.3, 5, rng) + seeded_rows("b", 10.2, 0.3, 5, rng)
            + seeded_rows("c", 20.0, 0.3, 5, rng))
    entries = A.entries_of(rows)
    p_ab = stats.ttest_ind(entries[0].values("fd_mnist"), entries[1].values("fd_mnist"), equal_var=False).pvalue
    assert p_ab > 0.05  # a and b overlap; c is far
    assert A.rank_entries(entries, "fd_mnist", False) is False  # every pair was tested
    assert [e.rank for e in entries] == [1, 1, 3]
    assert entries[0].not_separable == [entries[1]] and entries[2].not_separable == []
    md = L.write_leaderboard(rows, tmp_path / "b", title="t", html=False)["readme"].read_text()
    head, body = _table_lines(md)
    col = {h: i for i, h in enumerate(head)}
    by = {r[col["model"]].strip("*"): r for r in body}
    assert by["a"][col["#"]] == "1=" and by["b"][col["#"]] == "1=" and by["c"][col["#"]] == "3"
    assert by["a"][col["not separable from"]] == "b" and by["c"][col["not separable from"]] == "—"
    assert by["a"][col["seeds"]] == "5 (seeds 0, 1, 2, 3, 4)"
    s = entries[0].metrics["fd_mnist"]
    assert by["a"][col["fd_mnist ↓"]] == f"{L.fmt_num(s.mean)} ± {L.fmt_num(s.half_width)}"
    assert "not separable" in md and "Welch" in md


def test_one_seed_entries_rank_by_value_and_read_ci_na(tmp_path):
    rows = [make_row("x", fd=3.0), make_row("y", fd=1.0), make_row("z", fd=2.0)]
    md = L.write_leaderboard(rows, tmp_path / "b", title="t", html=False)["readme"].read_text()
    head, body = _table_lines(md)
    assert [r[1] for r in body] == ["**y**", "**z**", "**x**"] and [r[0] for r in body] == ["1", "2", "3"]
    assert all(r[head.index("seeds")] == "1 (seed 0), CI n/a" for r in body)
    assert "±" not in "".join("".join(r) for r in body) and "not separable from" not in head
    assert "ordered by value alone" in md


def test_mixed_protocols_are_never_ranked_together(tmp_path):
    rng = np.random.default_rng(5)
    rows = (seeded_rows("dcgan", 10.0, 0.5, 3, rng) + seeded_rows("vae", 30.0, 0.5, 3, rng)
            + seeded_rows("dcgan", 5.0, 0.5, 3, rng, sha=SHA_B) + seeded_rows("began", 50.0, 0.5, 3, rng, sha=SHA_B))
    views = L.build_tables(rows)
    assert len(views) == 2
    for v in views:
        shas = {r["extractor_sha256"] for e in v.entries for r in e.rows}
        assert len(shas) == 1  # one protocol per table
        ranked = [e for e in v.entries if e.rank is not None]
        assert sorted(e.rank for e in ranked) == [1, 2]
        assert all(o in v.entries for e in v.entries for o in e.not_separable)
    # the same label under two protocols is two entries, never pooled over seeds
    assert [len(e.rows) for v in views for e in v.entries if e.label == "dcgan"] == [3, 3]
    paths = L.write_leaderboard(rows, tmp_path / "b", title="t", html=False)
    md = paths["readme"].read_text()
    assert md.count("| # | model |") == 2 and "Not ranked with the first table" in md
    agg = pd.read_csv(paths["aggregate"])
    assert sorted(agg.groupby("table")["protocol.extractor_sha256"].nunique()) == [1, 1]
    assert set(agg.groupby("table")["label"].apply(tuple)) == {("dcgan", "vae"), ("dcgan", "began")}
