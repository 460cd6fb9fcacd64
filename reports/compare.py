"""The regression gate: compare two sets of result rows entry by entry, metric by metric.

BASE and NEW are result rows (a results.jsonl, or a leaderboard / runs folder holding one).
Rows are grouped into entries over seeds (``genbench.reports.aggregate``) and matched by
everything but their seeds and protocol; for every matched (entry, metric) with a known
direction, and for the speed fields, the change NEW - BASE is judged:

- both sides with >= 2 seeds: Welch's t-test (two-sided, scipy ``ttest_ind(equal_var=False)``);
  the p-values of all these comparisons are Holm-corrected together, so that checking many
  metrics does not let seed noise fire the gate. A change is *beyond noise* when its Holm
  p-value is below ``alpha`` and it exceeds the minimum effect size.
- otherwise (a side with one seed, no variance to test against): a change is beyond noise
  when it exceeds the stated tolerance (relative to |BASE|, configurable per metric).

A change beyond noise in the bad direction is a *regression*; so are an entry or a metric
that BASE has and NEW lacks, an entry that finished in BASE and failed in NEW, and an entry
whose evaluation protocol changed (its numbers cannot be compared: the gate cannot vouch).
Speed is gated the same way, with its own (wider) tolerances, only when both sides ran on
the same device with the same thread count; otherwise it is reported, not gated.

Thresholds: ``max(rel * |BASE mean|, atol)``, with ``rel`` the tolerance (one seed) or the
minimum effect (seeded) of that metric: per metric name, else of its kind ('quality' or
'speed'), else the defaults below.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from genbench.reports.aggregate import SPEED_FIELDS, Entry, Summary, entries_of, holm, welch_p
from genbench.reports.leaderboard import PROTOCOL_FIELDS, ReportError, dedup_rows, fmt_num, protocol_of

__all__ = ["Thresholds", "Change", "CompareResult", "compare_rows", "render_text", "render_markdown_diff",
           "parse_assignments"]

DEFAULT_TOL = {"quality": 0.05, "speed": 0.25}
DEFAULT_MIN_EFFECT = {"quality": 0.02, "speed": 0.10}


@dataclass
class Thresholds:
    """Tolerances (one seed), minimum effect sizes (seeded), absolute floors, alpha, speed gating.

    Keys of ``tol`` / ``min_effect`` / ``atol``: a metric or speed field name, or 'quality' /
    'speed' for every metric / speed field without its own value.
    """

    tol: dict[str, float] = field(default_factory=dict)
    min_effect: dict[str, float] = field(default_factory=dict)
    atol: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.05
    gate_speed: bool = True

    def __post_init__(self) -> None:
        for name in ("tol", "min_effect", "atol"):
            for k, v in getattr(self, name).items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise ReportError(f"{name} for {k!r} must be a finite number >= 0, got {v!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ReportError(f"alpha must be in (0, 1), got {self.alpha!r}")

    def rel(self, name: str, kind: str, seeded: bool) -> float:
        table, default = (self.min_effect, DEFAULT_MIN_EFFECT) if seeded else (self.tol, DEFAULT_TOL)
        return float(table.get(name, table.get(kind, default[kind])))

    def threshold(self, name: str, kind: str, seeded: bool, base: float) -> float:
        rel = self.rel(name, kind, seeded)
        floor = float(self.atol.get(name, self.atol.get(kind, 0.0)))
        return max(rel * abs(base), floor) if math.isfinite(base) else floor


@dataclass
class Change:
    """One judged comparison. ``verdict``: regressed, improved, within noise, unchanged, new,
    missing, failed, not comparable, not gated."""

    label: str
    dataset: str | None
    name: str  # metric or speed field; '' for a whole entry
    kind: str  # quality, speed or entry
    verdict: str
    higher_is_better: bool | None = None
    base_mean: float | None = None
    base_ci: float | None = None
    base_n: int = 0
    new_mean: float | None = None
    new_ci: float | None = None
    new_n: int = 0
    delta: float | None = None
    rel: float | None = None
    threshold: float | None = None
    mode: str = ""  # welch or tolerance
    p: float | None = None
    p_holm: float | None = None
    why: str = ""

    @property
    def regression(self) -> bool:
        return self.verdict in ("regressed", "missing", "failed", "not comparable")


@dataclass
class CompareResult:
    changes: list[Change]
    thresholds: Thresholds
    base_entries: int
    new_entries: int

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        return {
            "regressed": bool(self.regressions), "exit_code": self.exit_code, "counts": counts,
            "base_entries": self.base_entries, "new_entries": self.new_entries,
            "settings": {**asdict(self.thresholds), "default_tol": DEFAULT_TOL, "default_min_effect": DEFAULT_MIN_EFFECT},
            "changes": [{**asdict(c), "regression": c.regression} for c in self.changes],
        }


def parse_assignments(items: Sequence[str], what: str) -> dict[str, float]:
    """['fd_mnist=0.1', 'speed=0.3'] -> {'fd_mnist': 0.1, 'speed': 0.3}; ReportError on bad text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise ReportError(f"{what} expects NAME=NUMBER (a metric, a speed field, 'quality' or 'speed'), "
                              f"got {item!r}") from None
    return out


