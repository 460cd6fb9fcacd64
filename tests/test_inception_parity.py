"""inception-v3-tf: weights lookup and checks, resize modes, and parity with the reference implementations.

Nothing is downloaded. A randomly initialised copy of the Inception architecture (torch-fidelity's
module, which torchmetrics subclasses and pytorch-fid's FID Inception matches key for key) is
saved under the official file name, and every implementation loads that SAME file through its
own loading path:

- genbench: ``load_extractor(..., weights_path / $GENBENCH_WEIGHTS_DIR / hub cache, expected_sha256)``;
- torch-fidelity: ``FeatureExtractorInceptionV3(..., feature_extractor_weights_path=path)``;
- torchmetrics: ``FrechetInceptionDistance(feature_extractor_weights_path=path, antialias=False)``;
- pytorch-fid: ``InceptionV3`` downloads with ``load_state_dict_from_url``; we monkeypatch that
  name in ``pytorch_fid.inception`` to return the local file's state_dict;
- clean-fid: its TorchScript Inception cannot be rebuilt with random weights, so we run clean-fid's
  own image pipeline (PNG folder -> ``ResizeDataset`` with its 'clean' resizer -> model) with the
  random network (as pytorch-fid's module behind clean-fid's (x - 128) / 128), and compare its
  resizer and FD formula directly.

What is not comparable, by design: pytorch-fid's own resize (PyTorch bilinear, half-pixel
centres) and its input scaling (2x - 1 with x in [0, 1], i.e. x/127.5 - 1, not (x - 128)/128)
differ from the TF graph; so its network is compared on genbench's resized and scaled input
(both modes), not its end-to-end features. torchmetrics' default ``antialias=True`` is not the TF
protocol either; parity is with ``antialias=False``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.bench.datasets import load_dataset
from genbench.metrics import EXTRACTORS, ExtractorError, FeatureExtractor, frechet_distance, load_extractor
from genbench.metrics.extractors import WEIGHTS_DIR_ENV, sha256_file
from genbench.metrics.inception import INCEPTION_FILE, INCEPTION_SHA256, INCEPTION_URL, random_inception_state
from genbench.metrics.resize import RESIZE_MODES, resize, resize_clean, resize_legacy_tf

# bit-exact on this machine; 2e-6 leaves room for float32 reordering in other BLAS builds, while a
# 1-LSB change of a single pixel moves some feature by ~1e-5 (features are O(1)-O(30) here)
FEAT_TOL = dict(rtol=0, atol=2e-6)


# --- fixtures: random weights saved where the references load from, and a few images --------
@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, str]:
    """(path, sha256) of a random Inception state_dict saved under the official file name."""
    path = tmp_path_factory.mktemp("weights") / INCEPTION_FILE
    torch.save(random_inception_state(seed=0), path)
    return path, sha256_file(path)


@pytest.fixture(scope="module")
def images() -> dict[str, torch.Tensor]:
    """uint8 NCHW: 2 random RGB 32x32 images and 2 MNIST test digits (1x28x28); Inception takes ~1 s/image here."""
    g = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8),
        "mnist": load_dataset("mnist").split("test").x[:2],
    }


@pytest.fixture(scope="module")
def extractors(weights) -> dict[str, FeatureExtractor]:
    """genbench's inception-v3-tf per resize mode, loaded through the real path with the random weights."""
    path, sha = weights
    return {
        mode: load_extractor("inception-v3-tf", weights_path=path, expected_sha256=sha, resize_mode=mode)
        for mode in RESIZE_MODES
    }


@pytest.fixture(scope="module")
def genbench(extractors, images) -> dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """genbench (features, logits) per resize mode and image set: the one pass every test compares with."""
    return {mode: {name: e.extract(x, batch_size=2) for name, x in images.items()} for mode, e in extractors.items()}


