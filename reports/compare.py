"""The regression gate: compare two sets of result rows entry by entry, metric by metric.

BASE and NEW are result rows (a results.jsonl, or a leaderboard / runs folder holding one).
Each side's rows are first split by evaluation protocol (``group_by_protocol``, as the
leaderboard's tables are), then grouped into entries over seeds (``genbench.reports.aggregate``),
so that rows scored under different protocols (n_fake 2000 and 500 of one label) are never
averaged into one entry. Entries are matched across the sides by everything but their seeds,
under the same protocol; an entry found on both sides only under different protocols is *not
comparable* (said, with the fields that differ, never compared silently). For every matched
(entry, metric) with a known direction, and for the speed fields, the change NEW - BASE is judged:

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
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from genbench.reports.aggregate import SPEED_FIELDS, Entry, Summary, entries_of, holm, welch_p
from genbench.reports.leaderboard import PROTOCOL_FIELDS, ReportError, dedup_rows, fmt_num, group_by_protocol

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


@dataclass
class _Side:
    """One entry of one side under one protocol (the protocol its finished rows were scored under)."""

    entry: Entry
    proto: dict[str, Any]
    label: str = ""  # the entry's label, with its protocol when the label comes under several

    @property
    def key(self) -> str:
        return self.entry.key


def _sides(rows: Sequence[dict[str, Any]]) -> list[_Side]:
    """Entries of one side: rows split by protocol first (as the leaderboard's tables), then
    grouped over seeds within each protocol, so that no entry pools two protocols."""
    out = []
    for proto, members in group_by_protocol(dedup_rows(rows)):
        out += [_Side(e, proto) for e in entries_of(members, with_protocol=False)]
    return out


def _agrees(known: dict[str, Any], proto: dict[str, Any]) -> bool:
    """Whether ``known`` (a failed entry's protocol, None where it never got that far) agrees with ``proto``."""
    return all(v is None or proto.get(f) == v for f, v in known.items())


def _same_protocol(b: _Side, n: _Side) -> bool:
    """Equal protocols; a side with no finished row only has to agree on the fields it knows."""
    if b.proto == n.proto:
        return True
    return (not n.entry.ok and _agrees(n.proto, b.proto)) or (not b.entry.ok and _agrees(b.proto, n.proto))


_SHA256 = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")


def _value(v: Any) -> str:
    """A protocol value for a sentence: its repr, sha256 hashes cut to 12 hex digits."""
    return _SHA256.sub(r"\1…", repr(v))


def _protocol_diff(pb: dict[str, Any], pn: dict[str, Any]) -> str:
    """The fields that differ, 'field BASE -> NEW', comma-separated."""
    return ", ".join(f"{f} {_value(pb.get(f))} -> {_value(pn.get(f))}"
                     for f in PROTOCOL_FIELDS if pb.get(f) != pn.get(f))


def _match(base: list[_Side], new: list[_Side]) -> tuple[list[tuple[_Side, _Side | None]], list[_Side]]:
    """(BASE entry, its NEW entry or None) pairs, and the NEW entries left over.

    Same key and protocol first; then a BASE entry left over takes a NEW entry of its key
    under another protocol (compared as 'not comparable', or, for a side that never finished,
    one that agrees on what it knows).
    """
    left = list(new)
    pairs: dict[int, _Side | None] = {}
    for i, b in enumerate(base):
        n = next((x for x in left if x.key == b.key and x.proto == b.proto), None)
        if n is not None:
            pairs[i] = n
            left.remove(n)
    for i, b in enumerate(base):
        if i in pairs:
            continue
        same = [x for x in left if x.key == b.key]
        n = next((x for x in same if _same_protocol(b, x)), same[0] if same else None)
        if n is not None:
            left.remove(n)
        pairs[i] = n
    return [(b, pairs[i]) for i, b in enumerate(base)], left


def _label_protocols(base: list[_Side], new: list[_Side]) -> None:
    """Set each side's display label: the entry label, plus the protocol fields that set it
    apart where one side holds that entry under several protocols (a plain protocol change
    between the sides is said by its 'not comparable' line instead)."""
    protos: dict[str, list[dict[str, Any]]] = {}
    several: set[str] = set()
    for side in (base, new):
        here: dict[str, list[dict[str, Any]]] = {}
        for s in side:
            if s.entry.ok:
                for seen in (here.setdefault(s.key, []), protos.setdefault(s.key, [])):
                    if s.proto not in seen:
                        seen.append(s.proto)
        several |= {k for k, v in here.items() if len(v) > 1}
    for s in base + new:
        s.label = s.entry.label
        if s.key in several:
            seen = protos[s.key]
            fields = [f for f in PROTOCOL_FIELDS if len({json.dumps(p.get(f), default=str) for p in seen}) > 1]
            s.label += " [" + ", ".join(f"{f} {_value(s.proto.get(f))}" for f in fields) + "]"


def compare_rows(base_rows: Sequence[dict[str, Any]], new_rows: Sequence[dict[str, Any]],
                 thresholds: Thresholds | None = None) -> CompareResult:
    """Judge every (entry, metric) and (entry, speed field) of BASE against NEW, entry by entry
    under one protocol (see the module docstring)."""
    th = thresholds or Thresholds()
    base_sides, new_sides = _sides(base_rows), _sides(new_rows)
    if not base_sides:
        raise ReportError("BASE has no result rows: nothing to compare against")
    if not new_sides:
        raise ReportError("NEW has no result rows: nothing to compare")
    if not {s.key for s in base_sides} & {s.key for s in new_sides}:
        raise ReportError(
            "BASE and NEW share no entry (label, dataset, baseline, budget and overrides must match): "
            "compare results of the same suite"
        )
    _label_protocols(base_sides, new_sides)
    pairs, extra = _match(base_sides, new_sides)
    changes: list[Change] = []
    tested: list[Change] = []
    for bs, ns in pairs:
        b, label = bs.entry, bs.label
        row = b.first
        ds = row.get("dataset")
        if ns is None:
            if b.ok:
                changes.append(Change(label, ds, "", "entry", "missing", why="in BASE, not in NEW"))
            continue
        n = ns.entry
        if not _same_protocol(bs, ns):
            changes.append(Change(label, ds, "", "entry", "not comparable",
                                  why=f"protocol changed: {_protocol_diff(bs.proto, ns.proto)}"))
            continue
        if b.ok and not n.ok:
            err = next((r.get("error") for r in n.rows if r.get("error")), None)
            changes.append(Change(label, ds, "", "entry", "failed",
                                  why=f"NEW {n.rows[0].get('status')}" + (f": {err}" if err else "")))
            continue
        if not b.ok:
            continue
        if len(n.ok_rows) < len(b.ok_rows):
            changes.append(Change(label, ds, "", "entry", "failed",
                                  why=f"{len(b.ok_rows) - len(n.ok_rows)} fewer seeds finished in NEW "
                                      f"({len(n.ok_rows)} of {len(n.rows)} vs {len(b.ok_rows)} of {len(b.rows)})"))
        for m, sb in b.metrics.items():
            hib = b.higher_is_better.get(m)
            if hib is None or sb.mean is None:
                continue  # no direction (an error bar such as kid_mnist_std): nothing to gate
            sn = n.metrics.get(m)
            c = Change(label, ds, m, "quality", "", higher_is_better=hib)
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
            c = Change(label, ds, name, "speed", "", higher_is_better=hib)
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
    for ns in extra:
        others = [bs for bs in base_sides if bs.key == ns.key]
        why = "in NEW, not in BASE"
        if others:  # the same entry under another protocol in BASE: say so, never compare
            why = (f"in NEW only under this protocol, not compared: BASE has it under another "
                   f"({_protocol_diff(others[0].proto, ns.proto)})")
        changes.append(Change(ns.label, ns.entry.first.get("dataset"), "", "entry", "new", why=why))
    return CompareResult(changes, th, len(base_sides), len(new_sides))


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
