"""Leaderboards from result rows: README.md (Markdown), leaderboard.csv, results.jsonl, grids/.

Reads result rows (JSON dicts, one per run or reference) and never imports a model, a
metric or the training loop. Rows are ranked only against rows evaluated under the same
protocol: the dataset, feature extractor and its weights sha256, n_real, n_fake, reference
split, precision/recall k and IS splits. Rows that differ in any of these go to separate
tables, with a sentence saying which fields differ.

Within a table: the 'real data' reference row first (the best score reachable at this n),
then the runs that finished ('ok') ranked by the first metric, then runs that failed or
diverged (their status and error instead of metrics), then 'untrained' reference rows
(the generator at step 0: the worst).

>>> rows = [{"label": "a", "kind": "run", "status": "ok", "spec_hash": "h1",
...          "metrics": {"fd_mnist": 3.0}, "higher_is_better": {"fd_mnist": False}}]
>>> to_frame(rows)[["label", "fd_mnist"]].values.tolist()
[['a', 3.0]]
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from genbench.reports.grids import atomic_write_bytes

__all__ = [
    "ReportError", "PROTOCOL_FIELDS", "load_rows", "dedup_rows", "to_frame", "group_by_protocol",
    "render_markdown", "write_leaderboard", "report", "fmt_num",
]

RESULTS_FILE = "results.jsonl"
PROTOCOL_FIELDS = (
    "dataset", "extractor", "extractor_sha256", "n_real", "n_fake", "split", "pr_k", "is_splits", "resize_mode",
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
    """One row per (spec_hash, label): the newest ``created_at`` wins, else the later row.

    Keeps the order in which each (spec_hash, label) first appeared.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for i, row in enumerate(rows):
        row = _check_row(row, f"row {i}")
        key = (str(row.get("spec_hash")), row["label"])
        old = merged.get(key)
        if old is None or str(row.get("created_at") or "") >= str(old.get("created_at") or ""):
            merged[key] = row
    return list(merged.values())


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
    """Metric names in order of appearance (the first ok run's first metric leads)."""
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


def _order(rows: list[dict[str, Any]], primary: str | None, hib: dict[str, bool]) -> list[dict[str, Any]]:
    def metric_key(row: dict[str, Any]) -> tuple:
        v = (row.get("metrics") or {}).get(primary) if primary else None
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
            return (1, 0.0, row["label"])
        return (0, -v if hib.get(primary, False) else v, row["label"])

    real = [r for r in rows if _is_real(r)]
    untrained = [r for r in rows if _is_untrained(r)]
    other_refs = [r for r in rows if r.get("kind") == "reference" and not _is_real(r) and not _is_untrained(r)]
    runs = [r for r in rows if r.get("kind", "run") != "reference"]
    ok = sorted((r for r in runs if _is_ok(r)), key=metric_key)
    bad = [r for r in runs if not _is_ok(r)]
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


