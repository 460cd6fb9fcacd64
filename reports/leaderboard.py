"""Leaderboards from result rows: README.md (Markdown), leaderboard.csv (one line per row),
aggregate.csv (one line per entry), results.jsonl, grids/, plots/, index.html, leaderboard.json.

Reads result rows (JSON dicts, one per run or reference) and never imports a model, a
metric or the training loop. Rows are ranked only against rows evaluated under the same
protocol: the dataset, feature extractor and its weights sha256, n_real, n_fake, reference
split, precision/recall k, IS splits, resize mode and, for image-to-image rows, the weights
sha256 of every extractor that scored them (``row['translation']['extractors']``: the
digit-domains classifier behind ``fd_domains*``). Rows that differ in any of these go to
separate tables, with a sentence saying which fields differ.

A table is ranked by its task's headline metric where the task declares one (style transfer:
``style_loss_<vgg>``), else by the first metric in METRIC_ORDER that has a direction and a
number in the table's finished rows (a "skipped: weights absent" marker is not a number;
metrics of custom weights, ``*-custom``, are never ranked). The note under the table names
the metric used. A row that holds a marker instead of a number shows it ("skipped"), with
the marker's full text under the table: "—" means the row has no such metric.

Within a table, rows that differ only in their seeds are one entry (reports/aggregate.py):
mean and 95% t interval per metric, ranks that say when entries are not separable. Order:
the 'real data' reference first (the best score reachable at this n), then the entries that
finished ('ok') by rank, then those that failed or diverged (status and error instead of
metrics), then 'untrained' references (the generator at step 0: the worst).

``build_tables`` makes the ranked, formatted tables once; README.md and index.html
(reports/html.py) both render them. leaderboard.json records the title, note, the commit the
leaderboard was made at and the sha256 of every file written, so that ``check_leaderboard``
(``genbench report DIR --check``) can say whether a committed leaderboard is stale.

>>> rows = [{"label": "a", "kind": "run", "status": "ok", "spec_hash": "h1",
...          "metrics": {"fd_mnist": 3.0}, "higher_is_better": {"fd_mnist": False}}]
>>> to_frame(rows)[["label", "fd_mnist"]].values.tolist()
[['a', 3.0]]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from genbench.reports.aggregate import (
    ALPHA, CONFIDENCE, Entry, Summary, aggregate_frame, entries_of, entry_key, rank_entries,
)
from genbench.reports.grids import atomic_write_bytes

__all__ = [
    "ReportError", "PROTOCOL_FIELDS", "load_rows", "dedup_rows", "to_frame", "group_by_protocol",
    "render_markdown", "write_leaderboard", "report", "fmt_num", "build_tables", "provenance_items",
    "check_leaderboard", "read_manifest", "current_commit",
]

RESULTS_FILE = "results.jsonl"
PROTOCOL_FIELDS = (
    "dataset", "extractor", "extractor_sha256", "n_real", "n_fake", "split", "pr_k", "is_splits", "resize_mode",
    "translation_extractors",
)
FRONT_COLUMNS = ("label", "kind", "baseline", "dataset", "seed", "eval_seed", "split", "status", "error")
ARROW = {True: "↑", False: "↓"}
DASH = "—"


class ReportError(ValueError):
    """Result rows could not be read or rendered; the message says which and why."""


# --- reading and merging ----------------------------------------------------------------
def load_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a results.jsonl file, or of ``<dir>/results.jsonl`` when given a folder."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    if not p.is_file():
        raise ReportError(
            f"no result rows at {p}: pass a results.jsonl file or a folder that holds one "
            "(`genbench run` / `genbench suite` write them)"
        )
    rows = []
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReportError(f"{p}:{i}: not a JSON row ({exc})") from None
            rows.append(_check_row(row, f"{p}:{i}"))
    return rows


def _check_row(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ReportError(f"{where}: a result row must be a JSON object, got {type(row).__name__}")
    if not isinstance(row.get("label"), str) or not row["label"]:
        raise ReportError(f"{where}: a result row needs a non-empty string 'label'")
    for key in ("metrics", "higher_is_better"):
        if row.get(key) is not None and not isinstance(row[key], dict):
            raise ReportError(f"{where}: '{key}' must be an object (name -> value)")
    return row


def dedup_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run: the newest ``created_at`` wins, else the later row.

    Two rows are the same run when they share (spec_hash, label), and also when they are the
    same experiment under two spec hashes: same label and entry (``aggregate.entry_key``:
    everything but the seeds and where or when it ran), same seed, eval_seed and device, and scored
    under the same protocol (``protocol_of``; a field a failed row never reached agrees with
    any). The spec hash includes a fingerprint of genbench's number-making code
    (bench/fingerprint.py), so rerunning a spec after any code edit writes a new run directory
    while the old row stays in the runs folder (and in its results.jsonl, which keeps every
    row); only the newest of such rows is kept, so that tables, seed statistics and
    ``genbench compare`` see the latest code's row instead of pooling two code versions as two
    "seeds". Rows that differ in their seed or eval_seed are kept (they are an entry's seeds),
    and so are rows scored under other extractor weights (they go to another table).

    Keeps the order in which each run first appeared.
    """
    by_hash: dict[tuple[str, str], dict[str, Any]] = {}
    for i, row in enumerate(rows):
        row = _check_row(row, f"row {i}")
        key = (str(row.get("spec_hash")), row["label"])
        old = by_hash.get(key)
        if old is None or str(row.get("created_at") or "") >= str(old.get("created_at") or ""):
            by_hash[key] = row
    # the same experiment under other spec hashes (the code was edited between the runs): the newest
    experiments: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for pos, row in enumerate(by_hash.values()):
        # the device too: a CPU and a GPU row of one seed are two experiments (their numbers differ)
        key = json.dumps([entry_key(row), row.get("seed"), row.get("eval_seed"), row.get("device")], default=str)
        experiments.setdefault(key, []).append((pos, row))
    kept: list[tuple[int, dict[str, Any]]] = []
    for members in experiments.values():
        newest_first = sorted(members, key=lambda m: (str(m[1].get("created_at") or ""), m[0]), reverse=True)
        runs: list[list[Any]] = []  # [first position, row, its protocol]
        for pos, row in newest_first:
            proto = protocol_of(row)
            same = next((r for r in runs if _same_scoring(proto, r[2])), None)
            if same is None:
                runs.append([pos, row, proto])
            else:
                same[0] = min(same[0], pos)
        kept += [(pos, row) for pos, row, _ in runs]
    return [row for _, row in sorted(kept, key=lambda k: k[0])]