@pytest.fixture(scope="module")
def pytorch_fid_net(weights):
    """pytorch-fid's FID Inception (pool_3 block, no resize, no input scaling) with the random weights."""
    import pytorch_fid.inception as pfi

    state = torch.load(weights[0], weights_only=True)
    with mock.patch.object(pfi, "load_state_dict_from_url", lambda *a, **k: state):
        net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False, normalize_input=False)
    return net.eval()  # pytorch-fid leaves the mode to its caller (fid_score.py calls .eval())


def rgb(x: torch.Tensor) -> torch.Tensor:
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


# --- parity of features -----------------------------------------------------------------------
def test_features_and_logits_equal_torch_fidelity(weights, images, genbench) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    ref = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(weights[0]))
    for name, x in images.items():
        feats, logits = ref(rgb(x))
        ours_f, ours_l = genbench["legacy-tf"][name]
        torch.testing.assert_close(ours_f, feats, **FEAT_TOL)
        torch.testing.assert_close(ours_l, logits, **FEAT_TOL)
        assert feats.std() > 1e-2 and logits.std() > 1e-2  # the random net does not collapse its inputs


def test_features_equal_torchmetrics_without_antialias(weights, images, genbench) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights[0]), antialias=False)
    for name, x in images.items():
        torch.testing.assert_close(genbench["legacy-tf"][name][0], fid.inception(rgb(x)), **FEAT_TOL)


def test_network_equals_pytorch_fid_on_the_same_input(images, genbench, pytorch_fid_net) -> None:
    """legacy-tf here; the clean mode goes through the same network in the clean-fid pipeline test below."""
    mode = "legacy-tf"
    for name, x in images.items():
        ref = pytorch_fid_net((resize(x, mode) - 128) / 128)[0].flatten(1)
        torch.testing.assert_close(genbench[mode][name][0], ref, **FEAT_TOL)


def test_clean_resize_equals_clean_fid(images) -> None:
    from cleanfid.resize import build_resizer

    fn = build_resizer("clean")
    for x in images.values():
        ours = resize_clean(x)
        ref = np.stack([fn(np.ascontiguousarray(img.permute(1, 2, 0).numpy())) for img in rgb(x)])
        assert ref.dtype == np.float32  # clean-fid does not quantise after resizing
        np.testing.assert_array_equal(ours.permute(0, 2, 3, 1).numpy(), ref)


def test_clean_features_equal_clean_fid_pipeline(tmp_path, images, genbench, pytorch_fid_net) -> None:
    """clean-fid reads PNGs (grayscale -> RGB), resizes with its 'clean' resizer, scales by (x-128)/128."""
    from cleanfid.fid import get_folder_features

    names = [(name, i) for name in images for i in range(images[name].shape[0])]
    for k, (name, i) in enumerate(names):
        img = images[name][i]
        array = img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()
        Image.fromarray(array).save(tmp_path / f"{k:02d}.png")

    def model(batch: torch.Tensor) -> torch.Tensor:  # what InceptionV3W(resize_inside=False) does around its layers
        return pytorch_fid_net((batch - 128) / 128)[0].flatten(1)

    ref = get_folder_features(
        str(tmp_path), model=model, num_workers=0, batch_size=8, device=torch.device("cpu"), mode="clean", verbose=False
    )
    ours = torch.cat([genbench["clean"][name][0] for name in images])
    torch.testing.assert_close(ours, torch.from_numpy(ref).float(), **FEAT_TOL)


def test_resize_modes_give_different_features(genbench) -> None:
    a, b = genbench["legacy-tf"]["mnist"][0], genbench["clean"]["mnist"][0]
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_batch_size_does_not_change_inception_features(extractors, images, genbench) -> None:
    torch.testing.assert_close(extractors["legacy-tf"].extract(images["rgb"], batch_size=1)[0], genbench["legacy-tf"]["rgb"][0], **FEAT_TOL)


