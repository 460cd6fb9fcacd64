"""The leaderboard as one self-contained HTML page (index.html): no file or network it needs.

Sortable tables (click a header; ``#sort=T:C:asc|desc`` in the address sorts table T by
column C on load), the sample grids and plots embedded as base64 PNGs, speed columns, and
the provenance (extractor and weights sha256, resize mode, n, budgets, versions, commits).
It renders the same ``TableView`` objects as README.md, so both say the same numbers. The
script marks ``<html data-ready="1">`` once it has run (the headless-browser test reads it).
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

from genbench.reports.leaderboard import INTRO, TableView, provenance_items, rank_note

__all__ = ["render_html", "md_inline"]

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def md_inline(text: str) -> str:
    """The inline Markdown the leaderboard writes (`code`, **bold**, *em*, [a](b)) as escaped HTML.

    >>> md_inline("**Protocol:** `mnist` <b> [rows](results.jsonl)")
    '<strong>Protocol:</strong> <code>mnist</code> &lt;b&gt; <a href="results.jsonl">rows</a>'
    """
    codes: list[str] = []

    def keep(m: re.Match) -> str:
        codes.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    s = _CODE.sub(keep, html.escape(str(text), quote=False))
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    s = _EM.sub(r"<em>\1</em>", s)
    s = _LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', s)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], s)


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1800px}
h1{font-size:24px;margin:0 0 8px} h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
blockquote{margin:8px 0;padding:6px 12px;border-left:4px solid #d0d7de;color:#57606a;background:#f6f8fa}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eff1f3;padding:1px 4px;border-radius:4px}
.wrap{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px;margin:8px 0}
table.board{border-collapse:collapse;font-size:12.5px;white-space:nowrap}
table.board th,table.board td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:right;vertical-align:middle}
table.board th{position:sticky;top:0;background:#f6f8fa;cursor:pointer;user-select:none;font-weight:600}
table.board th.text,table.board td.text{text-align:left}
table.board th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
table.board th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
table.board th.metric{background:#eef6ff} table.board th.speed{background:#f3f0ff}
tr.ref td{font-style:italic;color:#57606a;background:#fafbfc} tr.bad td{background:#fff5f5}
tr.ok td.label{font-weight:600} td.status{white-space:normal;min-width:120px;max-width:420px;text-align:left}
.thumb{display:inline-block;width:40px;height:40px;vertical-align:middle}
.thumb,.big{background-size:contain;background-repeat:no-repeat;background-position:center;image-rendering:pixelated}
.big{width:176px;height:176px;border:1px solid #d0d7de;border-radius:4px}
.note{color:#57606a;font-size:13px;max-width:1100px}
.reason{color:#9a6700;background:#fff8c5;padding:6px 10px;border-radius:6px;max-width:1100px}
figure{margin:12px 0} figure img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}
figcaption{color:#57606a;font-size:12px}
.grids{display:flex;flex-wrap:wrap;gap:14px} .grids figure{margin:0;width:180px}
dl.prov{display:grid;grid-template-columns:max-content auto;gap:4px 16px} dl.prov dt{font-weight:600}
dl.prov dd{margin:0}
nav a{margin-right:14px}
"""

_JS = """
(function(){
  function key(td, numeric){
    var v = td ? td.getAttribute('data-v') : null;
    if (v === null || v === '') return null;
    if (numeric){ var x = parseFloat(v); return isNaN(x) ? null : x; }
    return v.toLowerCase();
  }
  function sortTable(table, col, dir){
    var th = table.tHead.rows[0].cells[col];
    var numeric = th.getAttribute('data-type') === 'num';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function(r, i){ r._i = i; });
    rows.sort(function(a, b){
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (x === null && y === null) return a._i - b._i;
      if (x === null) return 1;
      if (y === null) return -1;
      if (x < y) return dir === 'asc' ? -1 : 1;
      if (x > y) return dir === 'asc' ? 1 : -1;
      return a._i - b._i;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(c){ c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 'asc' ? 'ascending' : 'descending');
  }
  var tables = document.querySelectorAll('table.board');
  Array.prototype.forEach.call(tables, function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, col){
      th.addEventListener('click', function(){
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
        sortTable(table, col, dir);
      });
    });
  });
  var m = /sort=(\\d+):(\\d+):(asc|desc)/.exec(location.hash || '');
  if (m && tables[+m[1]]) sortTable(tables[+m[1]], +m[2], m[3]);
  document.documentElement.setAttribute('data-ready', '1');
})();
"""


def _sort_attr(v: Any) -> str:
    """A cell's ``data-v``: what the page's script sorts by. Numbers are written so that JS
    ``parseFloat`` reads them back: infinities as 'Infinity' / '-Infinity' (Python's 'inf' reads
    as NaN there, which sorts as missing), NaN as '' (missing).

    >>> [_sort_attr(x) for x in (3, float("inf"), float("-inf"), float("nan"), None, True)]
    ['3.0', 'Infinity', '-Infinity', '', '', '1']
    """
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, float)):
        x = float(v)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return repr(x)
    return html.escape(str(v))


