"""reports/: sample grids, point plots and leaderboards.

All rows here are FABRICATED TEST DATA (made-up numbers, hashes and commits); they test the
rendering, not any model.
"""

from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genbench.reports import grids as G
from genbench.reports import leaderboard as L

SHA_A = "a" * 64
SHA_B = "b" * 64


def make_row(label, *, kind="run", status="ok", fd=None, prec=None, spec_hash=None, sha=SHA_A,
             n_fake=2000, seed=0, grid=None, run_dir=None, error=None, created_at="2025-01-01T00:00:00"):
    """A fabricated result row with every documented key."""
    metrics = {}
    if fd is not None:
        metrics["fd_mnist"] = fd
    if prec is not None:
        metrics["precision_mnist"] = prec
    row = {
        "label": label, "kind": kind, "baseline": label.split(" ")[0], "dataset": "mnist",
        "seed": seed, "eval_seed": 1, "split": "test", "spec_hash": spec_hash or f"hash-{label}-{seed}",
        "git_commit": "0123456789abcdef", "git_dirty": False, "status": status, "error": error,
        "steps": 200, "kimg": 12.8, "wall_seconds": 31.41592, "stopped_by": "steps",
        "train_img_per_s": 407.5, "sample_img_per_s": 9000.0, "peak_mem_bytes": None,
        "device": "cpu", "threads": 2, "metrics": metrics,
        "higher_is_better": {"fd_mnist": False, "precision_mnist": True},
        "metric_seconds": 1.5, "n_real": 500 if status == "ok" else None,
        "n_fake": n_fake if status == "ok" else None,
        "extractor": "mnist-lenet" if status == "ok" else None,
        "extractor_sha256": sha if status == "ok" else None,
        "protocol": {"extractor": "mnist-lenet", "n_fake": n_fake, "n_real": None, "split": "test",
                     "pr_k": 3, "is_splits": 10},
        "budget": {"max_steps": 200, "max_kimg": None, "max_wall_seconds": None},
        "versions": {"genbench": "0.1.0", "torch": "2.x"}, "command": f"genbench run {label}",
        "sample_grid": grid, "created_at": created_at,
    }
    if run_dir is not None:
        row["run_dir"] = str(run_dir)
    return row


@pytest.fixture
def rows(tmp_path):
    """real data, two runs, a failed run, untrained, and one row under another extractor sha."""
    out = []
    for label in ("dcgan", "vae", "real data"):
        run_dir = tmp_path / "runs" / label.replace(" ", "_")
        run_dir.mkdir(parents=True)
        G.save_image_grid(np.full((4, 1, 3, 3), 200, np.uint8), run_dir / "samples.png")
        out.append((label, run_dir))
    dcgan, vae, real = out
    return [
        make_row("dcgan", fd=12.3456, prec=0.71, grid="samples.png", run_dir=dcgan[1]),
        make_row("vae", fd=45.678, prec=0.5, grid="samples.png", run_dir=vae[1]),
        make_row("untrained (dcgan)", kind="reference", fd=312.5, prec=0.0),
        make_row("real data", kind="reference", fd=0.5123, prec=0.8, grid="samples.png", run_dir=real[1]),
        make_row("wgan", status="failed", error="RuntimeError: CUDA | out of memory"),
        make_row("began", fd=9.0, sha=SHA_B),  # other extractor weights: its own table
    ]


# --- grids ------------------------------------------------------------------------------
def test_grid_pixels_grayscale(tmp_path):
    imgs = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 1, 2, 3) * 10
    path = G.save_image_grid(imgs, tmp_path / "g.png", nrow=2, padding=1)
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (2 * 3 + 3, 2 * 2 + 3)  # (W, H)
        a = np.asarray(im)
    assert (a[0] == 0).all() and (a[:, 0] == 0).all()  # padding
    assert np.array_equal(a[1:3, 1:4], imgs[0, 0])
    assert np.array_equal(a[1:3, 5:8], imgs[1, 0])
    assert np.array_equal(a[4:6, 1:4], imgs[2, 0])
    assert np.array_equal(a[4:6, 5:8], imgs[3, 0])