# --- FD formula against every reference, on the same statistics -------------------------------
def _fd_references(mu1, s1, mu2, s2) -> dict[str, float]:
    from cleanfid.fid import frechet_distance as cleanfid_fd
    from pytorch_fid.fid_score import calculate_frechet_distance
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torchmetrics.image.fid import _compute_fid

    fidelity = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    t = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]
    return {
        "torch-fidelity": float(fidelity["frechet_inception_distance"]),
        "pytorch-fid": float(calculate_frechet_distance(mu1, s1, mu2, s2)),
        "clean-fid": float(cleanfid_fd(mu1, s1, mu2, s2)),
        "torchmetrics": float(_compute_fid(*t)),
    }


@pytest.mark.parametrize("dim", [16, 64])
def test_frechet_distance_equals_references_on_the_same_statistics(dim: int) -> None:
    rng = np.random.default_rng(dim)
    a = rng.standard_normal((4 * dim, dim)) @ rng.standard_normal((dim, dim)) * 0.3
    b = rng.standard_normal((3 * dim, dim)) @ rng.standard_normal((dim, dim)) * 0.3 + 0.2
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    ours = frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
    for name, ref in _fd_references(stats[0][0], stats[0][1], stats[1][0], stats[1][1]).items():
        assert ours == pytest.approx(ref, rel=1e-6), name


def test_torchmetrics_fid_class_equals_genbench_on_its_own_statistics() -> None:
    """The whole torchmetrics class (its float64 running sums) on features, vs genbench on the same features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Identity(torch.nn.Module):
        num_features = 32

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    g = torch.Generator().manual_seed(3)
    real = torch.randn(300, 32, generator=g, dtype=torch.float64)
    fake = torch.randn(200, 32, generator=g, dtype=torch.float64) * 1.2 + 0.1
    fid = FrechetInceptionDistance(feature=Identity())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    ours = frechet_distance(real.mean(0), torch.cov(real.T), fake.mean(0), torch.cov(fake.T))
    assert ours == pytest.approx(float(fid.compute()), rel=1e-6)


# --- naming: official vs custom weights, resize modes -----------------------------------------
def test_random_weights_are_a_custom_extractor(weights, extractors) -> None:
    sha = weights[1]
    for mode, suffix in (("legacy-tf", "inception-custom"), ("clean", "inception-custom-clean")):
        e = extractors[mode]
        assert (e.metric_suffix, e.official, e.metric_names, e.resize_mode) == (suffix, False, {}, mode)
        assert e.metric_name("fd") == f"fd_{suffix}" and e.metric_name("is") == f"is_{suffix}"
        assert e.provenance()["resize_mode"] == mode and e.weights_sha256 == sha != INCEPTION_SHA256


def test_official_hash_owns_the_bare_names_only_with_the_legacy_resize(weights, extractors) -> None:
    """The same nets under a spec whose official hash is this file's: fid/kid/is with legacy-tf, never with clean."""
    sha = weights[1]
    spec = replace(EXTRACTORS.get("inception-v3-tf"), weights_sha256=sha)
    net = extractors["legacy-tf"].net
    legacy = FeatureExtractor(spec, net, sha, official=True, resize_mode="legacy-tf")
    assert legacy.metric_suffix == "inception"
    assert [legacy.metric_name(m) for m in ("fd", "kid", "is", "is_std", "precision")] == [
        "fid", "kid", "is", "is_std", "precision_inception",
    ]
    clean = FeatureExtractor(spec, extractors["clean"].net, sha, official=True, resize_mode="clean")
    assert clean.metric_suffix == "inception-clean" and clean.metric_names == {}
    assert clean.metric_name("fd") == "fd_inception-clean"


def test_registered_official_hash() -> None:
    spec = EXTRACTORS.get("inception-v3-tf")
    assert spec.weights_sha256 == INCEPTION_SHA256 and INCEPTION_SHA256.startswith(INCEPTION_FILE.split("-")[-1][:8])
    assert len(INCEPTION_SHA256) == 64 and spec.weights_url == INCEPTION_URL and spec.label_datasets == ()