def _table_html(view: TableView, index: int, images: Mapping[str, str]) -> list[str]:
    """``images``: 'grids/<name>' -> CSS class that carries the PNG (each image is embedded once)."""
    out = [f'<div class="wrap"><table class="board" id="table-{index}" data-table="{index}"><thead><tr>']
    for c in view.columns:
        cls = ("text" if not c.numeric else "") + (f" {c.kind}" if c.kind in ("metric", "speed") else "")
        hib = "" if c.hib is None else f' title="{"higher" if c.hib else "lower"} is better"'
        out.append(f'<th class="{cls.strip()}" data-type="{"num" if c.numeric else "text"}"{hib}>{html.escape(c.title)}</th>')
    out.append("</tr></thead><tbody>")
    for rv in view.rows:
        out.append(f'<tr class="{rv.role}" data-label="{html.escape(rv.entry.label)}">')
        for col, cell in zip(view.columns, rv.cells):
            cls = [] if col.numeric else ["text"]
            if col.kind == "label":
                cls.append("label")
            if col.title == "status":
                cls.append("status")
            if col.kind == "samples":
                cls_img = images.get(f"grids/{cell.image}") if cell.image else None
                body = (f'<a href="#{cls_img}"><span class="thumb {cls_img}" role="img" '
                        f'aria-label="samples of {html.escape(rv.entry.label)}"></span></a>' if cls_img else "—")
            elif cell.bold is not None:
                body = f"<strong>{html.escape(cell.bold)}</strong>" + (f": {html.escape(cell.text)}" if cell.text else "")
            else:
                body = html.escape(cell.text)
            title = f' title="{html.escape(cell.title)}"' if cell.title else ""
            out.append(f'<td class="{" ".join(cls)}" data-v="{_sort_attr(cell.sort)}"{title}>{body}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return out


def render_html(
    rows: list[dict[str, Any]],
    views: list[TableView],
    title: str,
    note: str | None,
    made_at: dict[str, Any] | None,
    images: Mapping[str, str | os.PathLike | bytes],
    plots: Mapping[str, bytes],
) -> str:
    """The page. ``images``: 'grids/<name>.png' -> file or bytes; ``plots``: file name -> PNG bytes."""
    grid_bytes: dict[str, bytes] = {}
    for name, src in images.items():
        if isinstance(src, bytes):
            grid_bytes[name] = src
        elif Path(src).is_file():
            grid_bytes[name] = Path(src).read_bytes()
    e = html.escape
    classes = {name: f"g{i}" for i, name in enumerate(sorted(grid_bytes))}
    image_css = "".join(f".{c}{{background-image:url({_data_uri(grid_bytes[n])})}}\n" for n, c in classes.items())
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>", f"<style>{_CSS}{image_css}</style>", "</head>", "<body>",
        f"<h1>{e(title)}</h1>",
    ]
    if note:
        out.append(f"<blockquote>{md_inline(note.strip())}</blockquote>")
    if not rows:
        out += ["<p>No result rows.</p>", "</body>", "</html>", ""]
        return "\n".join(out)
    out.append(f'<p class="note">{md_inline(INTRO)} Click a column header to sort.</p>')
    if len(views) > 1:
        out.append(f'<p class="note">These rows fall into {len(views)} tables because their evaluation protocols '
                   "differ; numbers are comparable only within one table.</p>")
    out.append("<nav>" + "".join(f'<a href="#{e(v.slug)}">{e(v.title)}</a>' for v in views)
               + '<a href="#provenance">provenance</a></nav>')
    for i, v in enumerate(views):
        out.append(f'<h2 id="{e(v.slug)}">{e(v.title)}</h2>')
        if v.reason:
            out.append(f'<p class="reason">{md_inline(v.reason)}</p>')
        out.append(f'<p class="note">{md_inline(v.protocol_text)}</p>')
        if v.budget_text:
            out.append(f'<p class="note">{md_inline(v.budget_text)}</p>')
        if rank_note(v):
            out.append(f'<p class="note">{md_inline(rank_note(v))}</p>')
        out += _table_html(v, i, classes)
        out += [f'<p class="note">{md_inline(line)}</p>' for line in v.footnotes]
        for caption, name in v.plots:
            if name in plots:
                out.append(f'<figure><img src="{_data_uri(plots[name])}" alt="{e(caption)}">'
                           f"<figcaption>{e(caption)}</figcaption></figure>")
        shown = [(rv, classes[f"grids/{c.image}"]) for rv in v.rows for col, c in zip(v.columns, rv.cells)
                 if col.kind == "samples" and c.image and f"grids/{c.image}" in classes]
        if shown:
            out.append(f"<details open><summary>Sample grids ({len(shown)}; the lowest seed of each entry)</summary>"
                       '<div class="grids">')
            for rv, cls in shown:
                seeds = next(c.text for col, c in zip(v.columns, rv.cells) if col.kind == "seeds")
                out.append(f'<figure id="{cls}"><div class="big {cls}" role="img" aria-label="samples of '
                           f'{e(rv.entry.label)}"></div><figcaption>{e(rv.entry.label)}: {e(seeds)}</figcaption></figure>')
            out.append("</div></details>")
    out.append('<h2 id="provenance">Provenance</h2><dl class="prov">')
    for k, val in provenance_items(rows, made_at):
        out.append(f"<dt>{e(k)}</dt><dd>{md_inline(val)}</dd>")
    out.append("</dl>")
    commands = [(r["label"], r["command"]) for r in rows if r.get("command")]
    if commands:
        out.append("<details><summary>Commands that produced the rows</summary><ul>")
        out += [f"<li>{e(label)}: <code>{e(cmd)}</code></li>" for label, cmd in commands]
        out.append("</ul></details>")
    out += [f"<script>{_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(out)
