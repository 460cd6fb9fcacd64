"""reports/html.py, reports/plots.py and the leaderboard manifest / `genbench report --check`.

The quick leaderboard's committed results.jsonl gives real rows to render; the other rows are
FABRICATED TEST DATA (test_aggregate.make_row). The page is parsed with the standard library's
HTMLParser, and, where Debian's chromium is installed, loaded in a real headless browser.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genbench.reports import leaderboard as L
from genbench.reports import plots as P
from test_aggregate import make_row, seeded_rows

QUICK = Path(__file__).resolve().parent.parent / "reports" / "leaderboards" / "quick"


class Page(HTMLParser):
    """Tables (their header titles and body rows' data-label), image sources, scripts, links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.srcs: list[str] = []
        self.external: list[str] = []
        self.ready = False
        self._in_th = self._in_tbody = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "board" in (a.get("class") or ""):
            self.tables.append({"head": [], "labels": [], "cells": []})
        elif tag == "th" and self.tables:
            self._in_th = True
            self.tables[-1]["head"].append("")
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.tables[-1]["labels"].append(a.get("data-label"))
            self.tables[-1]["cells"].append([])
        elif tag == "td" and self._in_tbody:
            self.tables[-1]["cells"][-1].append(a.get("data-v"))
        elif tag == "img":
            self.srcs.append(a.get("src") or "")
        elif tag in ("script", "link", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href"))

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False
        elif tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data):
        if self._in_th:
            self.tables[-1]["head"][-1] += data
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture(scope="module")
def quick_board(tmp_path_factory):
    """The committed quick rows re-rendered (grids copied as a re-render in place has them)."""
    out = tmp_path_factory.mktemp("quick")
    shutil.copytree(QUICK / "grids", out / "grids")
    paths = L.write_leaderboard(L.load_rows(QUICK), out, title="quick", note="a **note**", base_dir=QUICK)
    return out, paths


def test_html_parses_and_contains_every_row(quick_board):
    out, paths = quick_board
    rows = L.dedup_rows(L.load_rows(QUICK))
    page = parse(paths["html"])
    views = L.build_tables(rows)
    # one table per dataset on the quick board (each dataset has its own protocol)
    assert len(page.tables) == len(views) == len({r["dataset"] for r in rows})
    for table, view in zip(page.tables, views):
        assert table["head"][: 4] == ["#", "model", "samples", "seeds"]
        assert sorted(table["labels"]) == sorted(e.label for e in view.entries)
    assert sum(len(t["labels"]) for t in page.tables) == len(rows)  # one seed each: a row per result row
    html = paths["html"].read_text()
    for r in rows:  # every row's headline number is on the page, formatted as in the Markdown
        if r["label"] in ("dcgan", "vae", "gan"):
            key = "fd_mnist" if r["dataset"] == "mnist" else "modes_covered"
            assert f">{L.fmt_num(r['metrics'][key])}<" in html
    # self-contained: images are data URIs (plots as <img>, grids as CSS backgrounds), no external file
    assert page.srcs and all(s.startswith("data:image/png;base64,") for s in page.srcs)
    assert page.external == [] and "url(data:image/png;base64," in html and "http" not in html.split("<body>")[1]
    assert html.count("url(data:image/png;base64,") == len(list((out / "grids").glob("*.png")))
    for needle in ("852c22c766960cfea398765dd83db1ba61c8580a1dc3f8a80db05ea05acc4006", "resize `none`".replace("`", ""),
                   "n_real 500 / n_fake 2,000", "800 steps", "torch 2.", "leaderboard made at", "<strong>note</strong>"):
        assert needle in html.replace("<code>", "").replace("</code>", "")


def test_markdown_links_readable_plots_and_provenance(quick_board):
    out, paths = quick_board
    md = paths["readme"].read_text()
    linked = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    rows = L.dedup_rows(L.load_rows(QUICK))
    with_pr = {r["dataset"] for r in rows if any(k.startswith("precision_") for k in r["metrics"])
               and any(k.startswith("recall_") for k in r["metrics"])}
    # a quality-vs-budget plot per table (one per dataset here), plus precision vs recall where both exist
    assert len(linked) == len(paths["plots"]) == len({r["dataset"] for r in rows}) + len(with_pr)
    for rel in linked:
        with Image.open(out / rel) as im:
            assert im.format == "PNG" and im.size[0] >= 600 and im.size[1] >= 400
    assert "weights sha256 `852c22c766960cfea398765dd83db1ba61c8580a1dc3f8a80db05ea05acc4006`" in md
    assert "leaderboard made at" in md and "genbench report DIR --check" in md
    manifest = json.loads(paths["manifest"].read_text())
    assert set(manifest["files"]) == {"README.md", "leaderboard.csv", "aggregate.csv", "results.jsonl", "index.html"} | {
        f"plots/{p.name}" for p in paths["plots"]}


def test_multi_seed_page_shows_intervals_ranks_and_curves(tmp_path):
    rng = np.random.default_rng(0)
    rows = seeded_rows("a", 10.0, 0.3, 3, rng) + seeded_rows("b", 10.1, 0.3, 3, rng) + [make_row("c", fd=30.0)]
    for i, r in enumerate(rows[:3]):
        r["curve"] = [{"step": s, "kimg": s * 0.064, "wall_s": s / 10, "metric": 100.0 / (1 + s / 50) + i,
                       "metrics": {"fd_mnist": 100.0 / (1 + s / 50) + i}, "eval_s": 0.5}  # bench/interval.py's points
                      for s in (0, 50, 100, 200)]
    paths = L.write_leaderboard(rows, tmp_path / "b", title="seeds")
    page = parse(paths["html"])
    (table,) = page.tables
    assert table["labels"] == ["a", "b", "c"] or table["labels"] == ["b", "a", "c"]
    html = paths["html"].read_text()
    assert ">1=<" in html and " ± " in html and "not separable from" in table["head"]
    assert P.curve_points(rows[0], "fd_mnist")[1] == pytest.approx((3.2, 5.0, 100.0 / 2))
    assert P.curve_points({"curve": [{"kimg": 1, "wall_s": 2, "fd_mnist": 2.0}]}, "fd_mnist") == [(1.0, 2.0, 2.0)]
    assert P.curve_points({"curve": [{"kimg": 1, "wall_s": None, "fd_mnist": 2.0}, "junk"]}, "fd_mnist") == []
    views = L.build_tables(rows)
    with_curves = P.budget_plot(views[0].entries, "fd_mnist", False, "t")
    for r in rows:
        r.pop("curve", None)
    without = P.budget_plot(L.build_tables(rows)[0].entries, "fd_mnist", False, "t")
    assert with_curves != without  # the curves are drawn
    with Image.open(io.BytesIO(with_curves)) as im:
        assert im.size[0] > 800


def test_check_says_when_a_leaderboard_is_stale(tmp_path, capsys):
    head = L.current_commit()
    if head["commit"] is None:
        pytest.skip("not a git checkout")
    rows = [make_row("x", fd=1.0, prec=0.5), make_row("y", fd=2.0, prec=0.4)]
    for r in rows:
        r["git_commit"] = head["commit"]
    board = tmp_path / "board"
    L.write_leaderboard(rows, board, title="t", note="n")
    res = L.check_leaderboard(board)
    assert res["render"] == [] and res["results"] == [] and res["stale"] is False  # same bytes when re-rendered
    (board / "README.md").write_text((board / "README.md").read_text() + "\nhand edit\n")
    m = json.loads((board / "leaderboard.json").read_text())
    older = b"table,label\n1,x\n"  # as if an older renderer had written another file, and recorded it
    (board / "aggregate.csv").write_bytes(older)
    m["files"]["aggregate.csv"] = hashlib.sha256(older).hexdigest()
    (board / "leaderboard.json").write_text(json.dumps(m))
    res = L.check_leaderboard(board)
    assert res["stale"] and res["render"] == ["README.md: edited after rendering",
                                              "aggregate.csv: the renderer now writes it differently"]
    from genbench.bench.cli import main

    assert main(["report", str(board), "--check"]) == 1
    assert "stale rendering: README.md: edited after rendering" in capsys.readouterr().out
    rows[0]["git_commit"] = "f" * 40  # rows made at a commit this repository lacks
    L.write_leaderboard(rows, board, title="t", note="n")
    res = L.check_leaderboard(board)
    assert res["render"] == [] and res["results"] == ["rows made at ffffffffff, a commit this repository does not have"]
    assert main(["report", str(board / "none"), "--check"]) == 2
    assert "has no leaderboard.json" in capsys.readouterr().err
    # re-rendering in place keeps the recorded title and note; --out is needed without --check
    assert main(["report", str(board), "--out", str(board), "--no-html"]) == 0
    assert (board / "README.md").read_text().startswith("# t\n\n> n")
    assert main(["report", str(board)]) == 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_page_in_headless_chromium_sorts(quick_board):
    out, paths = quick_board
    page = parse(paths["html"])
    col = page.tables[0]["head"].index("fd_mnist ↓")
    res = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         paths["html"].resolve().as_uri() + f"#sort=0:{col}:desc"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    dom = Page()
    dom.feed(res.stdout)
    assert 'data-ready="1"' in res.stdout  # the page's script ran without error up to its end
    table = dom.tables[0]
    values = [float(c[col]) for c in table["cells"]]
    served = page.tables[0]
    worst = max(zip(served["labels"], served["cells"]), key=lambda lc: float(lc[1][col]))[0]  # the largest FD
    assert values == sorted(values, reverse=True) and table["labels"][0] == worst
    assert sorted(table["labels"]) == sorted(page.tables[0]["labels"])


def test_number_paths_leave_out_front_ends_and_executors(tmp_path):
    """The staleness pathspec, applied by git itself to a scratch repository: a change to the CLI,
    the sweep or its executors keeps a board current; one to the loop or a metric does not."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    files = ["bench/cli.py", "bench/sweep_cli.py", "bench/sweep.py", "bench/executors.py", "bench/train.py",
             "metrics/kid.py", "reports/html.py", "README.md"]
    git("init", "-q")
    git("config", "user.email", "t@t"), git("config", "user.name", "t")
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("a\n")
    git("add", "-A"), git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD").strip()
    for f in files:
        (tmp_path / f).write_text("b\n")
    git("commit", "-qam", "two")
    changed = git("diff", "--name-only", first, "HEAD", "--", *L.NUMBER_PATHS).split()
    assert changed == ["bench/train.py", "metrics/kid.py"]


def test_infinite_values_sort_as_numbers(tmp_path):
    """An untrained toy model's reverse KL is inf: the page's sort key must read back as a
    number in JS (parseFloat('inf') is NaN, which the script sorts as missing)."""
    from genbench.reports.html import _sort_attr

    assert [_sort_attr(float("inf")), _sort_attr(float("-inf")), _sort_attr(2.5)] == ["Infinity", "-Infinity", "2.5"]
    rows = [make_row("gan", metrics={"reverse_kl": 0.5}), make_row("untrained (gan)", kind="reference",
                                                                   metrics={"reverse_kl": float("inf")})]
    for r in rows:
        r["higher_is_better"]["reverse_kl"] = False
    page = parse(L.write_leaderboard(rows, tmp_path / "b", title="t")["html"])
    col = page.tables[0]["head"].index("reverse_kl ↓")
    values = dict(zip(page.tables[0]["labels"], (c[col] for c in page.tables[0]["cells"])))
    assert values == {"gan": "0.5", "untrained (gan)": "Infinity"}
    if shutil.which("node"):  # the page's own parser
        res = subprocess.run(["node", "-e", "console.log(JSON.stringify(['Infinity', '-Infinity'].map(parseFloat)"
                              ".map(x => [isNaN(x), x > 1e308, x < -1e308])))"], capture_output=True, text=True, timeout=60)
        assert json.loads(res.stdout) == [[False, True, False], [False, False, True]]


def test_skipped_marker_cell_has_its_reason(tmp_path):
    """HTML shows 'skipped' with the marker as the cell's title and a note under the table."""
    rows = [make_row("dcgan", fd=12.0, metrics={"lpips_diversity_alex": "skipped: weights absent"})]
    html = L.write_leaderboard(rows, tmp_path / "b", title="t")["html"].read_text()
    assert '<td class="" data-v="" title="skipped: weights absent">skipped</td>' in html
    assert "<p class=\"note\"><em>skipped</em> (in <code>lpips_diversity_alex</code>)" in html