def _table(rows: list[dict[str, Any]], grids: dict[int, str | None]) -> list[str]:
    names, hib = _metric_columns(rows)
    ordered = _order(rows, names[0] if names else None, hib)
    head = ["#", "model", "seed"]
    head += [f"{m} {ARROW[hib[m]]}" if m in hib else m for m in names]
    head += ["steps", "kimg", "wall s", "stopped by", "train img/s", "status", "samples"]
    align = ["---"] * 3 + ["---:"] * (len(names) + 3) + ["---", "---:", "---", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    rank = 0
    for r in ordered:
        ok = _is_ok(r)
        if r.get("kind") == "reference":
            pos, label = "ref", f"*{_cell(r['label'])}*"
        elif ok:
            rank += 1
            pos, label = str(rank), f"**{_cell(r['label'])}**"
        else:
            pos, label = DASH, _cell(r["label"])
        metrics = r.get("metrics") or {}
        cells = [pos, label, fmt_num(r.get("seed"))]
        cells += [fmt_num(metrics.get(m)) if ok else DASH for m in names]
        cells += [
            fmt_num(r.get("steps")), fmt_num(r.get("kimg")), _fmt_seconds(r.get("wall_seconds")),
            _cell(r.get("stopped_by") or DASH), fmt_num(r.get("train_img_per_s")),
        ]
        status = _cell(r.get("status") or "unknown")
        if not ok:
            status = f"**{status}**" + (f": {_cell(r['error'], 120)}" if r.get("error") else "")
        cells.append(status)
        g = grids.get(id(r))
        cells.append(f'[<img src="grids/{g}" width="64" alt="samples">](grids/{g})' if g else DASH)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(
    rows: list[dict[str, Any]], title: str, note: str | None = None, grids: dict[int, str | None] | None = None
) -> str:
    """The README.md text for ``rows`` (already deduplicated). ``grids``: id(row) -> file under grids/."""
    grids = grids or {}
    out = [f"# {title}", ""]
    if note:
        out += ["> " + line for line in note.strip().splitlines()] + [""]
    if not rows:
        return "\n".join(out + ["No result rows.", ""])
    groups = group_by_protocol(rows)
    out.append(
        "Metric arrows: ↓ lower is better, ↑ higher is better. *real data* scores real training "
        "images (never the reference split itself) like a model's samples: the best reachable at "
        "this n. *untrained* rows score the generator at step 0: the worst. Runs are ranked by the "
        "first metric column."
    )
    out.append("")
    if len(groups) > 1:
        out += [
            f"These rows fall into {len(groups)} tables because their evaluation protocols differ; "
            "numbers are comparable only within one table.",
            "",
        ]
    first = groups[0][0]
    titles: list[str] = []
    for i, (proto, members) in enumerate(groups):
        title_i = _section_title(proto)
        if title_i in titles:  # same headline fields: name what sets this table apart
            extra = [f"{f} {_short(f, proto.get(f))}" for f in PROTOCOL_FIELDS if proto.get(f) != first.get(f)]
            title_i += f" [{', '.join(extra) or f'table {i + 1}'}]"
        titles.append(title_i)
        out += [f"## {title_i}", ""]
        if i > 0:
            out += [f"Not ranked with the first table: its protocol differs in {_differs(proto, first)}.", ""]
        out += [_protocol_text(proto), ""]
        budget = _budgets_line(members)
        if budget:
            out += [budget, ""]
        out += _table(members, grids) + [""]
    out += _provenance(rows)
    return "\n".join(out)


def _distinct(values: Iterable[Any]) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v is not None and str(v) not in seen:
            seen.append(str(v))
    return seen


def _provenance(rows: list[dict[str, Any]]) -> list[str]:
    commits = _distinct(
        f"{str(r['git_commit'])[:10]}{' (dirty)' if r.get('git_dirty') else ''}" for r in rows if r.get("git_commit")
    )
    versions = _distinct(
        ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items()) or None for r in rows
    )
    devices = _distinct(r.get("device") for r in rows)
    lines = ["## Provenance", ""]
    lines.append(f"- rows: {len(rows)} ({sum(r.get('kind') == 'reference' for r in rows)} reference)")
    lines.append(f"- git commit: {', '.join(commits) or DASH}")
    lines.append(f"- versions: {'; '.join(versions) or DASH}")
    lines.append(f"- device: {', '.join(devices) or DASH}")
    lines.append("- full rows: [results.jsonl](results.jsonl), [leaderboard.csv](leaderboard.csv)")
    commands = [(r["label"], r["command"]) for r in rows if r.get("command")]
    if commands:
        lines += ["", "<details><summary>Commands that produced the rows</summary>", ""]
        lines += [f"- {_cell(label)}: `{_cell(cmd)}`" for label, cmd in commands]
        lines += ["", "</details>"]
    return lines + [""]


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


def write_leaderboard(
    rows: Iterable[dict[str, Any]],
    out_dir: str | os.PathLike,
    title: str = "genbench leaderboard",
    note: str | None = None,
    base_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Write out_dir/README.md, leaderboard.csv, results.jsonl and grids/<label>.png.

    rows: result dicts; repeated (spec_hash, label) keep the newest. A row's ``sample_grid``
    is found as an absolute path, under its ``run_dir``, or under ``base_dir`` (the folder
    of the results file); a row whose grid is missing gets no thumbnail. Every file is
    written atomically. Returns {'readme', 'csv', 'jsonl': Path, 'grids': [Path]}.
    """
    rows = dedup_rows(rows)
    out = Path(out_dir)
    base = Path(base_dir) if base_dir is not None else None
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
    text = render_markdown(rows, title, note, grids)
    csv = to_frame(rows).to_csv(index=False) if rows else ""
    jsonl = "".join(json.dumps(r, sort_keys=True, allow_nan=True, default=str) + "\n" for r in rows)
    written_grids = []
    for src, dest in copies:
        if src.resolve() != dest.resolve():
            atomic_write_bytes(dest, src.read_bytes())
        written_grids.append(dest)
    return {
        "readme": atomic_write_bytes(out / "README.md", text.encode("utf-8")),
        "csv": atomic_write_bytes(out / "leaderboard.csv", csv.encode("utf-8")),
        "jsonl": atomic_write_bytes(out / RESULTS_FILE, jsonl.encode("utf-8")),
        "grids": written_grids,
    }


def report(
    results_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    title: str = "genbench leaderboard",
    note: str | None = None,
) -> dict[str, Any]:
    """``genbench report``: read a results.jsonl (or a folder holding one), write the leaderboard."""
    p = Path(results_path)
    rows = load_rows(p)
    base = p if p.is_dir() else p.parent
    return write_leaderboard(rows, out_dir, title=title, note=note, base_dir=base)
