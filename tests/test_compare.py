"""reports/compare.py and `genbench compare`: the regression gate.

Rows are FABRICATED TEST DATA (seeded normal draws, or the committed quick leaderboard's
real rows with a value changed on purpose); the tests check the gate's decisions.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from genbench.reports import compare as C
from genbench.reports.leaderboard import ReportError, load_rows
from test_aggregate import make_row

QUICK = Path(__file__).resolve().parent.parent / "reports" / "leaderboards" / "quick" / "results.jsonl"
METRICS = {"fd_mnist": False, "kid_mnist": False, "is_mnist": True, "precision_mnist": True}


def noisy_suite(rng, shift=None, n=5, labels=("dcgan", "vae", "wgan", "lsgan", "sngan", "began")):
    """n seeds per entry; every metric ~ N(mu, 3% of mu), speed ~ N(400, 12); shift: {(label, metric): factor}."""
    rows = []
    for i, label in enumerate(labels):
        for s in range(n):
            mus = {m: 10.0 * (i + 1) if not hib else 0.5 + 0.05 * i for m, hib in METRICS.items()}
            mus = {m: mu * (shift or {}).get((label, m), 1.0) for m, mu in mus.items()}
            metrics = {m: float(rng.normal(mu, 0.03 * mu)) for m, mu in mus.items()}
            rows.append(make_row(label, s, metrics=metrics, train_img_per_s=float(rng.normal(400.0, 12.0))))
    return rows


def write(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_seed_noise_does_not_fire_the_gate():
    """BASE and NEW from the same distribution, 20 times over (8 entries x 7 tested fields each):
    a gate without the Holm correction fires on seed noise in several repetitions; this one never."""
    labels = tuple("abcdefgh")
    uncorrected = fired = 0
    for k in range(20):
        base = noisy_suite(np.random.default_rng(100 + 2 * k), labels=labels)
        new = noisy_suite(np.random.default_rng(101 + 2 * k), labels=labels)
        res = C.compare_rows(base, new)
        tested = [c for c in res.changes if c.mode == "welch" and c.p is not None]
        assert len(tested) == 8 * (4 + 3)  # 4 metrics, 3 speed fields (peak memory is None)
        uncorrected += any(c.p < 0.05 and abs(c.delta) > c.threshold and C._worse(c.delta, c.higher_is_better)
                           for c in tested)
        fired += res.exit_code
        worst = min(tested, key=lambda c: c.p)
        assert worst.p_holm == pytest.approx(min(1.0, len(tested) * worst.p))  # Holm's first step
    assert uncorrected >= 3 and fired == 0


def test_injected_regression_fires_and_says_by_how_much():
    base = noisy_suite(np.random.default_rng(11))
    new = noisy_suite(np.random.default_rng(12), shift={("vae", "fd_mnist"): 1.25, ("wgan", "is_mnist"): 0.8})
    res = C.compare_rows(base, new)
    reg = {(c.label, c.name): c for c in res.regressions}
    assert set(reg) == {("vae", "fd_mnist"), ("wgan", "is_mnist")} and res.exit_code == 1
    c = reg[("vae", "fd_mnist")]
    b = [r["metrics"]["fd_mnist"] for r in base if r["label"] == "vae"]
    n = [r["metrics"]["fd_mnist"] for r in new if r["label"] == "vae"]
    assert c.p == pytest.approx(stats.ttest_ind(n, b, equal_var=False).pvalue)
    assert c.delta == pytest.approx(np.mean(n) - np.mean(b)) and c.rel == pytest.approx(c.delta / np.mean(b))
    text = C.render_text(res)
    assert text.splitlines()[1].startswith("REGRESSED") and "fd_mnist ↓" in text and f"{c.rel:+.1%}" in text
    assert "REGRESSION: 2 of" in text


def test_improvements_do_not_fire_and_min_effect_holds_back_tiny_changes():
    base = noisy_suite(np.random.default_rng(11))
    new = noisy_suite(np.random.default_rng(12), shift={("dcgan", "fd_mnist"): 0.7})
    res = C.compare_rows(base, new)
    assert res.exit_code == 0 and [c.verdict for c in res.changes if c.label == "dcgan" and c.name == "fd_mnist"] == ["improved"]
    # exactly reproducible values, 1% worse: significant, but under the 2% minimum effect
    b = [make_row("x", s, fd=10.0) for s in range(3)]
    n = [make_row("x", s, fd=10.1) for s in range(3)]
    assert C.compare_rows(b, n).exit_code == 0
    assert C.compare_rows(b, n, C.Thresholds(min_effect={"fd_mnist": 0.005})).exit_code == 1


def test_single_seed_uses_the_stated_tolerance():
    rows = load_rows(QUICK)
    new = copy.deepcopy(rows)
    dcgan = next(r for r in new if r["label"] == "dcgan")
    dcgan["metrics"]["fd_mnist"] *= 1.03  # within the 5% default
    assert C.compare_rows(rows, new).exit_code == 0
    dcgan["metrics"]["fd_mnist"] *= 1.3 / 1.03
    res = C.compare_rows(rows, new)
    assert [(c.label, c.name, c.mode) for c in res.regressions] == [("dcgan", "fd_mnist", "tolerance")]
    assert res.regressions[0].rel == pytest.approx(0.3)
    assert C.compare_rows(rows, new, C.Thresholds(tol={"fd_mnist": 0.5})).exit_code == 0
    assert C.compare_rows(rows, new, C.Thresholds(tol={"quality": 0.5})).exit_code == 0
    assert C.compare_rows(rows, rows).exit_code == 0  # identical rows: everything unchanged


def test_missing_failed_and_protocol_change_are_regressions():
    rng = np.random.default_rng(7)
    base = noisy_suite(rng, n=2, labels=("a", "b", "c", "d"))
    new = [r for r in copy.deepcopy(base) if r["label"] != "a"]  # a: missing
    for r in new:
        if r["label"] == "b":  # b: failed
            r.update(status="failed", error="RuntimeError: boom", metrics={})
        if r["label"] == "c":  # c: scored with other extractor weights
            r["extractor_sha256"] = "c" * 64
    new.append(make_row("e", fd=1.0))  # new entry: reported, not a regression
    res = C.compare_rows(base, new)
    verdicts = {c.label: c.verdict for c in res.changes if c.kind == "entry"}
    assert verdicts == {"a": "missing", "b": "failed", "c": "not comparable", "e": "new"}
    assert "extractor_sha256" in next(c.why for c in res.changes if c.label == "c")
    assert res.exit_code == 1 and {c.label for c in res.regressions} == {"a", "b", "c"}


def test_speed_is_gated_only_on_the_same_machine():
    base = [make_row("x", s, fd=10.0, train_img_per_s=400.0 + s) for s in range(3)]
    slow = [make_row("x", s, fd=10.0, train_img_per_s=200.0 + s) for s in range(3)]
    res = C.compare_rows(base, slow)
    assert {c.name for c in res.regressions} == {"train_img_per_s", "sec_per_kimg"}
    assert C.compare_rows(base, slow, C.Thresholds(gate_speed=False)).exit_code == 0
    other = [dict(r, threads=8) for r in slow]
    res = C.compare_rows(base, other)
    assert res.exit_code == 0 and all(c.verdict == "not gated" for c in res.changes if c.kind == "speed")


def test_bad_input_is_refused():
    with pytest.raises(ReportError, match="share no entry"):
        C.compare_rows([make_row("x", fd=1.0)], [make_row("y", fd=1.0)])
    with pytest.raises(ReportError, match="BASE has no result rows"):
        C.compare_rows([], [make_row("y", fd=1.0)])
    with pytest.raises(ReportError, match="NAME=NUMBER"):
        C.parse_assignments(["fd_mnist"], "--tol")
    with pytest.raises(ReportError, match=">= 0"):
        C.Thresholds(tol={"fd_mnist": -1.0})


def test_cli_exit_codes_and_json(tmp_path, capsys):
    from genbench.bench.cli import main

    rows = load_rows(QUICK)
    new = copy.deepcopy(rows)
    next(r for r in new if r["label"] == "vae")["metrics"]["fd_mnist"] *= 2
    p_new = write(tmp_path, "new.jsonl", new)
    assert main(["compare", str(QUICK.parent), str(QUICK)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(QUICK.parent), str(p_new), "--json", "--markdown", str(tmp_path / "diff.md")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["regressed"] and out["exit_code"] == 1
    assert [(c["label"], c["name"]) for c in out["changes"] if c["regression"]] == [("vae", "fd_mnist")]
    assert "| REGRESSED | vae | mnist | fd_mnist ↓ |" in (tmp_path / "diff.md").read_text()
    assert main(["compare", str(QUICK), str(tmp_path / "absent.jsonl")]) == 2
    assert "no result rows" in capsys.readouterr().err
    assert main(["compare", str(QUICK), str(p_new), "--tol", "fd_mnist=1.5"]) == 0
    assert main(["compare", str(QUICK), str(p_new), "--tol", "oops"]) == 2


def at_n_fake(row, n_fake):
    """The row as if it were evaluated with another n_fake (a quick look beside the standard protocol)."""
    row = copy.deepcopy(row)
    row["n_fake"] = row["protocol"]["n_fake"] = row["spec"]["protocol"]["n_fake"] = n_fake
    row["spec_hash"] += f"-n{n_fake}"
    return row


def test_rows_of_another_protocol_are_not_pooled_into_an_entry():
    """NEW holds the standard n_fake 2000 rows, worse by 20%, and two quick looks at n_fake 500 of
    the same label: pooled, their spread hides the regression; per protocol it fires, and the
    n_fake 500 entry is named, not compared."""
    base = [make_row("dcgan", s, fd=fd) for s, fd in enumerate((5.0, 5.2, 4.9))]
    new = [make_row("dcgan", s, fd=fd) for s, fd in enumerate((6.0, 6.2, 5.9))]
    new += [at_n_fake(make_row("dcgan", s, fd=fd), 500) for s, fd in enumerate((4.0, 9.0))]
    res = C.compare_rows(base, new)
    fd = [c for c in res.changes if c.name == "fd_mnist"]
    assert len(fd) == 1 and fd[0].verdict == "regressed" and fd[0].new_n == 3 and fd[0].base_n == 3
    assert fd[0].new_mean == pytest.approx(6.0333333) and res.exit_code == 1
    (extra,) = [c for c in res.changes if c.kind == "entry"]
    assert extra.verdict == "new" and "n_fake 2000 -> 500" in extra.why and "500" in extra.label
    assert "dcgan [n_fake 500]" in C.render_text(res, show_all=True)
    # NEW has the entry only under the other protocol: not comparable, a regression
    res = C.compare_rows(base, [r for r in new if r["n_fake"] == 500])
    assert [(c.verdict, c.label) for c in res.changes] == [("not comparable", "dcgan")]
    assert "n_fake 2000 -> 500" in res.changes[0].why and res.exit_code == 1