def _worse(delta: float, higher_is_better: bool) -> bool:
    return delta < 0 if higher_is_better else delta > 0


def _judge_values(c: Change, b: Summary, n: Summary, bvals: list[float], nvals: list[float], th: Thresholds) -> None:
    """Fill delta, rel, threshold, mode, p of ``c`` (verdict left to the caller, after Holm)."""
    c.base_mean, c.base_ci, c.base_n = b.mean, b.half_width, b.n
    c.new_mean, c.new_ci, c.new_n = n.mean, n.half_width, n.n
    if b.mean == n.mean:  # also inf == inf
        c.delta, c.rel = 0.0, 0.0
    else:
        c.delta = n.mean - b.mean
        c.rel = c.delta / abs(b.mean) if b.mean not in (0.0,) and math.isfinite(b.mean) else None
    seeded = b.n >= 2 and n.n >= 2
    c.mode = "welch" if seeded else "tolerance"
    c.threshold = th.threshold(c.name, c.kind, seeded, b.mean)
    if seeded:
        c.p = welch_p(nvals, bvals)


def _beyond(c: Change, alpha: float) -> bool:
    if c.delta is None or c.delta == 0.0:
        return False
    if not math.isfinite(c.delta):
        return True
    big = abs(c.delta) > (c.threshold or 0.0)
    if c.mode == "welch":
        return big and c.p_holm is not None and c.p_holm < alpha
    return big


def compare_rows(base_rows: Sequence[dict[str, Any]], new_rows: Sequence[dict[str, Any]],
                 thresholds: Thresholds | None = None) -> CompareResult:
    """Judge every (entry, metric) and (entry, speed field) of BASE against NEW."""
    th = thresholds or Thresholds()
    base = entries_of(dedup_rows(base_rows), with_protocol=False)
    new = {e.key: e for e in entries_of(dedup_rows(new_rows), with_protocol=False)}
    if not base:
        raise ReportError("BASE has no result rows: nothing to compare against")
    if not new:
        raise ReportError("NEW has no result rows: nothing to compare")
    if not any(e.key in new for e in base):
        raise ReportError(
            "BASE and NEW share no entry (label, dataset, baseline, budget and overrides must match): "
            "compare results of the same suite"
        )
    changes: list[Change] = []
    tested: list[Change] = []
    for b in base:
        row = b.first
        ds = row.get("dataset")
        n = new.get(b.key)
        if n is None:
            if b.ok:
                changes.append(Change(b.label, ds, "", "entry", "missing", why="in BASE, not in NEW"))
            continue
        pb, pn = protocol_of(b.first), protocol_of(n.first)
        if pb != pn:
            diff = ", ".join(f"{f} {pb.get(f)!r} -> {pn.get(f)!r}" for f in PROTOCOL_FIELDS if pb.get(f) != pn.get(f))
            changes.append(Change(b.label, ds, "", "entry", "not comparable", why=f"protocol changed: {diff}"))
            continue
        if b.ok and not n.ok:
            err = next((r.get("error") for r in n.rows if r.get("error")), None)
            changes.append(Change(b.label, ds, "", "entry", "failed",
                                  why=f"NEW {n.rows[0].get('status')}" + (f": {err}" if err else "")))
            continue
        if not b.ok:
            continue
        if len(n.ok_rows) < len(b.ok_rows):
            changes.append(Change(b.label, ds, "", "entry", "failed",
                                  why=f"{len(b.ok_rows) - len(n.ok_rows)} fewer seeds finished in NEW "
                                      f"({len(n.ok_rows)} of {len(n.rows)} vs {len(b.ok_rows)} of {len(b.rows)})"))
        for m, sb in b.metrics.items():
            hib = b.higher_is_better.get(m)
            if hib is None or sb.mean is None:
                continue  # no direction (an error bar such as kid_mnist_std): nothing to gate
            sn = n.metrics.get(m)
            c = Change(b.label, ds, m, "quality", "", higher_is_better=hib)
            if sn is None or sn.mean is None:
                c.verdict, c.base_mean, c.base_n, c.why = "missing", sb.mean, sb.n, "metric absent in NEW"
                changes.append(c)
                continue
            _judge_values(c, sb, sn, b.values(m), n.values(m), th)
            changes.append(c)
            if c.p is not None:
                tested.append(c)
        same_machine = _machine(b) == _machine(n)
        for name, hib in SPEED_FIELDS.items():
            sb, sn = b.speed.get(name), n.speed.get(name)
            if sb is None or sn is None or sb.mean is None or sn.mean is None:
                continue
            c = Change(b.label, ds, name, "speed", "", higher_is_better=hib)
            _judge_values(c, sb, sn, b.speed_values(name), n.speed_values(name), th)
            if not (th.gate_speed and same_machine):
                c.verdict = "not gated"
                c.why = ("speed gate off" if not th.gate_speed
                         else f"device/threads differ: {_machine(b)} vs {_machine(n)}")
                c.p = None
            elif c.p is not None:
                tested.append(c)
            changes.append(c)
    for c, p in zip(tested, holm([c.p for c in tested])):
        c.p_holm = p
    for c in changes:
        if c.verdict:
            continue
        if c.delta == 0.0:
            c.verdict = "unchanged"
        elif _beyond(c, th.alpha):
            c.verdict = "regressed" if _worse(c.delta, bool(c.higher_is_better)) else "improved"
        else:
            c.verdict = "within noise"
        if not c.why:
            c.why = _why(c, th.alpha)
    for key, e in new.items():
        if not any(b.key == key for b in base):
            changes.append(Change(e.label, e.first.get("dataset"), "", "entry", "new", why="in NEW, not in BASE"))
    return CompareResult(changes, th, len(base), len(new))


