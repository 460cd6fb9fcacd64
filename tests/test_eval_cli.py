"""`genbench ref` and `genbench eval`: same numbers from every input format, provenance, bad input -> exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.bench.cli import main
from genbench.bench.datasets import load_dataset
from genbench.bench.evaluation import evaluate, make_reference, reference_subset
from genbench.metrics import FeatureStats, compute_metrics, load_extractor


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    """The embedded test digits (REAL) and noisy val digits (FAKE) as .npy, NHWC .npz and PNG folders."""
    root = tmp_path_factory.mktemp("digits")
    data = load_dataset("mnist")
    real = data.split("test").x.numpy()  # uint8 (500, 1, 28, 28)
    val = data.split("val").x.numpy()[:300].astype(np.int16)
    noise = np.random.default_rng(0).integers(-40, 41, size=val.shape)
    fake = np.clip(val + noise, 0, 255).astype(np.uint8)
    paths = {"real_npy": root / "real.npy", "fake_npy": root / "fake.npy", "fake_nhwc": root / "fake_nhwc.npz",
             "real_png": root / "real_png", "fake_png": root / "fake_png", "fake_nhw": root / "fake_nhw.npy"}
    np.save(paths["real_npy"], real)
    np.save(paths["fake_npy"], fake)
    np.savez(paths["fake_nhwc"], images=fake.transpose(0, 2, 3, 1))
    np.save(paths["fake_nhw"], fake[:, 0])
    for key, arr in (("real_png", real), ("fake_png", fake)):
        paths[key].mkdir()
        for i, img in enumerate(arr):
            Image.fromarray(img[0], mode="L").save(paths[key] / f"{i:04d}.png")
    return paths


def _eval_json(capsys, *args: str) -> dict:
    assert main(["eval", *map(str, args), "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object on stdout


def _fails(capsys, argv: list[str], message: str) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    return err


def test_eval_same_numbers_from_npy_png_nhwc_and_ref(digits, capsys, tmp_path) -> None:
    base = _eval_json(capsys, digits["real_npy"], digits["fake_npy"])
    assert set(base["metrics"]) == {"fd_mnist", "kid_mnist", "kid_mnist_std", "is_mnist", "is_mnist_std",
                                    "precision_mnist", "recall_mnist", "density_mnist", "coverage_mnist"}
    assert base["higher_is_better"]["fd_mnist"] is False and base["higher_is_better"]["kid_mnist"] is False
    assert base["n_real"] == 500 and base["n_fake"] == 300 and base["extractor"] == "mnist-lenet"
    assert base["weights_sha256"] == load_extractor("mnist-lenet").weights_sha256 and base["resize_mode"] == "none"
    assert base["settings"]["kid_subset_size"] == 300 and base["settings"]["kid_subsets"] == 100
    assert base["seconds"] > 0 and base["fake"]["layout"] == "NCHW"
    assert base["metrics"]["fd_mnist"] > 0.5  # noise is visible to the classifier
    for real, fake, layout in ((digits["real_png"], digits["fake_png"], "folder"),
                               (digits["real_npy"], digits["fake_nhwc"], "NHWC"),
                               (digits["real_npy"], digits["fake_nhw"], "NHW")):
        other = _eval_json(capsys, real, fake)
        assert other["metrics"] == base["metrics"] and other["fake"]["layout"] == layout
    ref = tmp_path / "ref.npz"
    assert main(["ref", "--dataset", "mnist", "--split", "test", "--out", str(ref)]) == 0
    assert capsys.readouterr().out.strip() == str(ref)
    assert _eval_json(capsys, ref, digits["fake_npy"])["metrics"] == base["metrics"]


def test_eval_matches_compute_metrics_and_seed(digits, capsys) -> None:
    ext = load_extractor("mnist-lenet")
    real = FeatureStats.from_features(*ext.extract(torch.from_numpy(np.load(digits["real_npy"]))))
    fake = FeatureStats.from_features(*ext.extract(torch.from_numpy(np.load(digits["fake_npy"]))))
    want, _ = compute_metrics(real, fake, "mnist", seed=0, metrics=["fd", "kid"])
    got = _eval_json(capsys, digits["real_npy"], digits["fake_npy"], "--metrics", "fd,kid")
    assert got["metrics"] == want
    seeded = evaluate(digits["fake_npy"], digits["real_npy"], metrics=["kid"], seed=1)  # 300 of 500: subsets vary
    assert seeded["metrics"]["kid_mnist"] != evaluate(digits["fake_npy"], digits["real_npy"], metrics=["kid"])[
        "metrics"]["kid_mnist"]


def test_eval_features(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "r.npy", rng.standard_normal((200, 16)))
    np.save(tmp_path / "f.npy", rng.standard_normal((150, 16)).astype(np.float32) + 0.3)
    out = _eval_json(capsys, tmp_path / "r.npy", tmp_path / "f.npy", "--features")
    assert out["extractor"] is None and "is" in out["unavailable"] and "is_features" not in out["metrics"]
    assert out["metrics"]["fd_features"] > 0.5 and out["metrics"]["kid_features"] > 0
    assert main(["eval", str(tmp_path / "r.npy"), str(tmp_path / "f.npy"), "--features"]) == 0
    assert "is: unavailable with --features" in capsys.readouterr().out
    _fails(capsys, ["eval", tmp_path / "r.npy", tmp_path / "f.npy", "--features", "--metrics", "fd,is"],
           "Inception Score needs classifier logits")
    np.save(tmp_path / "nan.npy", np.full((50, 16), np.nan))
    _fails(capsys, ["eval", tmp_path / "r.npy", tmp_path / "nan.npy", "--features"], "NaN")
    np.save(tmp_path / "d8.npy", rng.standard_normal((50, 8)))
    _fails(capsys, ["eval", tmp_path / "r.npy", tmp_path / "d8.npy", "--features"], "16-d features but FAKE has 8-d")


def test_images_in_0_1_cast_to_uint8_are_flagged(tmp_path) -> None:
    """[0, 1] floats cast with astype(uint8) hold only 0 and 1: scored, but with a warning that says
    how to convert them; all-black images (a collapsed generator) pass without one."""
    import warnings

    from genbench.bench.evaluation import images_from_array

    x = (np.random.default_rng(0).random((4, 1, 28, 28)) > 0.5).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"\(x \* 255\)\.round\(\)"):
        images, layout = images_from_array(x, "FAKE", "x.npy")
    assert layout == "NCHW" and images.shape == (4, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images_from_array(np.zeros((4, 1, 28, 28), np.uint8), "FAKE", "black.npy")
        images_from_array(x * 255, "FAKE", "binary.npy")


def test_eval_bad_input_exits_2(digits, tmp_path, capsys) -> None:
    real = digits["real_npy"]
    _fails(capsys, ["eval", real, tmp_path / "missing.npy"], "FAKE")
    np.save(tmp_path / "float.npy", np.zeros((10, 1, 28, 28), np.float32))
    _fails(capsys, ["eval", real, tmp_path / "float.npy"], "must be uint8")
    np.save(tmp_path / "rgb.npy", np.zeros((10, 3, 28, 28), np.uint8))
    _fails(capsys, ["eval", real, tmp_path / "rgb.npy"], "expected uint8 (N, 1, 28, 28)")
    np.save(tmp_path / "ambiguous.npy", np.zeros((10, 3, 5, 3), np.uint8))
    _fails(capsys, ["eval", real, tmp_path / "ambiguous.npy"], "ambiguous")
    np.save(tmp_path / "photo.npy", np.zeros((28, 28, 3), np.uint8))  # one HWC picture, not 28 images 28x3
    _fails(capsys, ["eval", real, tmp_path / "photo.npy"], "looks like one (H, W, C) image")
    np.save(tmp_path / "one.npy", np.zeros((1, 1, 28, 28), np.uint8))
    _fails(capsys, ["eval", real, tmp_path / "one.npy"], "at least 2 images")
    np.save(tmp_path / "three.npy", np.zeros((3, 1, 28, 28), np.uint8))
    _fails(capsys, ["eval", real, tmp_path / "three.npy", "--metrics", "precision"], "at least k + 1")
    _fails(capsys, ["eval", real, digits["fake_npy"], "--metrics", "fd,fid"], "unknown metric")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    _fails(capsys, ["eval", real, tmp_path / "junk.npy"], "not a readable array file")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "b.png")
    _fails(capsys, ["eval", real, folder], "same size")
    assert sorted(os.listdir(folder)) == ["a.png", "b.png"]  # eval writes nothing


def test_eval_rejects_ref_of_other_extractor(digits, tmp_path, capsys) -> None:
    ref, _ = make_reference("mnist", split="test", n=100, seed=1, out=tmp_path / "ref.npz")
    stats = FeatureStats.load(ref)
    stats.meta["weights_sha256"] = "0" * 64
    stats.save(tmp_path / "other.npz")
    _fails(capsys, ["eval", tmp_path / "other.npz", digits["fake_npy"]], "reference statistics were made with")


def test_ref_provenance_cache_and_subset(capsys) -> None:
    path, reused = make_reference("mnist", split="test", n=200, seed=3)
    assert not reused and path.name.startswith("ref-mnist-test-mnist-lenet-")
    stats = FeatureStats.load(path)
    ext = load_extractor("mnist-lenet")
    assert stats.meta["kind"] == "genbench-reference-stats" and stats.meta["n"] == 200 and stats.meta["seed"] == 3
    assert stats.meta["weights_sha256"] == ext.weights_sha256 and stats.meta["resize_mode"] == "none"
    assert stats.meta["dataset"] == "mnist" and stats.meta["split"] == "test" and stats.meta["data_sha256"]
    assert stats.features.shape == (200, 128) and stats.logits.shape == (200, 10)
    x = load_dataset("mnist").split("test").x[reference_subset(500, 200, 3)]
    assert torch.equal(stats.features, ext.extract(x)[0])
    assert make_reference("mnist", split="test", n=200, seed=3) == (path, True)  # cached
    assert main(["ref", "--dataset", "mnist", "--n", "200", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    other, _ = make_reference("mnist", split="test", n=200, seed=4)
    assert other != path and not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]


def test_ref_bad_input_writes_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "ref.npz"
    _fails(capsys, ["ref", "--dataset", "mnist", "--n", "501", "--out", out], "--n must be an integer in [2, 500]")
    _fails(capsys, ["ref", "--dataset", "mnist", "--out", tmp_path / "ref.pt"], "must end in .npz")
    _fails(capsys, ["ref", "--dataset", "ring8", "--out", out], "reference statistics need images")
    _fails(capsys, ["ref", "--dataset", "nope", "--out", out], "nope")
    _fails(capsys, ["ref", "--dataset", "mnist", "--extractor", "mnist-lenet", "--weights", tmp_path / "w.pt",
                    "--out", out], "w.pt")
    assert os.listdir(tmp_path) == []


def test_eval_text_output_says_layout(digits, capsys) -> None:
    assert main(["eval", str(digits["real_npy"]), str(digits["fake_nhwc"]), "--metrics", "fd"]) == 0
    out = capsys.readouterr().out
    assert "fd_mnist = " in out and "(lower is better)" in out
    assert f"fake: {digits['fake_nhwc']} (images, NHWC, n=300)" in out and "(images, NCHW, n=500)" in out


def test_ref_cache_key_has_protocol_version_and_feature_code(monkeypatch) -> None:
    """A protocol bump or a change to the extractor/resize/stats/dataset code recomputes cached real statistics."""
    import genbench.bench
    import genbench.bench.evaluation as evaluation
    from genbench.bench.fingerprint import feature_fingerprint

    path, reused = make_reference("mnist", split="test", n=100, seed=5)
    assert not reused and make_reference("mnist", split="test", n=100, seed=5) == (path, True)
    version = genbench.bench.PROTOCOL_VERSION
    monkeypatch.setattr(genbench.bench, "PROTOCOL_VERSION", version + 1)
    bumped, reused = make_reference("mnist", split="test", n=100, seed=5)
    assert bumped != path and not reused
    meta = FeatureStats.load(path).meta
    assert meta["protocol_version"] == version and FeatureStats.load(bumped).meta["protocol_version"] == version + 1
    assert meta["feature_fingerprint"] == feature_fingerprint() and len(feature_fingerprint()) == 16
    monkeypatch.setattr(evaluation, "feature_fingerprint", lambda: "0123456789abcdef")
    edited, reused = make_reference("mnist", split="test", n=100, seed=5)
    assert edited not in (path, bumped) and not reused
    assert FeatureStats.load(edited).meta["feature_fingerprint"] == "0123456789abcdef"


def test_ref_file_from_before_the_protocol_fields_is_recomputed(tmp_path) -> None:
    """A cache file written by an older genbench (no protocol_version/feature_fingerprint, its own key) is stale."""
    from genbench.metrics import stats_key

    out = tmp_path / "ref.npz"
    make_reference("mnist", split="test", n=100, seed=2, out=out)
    stats = FeatureStats.load(out)
    old = {k: v for k, v in stats.meta.items() if k not in ("protocol_version", "feature_fingerprint", "key")}
    old["key"] = stats_key(splits=load_dataset("mnist").info.to_dict()["splits"], **old)  # the old key's fields
    stats.mean = stats.mean + 1.0  # stale numbers: must not come back
    FeatureStats(stats.n, stats.mean, stats.cov, stats.features, stats.logits, old).save(out)
    assert make_reference("mnist", split="test", n=100, seed=2, out=out) == (out, False)
    fresh = FeatureStats.load(out)
    assert "protocol_version" in fresh.meta and np.allclose(fresh.mean, stats.mean - 1.0)


def test_eval_refuses_ref_of_other_protocol_or_feature_code(digits, tmp_path, capsys) -> None:
    """A `genbench ref` file of another protocol version or feature code (or from before both were recorded)."""
    import genbench.bench

    ref, _ = make_reference("mnist", split="test", n=100, seed=1, out=tmp_path / "ref.npz")
    stats = FeatureStats.load(ref)
    want = "recompute them with `genbench ref --dataset mnist --split test --extractor mnist-lenet --n 100 --seed 1`"
    for name, change in (("version", {"protocol_version": genbench.bench.PROTOCOL_VERSION - 1}),
                         ("code", {"feature_fingerprint": "0" * 16}),
                         ("older", {"protocol_version": None, "feature_fingerprint": None})):
        meta = {k: v for k, v in {**stats.meta, **change}.items() if v is not None}
        FeatureStats(stats.n, stats.mean, stats.cov, stats.features, stats.logits, meta).save(tmp_path / f"{name}.npz")
        err = _fails(capsys, ["eval", tmp_path / f"{name}.npz", digits["fake_npy"], "--metrics", "kid"], want)
        assert "made by other feature code" in err
    assert _eval_json(capsys, ref, digits["fake_npy"], "--metrics", "kid")["metrics"]["kid_mnist"] > 0


def test_eval_records_the_inception_score_shuffle(digits) -> None:
    """`genbench eval` on class-sorted samples: the IS of the same images in another order, and the seed recorded."""
    real = np.load(digits["real_npy"])
    labels = load_dataset("mnist").split("test").y.numpy()
    sorted_path = digits["real_npy"].parent / "real_sorted.npy"
    np.save(sorted_path, real[np.argsort(labels, kind="stable")])
    as_stored = evaluate(digits["real_npy"], digits["real_npy"], metrics=["is"])
    by_class = evaluate(digits["real_npy"], sorted_path, metrics=["is"])
    assert as_stored["metrics"]["is_mnist"] > 5.0  # 10 classes, confidently classified
    assert by_class["metrics"]["is_mnist"] == pytest.approx(as_stored["metrics"]["is_mnist"], rel=0.1)
    assert by_class["settings"] == {"is_splits": 10, "is_shuffle_seed": 2020}