# --- weights lookup and checks -----------------------------------------------------------------
@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub dir (torch.hub.get_dir monkeypatched) and no $GENBENCH_WEIGHTS_DIR."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "hub" / "checkpoints"


def test_missing_weights_name_file_hash_source_and_destination(hub) -> None:
    with pytest.raises(ExtractorError) as info:
        load_extractor("inception-v3-tf")
    msg = str(info.value)
    assert INCEPTION_FILE in msg and INCEPTION_SHA256 in msg and INCEPTION_URL in msg
    assert str(hub / INCEPTION_FILE) in msg and WEIGHTS_DIR_ENV in msg


def test_hub_cache_lookup_and_unofficial_hash_refused(hub, weights) -> None:
    os.symlink(weights[0], hub / INCEPTION_FILE)
    with pytest.raises(ExtractorError) as info:  # no expected_sha256: only the official file is accepted
        load_extractor("inception-v3-tf")
    msg = str(info.value)
    assert weights[1] in msg and INCEPTION_SHA256 in msg and "expected_sha256" in msg and INCEPTION_URL in msg
    with pytest.raises(ExtractorError, match="expected_sha256"):
        load_extractor("inception-v3-tf", expected_sha256="0" * 64)
    e = load_extractor("inception-v3-tf", expected_sha256=weights[1])
    assert e.metric_suffix == "inception-custom" and e.weights_sha256 == weights[1]


def test_weights_dir_env_comes_before_the_hub_cache(hub, weights, tmp_path, monkeypatch) -> None:
    (hub / INCEPTION_FILE).write_bytes(b"not the weights")
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    os.symlink(weights[0], env_dir / INCEPTION_FILE)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(env_dir))
    assert load_extractor("inception-v3-tf", expected_sha256=weights[1]).weights_sha256 == weights[1]
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "empty"))  # set but without the file: the hub cache is next
    with pytest.raises(ExtractorError, match="expected_sha256"):
        load_extractor("inception-v3-tf", expected_sha256=weights[1])


def test_not_a_state_dict_is_refused(tmp_path) -> None:
    bad = tmp_path / INCEPTION_FILE
    torch.save({"conv": torch.zeros(1)}, bad)
    with pytest.raises(ExtractorError, match="could not load weights"):
        load_extractor("inception-v3-tf", weights_path=bad, expected_sha256=sha256_file(bad))


# --- resize modes --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_resize_shapes_grayscale_and_range(mode) -> None:
    g = torch.Generator().manual_seed(1)
    gray = torch.randint(0, 256, (2, 1, 20, 37), generator=g, dtype=torch.uint8)
    out = resize(gray, mode)
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    torch.testing.assert_close(out, resize(gray.repeat(1, 3, 1, 1), mode), rtol=0, atol=0)
    assert torch.equal(out[:, 0], out[:, 2])


def test_legacy_tf_resize_is_identity_at_299_and_clean_is_not_bilinear() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (1, 3, 299, 299), generator=g, dtype=torch.uint8)
    assert torch.equal(resize_legacy_tf(x), x.float())
    small = torch.randint(0, 256, (1, 3, 28, 28), generator=g, dtype=torch.uint8)
    assert (resize_legacy_tf(small) - resize_clean(small)).abs().max() > 1


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(2, 3, 8, 8), r"expected uint8 \(N, 1 or 3, H, W\) images, got float32"),
        (torch.zeros(2, 2, 8, 8, dtype=torch.uint8), r"got uint8 \(2, 2, 8, 8\)"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), r"got uint8 \(3, 8, 8\)"),
        (torch.zeros(0, 3, 8, 8, dtype=torch.uint8), "no pixels"),
    ],
)
def test_resize_rejects_bad_input(bad, match) -> None:
    for mode in RESIZE_MODES:
        with pytest.raises(ValueError, match=match):
            resize(bad, mode)
    with pytest.raises(ValueError, match="unknown resize mode 'bicubic'"):
        resize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "bicubic")
