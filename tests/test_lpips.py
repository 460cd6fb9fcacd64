"""LPIPS: offline loading with sha256 checks, invariances, and parity with the lpips package.

All weights here are random (made locally): they go through the real loading path with an
explicit expected hash and are therefore a custom, never-ranked backbone.
"""

from __future__ import annotations

import hashlib
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision

from genbench.metrics import lpips_metrics as L

torch.set_num_threads(1)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory):
    """A random torchvision AlexNet backbone (features only) saved under its official file name."""
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None)
    state = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("weights") / "alexnet-owt-7be5be79.pth"
    torch.save(state, path)
    return path, _sha(path), state


@pytest.fixture(scope="module")
def model(alex_file):
    path, digest, _ = alex_file
    return L.load_lpips("alex", path, expected_sha256=digest)


def _images(n: int, c: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


def test_custom_weights_load_and_are_flagged(model, alex_file):
    assert model.official is False and model.metric_suffix == "alex-custom"
    assert model.backbone_sha256 == alex_file[1]
    assert model.provenance()["lpips_official"] is False


@pytest.mark.parametrize("where", ["env", "hub"])
def test_search_path_env_and_hub_cache(alex_file, tmp_path, monkeypatch, where):
    path, digest, _ = alex_file
    if where == "env":
        monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(path.parent))
    else:
        monkeypatch.delenv("GENBENCH_WEIGHTS_DIR", raising=False)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
        (tmp_path / "hub" / "checkpoints" / path.name).write_bytes(path.read_bytes())
    assert L.lpips_status("alex") is None
    m = L.load_lpips("alex", expected_sha256=digest)
    assert m.backbone_sha256 == digest


def test_absent_weights_error_and_skip_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(L.LpipsWeightsError) as e:
        L.load_lpips("alex")
    msg = str(e.value)
    for part in ("alexnet-owt-7be5be79.pth", "7be5be79", "https://download.pytorch.org/models/", str(tmp_path)):
        assert part in msg
    assert L.lpips_status("alex") == L.SKIPPED == "skipped: weights absent"
    values, prov = L.diversity_metrics(_images(4))
    assert values == {"lpips_diversity_alex": "skipped: weights absent"} and prov["lpips_official"] is False


def test_unofficial_file_needs_its_hash(alex_file):
    path, digest, _ = alex_file
    with pytest.raises(L.LpipsWeightsError, match=f"expected_sha256='{digest}'"):
        L.load_lpips("alex", path)
    with pytest.raises(L.LpipsWeightsError, match="expected_sha256=0+"):
        L.load_lpips("alex", path, expected_sha256="0" * 64)


def test_not_a_state_dict_is_a_clear_error(tmp_path):
    bad = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(L.LpipsWeightsError, match="could not load LPIPS backbone"):
        L.load_lpips("alex", bad, expected_sha256=_sha(bad))


def test_identity_symmetry_and_batch_size(model):
    a, b = _images(10, seed=1), _images(10, seed=2)
    assert torch.equal(L.lpips_distance(a, a, model=model), torch.zeros(10))
    ab = L.lpips_distance(a, b, model=model)
    assert ab.shape == (10,) and ab.dtype == torch.float32 and (ab > 0).all()
    torch.testing.assert_close(L.lpips_distance(b, a, model=model), ab, rtol=1e-5, atol=1e-7)
    for bs in (1, 3, 10):
        torch.testing.assert_close(L.lpips_distance(a, b, model=model, batch_size=bs), ab, rtol=1e-5, atol=1e-7)


def test_grayscale_equals_repeated_rgb(model):
    a, b = _images(4, seed=3), _images(4, seed=4)
    torch.testing.assert_close(
        L.lpips_distance(a, b, model=model), L.lpips_distance(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1), model=model)
    )


def test_range_and_dtype_are_asserted(model):
    x = torch.rand(2, 3, 64, 64)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model(x * 255, x)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model(x, x - 1.5)
    with pytest.raises(ValueError, match="uint8"):
        L.lpips_distance(x, x, model=model)
    with pytest.raises(ValueError, match="same shape"):
        L.lpips_distance(_images(2), _images(3), model=model)
    img = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    img[..., 32:] = 255
    u = L.to_lpips_input(img)
    assert u.min() == -1.0 and u.max() == 1.0 and u.shape == (1, 3, 64, 64)


def test_small_images_are_upsampled_to_64():
    assert L.to_lpips_input(_images(2, size=28)).shape == (2, 3, 64, 64)
    assert L.to_lpips_input(_images(1, c=3, size=80)).shape == (1, 3, 80, 80)


