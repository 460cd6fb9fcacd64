"""Style metrics: offline VGG loading, features against torchvision's, Gram / content / style
losses against their written definitions, invariances, and the content|style|output grid.

All VGG weights here are random (made locally with ``save_random_vgg``): they go through the
real loading path with an explicit hash and are therefore custom, never-ranked weights.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torchvision
from torchvision.models.vgg import cfgs, make_layers

from genbench.metrics import style as S
from genbench.reports.grids import GridError, save_style_grid

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """A random VGG19 features prefix (up to relu5_1) under torchvision's file name, and its hash."""
    path = tmp_path_factory.mktemp("weights") / S.VGG_NETS["vgg19"].file
    digest = S.save_random_vgg("vgg19", path, seed=0, last_layer="relu5_1")
    return path, digest


@pytest.fixture(scope="module")
def vgg(vgg19_file):
    path, digest = vgg19_file
    return S.load_vgg("vgg19", (S.CONTENT_LAYER, *S.STYLE_LAYERS), path, expected_sha256=digest)


def _images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


# --- the network -----------------------------------------------------------------------------
def test_layer_names_follow_torchvision_modules():
    for net, key in (("vgg16", "D"), ("vgg19", "E")):
        full = make_layers(cfgs[key])
        names = S.VGG_NETS[net].layer_names
        assert len(names) == len(full)
        for name, module in zip(names, full):
            kind = {torch.nn.Conv2d: "conv", torch.nn.ReLU: "relu", torch.nn.MaxPool2d: "pool"}[type(module)]
            assert name.startswith(kind), (name, module)
    v19, v16 = S.VGG_NETS["vgg19"], S.VGG_NETS["vgg16"]
    assert (v19.index("relu4_2"), v19.index("relu5_1"), v16.index("relu2_2"), v16.index("relu4_3")) == (22, 29, 8, 22)
    assert (v19.file, v16.file) == ("vgg19-dcbb9e9d.pth", "vgg16-397923af.pth")
    assert v19.sha256_prefix == "dcbb9e9d" and v19.url.endswith("/vgg19-dcbb9e9d.pth")
    with pytest.raises(ValueError, match="no layer 'relu9_9'"):
        v19.index("relu9_9")


def test_features_equal_torchvision_vgg(vgg, vgg19_file):
    """Same weights in torchvision's own VGG19 features + its ImageNet normalisation: identical maps."""
    path, _ = vgg19_file
    ref = make_layers(cfgs["E"])[:30]
    ref.load_state_dict({k[len("features."):]: v for k, v in torch.load(path, weights_only=True).items()})
    ref.eval()
    tf = torchvision.models.VGG19_Weights.IMAGENET1K_V1.transforms()
    x = _images(3, 32).float() / 127.5 - 1
    want = ref(torchvision.transforms.functional.normalize((x + 1) / 2, tf.mean, tf.std))
    got = vgg(x)
    assert torch.allclose(got["relu5_1"], want, atol=1e-6, rtol=1e-5)
    assert tuple(got["relu4_2"].shape) == (3, 512, 4, 4) and vgg.suffix == "vgg19-custom"
    assert not any(p.requires_grad for p in vgg.parameters())
    avg = S.load_vgg("vgg19", ("relu3_1",), path, expected_sha256=vgg19_file[1], pool="avg")
    assert not torch.allclose(avg(x)["relu3_1"], got["relu3_1"])  # average pooling (Gatys et al.) differs


# --- weights: search path, hashes, errors ----------------------------------------------------------
def test_absent_weights_error_and_skip_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(S.VggWeightsError) as e:
        S.load_vgg("vgg19", ("relu1_1",))
    msg = str(e.value)
    for part in ("vgg19-dcbb9e9d.pth", "dcbb9e9d", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                 str(tmp_path), str(tmp_path / "torch" / "hub" / "checkpoints")):
        assert part in msg
    assert S.vgg_status("vgg19") == S.SKIPPED == "skipped: weights absent"


@pytest.mark.parametrize("where", ["env", "hub"])
def test_search_path_env_and_hub_cache(vgg19_file, tmp_path, monkeypatch, where):
    path, digest = vgg19_file
    if where == "env":
        monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(path.parent))
    else:
        monkeypatch.delenv("GENBENCH_WEIGHTS_DIR", raising=False)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
        (tmp_path / "hub" / "checkpoints" / path.name).write_bytes(path.read_bytes())
    assert S.vgg_status("vgg19") is None
    m = S.load_vgg("vgg19", ("relu1_1",), expected_sha256=digest)
    assert m.sha256 == digest and m.official is False and m.suffix == "vgg19-custom"