def _machine(e: Entry) -> tuple:
    return tuple(sorted({(str(r.get("device")), str(r.get("threads"))) for r in e.ok_rows}))


def _why(c: Change, alpha: float) -> str:
    if c.mode == "welch":
        p = f"Welch p={c.p:.3g}, Holm p={c.p_holm:.3g}" if c.p is not None and c.p_holm is not None else "Welch"
        return f"{p} (alpha {alpha}), min effect {fmt_num(c.threshold)}"
    return f"one seed on a side: tolerance {fmt_num(c.threshold)}"


# --- rendering -----------------------------------------------------------------------------
_ORDER = {"regressed": 0, "failed": 0, "missing": 0, "not comparable": 0, "improved": 1, "within noise": 2,
          "not gated": 3, "unchanged": 4, "new": 5}


def _mean_ci(mean: float | None, ci: float | None, n: int) -> str:
    if mean is None:
        return "—"
    return f"{fmt_num(mean)}" + (f" ± {fmt_num(ci)}" if ci is not None else "") + f" (n={n})"


def _rows_for(result: CompareResult, show_all: bool) -> list[list[str]]:
    lines = []
    for c in sorted(result.changes, key=lambda c: _ORDER.get(c.verdict, 9)):
        if not show_all and c.verdict in ("unchanged", "within noise", "not gated"):
            continue
        verdict = c.verdict.upper() if c.regression else c.verdict
        delta = "—" if c.delta is None else (("+" if c.delta > 0 else "") + fmt_num(c.delta))
        rel = "—" if c.rel is None else f"{c.rel:+.1%}"
        arrow = "" if c.higher_is_better is None else (" ↑" if c.higher_is_better else " ↓")
        lines.append([verdict, c.label, str(c.dataset), (c.name or "(entry)") + arrow,
                      _mean_ci(c.base_mean, c.base_ci, c.base_n) if c.kind != "entry" else "—",
                      _mean_ci(c.new_mean, c.new_ci, c.new_n) if c.kind != "entry" else "—", delta, rel, c.why])
    return lines


_HEAD = ["verdict", "entry", "dataset", "metric", "BASE (95% CI)", "NEW (95% CI)", "change", "relative", "test"]


def _summary(result: CompareResult) -> str:
    counts: dict[str, int] = {}
    for c in result.changes:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9)))
    head = (f"REGRESSION: {len(result.regressions)} of {len(result.changes)} comparisons"
            if result.regressions else f"no regression in {len(result.changes)} comparisons")
    return f"{head} ({parts}); {result.base_entries} BASE entries, {result.new_entries} NEW entries"


def render_text(result: CompareResult, show_all: bool = False) -> str:
    """A plain table (regressions first) and a one-line summary; ``show_all`` also lists what did not move."""
    rows = _rows_for(result, show_all)
    out = []
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEAD)]
        widths[-1] = len(_HEAD[-1])
        out.append("  ".join(h.ljust(w) for h, w in zip(_HEAD, widths)).rstrip())
        out += ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
    else:
        out.append("nothing moved beyond noise" + ("" if show_all else " (--all lists every comparison)"))
    out.append(_summary(result))
    return "\n".join(out) + "\n"


def render_markdown_diff(result: CompareResult, base_name: str, new_name: str, show_all: bool = True) -> str:
    """The comparison as Markdown (a leaderboard diff): what moved, by how much, beyond noise or not."""
    rows = _rows_for(result, show_all)
    out = [f"# Changes: {base_name} → {new_name}", "", _summary(result), ""]
    out.append("A change is *beyond noise* when, with >= 2 seeds on both sides, Welch's t-test (Holm-corrected over "
               "all comparisons) rejects at alpha and the change exceeds the minimum effect; with one seed on a "
               "side, when it exceeds the tolerance. Regressions first.")
    out += ["", "| " + " | ".join(_HEAD) + " |", "|" + "|".join("---" for _ in _HEAD) + "|"]
    out += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def to_json_text(result: CompareResult) -> str:
    return json.dumps(result.to_json(), indent=1, sort_keys=True, default=str, allow_nan=True) + "\n"
