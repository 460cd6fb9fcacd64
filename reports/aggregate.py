"""Aggregation over seeds: one *entry* per run configuration, mean and 95% t interval per metric.

An entry is every row that differs only in its seeds (training seed, evaluation seed) and
in where or when it ran (device, run folder, creation time): same label, kind, dataset,
baseline, budget, hyperparameter overrides and evaluation protocol. Rows that failed or
diverged count towards the entry's seeds but not towards its statistics.

Per metric an entry has n (seeds that produced a finite value), the mean and, with n >= 2,
the half-width of the two-sided 95% confidence interval of the mean from Student's t
distribution, ``t.ppf(0.975, n - 1) * s / sqrt(n)`` with the sample standard deviation s
(ddof = 1). With one seed there is no interval: it reads ``n/a``.

Ranks say when entries are not separable: an entry's rank is 1 + the number of entries that
are significantly better than it (Welch's t-test, two-sided, alpha 0.05), so entries that
no test separates share a rank. A pair where either side has one seed cannot be tested; the
values alone order it, and the table says so.

>>> s = summarize([1.0, 2.0, 3.0])
>>> (s.n, s.mean, round(s.half_width, 4))   # t.ppf(0.975, 2) * 1 / sqrt(3)
(3, 2.0, 2.4841)
>>> summarize([5.0]).ci_text()
'n/a'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "CONFIDENCE", "ALPHA", "SPEED_FIELDS", "Summary", "Entry", "summarize", "entry_key", "entries_of",
    "welch_p", "separable", "rank_entries", "holm", "aggregate_frame",
]

CONFIDENCE = 0.95
ALPHA = 0.05
# speed fields of a row: name -> higher is better
SPEED_FIELDS = {"train_img_per_s": True, "sec_per_kimg": False, "sample_img_per_s": True, "peak_mem_bytes": False}
# spec fields that do not make a different entry: the seeds, and where / how often the run was saved
_NOT_IDENTITY = ("seed", "eval_seed", "device", "data_root", "weights_path", "checkpoint_every")


@dataclass(frozen=True)
class Summary:
    """n finite values of one metric over an entry's seeds: mean, sample std, CI half-width."""

    n: int
    mean: float | None
    std: float | None
    half_width: float | None
    confidence: float = CONFIDENCE

    @property
    def low(self) -> float | None:
        return None if self.half_width is None or self.mean is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None or self.mean is None else self.mean + self.half_width

    def ci_text(self, fmt: Any = None) -> str:
        """'± 0.1234' with n >= 2, else 'n/a' (one seed: no interval)."""
        if self.half_width is None:
            return "n/a"
        return "± " + (fmt(self.half_width) if fmt else f"{self.half_width:.4g}")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def summarize(values: Iterable[Any], confidence: float = CONFIDENCE) -> Summary:
    """Mean and two-sided t confidence interval of the values that are numbers (NaN skipped).

    Infinite values are kept in the mean (an untrained model's reverse KL is inf) and leave
    no interval. ``confidence`` in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    xs = np.array([x for x in (_number(v) for v in values) if x is not None and not math.isnan(x)], np.float64)
    n = int(xs.size)
    if n == 0:
        return Summary(0, None, None, None, confidence)
    mean = float(xs.mean())
    if n == 1 or not np.isfinite(xs).all():
        return Summary(n, mean, None, None, confidence)
    std = float(xs.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n))
    return Summary(n, mean, std, half, confidence)


# --- entries -------------------------------------------------------------------------------
def entry_key(row: dict[str, Any], with_protocol: bool = True) -> str:
    """A string that is equal for rows that differ only in their seeds (and run place/time).

    The protocol part is the one the run asked for (``spec.protocol``, else ``protocol``), so
    that a failed seed, which never measured its extractor or n, joins its configuration;
    tables separate rows by the protocol they were scored under before grouping them.
    ``with_protocol=False`` leaves it out, so that a regression gate can match an entry across
    a protocol change and say so instead of losing it.
    """
    spec = dict(row.get("spec") or {})
    for f in _NOT_IDENTITY:
        spec.pop(f, None)
    requested = spec.pop("protocol", None)
    spec.setdefault("budget", row.get("budget"))
    ident = {
        "label": row.get("label"), "kind": row.get("kind", "run"), "dataset": row.get("dataset"),
        "baseline": row.get("baseline"), "spec": spec,
    }
    if with_protocol:
        ident["protocol"] = requested if requested is not None else row.get("protocol")
    return json.dumps(ident, sort_keys=True, default=str)


@dataclass
class Entry:
    """Rows of one configuration over seeds, with per-metric and per-speed-field summaries."""

    key: str
    rows: list[dict[str, Any]]
    metrics: dict[str, Summary] = field(default_factory=dict)
    speed: dict[str, Summary] = field(default_factory=dict)
    progress: dict[str, Summary] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    rank: int | None = None  # set by a table: 1 + the entries that beat this one
    not_separable: list["Entry"] = field(default_factory=list)  # tested, and not separable from these

    @property
    def ok_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") == "ok"]

    @property
    def first(self) -> dict[str, Any]:
        """The representative row: the ok row with the lowest seed, else the first row."""
        ok = self.ok_rows
        pool = ok or self.rows
        return min(pool, key=lambda r: (r.get("seed") is None, r.get("seed") if isinstance(r.get("seed"), int) else 0))

    @property
    def label(self) -> str:
        return self.rows[0]["label"]

    @property
    def kind(self) -> str:
        return self.rows[0].get("kind", "run")

    @property
    def ok(self) -> bool:
        return bool(self.ok_rows)

    @property
    def seeds(self) -> list[Any]:
        return sorted({r.get("seed") for r in self.rows if r.get("seed") is not None})

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") != "ok"]

    def values(self, metric: str) -> list[float]:
        """Finite-or-infinite numeric values of ``metric`` over the ok seeds (NaN dropped)."""
        out = []
        for r in self.ok_rows:
            v = _number((r.get("metrics") or {}).get(metric))
            if v is not None and not math.isnan(v):
                out.append(v)
        return out

    def speed_values(self, name: str) -> list[float]:
        out = []
        for r in self.ok_rows:
            v = _number(r.get(name))
            if v is not None and math.isfinite(v):
                out.append(v)
        return out


def entries_of(rows: Sequence[dict[str, Any]], confidence: float = CONFIDENCE, with_protocol: bool = True) -> list[Entry]:
    """Group rows into entries (in order of first appearance) and summarize every metric.

    The statistics are computed with pandas: one long frame (entry, metric, value) grouped
    by entry and metric; the interval is ``t.ppf`` times the standard error.
    """
    entries: dict[str, Entry] = {}
    for r in rows:
        k = entry_key(r, with_protocol)
        entries.setdefault(k, Entry(k, [])).rows.append(r)
    long = []
    for i, e in enumerate(entries.values()):
        for r in e.ok_rows:
            for m, v in (r.get("metrics") or {}).items():
                x = _number(v)
                if x is not None and not math.isnan(x):
                    long.append((i, "m", m, x))
            for name in SPEED_FIELDS:
                x = _number(r.get(name))
                if x is not None and math.isfinite(x):
                    long.append((i, "s", name, x))
            for name in ("steps", "kimg", "wall_seconds"):
                x = _number(r.get(name))
                if x is not None and math.isfinite(x):
                    long.append((i, "p", name, x))
        for r in e.rows:
            for m, h in (r.get("higher_is_better") or {}).items():
                e.higher_is_better.setdefault(m, bool(h))
    elist = list(entries.values())
    if long:
        frame = pd.DataFrame(long, columns=["entry", "part", "name", "value"])
        for (i, part, name), vals in frame.groupby(["entry", "part", "name"], sort=False)["value"]:
            summary = summarize(vals.to_numpy(), confidence)
            target = {"m": elist[i].metrics, "s": elist[i].speed, "p": elist[i].progress}[part]
            target[name] = summary
    return elist


# --- tests between entries -----------------------------------------------------------------
def welch_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float | None:
    """p-value of Welch's t-test (scipy ``ttest_ind(equal_var=False)``) of mean(a) vs mean(b).

    None when either side has fewer than 2 values or a non-finite value (no test possible).
    When both sides have zero variance the t statistic is undefined: equal means give p = 1,
    different means p = 0 (the values are exactly reproducible and they differ), in the
    direction ``alternative`` asks about.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    if a.std() == 0 and b.std() == 0:
        d = a.mean() - b.mean()
        hit = {"two-sided": d != 0, "greater": d > 0, "less": d < 0}[alternative]
        return 0.0 if hit else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)


