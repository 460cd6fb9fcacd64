"""Image-to-image families (pix2pix, cyclegan, stargan), their metrics, grids and suite rows."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from genbench.baselines import BASELINES, Batch
from genbench.baselines.cyclegan import ImagePool, lsgan_g_loss
from genbench.baselines.pix2pix import (
    PatchGAN,
    SeededDropout,
    UNetGenerator,
    auto_patch_layers,
    patch_receptive_field,
)
from genbench.baselines.stargan import StarGANDiscriminator, critic_depth
from genbench.bench import i2i_data
from genbench.bench.checkpoint import CHECKPOINT_FILE
from genbench.bench.datasets import DATASETS, Dataset, DatasetEntry, Split, load_dataset
from genbench.bench.i2i_eval import TASK_OF, check_run
from genbench.bench.runner import build_model, prepare, real_data_row, run
from genbench.bench.spec import Budget, EvalProtocol, RunSpec, SpecError
from genbench.bench.suites import SUITES
from genbench.bench.train import train
from genbench.metrics import load_extractor
from genbench.metrics.extractors import WEIGHTS_DIR, sha256_file
from genbench.metrics.lpips_metrics import SKIPPED
from genbench.metrics.paired import paired_metrics
from genbench.metrics.translation import (
    DOMAINS_SHA256,
    as_digit,
    as_rgb,
    content_accuracy,
    cycle_l1,
    domain_accuracy,
    paired_translation_metrics,
)
from genbench.reports.grids import GridError, save_translation_grid

# every image-to-image family, its dataset and tiny settings for CPU tests
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "pix2pix": ("edges2digits", {"ngf": 4, "ndf": 4, "batch_size": 4}),
    "cyclegan": ("digits2textured", {"ngf": 4, "ndf": 4, "n_blocks": 1, "batch_size": 2, "pool_size": 3}),
    "stargan": ("digit-domains", {"ngf": 4, "ndf": 4, "n_blocks": 1, "batch_size": 4, "n_critic": 2}),
}
PROTO = EvalProtocol(n_fake=200)


def test_every_image_to_image_family_is_tested_here():
    i2i = {n for n, cls in BASELINES.items() if cls.task in TASK_OF}
    assert i2i == set(FAMILIES)


def spec_for(name: str, steps: int, dataset: str | None = None, **kw: Any) -> RunSpec:
    ds, hp = FAMILIES[name]
    return RunSpec(name, dataset or ds, Budget(max_steps=steps), overrides=hp, protocol=PROTO, **kw)


def train_model(spec: RunSpec, run_dir, resume: bool = True):
    prep = prepare(spec)
    model, gen = build_model(prep)
    out = train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen, resume=resume, progress=False)
    return model, out, prep


def sources(prep, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n test sources and their targets (B for pair data, the next domain otherwise)."""
    x = prep.dataset.split("test")
    info = i2i_data.translation_info(prep.dataset)
    if info.packed:
        return i2i_data.unpack_pairs(x.x[:n])[0], torch.ones(n, dtype=torch.int64)
    return x.x[:n], (x.y[:n] + 1) % len(info.domains)


# --- registry-parametrized: train, translate, determinism, resume -------------------------------------
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_trains_and_translates_in_range(name, tmp_path):
    model, out, prep = train_model(spec_for(name, 3), tmp_path)
    assert out.status == "ok" and out.steps == 3 and out.images == 3 * model.batches_per_step * FAMILIES[name][1]["batch_size"]
    assert all(np.isfinite(v) for v in out.last_losses.values())
    model.eval()
    x, target = sources(prep)
    y = model.translate(x, target)
    assert y.dtype == torch.uint8 and y.shape == x.shape and y.device.type == "cpu"
    assert y.float().std() > 0
    assert (tmp_path / CHECKPOINT_FILE).exists()
    s = model.sample(len(x), torch.Generator().manual_seed(0), x)
    assert s.dtype == torch.uint8 and s.shape == x.shape
    with pytest.raises(ValueError, match="condition"):
        model.sample(4, torch.Generator(), None)
    with pytest.raises(ValueError, match="uint8"):
        model.translate(x.float(), target)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_same_seed_same_outputs_and_chunking_does_not_matter(name, tmp_path):
    outs = []
    for i in range(2):
        model, _, prep = train_model(spec_for(name, 2), tmp_path / str(i))
        model.eval()
        outs.append(model.translate(*sources(prep)))
    assert torch.equal(outs[0], outs[1])
    model.sample_batch = 5  # chunks of 5: per-sample networks in eval mode
    assert torch.equal(model.translate(*sources(prep)), outs[1])
    other, _, _ = train_model(spec_for(name, 2, seed=5), tmp_path / "other")
    other.eval()
    assert not torch.equal(other.translate(*sources(prep)), outs[0])