def test_diversity_seeded_and_deterministic(model):
    s = _images(12, seed=5)
    d0 = L.lpips_diversity(s, n_pairs=40, seed=0, model=model)
    assert d0 == L.lpips_diversity(s, n_pairs=40, seed=0, model=model)
    assert d0 != L.lpips_diversity(s, n_pairs=40, seed=1, model=model)
    i, j = L.random_pairs(12, 500, seed=0)
    assert (i != j).all() and set(i.tolist()) == set(range(12))
    same = s[:1].expand(6, -1, -1, -1).contiguous()
    assert L.lpips_diversity(same, n_pairs=10, model=model) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        L.lpips_diversity(s[:1], model=model)


def test_diversity_row_is_named_custom(alex_file):
    path, digest, _ = alex_file
    values, prov = L.diversity_metrics(_images(6), weights=path, expected_sha256=digest, n_pairs=8)
    assert list(values) == ["lpips_diversity_alex-custom"] and values["lpips_diversity_alex-custom"] > 0
    assert prov["lpips_official"] is False and prov["lpips_backbone_sha256"] == digest


def _reference(state: dict[str, torch.Tensor]):
    """The lpips package's own module, its backbone filled through torchvision's AlexNet."""
    import lpips

    tv = torchvision.models.alexnet(weights=None)
    tv.features.load_state_dict({k[len("features."):]: v for k, v in state.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    for sl in (ref.net.slice1, ref.net.slice2, ref.net.slice3, ref.net.slice4, ref.net.slice5):
        for name, layer in sl.named_children():
            layer.load_state_dict(tv.features[int(name)].state_dict())
    return ref.eval()


def test_parity_with_lpips_package(model, alex_file):
    ref = _reference(alex_file[2])
    a, b = _images(6, c=3, size=64, seed=6), _images(6, c=3, size=64, seed=7)
    with torch.no_grad():
        want = ref(a.float() / 127.5 - 1, b.float() / 127.5 - 1).reshape(-1)
        torch.testing.assert_close(L.lpips_distance(a, b, model=model), want, rtol=1e-5, atol=1e-7)
        a28, b28 = _images(6, seed=8), _images(6, seed=9)
        up = lambda x: F.interpolate(x.float().div(127.5).sub(1).repeat(1, 3, 1, 1), size=64, mode="bilinear", align_corners=False)
        want28 = ref(up(a28), up(b28)).reshape(-1)
    torch.testing.assert_close(L.lpips_distance(a28, b28, model=model), want28, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("net,tv_name", [("alex", "alexnet"), ("vgg", "vgg16")])
def test_backbone_key_mapping_fits_lpips_slices(net, tv_name):
    """torchvision's full state dict (classifier included) maps exactly onto lpips' slices (meta tensors)."""
    import lpips.pretrained_networks as pn

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = getattr(torchvision.models, tv_name)(weights=None).state_dict()
        target = (pn.alexnet if net == "alex" else pn.vgg16)(pretrained=False)
    mapped = L.backbone_state_to_lpips(L.LPIPS_NETS[net], state)
    assert set(mapped) == set(target.state_dict())
    for key, value in mapped.items():
        assert value.shape == target.state_dict()[key].shape


def test_runner_rows_carry_lpips_diversity_or_the_skip_marker(tmp_path, monkeypatch):
    from genbench.bench import runner
    from genbench.bench.spec import Budget, EvalProtocol, RunSpec

    monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = RunSpec("dcgan", "mnist", Budget(max_steps=1), overrides={"ngf": 4, "ndf": 4, "batch_size": 16},
                   protocol=EvalProtocol(n_fake=64))
    row = runner.run(spec, tmp_path / "runs")
    assert row["metrics"]["lpips_diversity_alex"] == L.SKIPPED
    assert "lpips_diversity_alex" not in row["higher_is_better"] and row["lpips"]["lpips_official"] is False

    for official in (True, False):  # only the official backbone's number is ranked
        monkeypatch.setattr(runner, "diversity_metrics",
                            lambda s, seed, o=official: ({"lpips_diversity_x": 0.3}, {"lpips_official": o}))
        row = {"metrics": {}, "higher_is_better": {}}
        runner._lpips_diversity(row, torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0)
        assert row["metrics"] == {"lpips_diversity_x": 0.3}
        assert row["higher_is_better"] == ({"lpips_diversity_x": True} if official else {})