def separable(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> bool | None:
    """Whether two sets of seed values differ at level ``alpha`` (Welch, two-sided); None: untestable."""
    p = welch_p(a, b)
    return None if p is None else p < alpha


def rank_entries(entries: Sequence[Entry], metric: str, higher_is_better: bool, alpha: float = ALPHA) -> bool:
    """Set ``rank`` and ``not_separable`` on the entries that have ``metric``; others get None.

    rank = 1 + the number of entries that beat it: significantly (Welch, two-sided, level
    ``alpha``) when both have >= 2 seeds, else by value alone. Returns whether any pair was
    ordered by value alone (untested: one side has a single seed).
    """
    scored = [e for e in entries if e.metrics.get(metric) is not None and e.metrics[metric].mean is not None]
    sign = -1.0 if higher_is_better else 1.0
    untested = False
    for e in entries:
        e.rank, e.not_separable = None, []
    for e in scored:
        better = 0
        for o in scored:
            if o is e:
                continue
            o_better = sign * (o.metrics[metric].mean - e.metrics[metric].mean) < 0
            sep = separable(o.values(metric), e.values(metric), alpha)
            if sep is None:
                untested = True
            elif not sep:
                e.not_separable.append(o)
                continue
            better += o_better
        e.rank = 1 + int(better)
    return untested


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (reject where adjusted < alpha).

    Sort ascending; the i-th smallest (0-based) is multiplied by (m - i); a running maximum
    keeps them monotone; capped at 1.

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    p = [float(x) for x in pvalues]
    if any(not (0.0 <= x <= 1.0) for x in p):
        raise ValueError(f"p-values must lie in [0, 1], got {p}")
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = round(running, 15)
    return out


# --- a flat table ---------------------------------------------------------------------------
def aggregate_frame(groups: Sequence[tuple[dict[str, Any], list[Entry]]], confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One line per entry: table number, protocol, label, seeds, rank, and for every metric
    and speed field its n, mean, std, ci_low, ci_high (the aggregate.csv of a leaderboard)."""
    lines = []
    for t, (proto, entries) in enumerate(groups, 1):
        for e in entries:
            first = e.first
            line: dict[str, Any] = {
                "table": t, "label": e.label, "kind": e.kind, "baseline": first.get("baseline"),
                "dataset": first.get("dataset"), "rank": e.rank,
                "n_rows": len(e.rows), "n_ok": len(e.ok_rows),
                "seeds": " ".join(str(s) for s in e.seeds), "budget": json.dumps(first.get("budget"), sort_keys=True),
                **{f"protocol.{k}": v for k, v in proto.items()},
            }
            for part in (e.metrics, e.speed, e.progress):
                for name, s in part.items():
                    line[f"{name}.n"] = s.n
                    line[f"{name}.mean"] = s.mean
                    line[f"{name}.std"] = s.std
                    line[f"{name}.ci_low"] = s.low
                    line[f"{name}.ci_high"] = s.high
            lines.append(line)
    frame = pd.DataFrame(lines)
    if not frame.empty:
        frame.attrs["confidence"] = confidence
    return frame