def test_grid_rgb_default_nrow_and_partial_row(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)
    path = G.save_image_grid(imgs, tmp_path / "sub" / "g.png")  # creates the folder
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (3 * 6 + 2, 2 * 6 + 2)  # ceil(sqrt(5)) = 3 per row
        a = np.asarray(im)
    assert np.array_equal(a[8:12, 2:6], imgs[3].transpose(1, 2, 0))
    assert (a[8:12, 14:18] == 0).all()  # the sixth tile is empty
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_grid_accepts_torch_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.full((2, 1, 2, 2), 9, dtype=torch.uint8)
    assert G.make_grid(x, padding=0).tolist() == [[9, 9, 9, 9], [9, 9, 9, 9]]


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((2, 1, 4, 4), np.float32), "uint8"),
        (np.zeros((1, 4, 4), np.uint8), "shape"),
        (np.zeros((2, 2, 4, 4), np.uint8), "C in"),
        (np.zeros((0, 1, 4, 4), np.uint8), "N >= 1"),
        ([[1, 2]], "numpy array"),
    ],
)
def test_grid_bad_input_writes_nothing(tmp_path, bad, match):
    with pytest.raises(G.GridError, match=match):
        G.save_image_grid(bad, tmp_path / "g.png")
    assert not list(tmp_path.iterdir())


def test_points_plot(tmp_path):
    modes = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    pts = (modes[np.arange(400) % 8] + 0.01 * np.random.default_rng(0).standard_normal((400, 2))).astype(np.float32)
    path = G.save_points_plot(pts, tmp_path / "p.png", modes=modes.astype(np.float32), size=128)
    with Image.open(path) as im:
        assert im.size == (128, 128) and im.mode == "RGB"
        a = np.asarray(im).astype(int)
    blue = (a[..., 2] > 150) & (a[..., 0] < 100)
    red = (a[..., 0] > 150) & (a[..., 2] < 100)
    assert blue.sum() > 50 and red.sum() > 8
    assert (a[64, 64] == 255).all()  # nothing at the centre of the ring


def test_points_plot_torch_and_no_modes(tmp_path):
    torch = pytest.importorskip("torch")
    pts = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    path = G.save_points_plot(pts, tmp_path / "p.png", modes=torch.tensor([[0.0, 0.0]]))
    with Image.open(path) as im:  # one mode has no extent: a view of +-1.3 around it, 1 point outside
        assert im.size == (256, 256)
    G.save_points_plot(pts.double(), tmp_path / "q.png")  # no modes: the view fits the points