def test_unofficial_wrong_hash_and_damaged_files_are_refused(vgg19_file, tmp_path):
    path, digest = vgg19_file
    with pytest.raises(S.VggWeightsError, match="not torchvision's vgg19-dcbb9e9d.pth.*" + digest):
        S.load_vgg("vgg19", ("relu1_1",), path)
    with pytest.raises(S.VggWeightsError, match="expected sha256 is " + "0" * 64):
        S.load_vgg("vgg19", ("relu1_1",), path, expected_sha256="0" * 64)
    short = tmp_path / "vgg19-short.pth"  # a prefix too short for relu5_1
    short_digest = S.save_random_vgg("vgg19", short, seed=1, last_layer="relu2_1")
    assert S.load_vgg("vgg19", ("relu2_1",), short, expected_sha256=short_digest).sha256 == short_digest
    with pytest.raises(S.VggWeightsError, match=r"could not load .*missing features\.7\.weight"):
        S.load_vgg("vgg19", ("relu5_1",), short, expected_sha256=short_digest)
    junk = tmp_path / "junk.pth"
    torch.save([1, 2, 3], junk)
    with pytest.raises(S.VggWeightsError, match="not a state dict"):
        S.load_vgg("vgg19", ("relu1_1",), junk, expected_sha256=hashlib.sha256(junk.read_bytes()).hexdigest())


