"""Leaderboard plots as PNG bytes (matplotlib, Agg): quality vs budget, precision vs recall.

Inputs are leaderboard entries (``genbench.reports.aggregate.Entry``: rows of one
configuration over seeds); nothing here reads files or imports a model. The PNGs carry no
matplotlib version stamp, so the same entries give the same bytes and a re-rendered
leaderboard only changes when its numbers do.

Quality vs budget: one series per (baseline, dataset, hyperparameter overrides). Its points
are the series' entries at their budgets (kimg and wall seconds used, mean over seeds, with
the 95% interval as an error bar when there are >= 2 seeds), including the baseline's
``untrained`` reference row at 0 kimg; a row's ``curve`` (evaluation at intervals during
training, bench/interval.py: a list of ``{"step", "kimg", "wall_s", "metric", "metrics":
{<metric>: value}, ...}``; flat ``<metric>: value`` keys are read too) is drawn as a thin line
of its own: it is scored on its own (small) n and split, so its level is not the points'. The
``real data`` row is a dashed line.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Sequence

from genbench.reports.aggregate import Entry

__all__ = ["budget_plot", "pr_plot", "series_key", "curve_points"]

_DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def series_key(entry: Entry) -> str | None:
    """The line an entry belongs to: same baseline, dataset and overrides at any budget.

    Runs and ``untrained`` references of a baseline share it; ``real data`` has none.
    """
    row = entry.first
    if not row.get("baseline") or (entry.kind == "reference" and not entry.label.startswith("untrained")):
        return None
    overrides = (row.get("spec") or {}).get("overrides") or {}
    return json.dumps([row.get("baseline"), row.get("dataset"), overrides], sort_keys=True, default=str)


def _series_name(entries: Sequence[Entry]) -> str:
    runs = [e for e in entries if e.kind != "reference"]
    return (runs or entries)[0].label


def curve_points(row: dict[str, Any], metric: str) -> list[tuple[float, float, float]]:
    """(kimg, wall_s, value) of a row's ``curve`` where the point has ``metric``; bad points skipped."""
    out = []
    for p in row.get("curve") or []:
        if not isinstance(p, dict):
            continue
        vals = {**(p.get("metrics") or {}), **p} if isinstance(p.get("metrics"), dict) else p
        v, k, w = vals.get(metric), p.get("kimg"), p.get("wall_s", p.get("wall_seconds"))
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (v, k, w)):
            out.append((float(k), float(w), float(v)))
    return sorted(out)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _colors(entries: Sequence[Entry]) -> dict[str, Any]:
    """One colour per series (baseline, dataset, overrides), in order of first appearance, so that
    a baseline has the same colour in every plot of a leaderboard."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab20")
    keys = list(dict.fromkeys(k for k in map(series_key, entries) if k is not None))
    return {k: cmap((2 * i) % 20 + (2 * i // 20) % 2) for i, k in enumerate(keys)}


def budget_plot(entries: Sequence[Entry], metric: str, higher_is_better: bool, title: str) -> bytes | None:
    """PNG of ``metric`` vs kimg (left) and vs wall seconds (right); None when nothing to draw.

    Entries of one series at different budgets are joined by a solid line; the step-0
    ``untrained`` reference is joined to the series' smallest budget by a dotted line (no
    measurement lies between them).
    """
    series: dict[str, list[Entry]] = {}
    for e in entries:
        key = series_key(e)
        s = e.metrics.get(metric)
        if key is not None and s is not None and _finite(s.mean):
            series.setdefault(key, []).append(e)
    if not series:
        return None
    real = next((e for e in entries if e.kind == "reference" and e.label == "real data"), None)
    real_v = real.metrics.get(metric).mean if real is not None and real.metrics.get(metric) else None
    plt = _pyplot()
    colors = _colors(entries)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    ys: list[float] = []
    for key, members in series.items():
        color = colors[key]
        name = _series_name(members)
        pts: dict[bool, list[tuple[float, float, float, float]]] = {True: [], False: []}  # untrained?
        for e in members:
            s = e.metrics[metric]
            k, w = e.progress.get("kimg"), e.progress.get("wall_seconds")
            if k is None or w is None:
                continue
            pts[e.kind == "reference"].append((k.mean, w.mean, s.mean, s.half_width or 0.0))
        runs, start = sorted(pts[False]), sorted(pts[True])
        for ax, xi in zip(axes, (0, 1)):
            if runs:
                ax.errorbar([p[xi] for p in runs], [p[2] for p in runs], yerr=[p[3] for p in runs], color=color,
                            marker="o", ms=5, lw=1.5, capsize=3, label=name if xi == 0 else None)
                ax.annotate(name, (runs[-1][xi], runs[-1][2]), xytext=(4, 3), textcoords="offset points",
                            fontsize=7, color=color)
            if start:
                ax.plot([p[xi] for p in start], [p[2] for p in start], ls="none", marker="x", ms=6, color=color,
                        label=None if runs or xi else name)
                if runs:
                    ax.plot([start[0][xi], runs[0][xi]], [start[0][2], runs[0][2]], ls=":", lw=1, color=color)
            for e in members:
                for r in e.ok_rows:
                    cp = curve_points(r, metric)
                    if cp:
                        ax.plot([c[xi] for c in cp], [c[2] for c in cp], color=color, lw=0.8, alpha=0.6)
                        ys += [c[2] for c in cp]
        ys += [p[2] for p in runs + start]
    if real_v is not None and _finite(real_v):
        for ax in axes:
            ax.axhline(real_v, color="black", ls="--", lw=1, label="real data" if ax is axes[0] else None)
        ys.append(real_v)
    positive = [y for y in ys if y > 0]
    if positive and len(positive) == len(ys) and max(positive) / min(positive) > 50:
        axes[0].set_yscale("log")
    better = "higher is better" if higher_is_better else "lower is better"
    axes[0].set_ylabel(f"{metric} ({better})")
    axes[0].set_xlabel("kimg (thousands of real images shown)")
    axes[1].set_xlabel("wall seconds of training")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2, loc="best")
    fig.suptitle(f"{title}\n{metric} vs budget: points are means over seeds (bars: 95% CI), x: untrained (step 0), "
                 "thin lines: interval evaluation during training (its own small n and split)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def pr_plot(entries: Sequence[Entry], precision: str, recall: str, title: str) -> bytes | None:
    """PNG of precision (y) vs recall (x) per entry, 95% CI bars with >= 2 seeds; None without data.

    Entries that sit on the same point (to 3 decimals) share one label.
    """
    pts = []
    for e in entries:
        p, r = e.metrics.get(precision), e.metrics.get(recall)
        if p is None or r is None or not (_finite(p.mean) and _finite(r.mean)):
            continue
        pts.append((e, r.mean, p.mean, r.half_width or 0.0, p.half_width or 0.0))
    if not pts:
        return None
    plt = _pyplot()
    colors = _colors(entries)
    fig, ax = plt.subplots(figsize=(6.6, 5.8))
    labels: dict[tuple[float, float], list[str]] = {}
    for e, x, y, xe, ye in pts:
        key = series_key(e)
        if e.kind == "reference" and e.label == "real data":
            marker, color = "*", "black"
        else:
            marker, color = ("x" if e.kind == "reference" else "o"), colors.get(key, "grey")
        ax.errorbar([x], [y], xerr=[xe], yerr=[ye], marker=marker, ms=10 if marker == "*" else 6, color=color,
                    capsize=3, ls="none")
        labels.setdefault((round(x, 3), round(y, 3)), []).append(e.label)
    for (x, y), names in labels.items():
        text = ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])} and {len(names) - 3} more"
        ax.annotate(text, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=7)
    ax.set_xlim(-0.03, 1.05)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(f"{recall} ↑")
    ax.set_ylabel(f"{precision} ↑")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{title}\nprecision vs recall (x: untrained, ★: real data)", fontsize=9)
    fig.tight_layout()
    return _png(fig)