class _Interrupt(Exception):
    pass


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _flat(v, f"{prefix}{k}.").items()}
    if isinstance(obj, (list, tuple)):
        return {k2: v2 for i, v in enumerate(obj) for k2, v2 in _flat(v, f"{prefix}{i}.").items()}
    return {prefix: obj}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_resume_is_bit_identical(name, tmp_path):
    spec = spec_for(name, 6, checkpoint_every=3)
    straight, out, _ = train_model(spec, tmp_path / "straight")
    prep = prepare(spec)
    model, gen = build_model(prep)
    real_step, calls = model.train_step, {"n": 0}

    def crashing_step(batches):
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Interrupt()
        return real_step(batches)

    model.train_step = crashing_step  # type: ignore[method-assign]
    with pytest.raises(_Interrupt):
        train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, tmp_path / "resumed", gen, progress=False)
    resumed, out2, _ = train_model(spec, tmp_path / "resumed")
    assert out2.steps == 6 and out2.images == out.images
    a, b = _flat(straight.state_dict()), _flat(resumed.state_dict())
    assert a.keys() == b.keys()
    for k in a:
        assert (torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k]), k


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_cites_paper_and_defaults(name):
    cls = BASELINES.get(name)
    year = {"pix2pix": "2017", "cyclegan": "2017", "stargan": "2018"}[name]
    assert year in cls.paper and year in cls.__doc__ and "batch_size" in cls.defaults


def test_paper_defaults():
    p, c, s = (BASELINES.get(n).defaults for n in ("pix2pix", "cyclegan", "stargan"))
    assert (p["l1_lambda"], p["lr"], p["beta1"]) == (100.0, 2e-4, 0.5)
    assert (c["cycle_lambda"], c["identity"] * c["cycle_lambda"], c["pool_size"], c["batch_size"]) == (10.0, 5.0, 50, 1)
    assert (s["rec_lambda"], s["gp_lambda"], s["cls_lambda"], s["n_critic"], s["lr"], s["batch_size"]) == (10.0, 10.0, 1.0, 5, 1e-4, 16)


# --- wrong data is refused before anything is written -----------------------------------------------------
@pytest.mark.parametrize(
    "baseline,dataset,match",
    [
        ("pix2pix", "mnist", "not an image-to-image dataset"),
        ("dcgan", "edges2digits", "image-to-image"),
        ("pix2pix", "digits2textured", "cannot train on unpaired"),
        ("stargan", "edges2digits", "cannot train on paired"),
    ],
)
def test_mismatched_model_and_data_are_clear_errors(baseline, dataset, match, tmp_path):
    hp = FAMILIES.get(baseline, (None, {}))[1]
    with pytest.raises(SpecError, match=match):
        run(RunSpec(baseline, dataset, Budget(max_steps=1), overrides=hp, protocol=PROTO), tmp_path)
    assert not any(tmp_path.iterdir())


def test_unpaired_model_may_ignore_the_pairing_of_paired_data():
    assert check_run(BASELINES.get("cyclegan"), load_dataset("edges2digits")) is True


def test_models_refuse_wrong_shapes_in_build():
    from genbench.bench.spec import DataInfo

    for name, shape in (("pix2pix", (1, 28, 28)), ("cyclegan", (1, 30, 60)), ("stargan", (3, 28, 56))):
        info = DataInfo(name="x", kind="image", shape=shape, num_classes=4, splits=(("train", 10),))
        with pytest.raises(SpecError):
            BASELINES.get(name)().setup({}, info, torch.device("cpu"), torch.Generator())