# --- statistics and losses against their definitions ------------------------------------------------
def test_gram_matrix_and_gram_loss_follow_gatys():
    """Ĝ = F Fᵀ / (N M); E_l = 1/(4 N² M²) Σ (F Fᵀ - A Aᵀ)² (Gatys et al. 2016, eq. 4)."""
    g = torch.Generator().manual_seed(0)
    f, a = torch.randn(2, 5, 4, 3, generator=g, dtype=torch.float64), torch.randn(2, 5, 4, 3, generator=g, dtype=torch.float64)
    fn, an = f.numpy().reshape(2, 5, 12), a.numpy().reshape(2, 5, 12)
    gram_f = np.einsum("bim,bjm->bij", fn, fn)
    gram_a = np.einsum("bim,bjm->bij", an, an)
    np.testing.assert_allclose(S.gram_matrix(f).numpy(), gram_f / (5 * 12), rtol=1e-12)
    e_l = ((gram_f - gram_a) ** 2).sum(axis=(1, 2)) / (4 * 5**2 * 12**2)
    np.testing.assert_allclose(S.gram_loss(S.gram_matrix(f), S.gram_matrix(a)).numpy(), e_l, rtol=1e-12)
    perm = torch.randperm(12, generator=g)  # a Gram matrix ignores where features are
    shuffled = f.reshape(2, 5, 12)[..., perm].reshape(2, 5, 4, 3)
    assert torch.allclose(S.gram_matrix(shuffled), S.gram_matrix(f), rtol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        S.gram_loss(S.gram_matrix(f), S.gram_matrix(f[:, :4]))


def test_mean_std_and_content_loss_against_numpy():
    g = torch.Generator().manual_seed(1)
    f, h = torch.randn(3, 4, 5, 6, generator=g), torch.randn(3, 4, 5, 6, generator=g)
    mean, std = S.mean_std(f, eps=1e-5)
    np.testing.assert_allclose(mean.numpy().ravel(), f.numpy().mean(axis=(2, 3)).ravel(), rtol=1e-5)
    np.testing.assert_allclose(std.numpy().ravel(), np.sqrt(f.numpy().var(axis=(2, 3)) + 1e-5).ravel(), rtol=1e-5)
    np.testing.assert_allclose(S.content_loss(f, h).numpy(), ((f - h).numpy() ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_style_losses_zero_symmetric_batch_and_order_invariant(vgg):
    x, y, z = _images(3, seed=1), _images(3, seed=2), _images(3, seed=3)
    c0, s0 = S.style_losses(vgg, x, x, x)
    assert torch.equal(c0, torch.zeros(3, dtype=torch.float64)) and torch.equal(s0, torch.zeros(3, dtype=torch.float64))
    c, s = S.style_losses(vgg, x, y, z, batch_size=2)
    c1, s1 = S.style_losses(vgg, x, y, z, batch_size=16)
    assert torch.allclose(c, c1, rtol=1e-9) and torch.allclose(s, s1, rtol=1e-9)  # chunking does not matter
    assert (c > 0).all() and (s > 0).all() and c.dtype == torch.float64
    p = torch.tensor([2, 0, 1])
    cp, sp = S.style_losses(vgg, x[p], y[p], z[p])
    assert torch.allclose(cp, c[p], rtol=1e-9) and torch.allclose(sp, s[p], rtol=1e-9)
    cs, ss = S.style_losses(vgg, y, x, z)  # output and content swapped: the content loss is symmetric
    assert torch.allclose(cs, c, rtol=1e-9)
    with pytest.raises(ValueError, match="one shape"):
        S.style_losses(vgg, x, y, z[:2])
    with pytest.raises(ValueError, match="uint8"):
        S.style_losses(vgg, x.float(), y, z)


def test_style_metrics_row_values(vgg, monkeypatch):
    contents, styles = _images(2, seed=4), _images(2, seed=5)
    values, hib = S.style_metrics(contents, contents, styles, vgg)  # output = content
    assert values["content_loss_vgg19-custom"] == 0.0 and values["style_loss_vgg19-custom"] > 0
    assert values["lpips_content_alex"] == S.SKIPPED and set(hib) == set(values) and not any(hib.values())
    c, s = S.style_losses(vgg, styles, contents, styles)
    values, _ = S.style_metrics(styles, contents, styles, vgg, custom=True)  # output = style
    assert values["style_loss_vgg19-custom"] == 0.0 and values["content_loss_vgg19-custom"] == pytest.approx(float(c.mean()))

    class FakeLpips:  # stands in for a loaded LpipsModel: distances come from lpips_distance
        net, official, metric_suffix = "alex", False, "alex-custom"

    seen = {}

    def fake_distance(a, b, *, model, batch_size):
        seen["pair"] = (a, b)
        return torch.full((len(a),), 0.25)

    monkeypatch.setattr("genbench.metrics.lpips_metrics.lpips_distance", fake_distance)
    values, _ = S.style_metrics(styles, contents, styles, vgg, FakeLpips())
    assert values["lpips_content_alex-custom"] == 0.25 and seen["pair"][1] is contents


@pytest.mark.parametrize(
    "official,custom,key",
    [
        (True, False, "lpips_content_alex"),  # torchvision's AlexNet, official VGGs: ranked, lower is better
        (True, True, "lpips_content_alex-custom"),  # a model trained with custom VGG weights
        (False, False, "lpips_content_alex-custom"),  # a custom AlexNet backbone
    ],
)
def test_custom_lpips_is_named_custom_and_never_ranked(vgg, monkeypatch, official, custom, key):
    """Custom-weight numbers are named '*-custom' and get no direction (DESIGN.md: never ranked)."""
    contents, styles = _images(2, seed=4), _images(2, seed=5)

    class FakeLpips:  # a loaded LpipsModel's naming attributes
        net, metric_suffix = "alex", "alex" if official else "alex-custom"

    FakeLpips.official = official
    monkeypatch.setattr("genbench.metrics.lpips_metrics.lpips_distance",
                        lambda a, b, *, model, batch_size: torch.full((len(a),), 0.25))
    values, hib = S.style_metrics(styles, contents, styles, vgg, FakeLpips(), custom=custom)
    assert [k for k in values if k.startswith("lpips")] == [key] and values[key] == 0.25
    if official and not custom:
        assert hib[key] is False
    else:
        assert key not in hib
    assert all(hib[k] is False for k in values if k.startswith(("content_loss", "style_loss")))


def test_style_row_with_a_real_custom_lpips_backbone_is_not_ranked(vgg, tmp_path):
    """The real loading path: random AlexNet weights named by their hash are custom."""
    from genbench.metrics.lpips_metrics import load_lpips

    with torch.random.fork_rng():  # torchvision's init draws from the global RNG; leave it as it was
        torch.manual_seed(0)
        net = torchvision.models.alexnet(weights=None)
    state = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(state, path)
    model = load_lpips("alex", path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    contents, styles = _images(2, seed=4), _images(2, seed=5)
    values, hib = S.style_metrics(styles, contents, styles, vgg, model)
    assert values["lpips_content_alex-custom"] > 0 and "lpips_content_alex" not in values
    assert "lpips_content_alex-custom" not in hib


def test_pairs_layout_and_errors():
    c, s = _images(2, 8, seed=6), _images(2, 8, seed=7)
    pairs = S.join_pairs(c, s)
    assert pairs.shape == (2, 3, 8, 16) and torch.equal(pairs[..., :8], c)
    back_c, back_s = S.split_pairs(pairs)
    assert torch.equal(back_c, c) and torch.equal(back_s, s)
    with pytest.raises(ValueError, match=r"\(N, 3, H, 2H\)"):
        S.split_pairs(c)
    with pytest.raises(ValueError, match="one shape"):
        S.join_pairs(c, s[:1])


def test_style_grid_lines_are_content_style_output(tmp_path):
    from PIL import Image

    c, s, o = (torch.full((2, 3, 4, 4), v, dtype=torch.uint8) for v in (10, 20, 30))
    o[1] = 40
    path = save_style_grid(c, s, o, tmp_path / "g.png", padding=1)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert [grid[1, 1 + 5 * k, 0] for k in range(3)] == [10, 20, 30]  # line 1: content | style | output
    assert [grid[6, 1 + 5 * k, 0] for k in range(3)] == [10, 20, 40]  # line 2: its own output
    with pytest.raises(GridError, match="one shape"):
        save_style_grid(c, s[:1], o, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_module_doctests():
    import doctest

    result = doctest.testmod(S)
    assert result.attempted > 0 and result.failed == 0