def _same_scoring(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two ``protocol_of`` dicts agree on every field both know."""
    return all(a[f] is None or b[f] is None or a[f] == b[f] for f in a)


def _flatten(d: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, name + ".", out)
        elif isinstance(v, (list, tuple)):
            out[name] = json.dumps(v)
        else:
            out[name] = v


def to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One line per row, every nested value flattened ('budget.max_steps'), metrics as columns.

    Metric columns carry the metric's bare name ('fd_mnist'); other nested dicts are
    prefixed by their key. Lists become JSON strings.
    """
    flat, metric_names = [], []
    for row in rows:
        out: dict[str, Any] = {}
        for k, v in row.items():
            if k == "metrics" and isinstance(v, dict):
                for m, x in v.items():
                    col = m if m not in row else f"metrics.{m}"
                    out[col] = x
                    if col not in metric_names:
                        metric_names.append(col)
            elif isinstance(v, dict):
                _flatten(v, f"{k}.", out)
            elif isinstance(v, (list, tuple)):
                out[k] = json.dumps(v)
            else:
                out[k] = v
        flat.append(out)
    frame = pd.DataFrame(flat)
    front = [c for c in FRONT_COLUMNS if c in frame.columns] + metric_names
    return frame[front + [c for c in frame.columns if c not in front]]


# --- protocols --------------------------------------------------------------------------
def _is_ok(row: dict[str, Any]) -> bool:
    return row.get("status") == "ok"


def _translation_extractors(row: dict[str, Any]) -> dict[str, str | None]:
    """name -> weights sha256 of the extractors that scored an image-to-image row
    (``row['translation']['extractors']``, bench/i2i_eval.py), sorted by name; {} for other rows.

    Unpaired and multi-domain rows are ranked by ``fd_domains*``, made with the digit-domains
    classifier, whose hash is recorded only here (the row's ``extractor_sha256`` is the
    protocol extractor's): rows scored with other weights must not share a table.
    """
    exts = (row.get("translation") or {}).get("extractors")
    if not isinstance(exts, dict):
        return {}
    return {str(name): (p.get("weights_sha256") if isinstance(p, dict) else None) for name, p in sorted(exts.items())}


def _extractors_key(exts: dict[str, str | None]) -> str | None:
    """The protocol's value for translation extractors: 'name=sha256, ...' (None without any)."""
    return ", ".join(f"{name}={sha}" for name, sha in exts.items()) or None


def _extractors_of_key(key: Any) -> list[tuple[str, str]]:
    """(name, sha256) pairs back from :func:`_extractors_key`'s text."""
    if not key:
        return []
    return [tuple(part.split("=", 1)) for part in str(key).split(", ")]  # type: ignore[misc]


def protocol_of(row: dict[str, Any]) -> dict[str, Any]:
    """The fields that decide whether two rows' numbers are comparable (None = unknown)."""
    proto = row.get("protocol") or {}

    def first(*vals: Any) -> Any:
        return next((v for v in vals if v is not None), None)

    return {
        "dataset": row.get("dataset"),
        # a row that says it used no extractor (points data) has none, whatever its protocol default
        "extractor": row["extractor"] if "extractor" in row else proto.get("extractor"),
        "extractor_sha256": row.get("extractor_sha256"),
        "n_real": first(row.get("n_real"), proto.get("n_real")),
        "n_fake": first(row.get("n_fake"), proto.get("n_fake")),
        "split": first(proto.get("split"), row.get("split")),
        "pr_k": proto.get("pr_k"),
        "is_splits": proto.get("is_splits"),
        "resize_mode": first(row.get("resize_mode"), proto.get("resize_mode")),
        "translation_extractors": _extractors_key(_translation_extractors(row)),
    }


def group_by_protocol(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Split rows into groups of one protocol each, in order of first appearance.

    Rows that were scored (status ok) define the groups. A failed or diverged row may lack
    fields it never reached (extractor sha, n_real): it joins the first group that agrees
    on every field it has, else it gets a group of its own.
    """
    groups: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    pending = []
    for row in rows:
        proto = protocol_of(row)
        if not _is_ok(row):
            pending.append((row, proto))
            continue
        for key, members in groups:
            if key == proto:
                members.append(row)
                break
        else:
            groups.append((proto, [row]))
    for row, proto in pending:
        for key, members in groups:
            if all(v is None or key[f] == v for f, v in proto.items()):
                members.append(row)
                break
        else:
            groups.append((proto, [row]))
    return groups


# --- formatting -------------------------------------------------------------------------
def fmt_num(v: Any, digits: int = 4) -> str:
    """Numbers for tables: ``digits`` significant digits, thousands separators, no exponent
    unless tiny. None -> '—'.

    >>> [fmt_num(x) for x in (12345.6, 123.456, 1.23456, 0.0123456, 0.0, 2e-06, None, 7, True)]
    ['12,346', '123.5', '1.235', '0.01235', '0', '2.000e-06', '—', '7', 'True']
    """
    if v is None:
        return DASH
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    if a < 1e-3:
        return f"{v:.{digits - 1}e}"
    decimals = digits - 1 - math.floor(math.log10(a))
    return f"{v:.{decimals}f}"


def _cell(text: Any, limit: int | None = None) -> str:
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("|", "\\|")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "row"


def _is_untrained(row: dict[str, Any]) -> bool:
    return row.get("kind") == "reference" and row["label"].startswith("untrained")


def _is_real(row: dict[str, Any]) -> bool:
    return row.get("kind") == "reference" and row["label"] == "real data"


def _metric_columns(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, bool]]:
    """Metric names in METRIC_ORDER (ties: in order of appearance, the first ok run's first), and
    their directions."""
    names: list[str] = []
    hib: dict[str, bool] = {}
    ordered = sorted(rows, key=lambda r: (not (_is_ok(r) and r.get("kind", "run") == "run")))
    for row in ordered:
        for m in row.get("metrics") or {}:
            if m not in names:
                names.append(m)
        for m, h in (row.get("higher_is_better") or {}).items():
            hib.setdefault(m, bool(h))
    return sorted(names, key=_metric_rank), hib


# Canonical column order: the protocol's headline metric first (FID / FD, then KID, IS, ...),
# whatever order a row's JSON stored its metrics in (rows are written with sorted keys).
METRIC_ORDER = (
    "fid", "fd_", "kid", "is", "precision", "recall", "density", "coverage",
    "modes_covered", "high_quality", "reverse_kl", "psnr", "ssim", "l1", "lpips",
)


# The headline metric a task kind declares (row-key prefixes, in order of preference). A task
# that declares one is ranked by it or not at all: style transfer's other metrics (content
# loss, LPIPS to the content image) measure how much of the content image survives, which a
# model that barely stylises wins. The other kinds are ranked by METRIC_ORDER, which already
# leads with their headline: FID / FD (unconditional, class-conditional, likelihood; FD of the
# outputs for paired translation, fd_domains* for unpaired and multi-domain), modes covered
# for the toy point sets.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {"style-transfer": ("style_loss_",)}


def _task_kind(rows: list[dict[str, Any]]) -> str | None:
    """The task kind the rows say they are: ``translation.task`` of image-to-image rows
    (paired, unpaired, multi-domain), 'style-transfer' for rows with style / content losses
    (bench/style_data.py; rows carry no task field), else None."""
    for r in rows:
        translation = r.get("translation")
        task = translation.get("task") if isinstance(translation, dict) else None
        if task:
            return str(task)
        if any(str(m).startswith(("style_loss_", "content_loss_")) for m in r.get("metrics") or {}):
            return "style-transfer"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def _ranking_metric(rows: list[dict[str, Any]], names: list[str], hib: dict[str, bool]) -> tuple[str | None, str]:
    """The metric a table is ranked by (None: none can rank it), and a sentence that says why
    when it is not the table's first metric or there is none ('' otherwise).

    A metric can rank when it has a direction, is not of custom weights ('-custom') and holds
    a number (not a marker such as "skipped: weights absent") in one of the finished runs
    (the finished references when there are no runs). The task's declared headline
    (HEADLINE_METRICS) when it has one, else the first such metric in ``names`` (METRIC_ORDER).
    """
    ok = [r for r in rows if _is_ok(r)]
    pool = [r for r in ok if r.get("kind", "run") == "run"] or ok

    def why_not(m: str) -> str | None:
        if "-custom" in m:
            return "custom weights, never ranked"
        vals = [(r.get("metrics") or {}).get(m) for r in pool]
        if not any(_is_number(v) for v in vals):
            markers = _distinct(v for v in vals if isinstance(v, str))
            if not markers:
                return "no number"
            return "holds " + " / ".join(f"“{_cell(x, 60).replace('`', '')}”" for x in markers)
        return None if m in hib else "no direction"

    task = _task_kind(rows)
    if task in HEADLINE_METRICS:
        prefixes = HEADLINE_METRICS[task]
        candidates = [m for prefix in prefixes for m in names if m.startswith(prefix) and not m.endswith("_std")]
        for m in candidates:
            if why_not(m) is None:
                return m, ""
        tried = "; ".join(f"`{m}`: {why_not(m)}" for m in candidates)
        return None, (f"Not ranked: a {task} table is ranked by `{prefixes[0]}*` alone, and no finished row has a "
                      f"number of it from official weights" + (f" ({tried})" if tried else "") + ".")
    passed: list[str] = []
    for m in names:
        reason = why_not(m)
        if reason is None:
            shown = "; ".join(passed)
            return m, (f" Metrics before it in the usual order cannot rank: {shown}." if shown else "")
        if reason != "no direction":  # an error bar (kid_mnist_std): not worth a word
            passed.append(f"`{m}` {reason}")
    if not names:
        return None, ""
    return None, ("Not ranked: no metric with a direction has a number in the finished rows"
                  + (f" ({'; '.join(passed)})" if passed else "") + ".")


def _marker(e: Entry, metric: str) -> str | None:
    """The text a finished row holds instead of a number for ``metric`` ("skipped: weights
    absent"), when none of the entry's finished rows has a number; else None."""
    vals = [(r.get("metrics") or {}).get(metric) for r in e.ok_rows]
    if any(_is_number(v) for v in vals):
        return None
    return next((v for v in vals if isinstance(v, str) and v.strip()), None)


def _marker_short(marker: str) -> str:
    """A marker's visible cell text: the part before its colon ("skipped")."""
    return _cell(marker.split(":", 1)[0].strip() or marker, 24)


def _fmt_seconds(v: Any) -> str:
    """Wall seconds to 0.1 s: a step-0 run's microseconds of loop overhead read as 0."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return f"{v:,.1f}"
    return fmt_num(v)


def _metric_rank(name: str) -> tuple[int, int]:
    base = name[:-4] if name.endswith("_std") else name  # an error bar follows its metric
    for i, prefix in enumerate(METRIC_ORDER):
        if base == prefix or base.startswith(prefix if prefix.endswith("_") else prefix + "_"):
            return (i, int(name.endswith("_std")))
    return (len(METRIC_ORDER), 0)


def _order(entries: list[Entry], primary: str | None, hib: dict[str, bool]) -> list[Entry]:
    """real data, other references, ranked runs (rank, then mean, then label), failed runs, untrained."""

    def metric_key(e: Entry) -> tuple:
        s = e.metrics.get(primary) if primary else None
        if s is None or s.mean is None or math.isnan(s.mean):
            return (1, 0, 0.0, e.label)
        return (0, e.rank or 0, -s.mean if hib.get(primary, False) else s.mean, e.label)

    real = [e for e in entries if _is_real(e.first)]
    untrained = [e for e in entries if _is_untrained(e.first)]
    other_refs = [e for e in entries if e.kind == "reference" and not _is_real(e.first) and not _is_untrained(e.first)]
    runs = [e for e in entries if e.kind != "reference"]
    ok = sorted((e for e in runs if e.ok), key=metric_key)
    bad = [e for e in runs if not e.ok]
    return real + other_refs + ok + bad + untrained


def _grid_names(rows: list[dict[str, Any]]) -> dict[int, str]:
    """A file name under grids/ per row: the label's slug, made unique with seed / hash."""
    base = {id(r): _slug(r["label"]) for r in rows}
    counts: dict[str, int] = {}
    for b in base.values():
        counts[b] = counts.get(b, 0) + 1
    names, used = {}, set()
    for r in rows:
        name = base[id(r)]
        if counts[name] > 1:
            name += f"-seed{r.get('seed')}" if r.get("seed") is not None else ""
            if name in used and r.get("spec_hash"):
                name += f"-{str(r['spec_hash'])[:8]}"
        stem, k = name, 2
        while name in used:
            name, k = f"{stem}-{k}", k + 1
        used.add(name)
        names[id(r)] = name + ".png"
    return names


def _budget_text(budget: dict[str, Any] | None) -> str:
    if not budget:
        return DASH
    parts = []
    if budget.get("max_steps") is not None:
        parts.append(f"{fmt_num(budget['max_steps'])} steps")
    if budget.get("max_kimg") is not None:
        parts.append(f"{fmt_num(budget['max_kimg'])} kimg")
    if budget.get("max_wall_seconds") is not None:
        parts.append(f"{fmt_num(budget['max_wall_seconds'])} s wall")
    return ", ".join(parts) or DASH


def _protocol_text(proto: dict[str, Any]) -> str:
    sha = proto.get("extractor_sha256")
    ext = f"`{proto['extractor']}`" if proto.get("extractor") else "none (metrics on the points themselves)"
    if sha:
        ext += f" (weights sha256 `{str(sha)[:12]}…`)"
    parts = [
        f"dataset `{proto.get('dataset')}`",
        f"reference split `{proto.get('split')}`",
        f"extractor {ext}",
    ]
    # the image-to-image extractors besides the protocol's (the digit-domains classifier of fd_domains*)
    others = [(n, h) for n, h in _extractors_of_key(proto.get("translation_extractors"))
              if (n, h) != (proto.get("extractor"), str(sha))]
    if others:
        parts.append("translation extractors " + ", ".join(
            f"`{n}` (weights sha256 `{h[:12]}…`)" if h not in (None, "None") else f"`{n}` (weights sha256 unknown)"
            for n, h in others))
    parts += [
        f"n_real = {fmt_num(proto.get('n_real'))}",
        f"n_fake = {fmt_num(proto.get('n_fake'))}",
    ]
    if proto.get("pr_k") is not None:
        parts.append(f"precision/recall k = {proto['pr_k']}")
    if proto.get("is_splits") is not None:
        parts.append(f"IS splits = {proto['is_splits']}")
    if proto.get("resize_mode") not in (None, "none"):
        parts.append(f"resize mode `{proto['resize_mode']}`")
    return "**Protocol:** " + ", ".join(parts) + "."


def _budgets_line(rows: list[dict[str, Any]]) -> str:
    budgets = []
    for r in rows:
        if r.get("kind", "run") == "run" and r.get("budget"):
            text = _budget_text(r["budget"])
            if text not in budgets:
                budgets.append(text)
    if not budgets:
        return ""
    if len(budgets) == 1:
        return f"**Budget:** {budgets[0]} (the first limit reached stops training)."
    return "**Budgets differ between rows:** " + "; ".join(budgets) + " (see steps, kimg and wall s)."


def _short(field: str, v: Any) -> str:
    if field == "translation_extractors" and v:
        return ", ".join(f"{n} {h[:12]}…" for n, h in _extractors_of_key(v))
    return str(v)[:12] + "…" if field == "extractor_sha256" and v else str(v)


def _differs(proto: dict[str, Any], first: dict[str, Any]) -> str:
    diffs = [
        f"{f} (`{_short(f, proto.get(f))}` here, `{_short(f, first.get(f))}` in the first)"
        for f in PROTOCOL_FIELDS
        if proto.get(f) != first.get(f)
    ]
    return ", ".join(diffs)


def _section_title(proto: dict[str, Any]) -> str:
    ext = proto.get("extractor") or "points"
    return (
        f"{proto.get('dataset')}: {ext}, n_fake {fmt_num(proto.get('n_fake'))} vs "
        f"n_real {fmt_num(proto.get('n_real'))} ({proto.get('split')} split)"
    )


@dataclass
class Cell:
    """One table cell, for both renderers: plain ``text`` (each renderer escapes it), a value
    for sorting, an optional bold prefix (a failed row's status) and a grid file under grids/."""

    text: str
    sort: Any = None
    bold: str | None = None
    image: str | None = None
    title: str | None = None  # the full text behind a short one (a marker's): the HTML cell's title


@dataclass
class Column:
    title: str
    numeric: bool = True
    hib: bool | None = None  # metrics: True if higher is better
    kind: str = "text"  # "rank", "label", "metric", "speed", "progress", "text", "samples"


@dataclass
class RowView:
    entry: Entry
    role: str  # "ref", "ok" (ranked) or "bad" (failed / diverged)
    cells: list[Cell]


@dataclass
class TableView:
    """A protocol group, ranked and formatted: what README.md and index.html both render."""

    index: int
    title: str
    slug: str
    proto: dict[str, Any]
    reason: str | None  # why it is not ranked with the first table
    protocol_text: str
    budget_text: str
    columns: list[Column]
    rows: list[RowView]
    entries: list[Entry]
    metric: str | None  # the ranking metric
    hib: dict[str, bool]
    untested: bool  # some pair was ordered by value alone (a side with one seed)
    tested: bool  # some pair was tested for separability
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, file under plots/)
    metric_note: str = ""  # why metrics before the ranking one in METRIC_ORDER cannot rank, or why nothing is ranked
    footnotes: list[str] = field(default_factory=list)  # Markdown inline lines under the table (markers)


def _mean_text(s: Summary | None, fmt: Any = fmt_num) -> tuple[str, Any]:
    if s is None or s.mean is None:
        return DASH, None
    text = fmt(s.mean)
    if s.half_width is not None:
        text += f" ± {fmt(s.half_width)}"
    return text, s.mean


def _same_or_mean(entry: Entry, name: str) -> Any:
    """A progress field: the rows' common value, else the mean over ok seeds."""
    rows = entry.ok_rows or entry.rows
    vals = [r.get(name) for r in rows]
    if all(v == vals[0] for v in vals):
        return vals[0]
    s = entry.progress.get(name)
    return s.mean if s is not None else None


def _seeds_text(e: Entry) -> tuple[str, int]:
    n = len(e.ok_rows)
    seeds = e.seeds
    if len(e.rows) == 1:
        where = f" (seed {seeds[0]})" if seeds else ""
        return f"1{where}, CI n/a", 1
    text = f"{n} (seeds {', '.join(str(x) for x in seeds)})" if seeds else str(n)
    if n == 1:
        text += ", CI n/a"
    bad = len(e.failed)
    if bad:
        text += f", {bad} failed"
    return text, n


def _status_cell(e: Entry) -> Cell:
    if not e.ok:
        r = e.failed[0]
        status = _cell(r.get("status") or "unknown")
        return Cell(_cell(r["error"], 120) if r.get("error") else "", status, bold=status)
    bad = e.failed
    if not bad:
        return Cell("ok", "ok")
    first_err = next((r.get("error") for r in bad if r.get("error")), None)
    what = ", ".join(sorted({str(r.get("status")) for r in bad}))
    text = f"ok ({len(bad)} of {len(e.rows)} seeds {what}" + (f": {_cell(first_err, 80)})" if first_err else ")")
    return Cell(text, "ok")


def _mib(s: Summary | None) -> Summary | None:
    if s is None or s.mean is None:
        return s
    k = 1 / 2**20
    return Summary(s.n, s.mean * k, None if s.std is None else s.std * k, None if s.half_width is None else s.half_width * k)


def _display_labels(entries: list[Entry]) -> dict[int, str]:
    """Labels, with the budget (or overrides) added where two entries of a table share one."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.label] = counts.get(e.label, 0) + 1
    out = {}
    for e in entries:
        label = e.label
        if counts[label] > 1:
            row = e.first
            extra = _budget_text(row.get("budget"))
            overrides = (row.get("spec") or {}).get("overrides")
            if overrides:
                extra += ", " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
            label = f"{label} [{extra}]"
        if (e.first.get("network_width") or {}).get("narrower_than_paper"):
            label += " (narrow nets)"  # the row's network_width says which widths and the paper's
        out[id(e)] = label
    return out


def build_tables(rows: list[dict[str, Any]], grids: dict[int, str | None] | None = None) -> list[TableView]:
    """Group rows by protocol, aggregate each group over seeds, rank it and format its cells.

    ``grids``: id(row) -> file name under grids/ (the entry shows its representative row's).
    """
    grids = grids or {}
    groups = group_by_protocol(rows)
    if not groups:
        return []
    first = groups[0][0]
    views: list[TableView] = []
    titles: list[str] = []
    for i, (proto, members) in enumerate(groups):
        title = _section_title(proto)
        if title in titles:  # same headline fields: name what sets this table apart
            extra = [f"{f} {_short(f, proto.get(f))}" for f in PROTOCOL_FIELDS if proto.get(f) != first.get(f)]
            title += f" [{', '.join(extra) or f'table {i + 1}'}]"
        titles.append(title)
        entries = entries_of(members)
        names, hib = _metric_columns(members)
        primary, metric_note = _ranking_metric(members, names, hib)
        if primary is not None:  # the ranking metric (and its error bar) leads the columns
            lead = [m for m in (primary, f"{primary}_std") if m in names]
            names = lead + [m for m in names if m not in lead]
        runs = [e for e in entries if e.kind != "reference" and e.ok]
        untested = rank_entries(runs, primary, hib.get(primary, False)) if primary else False
        tested = primary is not None and sum(len(e.values(primary)) >= 2 for e in runs) >= 2
        ordered = _order(entries, primary, hib)
        columns = [Column("#", kind="rank"), Column("model", False, kind="label"),
                   Column("samples", False, kind="samples"), Column("seeds", kind="seeds")]
        columns += [Column(f"{m} {ARROW[hib[m]]}" if m in hib else m, hib=hib.get(m), kind="metric") for m in names]
        columns += [Column("steps", kind="progress"), Column("kimg", kind="progress"), Column("wall s", kind="progress"),
                    Column("stopped by", False), Column("train img/s", hib=True, kind="speed"),
                    Column("sample img/s", hib=True, kind="speed"), Column("peak mem MiB", hib=False, kind="speed"),
                    Column("status", False)]
        if tested:
            columns.append(Column("not separable from", False))
        labels = _display_labels(entries)
        shared: dict[int, int] = {}
        for e in runs:
            if e.rank is not None:
                shared[e.rank] = shared.get(e.rank, 0) + 1
        row_views = []
        markers: dict[str, list[str]] = {}  # marker text -> metrics that show it
        for e in ordered:
            r = e.first
            if e.kind == "reference":
                role, pos, sort_pos = "ref", "ref", -1
            elif e.ok and e.rank is not None:
                role, pos, sort_pos = "ok", f"{e.rank}{'=' if shared.get(e.rank, 0) > 1 else ''}", e.rank
            elif e.ok:
                role, pos, sort_pos = "ok", DASH, 10**6
            else:
                role, pos, sort_pos = "bad", DASH, 10**7
            seeds_text, n = _seeds_text(e)
            g = grids.get(id(r))
            cells = [Cell(pos, sort_pos), Cell(labels[id(e)], labels[id(e)]), Cell("samples" if g else DASH, image=g),
                     Cell(seeds_text, n)]
            for m in names:
                marker = _marker(e, m) if e.ok else None
                if marker is not None:
                    cells.append(Cell(_marker_short(marker), None, title=marker))
                    if m not in markers.setdefault(marker, []):
                        markers[marker].append(m)
                else:
                    cells.append(Cell(*_mean_text(e.metrics.get(m))) if e.ok else Cell(DASH))
            for name in ("steps", "kimg"):
                v = _same_or_mean(e, name)
                cells.append(Cell(fmt_num(v), v))
            wall = _same_or_mean(e, "wall_seconds")
            cells.append(Cell(_fmt_seconds(wall), wall))
            stopped = ", ".join(_distinct(x.get("stopped_by") for x in (e.ok_rows or e.rows))) or DASH
            cells.append(Cell(_cell(stopped), stopped))
            for name in ("train_img_per_s", "sample_img_per_s"):
                cells.append(Cell(*_mean_text(e.speed.get(name))))
            cells.append(Cell(*_mean_text(_mib(e.speed.get("peak_mem_bytes")))))
            cells.append(_status_cell(e))
            if tested:
                ties = ", ".join(labels[id(o)] for o in e.not_separable) if role == "ok" else ""
                cells.append(Cell(ties or DASH, ties))
            row_views.append(RowView(e, role, cells))
        views.append(TableView(
            index=i, title=title, slug=_slug(title), proto=proto,
            reason=None if i == 0 else f"Not ranked with the first table: its protocol differs in {_differs(proto, first)}.",
            protocol_text=_protocol_text(proto), budget_text=_budgets_line(members), columns=columns, rows=row_views,
            entries=entries, metric=primary, hib=hib, untested=untested, tested=tested,
            metric_note=metric_note, footnotes=_marker_notes(markers),
        ))
    return views


def _marker_notes(markers: dict[str, list[str]]) -> list[str]:
    """One line per marker shown in a table: its short text, the metrics, the full marker."""
    return [
        f"*{_marker_short(text)}* (in {', '.join(f'`{m}`' for m in metrics)}): the row holds "
        f"“{_cell(text).replace('`', '')}” instead of a number: the metric applies but was not computed. "
        f"{DASH} means the row has no such metric."
        for text, metrics in markers.items()
    ]


def rank_note(view: TableView) -> str:
    """How this table's ranks and intervals read (Markdown inline), or why it is not ranked."""
    if not view.metric:
        return view.metric_note
    text = (f"Ranked by `{view.metric}`.{view.metric_note} Values are means over seeds; ± is the half-width of the "
            f"{CONFIDENCE:.0%} confidence interval of the mean (Student's t, n − 1 degrees of freedom); "
            "one seed has no interval (CI n/a).")
    if view.tested:
        text += (" A rank is 1 + the number of entries significantly better (Welch's t-test, two-sided, "
                 f"α = {ALPHA}); entries that share a rank (`2=`) are not separable.")
    if view.untested:
        text += (" Entries with one seed cannot be tested against each other: they are ordered by value alone, "
                 "which says nothing about seed noise.")
    return text


def _table(view: TableView) -> list[str]:
    head = [c.title for c in view.columns]
    align = ["---:" if c.numeric else "---" for c in view.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for rv in view.rows:
        cells = []
        for col, c in zip(view.columns, rv.cells):
            if col.kind == "label":
                text = {"ref": f"*{_cell(c.text)}*", "ok": f"**{_cell(c.text)}**"}.get(rv.role, _cell(c.text))
            elif col.kind == "samples":
                text = f'[<img src="grids/{c.image}" width="64" alt="samples">](grids/{c.image})' if c.image else DASH
            elif c.bold is not None:
                text = f"**{c.bold}**" + (f": {c.text}" if c.text else "")
            else:
                text = _cell(c.text)
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(
    rows: list[dict[str, Any]], title: str, note: str | None = None, grids: dict[int, str | None] | None = None,
    views: list[TableView] | None = None, made_at: dict[str, Any] | None = None, html: bool = False,
) -> str:
    """The README.md text for ``rows`` (already deduplicated). ``grids``: id(row) -> file under grids/;
    ``views``: tables already built (with their plots) by :func:`build_tables`."""
    out = [f"# {title}", ""]
    if note:
        out += ["> " + line for line in note.strip().splitlines()] + [""]
    if not rows:
        return "\n".join(out + ["No result rows.", ""])
    views = build_tables(rows, grids) if views is None else views
    out += [INTRO, ""]
    if len(views) > 1:
        out += [
            f"These rows fall into {len(views)} tables because their evaluation protocols differ; "
            "numbers are comparable only within one table.",
            "",
        ]
    for v in views:
        out += [f"## {v.title}", ""]
        if v.reason:
            out += [v.reason, ""]
        out += [v.protocol_text, ""]
        if v.budget_text:
            out += [v.budget_text, ""]
        note_v = rank_note(v)
        if note_v:
            out += [note_v, ""]
        out += _table(v) + [""]
        for line in v.footnotes:
            out += [line, ""]
        for caption, name in v.plots:
            out += [f"![{caption}](plots/{name})", ""]
    out += ["## Provenance", ""] + [f"- {k}: {v}" for k, v in provenance_items(rows, made_at)]
    if html:
        out.append("- page: [index.html](index.html): the same tables, sortable, with every sample grid and plot "
                   "in one self-contained file (open it in a browser; GitHub shows its source)")
    commands = [(r["label"], r["command"]) for r in rows if r.get("command")]
    if commands:
        out += ["", "<details><summary>Commands that produced the rows</summary>", ""]
        out += [f"- {_cell(label)}: `{_cell(cmd)}`" for label, cmd in commands]
        out += ["", "</details>"]
    return "\n".join(out + [""])


INTRO = (
    "Metric arrows: ↓ lower is better, ↑ higher is better. *real data* scores real training "
    "images (never the reference split itself) like a model's samples: the best reachable at "
    "this n. *untrained* rows score the generator at step 0: the worst. Rows that differ only in "
    "their seeds are one entry: its values are means over the seeds that finished."
)


def _distinct(values: Iterable[Any]) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v is not None and str(v) not in seen:
            seen.append(str(v))
    return seen


def _commit_text(commit: Any, dirty: Any) -> str:
    return f"{str(commit)[:10]}{' (dirty)' if dirty else ''}"


def provenance_items(rows: list[dict[str, Any]], made_at: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(name, Markdown inline text) pairs: rows, commits, versions, devices, extractors, budgets."""
    commits = _distinct(_commit_text(r["git_commit"], r.get("git_dirty")) for r in rows if r.get("git_commit"))
    versions = _distinct(
        ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items()) or None for r in rows
    )
    devices = _distinct(r.get("device") for r in rows)
    protos = [protocol_of(r) for r in rows]
    extractors = _distinct(
        f"`{p['extractor']}` weights sha256 `{p['extractor_sha256']}`, resize `{p.get('resize_mode') or 'none'}`"
        for p in protos if p.get("extractor")
    ) + _distinct(
        f"`{n}` weights sha256 `{h}` (image-to-image scoring)"
        for p in protos for n, h in _extractors_of_key(p.get("translation_extractors"))
        if (n, h) != (p.get("extractor"), str(p.get("extractor_sha256")))
    )
    sizes = _distinct(f"n_real {fmt_num(p['n_real'])} / n_fake {fmt_num(p['n_fake'])}" for p in map(protocol_of, rows))
    budgets = _distinct(_budget_text(r.get("budget")) for r in rows if r.get("kind", "run") == "run" and r.get("budget"))
    items = [
        ("rows", f"{len(rows)} ({sum(r.get('kind') == 'reference' for r in rows)} reference)"),
        ("git commit of the rows", ", ".join(commits) or DASH),
    ]
    if made_at:
        items.append(("leaderboard made at", (_commit_text(made_at.get("commit"), made_at.get("dirty"))
                                               if made_at.get("commit") else "no git commit (not a git checkout)")
                      + "; `genbench report DIR --check` says whether it is stale"))
    items += [
        ("versions", "; ".join(versions) or DASH),
        ("device", ", ".join(devices) or DASH),
        ("extractors", "; ".join(extractors) or "none (metrics on the points themselves)"),
        ("samples scored", "; ".join(sizes) or DASH),
        ("budgets", "; ".join(budgets) or DASH),
        ("full rows", "[results.jsonl](results.jsonl), [leaderboard.csv](leaderboard.csv) (one line per row), "
                      "[aggregate.csv](aggregate.csv) (one line per entry: n, mean, std, CI per metric)"),
    ]
    return items


# --- writing ----------------------------------------------------------------------------
def _grid_source(row: dict[str, Any], base_dir: Path | None) -> Path | None:
    sg = row.get("sample_grid")
    if not sg:
        return None
    p = Path(sg)
    candidates = [p] if p.is_absolute() else []
    if not p.is_absolute():
        run_dir = Path(row["run_dir"]) if row.get("run_dir") else None
        if run_dir is not None:
            candidates.append(run_dir / p)
            if base_dir is not None and not run_dir.is_absolute():
                candidates.append(base_dir / run_dir / p)
        if base_dir is not None:
            candidates.append(base_dir / p)
    return next((c for c in candidates if c.is_file()), None)


MANIFEST = "leaderboard.json"
# source paths whose change can change the numbers of an unchanged RunSpec (conservative: any
# file of the harness, the models or the metrics, less the command-line front ends and the sweep
# executors, which decide where a spec runs, never what it computes)
NUMBER_PATHS = ("bench", "baselines", "metrics", "pyproject.toml", ":(exclude)bench/cli.py", ":(exclude)bench/*_cli.py",
                ":(exclude)bench/sweep.py", ":(exclude)bench/executors.py")


def _plain(obj: Any) -> Any:
    return obj.item() if hasattr(obj, "item") else str(obj)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent


def current_commit() -> dict[str, Any]:
    """{'commit', 'dirty'} of the genbench source tree (None, None outside a git checkout)."""
    from genbench.bench.results import git_state  # lazily: reports import nothing of bench at import time

    commit, dirty = git_state(_source_root())
    return {"commit": commit, "dirty": dirty}


def _plots(view: TableView) -> list[tuple[str, str, bytes]]:
    from genbench.reports.plots import budget_plot, pr_plot

    out = []
    if view.metric:
        png = budget_plot(view.entries, view.metric, view.hib.get(view.metric, False), view.title)
        if png is not None:
            out.append((f"{view.metric} vs kimg and vs wall seconds", f"{view.slug}-budget.png", png))
    suffix = view.metric.split("_", 1)[1] if view.metric and "_" in view.metric else None
    prec, rec = (f"precision_{suffix}", f"recall_{suffix}") if suffix else ("precision", "recall")
    if any(prec in e.metrics and rec in e.metrics for e in view.entries):
        png = pr_plot(view.entries, prec, rec, view.title)
        if png is not None:
            out.append((f"{prec} vs {rec}", f"{view.slug}-pr.png", png))
    return out


def write_leaderboard(
    rows: Iterable[dict[str, Any]],
    out_dir: str | os.PathLike,
    title: str = "genbench leaderboard",
    note: str | None = None,
    base_dir: str | os.PathLike | None = None,
    html: bool = True,
    made_at: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write out_dir/README.md, leaderboard.csv, aggregate.csv, results.jsonl, grids/<label>.png,
    and with ``html`` plots/*.png and index.html; last leaderboard.json (the manifest).

    rows: result dicts; repeated (spec_hash, label) keep the newest. A row's ``sample_grid``
    is found as an absolute path, under its ``run_dir``, or under ``base_dir`` (the folder
    of the results file); a row whose grid is missing gets no thumbnail. ``made_at``:
    {'commit', 'dirty'} recorded as the commit the leaderboard was made at (default: the
    source tree's now). The manifest holds title, note, made_at and the sha256 of every
    rendered file, so that ``check_leaderboard`` can tell a stale leaderboard. Every file is
    written atomically. Returns {'readme', 'csv', 'aggregate', 'jsonl', 'manifest': Path,
    'html': Path | None, 'plots': [Path], 'grids': [Path]}.
    """
    # rows as results.jsonl stores them (sorted keys, plain JSON values): rendering rows in memory
    # and re-rendering them from the written file give the same bytes
    rows = [json.loads(json.dumps(r, sort_keys=True, allow_nan=True, default=_plain)) for r in dedup_rows(rows)]
    out = Path(out_dir)
    base = Path(base_dir) if base_dir is not None else None
    made_at = current_commit() if made_at is None else made_at
    names = _grid_names(rows)
    grids: dict[int, str | None] = {}
    copies: list[tuple[Path, Path]] = []
    for r in rows:
        src, dest = _grid_source(r, base), out / "grids" / names[id(r)]
        if src is not None:
            copies.append((src, dest))
            grids[id(r)] = names[id(r)]
        elif r.get("sample_grid") and dest.is_file():  # re-rendering a leaderboard from its own rows
            grids[id(r)] = names[id(r)]
    views = build_tables(rows, grids)
    plots: dict[str, bytes] = {}
    if html:
        for v in views:
            for caption, name, png in _plots(v):
                v.plots.append((caption, name))
                plots[name] = png
    text = render_markdown(rows, title, note, grids, views=views, made_at=made_at, html=html)
    csv = to_frame(rows).to_csv(index=False) if rows else ""
    agg = aggregate_frame([(v.proto, [rv.entry for rv in v.rows]) for v in views]).to_csv(index=False) if rows else ""
    jsonl = "".join(json.dumps(r, sort_keys=True, allow_nan=True) + "\n" for r in rows)
    written_grids = []
    for src, dest in copies:
        if src.resolve() != dest.resolve():
            atomic_write_bytes(dest, src.read_bytes())
        written_grids.append(dest)
    files: dict[str, bytes] = {
        "README.md": text.encode("utf-8"), "leaderboard.csv": csv.encode("utf-8"),
        "aggregate.csv": agg.encode("utf-8"), RESULTS_FILE: jsonl.encode("utf-8"),
    }
    files.update({f"plots/{k}": v for k, v in plots.items()})
    if html:
        from genbench.reports.html import render_html

        images = {f"grids/{g}": (out / "grids" / g) for g in grids.values() if g}
        page = render_html(rows, views, title, note, made_at, images, plots)
        files["index.html"] = page.encode("utf-8")
    paths = {name: atomic_write_bytes(out / name, data) for name, data in files.items()}
    # grids/ and plots/ are this writer's own folders: files an earlier rendering left there (rows
    # that are gone, names that changed with a spec hash) would ship with the board unreferenced
    keep = {dest.name for dest in written_grids} | {g for g in grids.values() if g}
    stale = [f for f in (out / "grids").glob("*.png") if f.name not in keep]
    if html:
        stale += [f for f in (out / "plots").glob("*.png") if f.name not in plots]
    for f in stale:
        f.unlink()
    manifest = {
        "title": title, "note": note, "html": html, "made_at": made_at,
        "rows": len(rows), "files": {name: _sha256(data) for name, data in sorted(files.items())},
        "how_to_check": "genbench report DIR --check",
    }
    return {
        "readme": paths["README.md"], "csv": paths["leaderboard.csv"], "aggregate": paths["aggregate.csv"],
        "jsonl": paths[RESULTS_FILE], "html": paths.get("index.html"),
        "plots": [paths[f"plots/{k}"] for k in plots],
        "manifest": atomic_write_bytes(out / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()),
        "grids": written_grids,
    }


def read_manifest(board: str | os.PathLike) -> dict[str, Any]:
    p = Path(board) / MANIFEST
    if not p.is_file():
        raise ReportError(
            f"{board} has no {MANIFEST}: it was not written by this version of `genbench report`; "
            f"render it once with `genbench report {board} --out {board} --title ... --note ...`"
        )
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{p}: not JSON ({exc}); re-render the leaderboard with `genbench report`") from None
    if not isinstance(m, dict) or not isinstance(m.get("files"), dict):
        raise ReportError(f"{p}: not a leaderboard manifest (no 'files'); re-render it with `genbench report`")
    return m


def report(
    results_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    title: str | None = None,
    note: str | None = None,
    html: bool = True,
) -> dict[str, Any]:
    """``genbench report``: read a results.jsonl (or a folder holding one), write the leaderboard.

    ``title`` / ``note`` None: the ones recorded in ``out_dir``'s manifest when there is one
    (re-rendering a leaderboard keeps them), else a default title and no note.
    """
    p = Path(results_path)
    rows = load_rows(p)
    base = p if p.is_dir() else p.parent
    old = json.loads((Path(out_dir) / MANIFEST).read_text()) if (Path(out_dir) / MANIFEST).is_file() else {}
    title = title if title is not None else old.get("title") or "genbench leaderboard"
    note = note if note is not None else old.get("note")
    return write_leaderboard(rows, out_dir, title=title, note=note, base_dir=base, html=html)


# --- staleness ------------------------------------------------------------------------------
def _git(args: list[str]) -> tuple[int, str]:
    try:
        res = subprocess.run(["git", *args], cwd=_source_root(), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return 1, str(exc)
    return res.returncode, res.stdout if res.returncode == 0 else res.stderr


def check_leaderboard(board: str | os.PathLike) -> dict[str, Any]:
    """Whether a committed leaderboard is stale, and why.

    Two questions: (1) *rendering*: would `genbench report` write different files from the
    same rows now (the renderer changed, or a file was edited by hand)? It re-renders into a
    temporary folder, with the recorded title, note and commit, and compares sha256 sums.
    (2) *results*: did the code that makes the numbers change since the rows were made? For
    each git commit of the rows, ``git diff`` against HEAD over NUMBER_PATHS, plus the
    protocol version. Rows made from a tree with uncommitted changes are named (their code
    cannot be known), without making the board stale by themselves.

    Returns {'stale': bool, 'render': [differing files], 'results': [reasons], 'warnings': [...],
    'made_at', 'head'}.
    """
    board = Path(board)
    manifest = read_manifest(board)
    rows = dedup_rows(load_rows(board))
    render: list[str] = []
    with tempfile.TemporaryDirectory(prefix="genbench-check-") as tmp:
        if (board / "grids").is_dir():
            shutil.copytree(board / "grids", Path(tmp) / "grids")
        write_leaderboard(rows, tmp, title=manifest.get("title") or "genbench leaderboard", note=manifest.get("note"),
                          base_dir=board, html=bool(manifest.get("html", True)), made_at=manifest.get("made_at") or {})
        fresh = read_manifest(tmp)["files"]
    for name in sorted(set(fresh) | set(manifest["files"])):
        on_disk = board / name
        if name not in manifest["files"]:
            render.append(f"{name}: would be written now, the committed leaderboard lacks it")
        elif name not in fresh:
            render.append(f"{name}: recorded, but the renderer no longer writes it")
        elif not on_disk.is_file():
            render.append(f"{name}: missing")
        elif _sha256(on_disk.read_bytes()) != manifest["files"][name]:
            render.append(f"{name}: edited after rendering")
        elif fresh[name] != manifest["files"][name]:
            render.append(f"{name}: the renderer now writes it differently")
    head = current_commit()
    results: list[str] = []
    warnings: list[str] = []
    if head.get("commit") is None:
        warnings.append("not a git checkout: cannot tell whether the code changed since the rows were made")
    else:
        for commit in _distinct(r.get("git_commit") for r in rows):
            rc, out = _git(["diff", "--name-only", commit, "HEAD", "--", *NUMBER_PATHS])
            if rc != 0:
                results.append(f"rows made at {commit[:10]}, a commit this repository does not have")
                continue
            changed = [line for line in out.splitlines() if line.strip()]
            if changed:
                shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
                results.append(f"rows made at {commit[:10]}: {len(changed)} source files that make the numbers "
                               f"changed since then ({shown})")
        if head.get("dirty"):
            warnings.append("the working tree has uncommitted changes: the check compares against HEAD")
    dirty = _distinct(str(r.get("git_commit"))[:10] for r in rows if r.get("git_dirty"))
    if dirty:
        warnings.append(f"rows made from a tree with uncommitted changes (at {', '.join(dirty)}): "
                        "their exact code is unknown")
    try:
        from genbench.bench import PROTOCOL_VERSION

        old = _distinct((r.get("versions") or {}).get("protocol") for r in rows)
        if any(v != str(PROTOCOL_VERSION) for v in old):
            results.append(f"rows use protocol version {', '.join(old)}; this genbench is at {PROTOCOL_VERSION}")
    except ImportError:
        pass
    return {"stale": bool(render or results), "render": render, "results": results, "warnings": warnings,
            "made_at": manifest.get("made_at"), "head": head}