# --- building blocks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_down", [0, 1, 2, 3])
def test_patchgan_receptive_field_is_measured(n_down):
    """The gradient of one central output w.r.t. the input spans exactly the receptive field."""
    torch.manual_seed(0)
    d = PatchGAN(1, 4, n_down, norm="batch").eval()  # BatchNorm in eval mode: no coupling across pixels
    for m in d.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.1)
    size = 160
    x = torch.rand(1, 1, size, size, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero().flatten()
    assert int(rows.max() - rows.min() + 1) == patch_receptive_field(n_down) == d.receptive_field


def test_patch_size_scales_with_the_image():
    assert [patch_receptive_field(n) for n in range(5)] == [10, 16, 34, 70, 142]
    assert (auto_patch_layers(28), auto_patch_layers(64), auto_patch_layers(256)) == (0, 1, 3)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_unet_shapes_and_skips(size):
    g = UNetGenerator(3, 3, size, 4).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0  # one corner pixel: through the skip connections it moves nearby outputs
    assert not torch.equal(g(x2)[:, :, :4, :4], y[:, :, :4, :4])


def test_seeded_dropout_draws_from_its_generator():
    drop = SeededDropout(0.5).train()
    x = torch.ones(1000)
    drop.generator = torch.Generator().manual_seed(3)
    a = drop(x)
    drop.generator = torch.Generator().manual_seed(3)
    assert torch.equal(a, drop(x)) and set(a.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(x), x)


def test_image_pool_history():
    pool, g = ImagePool(4), torch.Generator().manual_seed(0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first, g), first) and len(pool.images) == 4  # filling: returned as is
    new = torch.full((400, 1, 1, 1), 9.0)
    out = pool.query(new, g)
    swapped = (out != 9.0).flatten()
    assert 0 < int(swapped.sum()) <= 4  # only the 4 old images can come back, each once
    state = io.BytesIO()
    torch.save(pool.state_dict(), state)
    other = ImagePool(4)
    other.load_state_dict(torch.load(io.BytesIO(state.getvalue()), weights_only=True))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    probe = torch.full((20, 1, 1, 1), 5.0)
    assert torch.equal(pool.query(probe, g1), other.query(probe, g2))
    assert torch.equal(ImagePool(0).query(probe, g1), probe)


def test_image_pool_takes_a_batch_in_order():
    """Each image of a batch sees the pool as the images before it left it (a slot swapped in by
    one can be returned to a later one), about half are swapped, and each returned image was in
    the pool at that moment; a call that overfills the pool stores the first and decides the rest."""
    pool, g = ImagePool(3), torch.Generator().manual_seed(0)
    values = torch.arange(1.0, 404.0).view(403, 1, 1, 1)  # distinct: 3 fill the pool, 400 are decided
    out = pool.query(values, g).flatten().tolist()
    assert out[:3] == [1.0, 2.0, 3.0]
    held, swapped, again = {1.0, 2.0, 3.0}, 0, 0
    for v, o in zip(values.flatten().tolist()[3:], out[3:]):
        if o != v:
            assert o in held, f"{o} returned but not in the pool"
            held.remove(o)
            held.add(v)
            swapped += 1
            again += o > 3.0  # stored by this same call
    assert held == set(pool.images.flatten().tolist())
    assert 150 < swapped < 250 and again > 0


def test_cyclegan_losses():
    d = torch.tensor([1.0, 3.0])
    assert lsgan_g_loss(d).item() == pytest.approx(2.0)  # mean((0, 2)^2), no 1/2 factor (their code)
    model = BASELINES.get("cyclegan")()
    ds = load_dataset("digits2textured")
    hp = {**FAMILIES["cyclegan"][1], "identity": 0.0}
    model.setup(hp, ds.info, torch.device("cpu"), torch.Generator().manual_seed(0))
    model.train()
    x = ds.split("train").x[:2].float() / 127.5 - 1
    assert model.train_step([Batch(x)])["identity"].item() == 0.0