@pytest.mark.parametrize(
    "pts,match",
    [
        (np.zeros((3, 2), np.int64), "float"),
        (np.zeros((3, 3), np.float32), "shape"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
    ],
)
def test_points_plot_bad_input(tmp_path, pts, match):
    with pytest.raises(G.GridError, match=match):
        G.save_points_plot(pts, tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


# --- leaderboard ------------------------------------------------------------------------
def test_leaderboard_markdown(tmp_path, rows):
    paths = L.write_leaderboard(rows, tmp_path / "board", title="Test board", note="quick smoke-level budget, not a ranking of methods")
    md = paths["readme"].read_text()
    assert md.startswith("# Test board\n\n> quick smoke-level budget, not a ranking of methods")
    assert "fd_mnist ↓" in md and "precision_mnist ↑" in md
    assert "**Protocol:**" in md and "extractor `mnist-lenet` (weights sha256 `aaaaaaaaaaaa…`)" in md
    assert "n_real = 500, n_fake = 2,000" in md and "reference split `test`" in md
    assert "**Budget:** 200 steps" in md
    # two protocols -> two tables, with the reason
    assert md.count("| # | model |") == 2
    assert "fall into 2 tables" in md and "differs in extractor_sha256 (`bbbbbbbbbbbb…` here" in md
    assert "## mnist: mnist-lenet, n_fake 2,000 vs n_real 500 (test split) [extractor_sha256 bbbbbbbbbbbb…]" in md
    first, second = md.split("Not ranked with the first table")
    assert "began" not in first and "began" in second
    # order: real data, ranked runs (lower fd first), failed, untrained last
    table = [line for line in first.splitlines() if line.startswith("| ")][1:]
    labels = [line.split(" | ")[1] for line in table]
    assert labels == ["*real data*", "**dcgan**", "**vae**", "wgan", "*untrained (dcgan)*"]
    assert table[1].startswith("| 1 |") and table[2].startswith("| 2 |") and table[0].startswith("| ref |")
    assert "| 12.35 | 0.7100 |" in table[1]  # 4 significant digits
    assert "| 31.4 |" in table[1] and "| 407.5 |" in table[1] and "| 12.80 |" in table[1]
    # failed row: status and error (pipes escaped) instead of metrics
    assert "**failed**: RuntimeError: CUDA \\| out of memory" in table[3]
    assert "| — | — |" in table[3] and "| 2 |" not in table[3]
    # thumbnails link to copied grids
    assert '[<img src="grids/dcgan.png" width="64" alt="samples">](grids/dcgan.png)' in md
    assert "grids/real-data.png" in md
    assert "0123456789 " not in md and "0123456789" in md  # commit prefix in provenance


def test_leaderboard_grids_copied(tmp_path, rows):
    paths = L.write_leaderboard(rows, tmp_path / "board", title="t")
    names = sorted(p.name for p in paths["grids"])
    assert names == ["dcgan.png", "real-data.png", "vae.png"]
    for p in paths["grids"]:
        with Image.open(p) as im:
            assert im.size == (3 * 2 + 2 * 3, 3 * 2 + 2 * 3)
    assert not list((tmp_path / "board").rglob("*.tmp"))


def test_leaderboard_csv_columns(tmp_path, rows):
    paths = L.write_leaderboard(rows, tmp_path / "board", title="t")
    df = pd.read_csv(paths["csv"])
    cols = list(df.columns)
    assert cols[:9] == list(L.FRONT_COLUMNS)
    assert cols[9:11] == ["fd_mnist", "precision_mnist"]
    for c in ("budget.max_steps", "protocol.extractor", "protocol.pr_k", "versions.torch",
              "higher_is_better.fd_mnist", "spec_hash", "git_commit", "train_img_per_s"):
        assert c in cols
    assert len(df) == len(rows)
    assert df.set_index("label").loc["dcgan", "fd_mnist"] == pytest.approx(12.3456)
    assert np.isnan(df.set_index("label").loc["wgan", "fd_mnist"])


def test_leaderboard_dedup(tmp_path, rows):
    newer = copy.deepcopy(rows[0])
    newer["metrics"]["fd_mnist"] = 11.0
    newer["created_at"] = "2025-02-01T00:00:00"
    older = copy.deepcopy(rows[1])
    older["metrics"]["fd_mnist"] = 99.0
    older["created_at"] = "2024-01-01T00:00:00"
    paths = L.write_leaderboard(rows + [newer, older, copy.deepcopy(rows[2])], tmp_path / "board", title="t")
    back = L.load_rows(paths["jsonl"])
    assert len(back) == len(rows)
    by = {r["label"]: r for r in back}
    assert by["dcgan"]["metrics"]["fd_mnist"] == 11.0  # the newest row wins
    assert by["vae"]["metrics"]["fd_mnist"] == 45.678  # an older repeat does not replace it
    assert len({(r["spec_hash"], r["label"]) for r in back}) == len(back)
    assert len(pd.read_csv(paths["csv"])) == len(rows)


def test_dedup_keeps_the_latest_code_row_of_a_seed():
    """A rerun after a code edit has a new spec hash (the code fingerprint is in it) next to the old
    row: the same label, entry, seed and eval_seed. Only the newest is kept, so that it is not
    pooled with the old code's row as a second 'seed'; other seeds and eval seeds still pool."""
    from genbench.reports.aggregate import entries_of
    from genbench.reports.compare import _sides

    def row(seed, eval_seed, spec_hash, fd, created_at):
        r = make_row("dcgan", fd=fd, seed=seed, spec_hash=spec_hash, created_at=created_at)
        r["eval_seed"] = eval_seed
        r["spec"] = {"baseline": "dcgan", "dataset": "mnist", "seed": seed, "eval_seed": eval_seed,
                     "overrides": {"lr": 2e-4}, "budget": r["budget"], "protocol": r["protocol"], "device": "cpu"}
        return r

    old0 = row(0, 1, "old-code-s0", 20.0, "2025-01-01T00:00:00")
    new0 = row(0, 1, "new-code-s0", 10.0, "2025-02-01T00:00:00")
    new1 = row(1, 1, "new-code-s1", 12.0, "2025-02-01T00:00:01")
    other_eval = row(0, 2, "new-code-s0-e2", 11.0, "2025-01-15T00:00:00")
    for rows in ([old0, new0, new1], [new0, old0, new1], [new1, new0, old0]):
        kept = L.dedup_rows(copy.deepcopy(rows))
        assert sorted(r["spec_hash"] for r in kept) == ["new-code-s0", "new-code-s1"]
        (entry,) = entries_of(kept)
        assert entry.seeds == [0, 1] and sorted(entry.values("fd_mnist")) == [10.0, 12.0]
        (side,) = _sides(copy.deepcopy(rows))  # what `genbench compare` sees
        assert sorted(side.entry.values("fd_mnist")) == [10.0, 12.0]
    # another evaluation seed is another draw, not a stale row; another config is another entry
    wider = row(0, 1, "new-code-wide", 9.0, "2025-03-01T00:00:00")
    wider["spec"]["overrides"] = {"lr": 1e-3}
    kept = L.dedup_rows([old0, new0, other_eval, wider])
    assert [r["spec_hash"] for r in kept] == ["new-code-s0", "new-code-s0-e2", "new-code-wide"]
    # scored with other extractor weights (their sha is in the spec hash): another table, kept
    weights_b = dict(row(0, 1, "new-code-s0-weights-b", 7.0, "2025-04-01T00:00:00"), extractor_sha256=SHA_B)
    assert [r["spec_hash"] for r in L.dedup_rows([old0, new0, weights_b])] == ["new-code-s0", "new-code-s0-weights-b"]
    # the same (spec_hash, label) is as before: the newest wins, an older repeat does not replace it
    again = dict(new0, created_at="2024-12-01T00:00:00", metrics={"fd_mnist": 99.0})
    assert L.dedup_rows([new0, again]) == [new0]
    newest = dict(new0, created_at="2025-05-01T00:00:00", metrics={"fd_mnist": 8.0})
    assert L.dedup_rows([new0, newest, new1]) == [newest, new1]


def test_report_from_results_file_and_rerender(tmp_path, rows):
    runs = tmp_path / "runs"
    for r in rows:  # run_dir relative to the results file, as a moved runs/ folder has it
        if "run_dir" in r:
            r["run_dir"] = str(r["run_dir"]).replace(str(runs) + "/", "")
    (runs / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    board = tmp_path / "board"
    paths = L.report(runs, board, title="From file", note="a note")
    assert len(paths["grids"]) == 3
    assert "# From file" in paths["readme"].read_text()
    # re-render the board from its own results.jsonl: the grids already there stay linked
    again = L.report(board / "results.jsonl", board, title="From file", note="a note")
    assert again["readme"].read_text() == paths["readme"].read_text()


def test_missing_grid_and_failed_without_protocol(tmp_path):
    rows = [
        make_row("dcgan", fd=1.0, grid="samples.png", run_dir=tmp_path / "gone"),
        make_row("wgan", status="diverged", error="loss is NaN at step 57"),
    ]
    paths = L.write_leaderboard(rows, tmp_path / "b", title="t")
    md = paths["readme"].read_text()
    assert md.count("| # | model |") == 1  # the diverged row joins the table its fields match
    line = next(x for x in md.splitlines() if x.startswith("| — | wgan"))
    assert "**diverged**: loss is NaN at step 57" in line
    assert paths["grids"] == [] and "<img" not in md  # a grid that is gone: no thumbnail, no crash


def test_load_rows_errors(tmp_path):
    with pytest.raises(L.ReportError, match="no result rows"):
        L.load_rows(tmp_path)
    (tmp_path / "results.jsonl").write_text('{"label": "a"}\nnot json\n')
    with pytest.raises(L.ReportError, match=r"results.jsonl:2"):
        L.load_rows(tmp_path)
    (tmp_path / "results.jsonl").write_text('{"kind": "run"}\n')
    with pytest.raises(L.ReportError, match="label"):
        L.load_rows(tmp_path)


def test_empty_rows(tmp_path):
    paths = L.write_leaderboard([], tmp_path / "b", title="Empty")
    assert "No result rows." in paths["readme"].read_text()


def test_fmt_num():
    assert L.fmt_num(0.51234) == "0.5123"
    assert L.fmt_num(float("nan")) == "nan"
    assert L.fmt_num(123456) == "123,456"
    assert L.fmt_num(None) == "—"


def test_reports_import_no_model_code():
    import subprocess

    code = (
        "import sys, genbench.reports, genbench.reports.leaderboard, genbench.reports.grids;"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('genbench.bench', "
        "'genbench.baselines', 'genbench.metrics'))]; print(bad); sys.exit(bool(bad))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_headline_metric_leads_whatever_the_json_key_order():
    """Rows re-read from disk have alphabetically sorted metrics; FD must still lead and rank."""
    from genbench.reports.leaderboard import render_markdown

    def row(label, fd, cov):
        return {"label": label, "kind": "run", "status": "ok", "spec_hash": label, "dataset": "mnist",
                "metrics": {"coverage_mnist": cov, "fd_mnist": fd, "kid_mnist": fd / 10, "kid_mnist_std": 0.01},
                "higher_is_better": {"coverage_mnist": True, "fd_mnist": False, "kid_mnist": False}}

    text = render_markdown([row("good-fd", 1.0, 0.1), row("good-cov", 9.0, 0.9)], title="t")
    header = next(line for line in text.splitlines() if line.startswith("| # |"))
    assert header.index("fd_mnist") < header.index("kid_mnist") < header.index("kid_mnist_std") < header.index("coverage_mnist")
    assert text.index("good-fd") < text.index("good-cov")


# --- which metric ranks a table ---------------------------------------------------------------
SKIPPED = "skipped: weights absent"


def task_row(label, metrics, *, kind="run", dataset="skimage-style", extractor="vgg19", hib=None, translation=None):
    """A fabricated one-seed row of a non-generative task (style transfer, image-to-image)."""
    row = {
        "label": label, "kind": kind, "status": "ok", "dataset": dataset, "baseline": label, "seed": 0,
        "spec_hash": label, "extractor": extractor, "extractor_sha256": SHA_A, "n_real": 90, "n_fake": 90,
        "resize_mode": "none", "protocol": {"extractor": extractor, "n_fake": 90, "split": "test", "pr_k": 3, "is_splits": 10},
        "spec": {"baseline": label, "seed": 0, "overrides": {}}, "metrics": metrics,
        "higher_is_better": hib if hib is not None else {k: False for k in metrics},
    }
    if translation is not None:
        row["translation"] = translation
    return row


def style_rows():
    """A near-copy model (tiny LPIPS to the content image, large style loss), a real stylist, and a
    model scored with a custom loss VGG (its losses named '-custom', its LPIPS not)."""
    return [
        task_row("content (copy)", {"content_loss_vgg19": 0.0, "style_loss_vgg19": 60.0, "lpips_content_alex": 0.0,
                                    "ms_per_image": 0.0}, kind="reference"),
        task_row("lazy", {"content_loss_vgg19": 0.01, "style_loss_vgg19": 50.0, "lpips_content_alex": 0.01, "ms_per_image": 1.0}),
        task_row("good", {"content_loss_vgg19": 2.0, "style_loss_vgg19": 5.0, "lpips_content_alex": 0.45, "ms_per_image": 1.0}),
        task_row("custom-vgg", {"content_loss_vgg19-custom": 1.0, "style_loss_vgg19-custom": 1.0,
                                "lpips_content_alex": 0.005, "ms_per_image": 1.0}),
    ]


def test_style_transfer_table_is_ranked_by_style_loss():
    """A style table ranks by style_loss_<vgg>, never by LPIPS to the content image (which a model
    that barely stylises wins) nor by a custom VGG's loss; the note names the metric used."""
    (view,) = L.build_tables(style_rows())
    assert view.metric == "style_loss_vgg19"
    ranks = {rv.entry.label: rv.cells[0].text for rv in view.rows}
    assert ranks == {"content (copy)": "ref", "good": "1", "lazy": "2", "custom-vgg": L.DASH}
    assert [c.title for c in view.columns if c.kind == "metric"][0] == "style_loss_vgg19 ↓"  # it leads
    assert L.rank_note(view).startswith("Ranked by `style_loss_vgg19`.")
    # without LPIPS weights: still ranked by the style loss
    rows = style_rows()
    for r in rows:
        r["metrics"]["lpips_content_alex"] = SKIPPED
    assert L.build_tables(rows)[0].metric == "style_loss_vgg19"
    # no official style loss anywhere: not ranked at all (content metrics would reward not stylising)
    rows = [r for r in style_rows() if r["label"] in ("content (copy)", "custom-vgg")]
    (view,) = L.build_tables(rows)
    assert view.metric is None and all(rv.cells[0].text in ("ref", L.DASH) for rv in view.rows)
    assert L.rank_note(view).startswith("Not ranked") and "Ranked by" not in L.rank_note(view)


def test_skipped_and_custom_metrics_never_rank():
    """The first metric in METRIC_ORDER holds the 'skipped' marker in every row (FD without its
    weights) or is of custom weights: the table ranks by the first metric that has a number."""
    def paired(label, psnr, ssim, l1):
        m = {"fd_inception": SKIPPED, "psnr": psnr, "ssim": ssim, "l1": l1, "lpips_alex": SKIPPED}
        return task_row(label, m, dataset="gray2color", extractor="mnist-lenet",
                        hib={"psnr": True, "ssim": True, "l1": False}, translation={"task": "paired"})

    (view,) = L.build_tables([paired("cyclegan", 18.0, 0.55, 0.12), paired("pix2pix", 24.0, 0.8, 0.05)])
    assert view.metric == "psnr"
    assert [(rv.cells[0].text, rv.entry.label) for rv in view.rows] == [("1", "pix2pix"), ("2", "cyclegan")]
    note = L.rank_note(view)
    assert note.startswith("Ranked by `psnr`.") and "`fd_inception` holds “skipped: weights absent”" in note

    def custom(label, fd, prec):
        return {"label": label, "kind": "run", "status": "ok", "spec_hash": label, "dataset": "mnist",
                "metrics": {"fd_mnist-custom": fd, "precision_mnist": prec},
                "higher_is_better": {"fd_mnist-custom": False, "precision_mnist": True}}

    (view,) = L.build_tables([custom("a", 1.0, 0.2), custom("b", 9.0, 0.9)])
    assert view.metric == "precision_mnist" and view.rows[0].entry.label == "b"
    assert "custom weights" in L.rank_note(view)


def i2i_row(label, domains_sha, fd):
    """An unpaired translation row: fd_domains_ab is made with the digit-domains classifier."""
    exts = {"digit-domains": {"extractor": "digit-domains", "weights_sha256": domains_sha},
            "mnist-lenet": {"extractor": "mnist-lenet", "weights_sha256": SHA_A}}
    return task_row(label, {"fd_domains_ab": fd}, dataset="digits2textured", extractor="mnist-lenet",
                    translation={"task": "unpaired", "extractors": exts})


def test_rows_scored_with_other_domain_classifier_weights_are_not_ranked_together():
    a, b = i2i_row("old-classifier", "c" * 64, 0.9), i2i_row("new-classifier", "d" * 64, 0.5)
    assert L.protocol_of(a) != L.protocol_of(b)
    views = L.build_tables([a, b])
    assert len(views) == 2 and [[e.label for e in v.entries] for v in views] == [["old-classifier"], ["new-classifier"]]
    assert "translation extractors `digit-domains` (weights sha256 `cccccccccccc…`)" in views[0].protocol_text
    assert "translation extractors `digit-domains` (weights sha256 `dddddddddddd…`)" in views[1].protocol_text
    assert "translation_extractors (`digit-domains dddddddddddd…" in views[1].reason
    # the same weights: one table, ranked together
    (view,) = L.build_tables([a, i2i_row("other", "c" * 64, 0.5)])
    assert [rv.entry.label for rv in view.rows] == ["other", "old-classifier"]


def test_committed_quick_board_renders_with_its_domain_extractor():
    """The committed quick rows still render, and the unpaired / multi-domain tables name the
    digit-domains weights their ranking metric was made with."""
    from pathlib import Path

    board = Path(__file__).resolve().parent.parent / "reports" / "leaderboards" / "quick"
    rows = L.dedup_rows(L.load_rows(board))
    views = L.build_tables(rows)
    by_dataset = {v.proto["dataset"]: v for v in views}
    for ds in ("digits2textured", "digit-domains"):
        sha = next(r for r in rows if r["dataset"] == ds)["translation"]["extractors"]["digit-domains"]["weights_sha256"]
        assert f"`digit-domains` (weights sha256 `{sha[:12]}…`)" in by_dataset[ds].protocol_text
        assert by_dataset[ds].metric.startswith("fd_domains")
    assert by_dataset["mnist"].metric == "fd_mnist" and by_dataset["edges2digits"].metric == "fd_mnist"
    assert by_dataset["ring8"].metric == "modes_covered"
    assert "translation extractors" not in by_dataset["mnist"].protocol_text
    assert "## digits2textured" in L.render_markdown(rows, "quick", views=views)


def test_skipped_marker_is_shown_not_a_dash(tmp_path):
    """A row holding "skipped: weights absent" shows 'skipped' (and the marker under the table);
    '—' stays for a metric the row does not have."""
    rows = [make_row("dcgan", fd=12.0), make_row("vae", fd=20.0)]
    rows[0]["metrics"]["lpips_diversity_alex"] = SKIPPED
    rows[1]["metrics"]["lpips_diversity_alex"] = SKIPPED
    rows[0]["metrics"]["class_acc_mnist"] = 0.9  # vae has no class accuracy: not applicable
    md = L.write_leaderboard(rows, tmp_path / "b", title="t", html=False)["readme"].read_text()
    lines = md.splitlines()
    head = next(x for x in lines if x.startswith("| # |")).split(" | ")
    cells = {x.split(" | ")[1]: x.split(" | ") for x in lines if x.startswith("| 1 |") or x.startswith("| 2 |")}
    lp, acc = head.index("lpips_diversity_alex"), head.index("class_acc_mnist")
    assert cells["**dcgan**"][lp] == "skipped" and cells["**vae**"][lp] == "skipped"
    assert cells["**dcgan**"][acc] == "0.9000" and cells["**vae**"][acc] == L.DASH
    assert "*skipped* (in `lpips_diversity_alex`): the row holds “skipped: weights absent” instead of a number" in md


def test_rewriting_a_board_removes_the_grids_and_plots_it_no_longer_shows(rows, tmp_path):
    """grids/ and plots/ belong to the writer: a file an earlier rendering left (a row that is gone,
    a grid name that changed with its spec hash) is removed, not shipped unreferenced."""
    board = tmp_path / "board"
    paths = L.write_leaderboard(rows, board, title="t")
    (board / "grids" / "old-run-0123abcd.png").write_bytes(b"png")
    (board / "plots" / "gone.png").write_bytes(b"png")
    again = L.write_leaderboard(L.load_rows(board), board, title="t")
    left = sorted(p.name for p in (board / "grids").glob("*.png"))
    assert left == sorted(p.name for p in paths["grids"]) and left
    assert not (board / "plots" / "gone.png").exists() and all(p.exists() for p in again["plots"])
    readme = (board / "README.md").read_text()
    assert all(f"grids/{name}" in readme for name in left)