def test_stargan_critic_depth_and_heads():
    assert (critic_depth(28), critic_depth(64), critic_depth(128)) == (2, 5, 6)
    d = StarGANDiscriminator(3, 28, 4, 8)
    src, cls = d(torch.rand(5, 3, 28, 28))
    assert src.shape == (5, 1, 7, 7) and cls.shape == (5, 4)
    model = BASELINES.get("stargan")()
    ds = load_dataset("digit-domains")
    model.setup(FAMILIES["stargan"][1], ds.info, torch.device("cpu"), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="2 batches"):
        model.train_step([Batch(torch.zeros(4, 3, 28, 28), torch.zeros(4, dtype=torch.int64))])
    with pytest.raises(ValueError, match="target"):
        model.translate(ds.split("test").x[:2], torch.tensor([0, 4]))


# --- metrics ----------------------------------------------------------------------------------------------
def test_translation_metric_functions():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    r = x.clone()
    r[0, 0] = 255
    assert cycle_l1(x, r) == pytest.approx(1 / 6)  # one channel of one of two images, all the way
    assert cycle_l1(x, x) == 0.0
    logits = torch.tensor([[9.0, 1.0, 0.0], [9.0, 0.0, 1.0], [0.0, 9.0, 1.0]])
    assert domain_accuracy(logits, torch.tensor([1, 2, 1]), allowed=[1, 2]) == 1.0  # class 0 is not allowed
    assert domain_accuracy(logits, torch.tensor([1, 2, 1]), allowed=[0, 1, 2]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="allowed"):
        domain_accuracy(logits, torch.tensor([0, 0, 0]), allowed=[1, 2])
    assert content_accuracy(torch.eye(3), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    c = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    c[0, 2, 0, 0] = 200
    assert as_digit(c).shape == (1, 1, 2, 2) and int(as_digit(c)[0, 0, 0, 0]) == 200
    assert as_rgb(as_digit(c)).shape == (1, 3, 2, 2)


def test_paired_translation_metrics_reuse_paired_and_skip_lpips_without_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("GENBENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8)
    values, hib, prov = paired_translation_metrics(a, b)
    assert {k: values[k] for k in ("psnr", "ssim", "l1")} == paired_metrics(a, b)
    assert values["lpips_alex"] == SKIPPED and "lpips_alex" not in hib and prov["lpips_official"] is False


def test_paired_translation_lpips_with_custom_weights_is_named_custom_and_not_ranked(tmp_path):
    """Random AlexNet weights named by their hash are custom: 'lpips_alex-custom', no direction."""
    import hashlib

    import torchvision

    with torch.random.fork_rng():  # torchvision's init draws from the global RNG; leave it as it was
        torch.manual_seed(0)
        net = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({k: v for k, v in net.state_dict().items() if k.startswith("features.")}, path)
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (4, 3, 16, 16), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (4, 3, 16, 16), generator=g, dtype=torch.uint8)
    values, hib, prov = paired_translation_metrics(a, b, lpips_weights=path,
                                                   lpips_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert values["lpips_alex-custom"] > 0 and "lpips_alex" not in values and prov["lpips_official"] is False
    assert "lpips_alex-custom" not in hib and hib == {"psnr": True, "ssim": True, "l1": False}


@pytest.mark.parametrize("official", [True, False])
def test_paired_translation_lpips_direction_only_for_official_weights(monkeypatch, official):
    suffix = "alex" if official else "alex-custom"
    monkeypatch.setattr("genbench.metrics.translation.paired_lpips",
                        lambda *a, **k: ({f"lpips_{suffix}": 0.3}, {"lpips_net": "alex", "lpips_official": official}))
    g = torch.Generator().manual_seed(1)
    a, b = (torch.randint(0, 256, (2, 3, 16, 16), generator=g, dtype=torch.uint8) for _ in range(2))
    values, hib, _ = paired_translation_metrics(a, b)
    assert values[f"lpips_{suffix}"] == 0.3
    assert hib.get(f"lpips_{suffix}") is (False if official else None)  # lower is better, or unranked


def test_domain_classifier_weights_and_accuracy():
    info = json.loads((WEIGHTS_DIR / "digit-domains.json").read_text())
    assert sha256_file(WEIGHTS_DIR / "digit-domains.pt") == info["sha256"] == DOMAINS_SHA256
    ext = load_extractor("digit-domains")
    x, y = i2i_data.domain_classifier_data("test")
    acc = (ext.extract(x)[1].argmax(1) == y).double().mean().item()
    assert acc >= 0.95 and acc == pytest.approx(info["test_accuracy"], abs=0.005)  # 5 of 1000 may flip across CPUs


# --- grids ---------------------------------------------------------------------------------------------------
def test_translation_grid(tmp_path):
    from PIL import Image

    a = np.zeros((4, 1, 8, 8), np.uint8)
    b = np.full((4, 3, 8, 8), 200, np.uint8)
    p = save_translation_grid([a, b, a], tmp_path / "g.png", per_line=2, padding=1, gap=4)
    img = np.asarray(Image.open(p))
    strip_w, strip_h = 3 * 9 + 1, 8 + 2
    assert img.shape == (4 + 2 * (strip_h + 4), 4 + 2 * (strip_w + 4), 3)
    with pytest.raises(GridError, match="share N"):
        save_translation_grid([a, b[:3]], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --- rows through the runner, on miniature copies of the datasets ----------------------------------------------
def _tiny(name: str, n: int) -> Dataset:
    ds = load_dataset(name)
    info = i2i_data.translation_info(ds)
    splits = {s: Split(ds.split(s).x[:n], None if ds.split(s).y is None else ds.split(s).y[:n]) for s in ds.splits}
    cut = lambda m: None if m is None else {s: v[:n] for s, v in m.items()}  # noqa: E731
    info2 = replace(info, digit_labels=cut(info.digit_labels), target_digit_labels=cut(info.target_digit_labels))
    data = replace(ds.info, name=f"tiny-{name}", splits=tuple((s, len(splits[s])) for s in splits))
    return Dataset(data, splits, {"translation": info2})


@pytest.fixture(scope="module")
def tiny_datasets():
    names = {}
    for family, (ds, _) in FAMILIES.items():
        tiny = _tiny(ds, 24)
        DATASETS.register(tiny.info.name, DatasetEntry(lambda root=None, t=tiny: t, "test copy"))
        names[family] = tiny.info.name
    yield names
    for name in names.values():
        DATASETS.unregister(name)


EXPECTED_KEYS = {
    "pix2pix": {"psnr", "ssim", "l1", "lpips_alex", "fd_mnist", "content_acc_mnist"},
    "cyclegan": {"fd_domains_ab", "domain_acc_domains_ab", "cycle_l1_aba", "fd_mnist_ba", "content_acc_mnist_ba",
                 "domain_acc_domains_ba", "cycle_l1_bab"},
    "stargan": {"fd_domains", "content_acc_mnist", "domain_acc_domains", "cycle_l1"},
}


@pytest.mark.filterwarnings("ignore:sigma1")  # FD of 24 samples in 128 dims: singular covariances, as warned
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_runner_scores_translation_rows(name, tiny_datasets, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no LPIPS backbone
    monkeypatch.delenv("GENBENCH_WEIGHTS_DIR", raising=False)
    spec = spec_for(name, 2, dataset=tiny_datasets[name])
    row = run(spec, tmp_path / "runs", progress=False)
    assert row["status"] == "ok", row["error"]
    assert set(row["metrics"]) == EXPECTED_KEYS[name]
    for k, v in row["metrics"].items():
        assert v == SKIPPED if k.startswith("lpips") else np.isfinite(v), k
    assert set(row["higher_is_better"]) == {k for k, v in row["metrics"].items() if not isinstance(v, str)}
    assert row["higher_is_better"].get("content_acc_mnist", True) and not row["higher_is_better"].get("cycle_l1", False)
    k = 4 if name == "stargan" else 2
    assert row["n_fake"] == (24 * (k - 1) if name == "stargan" else 24 * (2 if name == "cyclegan" else 1))
    assert (tmp_path / "runs" / spec.run_name / row["sample_grid"]).exists()
    assert row["translation"]["extractors"]["mnist-lenet"]["official_weights"]
    ref = real_data_row(tiny_datasets[name], PROTO, tmp_path / "runs")
    assert ref["status"] == "ok" and ref["sample_grid"]
    fd = [m for m in ref["metrics"] if m.startswith("fd_")]
    assert fd and all(m in row["metrics"] for m in ref["metrics"])  # the same columns, none of the paired/cycle ones
    assert not any(m.startswith(("cycle", "psnr", "ssim", "lpips")) for m in ref["metrics"])


@pytest.mark.filterwarnings("ignore:sigma1")
def test_content_accuracy_of_real_digits_is_high_and_of_shuffled_labels_low(tiny_datasets, tmp_path):
    """The real-data row's content and domain accuracies are the classifiers' on real images
    (their ceilings); against shifted labels the same images score low."""
    ref = real_data_row(tiny_datasets["stargan"], PROTO, tmp_path)
    assert ref["metrics"]["content_acc_mnist"] >= 0.8 and ref["metrics"]["domain_acc_domains"] >= 0.8
    ds = load_dataset(tiny_datasets["stargan"])
    x, labels = ds.split("test").x, i2i_data.translation_info(ds).digit_labels["test"]
    logits = load_extractor("mnist-lenet").extract(as_digit(x))[1]
    assert content_accuracy(logits, (labels + 1) % 10) <= 0.2


@pytest.mark.filterwarnings("ignore:sigma1")
def test_photo_fd_reads_skipped_without_inception_weights(tmp_path, monkeypatch):
    """gray2color's targets are 64x64 photos: FD needs the Inception; absent, the row says so."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("GENBENCH_WEIGHTS_DIR", raising=False)
    tiny = _tiny("gray2color", 8)
    DATASETS.register(tiny.info.name, DatasetEntry(lambda root=None: tiny, "test copy"))
    try:
        spec = RunSpec("pix2pix", tiny.info.name, Budget(max_steps=1), overrides={"ngf": 2, "ndf": 2, "batch_size": 2},
                       protocol=PROTO)
        row = run(spec, tmp_path / "runs", progress=False)
    finally:
        DATASETS.unregister(tiny.info.name)
    assert row["status"] == "ok", row["error"]
    assert row["metrics"]["fd_inception"] == SKIPPED and row["metrics"]["lpips_alex"] == SKIPPED
    assert np.isfinite(row["metrics"]["psnr"]) and "inception-v3-tf" in row["translation"]["skipped"]


# --- suites ----------------------------------------------------------------------------------------------------
def test_suites_have_rows_for_every_family():
    quick = {(e.spec.baseline, e.spec.dataset) for e in SUITES.get("quick").entries()}
    standard = {(e.spec.baseline, e.spec.dataset) for e in SUITES.get("standard").entries()}
    for family, (ds, _) in FAMILIES.items():
        assert (family, ds) in quick and (family, ds) in standard
    assert ("pix2pix", "gray2color") in standard


@pytest.mark.filterwarnings("ignore:sigma1")
@pytest.mark.parametrize("name,metric", [("cyclegan", "fd_domains_ab"), ("stargan", "fd_domains")])
def test_interval_evaluation_selects_on_fd_to_the_target_domain(name, metric, tiny_datasets, tmp_path):
    from genbench.bench.spec import IntervalEval

    spec = spec_for(name, 2, dataset=tiny_datasets[name]).replace(interval_eval=IntervalEval(every=1, select="best"))
    row = run(spec, tmp_path, progress=False)
    assert row["status"] == "ok", row["error"]
    assert row["interval_eval"]["metric"] == metric and [p["step"] for p in row["curve"]] == [1, 2]
    assert row["checkpoint"] in ("best", "final") and metric in row["metrics"]
