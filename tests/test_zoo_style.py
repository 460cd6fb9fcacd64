"""Style transfer: the skimage-style dataset, every style family through the generic loop
(registry-parametrized: trains, samples in range, resumes bit-identically), what each family
adds (Gatys's per-image budget, AdaIN's statistics, fast-style's one network per style), and
style rows through the runner, with and without VGG weights.

VGG weights are random prefixes made by ``save_random_vgg`` under torchvision's file names in
a temporary $GENBENCH_WEIGHTS_DIR; models name them by hash (``vgg_sha256``), so every number
here is custom and would never be ranked. Images are 16x16 (a 'style-tiny' dataset built by
the same code as skimage-style) to keep VGG cheap.
"""

from __future__ import annotations

import os

import pytest
import torch

from genbench.baselines import BASELINES, Batch, TaskKind
from genbench.baselines.adain import adain
from genbench.bench import style_data
from genbench.bench.checkpoint import CHECKPOINT_FILE
from genbench.bench.datasets import DATASETS, DatasetEntry, load_dataset
from genbench.bench.runner import build_model, prepare, run
from genbench.bench.spec import Budget, DataInfo, EvalProtocol, RunSpec, SpecError
from genbench.bench.train import train
from genbench.metrics import style as S

torch.set_num_threads(1)

STYLE_FAMILIES = [n for n in BASELINES.names() if BASELINES.get(n).task is TaskKind.STYLE_TRANSFER]
TINY_SIZE = 16


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random VGG19 (to relu5_1) and VGG16 (to relu4_3) files in $GENBENCH_WEIGHTS_DIR; their hashes."""
    folder = tmp_path_factory.mktemp("vgg")
    digests = {
        "vgg19": S.save_random_vgg("vgg19", folder / S.VGG_NETS["vgg19"].file, seed=0, last_layer="relu5_1"),
        "vgg16": S.save_random_vgg("vgg16", folder / S.VGG_NETS["vgg16"].file, seed=1, last_layer="relu4_3"),
    }
    old = os.environ.get("GENBENCH_WEIGHTS_DIR")
    os.environ["GENBENCH_WEIGHTS_DIR"] = str(folder)
    yield folder, digests
    if old is None:
        os.environ.pop("GENBENCH_WEIGHTS_DIR", None)
    else:
        os.environ["GENBENCH_WEIGHTS_DIR"] = old


@pytest.fixture(scope="module")
def tiny():
    """'style-tiny': skimage-style's code at 16x16, registered for the module."""
    ds = style_data.build_style_dataset("style-tiny", size=TINY_SIZE)
    DATASETS.register("style-tiny", DatasetEntry(lambda root=None: ds, "skimage-style at 16x16 (tests)"))
    yield ds
    DATASETS.unregister("style-tiny")


def tiny_hp(name: str, digests: dict[str, str]) -> dict:
    hp = {"gatys": {}, "fast-style": {"ch": 4, "n_res": 1, "batch_size": 3}, "adain": {"dec_ch": 8, "batch_size": 3}}[name]
    net = BASELINES.get(name).defaults["vgg"]
    return {**hp, "vgg_sha256": digests[net]}


def tiny_spec(name: str, digests: dict[str, str], steps: int, **kw) -> RunSpec:
    protocol = EvalProtocol(extractor="vgg19", n_fake=2, weights_sha256=digests["vgg19"])
    return RunSpec(name, "style-tiny", Budget(max_steps=steps), overrides=tiny_hp(name, digests), protocol=protocol, **kw)


def train_model(spec: RunSpec, run_dir, model=None):
    prep = prepare(spec)
    built, gen = build_model(prep)
    model = model or built
    out = train(spec, model, prep.dataset.split("train"), "image", run_dir, gen, progress=False)
    return model, out, prep


# --- the dataset ------------------------------------------------------------------------------
def test_skimage_style_dataset_holds_out_photographs():
    ds = load_dataset("skimage-style")
    info = ds.info
    assert info.shape == (3, 64, 128) and info.num_classes == len(style_data.STYLES) == 3
    sizes = info.split_sizes
    assert f"train {sizes['train']} / val {sizes['val']} / test {sizes['test']} pairs" in DATASETS.get("skimage-style").description
    assert sizes["test"] == style_data.STYLE_PROTOCOL_N
    styles = ds.extras["style_images"]
    contents = {}
    for name in ("train", "val", "test"):
        split = ds.split(name)
        assert split.x.dtype == torch.uint8 and torch.equal(split.y, torch.arange(3).repeat(len(split) // 3))
        c, s = S.split_pairs(split.x)
        assert torch.equal(s, styles[split.y])  # the right half is always the pair's style image
        assert torch.equal(c[0::3], c[1::3]) and torch.equal(c[0::3], c[2::3])  # each content with each style
        contents[name] = {bytes(p.numpy()) for p in c[0::3]}
        assert len(contents[name]) == len(split) // 3  # no repeated patch
    assert not contents["train"] & (contents["val"] | contents["test"])
    used = ds.extras["contents"]
    assert not set(used["train"]) & (set(used["val"]) | set(used["test"]))
    again = style_data.build_style_dataset()
    assert again.info.sha256 == info.sha256  # a pure function of scikit-image's files


def test_style_dataset_rejects_bad_settings():
    with pytest.raises(Exception, match="multiple of 4"):
        style_data.build_style_dataset(size=30)
    with pytest.raises(Exception, match=r"\['astronaut'\] are in train and in a held-out split"):
        style_data.build_style_dataset(size=16, contents={"train": ("astronaut",), "val": ("camera",), "test": ("astronaut",)})
    with pytest.raises(Exception, match="could not load its image 'no_such_image'"):
        style_data.skimage_image("no_such_image")


# --- registry-parametrized: every style family through the generic loop ------------------------
@pytest.mark.parametrize("name", STYLE_FAMILIES)
def test_trains_samples_and_resumes_bit_identically(name, weights, tiny, tmp_path):
    _, digests = weights
    spec = tiny_spec(name, digests, 2, checkpoint_every=1)
    straight, out, prep = train_model(spec, tmp_path / "straight")
    assert out.status == "ok" and out.steps == 2 and (tmp_path / "straight" / CHECKPOINT_FILE).exists()

    model, gen = build_model(prep)
    real_step, calls = model.train_step, {"n": 0}

    def crashing_step(batches):
        calls["n"] += 1
        if calls["n"] == 2:  # dies after the step-1 checkpoint
            raise KeyboardInterrupt
        return real_step(batches)

    model.train_step = crashing_step
    with pytest.raises(KeyboardInterrupt):
        train(spec, model, prep.dataset.split("train"), "image", tmp_path / "resumed", gen, progress=False)
    resumed, out2, _ = train_model(spec, tmp_path / "resumed")
    assert out2.steps == 2

    pairs = tiny.split("test").x[:2]
    straight.sample_batch = 1  # chunks of 1 here, the family's default there: the same outputs
    samples = []
    for m in (straight, resumed):
        m.eval()
        samples.append(m.sample(2, torch.Generator().manual_seed(3), pairs))
    x = samples[0]
    assert x.dtype == torch.uint8 and x.shape == (2, 3, TINY_SIZE, TINY_SIZE) and x.float().std() > 0
    assert torch.equal(samples[0], samples[1])  # resumed == uninterrupted
    with pytest.raises(ValueError, match="content\\|style pairs"):
        straight.sample(2, torch.Generator(), None)
    with pytest.raises(ValueError, match="n = 1 but condition holds 2"):
        straight.sample(1, torch.Generator(), pairs)


@pytest.mark.parametrize("name", STYLE_FAMILIES)
def test_refuses_data_that_is_not_pairs(name, weights):
    model = BASELINES.get(name)()
    mnist = DataInfo("mnist", "image", (1, 28, 28), 10, (("train", 4000),))
    with pytest.raises(SpecError, match=r"content\|style pairs stored side by side, \(3, H, 2H\)"):
        model.setup({}, mnist, torch.device("cpu"), torch.Generator().manual_seed(0))


# --- what each family adds ----------------------------------------------------------------------
def test_gatys_budget_is_optimisation_steps_per_image(weights, tiny):
    _, digests = weights
    info = tiny.info
    model = BASELINES.get("gatys")()
    model.setup({"vgg_sha256": digests["vgg19"]}, info, torch.device("cpu"), torch.Generator().manual_seed(0))
    pairs = tiny.split("test").x[:1]
    c, s = S.split_pairs(pairs.float() / 127.5 - 1)
    noise = torch.rand(c.shape, generator=torch.Generator().manual_seed(5)) * 2 - 1
    assert model.steps == 0 and model.train_step([Batch(pairs.float())]) == {} and model.steps == 1
    model.steps = 0  # step 0: the initial white noise, drawn from the sampling generator
    assert torch.equal(model.stylize(c, s, torch.Generator().manual_seed(5)), noise)

    def objective(x):
        with torch.no_grad():
            total = 0.0
            for i in range(len(x)):
                cf = model.vgg(c[i : i + 1])[S.CONTENT_LAYER]
                grams = {l: S.gram_matrix(f) for l, f in model.vgg(s[i : i + 1]).items() if l in S.STYLE_LAYERS}
                l_c, l_s = model.losses(x[i : i + 1], cf, grams)
                total += float(l_c + model.hp["style_weight"] * l_s)
        return total

    model.steps = 4
    out = model.stylize(c, s, torch.Generator().manual_seed(5))
    assert objective(out) < 0.5 * objective(noise)  # L-BFGS lowers α L_content + β L_style
    other = BASELINES.get("gatys")()  # nothing is trained: the training seed does not matter
    other.setup({"vgg_sha256": digests["vgg19"]}, info, torch.device("cpu"), torch.Generator().manual_seed(9))
    model.steps = other.steps = 1
    one = model.stylize(c, s, torch.Generator().manual_seed(5))
    assert torch.equal(other.stylize(c, s, torch.Generator().manual_seed(5)), one) and not torch.equal(one, noise)


def test_adain_gives_content_the_style_statistics():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 4, 5, 5, generator=g), 3 * torch.randn(2, 4, 7, 6, generator=g) + 1
    t = adain(x, y)
    assert torch.allclose(t.mean((2, 3)), y.mean((2, 3)), atol=1e-5)
    assert torch.allclose(t.std((2, 3), unbiased=False), y.std((2, 3), unbiased=False), rtol=1e-3)
    want = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    want = want * (y.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt() + y.mean((2, 3), keepdim=True)
    assert torch.allclose(t, want, atol=1e-6)  # eq. 8 written out
    with pytest.raises(ValueError, match="same \\(B, C\\)"):
        adain(x, y[:, :3])


def test_adain_learns_and_alpha_zero_keeps_content_features(weights, tiny):
    _, digests = weights
    model = BASELINES.get("adain")()
    hp = {"vgg_sha256": digests["vgg19"], "dec_ch": 8, "lr": 3e-3}
    model.setup(hp, tiny.info, torch.device("cpu"), torch.Generator().manual_seed(0))
    batch = Batch(tiny.split("train").x[:4].float() / 127.5 - 1)
    first = model.train_step([batch])["loss"]
    for _ in range(8):
        last = model.train_step([batch])["loss"]
    assert last < first  # the decoder learns on a fixed batch
    c, s = S.split_pairs(batch.x)
    t, _ = model.encode_adain(c, s, 0.0)
    assert torch.equal(t, model.vgg(c)["relu4_1"])


def test_fast_style_keeps_one_network_per_style(weights, tiny):
    _, digests = weights
    model = BASELINES.get("fast-style")()
    model.setup(tiny_hp("fast-style", digests), tiny.info, torch.device("cpu"), torch.Generator().manual_seed(0))
    train_split = tiny.split("train")
    only0 = (train_split.y == 0).nonzero().flatten()[:3]
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in model.nets]
    model.train_step([Batch(train_split.x[only0].float() / 127.5 - 1, train_split.y[only0])])
    changed = [any(not torch.equal(v, net.state_dict()[k]) for k, v in b.items()) for b, net in zip(before, model.nets)]
    assert changed == [True, False, False] and model.seen.tolist() == [True, False, False]
    model.eval()
    pairs = tiny.split("test").x
    assert model.sample(1, torch.Generator(), pairs[:1]).shape == (1, 3, TINY_SIZE, TINY_SIZE)  # style 0: known
    with pytest.raises(ValueError, match="1 of 1 style images are none of the 1 it was trained on"):
        model.sample(1, torch.Generator(), pairs[1:2])  # style 1: never trained
    swapped = train_split.x[only0[:1]].clone()
    swapped[..., TINY_SIZE:] = pairs[1:2, ..., TINY_SIZE:]  # label 0 with style 1's image
    with pytest.raises(ValueError, match="style index 0 came with different style images"):
        model.train_step([Batch(swapped.float() / 127.5 - 1, torch.tensor([0]))])
    with pytest.raises(ValueError, match="needs each pair's style index"):
        model.train_step([Batch(train_split.x[:2].float() / 127.5 - 1)])


def test_fast_style_checks_style_images_on_the_device_once_every_style_is_known(weights, tiny):
    """With every style known, a train step no longer reads the batch back: the per-index image
    check runs on the device and is read every CHECK_EVERY steps and before a checkpoint or a
    stylisation; the style Gram targets are computed once (the VGG is frozen) and equal fresh ones."""
    from genbench.baselines import fast_style

    _, digests = weights
    model = BASELINES.get("fast-style")()
    model.setup(tiny_hp("fast-style", digests), tiny.info, torch.device("cpu"), torch.Generator().manual_seed(0))
    x, y = tiny.split("train").x, tiny.split("train").y
    first = torch.cat([(y == k).nonzero().flatten()[:1] for k in range(3)])
    model.train_step([Batch(x[first].float() / 127.5 - 1, y[first])])  # learns the three styles (host path)
    assert model.seen.all() and model._refs_device is None
    model.train_step([Batch(x[first].float() / 127.5 - 1, y[first])])
    assert model._mismatch.tolist() == [0, 0, 0]
    for k in range(3):
        ref = model.style_refs[k : k + 1].float() / 127.5 - 1.0
        fresh = {l: S.gram_matrix(f) for l, f in model.vgg(ref).items() if l in fast_style.STYLE_LAYERS}
        assert all(torch.equal(fresh[l], model._grams[k][l]) for l in fresh)
    swapped = x[first[:1]].clone()
    swapped[..., TINY_SIZE:] = x[first[1:2], ..., TINY_SIZE:]  # label 0 with style 1's image
    model.train_step([Batch(swapped.float() / 127.5 - 1, y[first[:1]])])  # step 2: not a check step
    assert model._mismatch.tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="style index 0 came with different style images"):
        model.state_dict()
    with pytest.raises(ValueError, match="style index 0 came with different style images"):
        model.route(swapped[:, :, :, TINY_SIZE:].float() / 127.5 - 1)
    model.steps = fast_style.CHECK_EVERY
    with pytest.raises(ValueError, match="style index 0 came with different style images"):
        model.train_step([Batch(x[first].float() / 127.5 - 1, y[first])])
    model.load_state_dict(_fresh_state(model))
    assert model._mismatch is None and model._grams == {}


def _fresh_state(model):
    """The model's state without the pending check (what a checkpoint before the bad batch held)."""
    pending, model._mismatch = model._mismatch, None
    try:
        return model.state_dict()
    finally:
        model._mismatch = pending


# --- rows through the runner --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gatys", "adain"])
def test_run_scores_style_rows_with_a_grid(name, weights, tiny, tmp_path):
    folder, digests = weights
    spec = tiny_spec(name, digests, 2).replace(weights_path=str(folder / S.VGG_NETS["vgg19"].file))
    row = run(spec, tmp_path, progress=False)
    assert row["status"] == "ok", row["error"]
    m = row["metrics"]
    assert set(m) == {"content_loss_vgg19-custom", "style_loss_vgg19-custom", "lpips_content_alex", "ms_per_image"}
    assert m["content_loss_vgg19-custom"] > 0 and m["style_loss_vgg19-custom"] > 0 and m["ms_per_image"] > 0
    assert m["lpips_content_alex"] == S.SKIPPED and not any(row["higher_is_better"].values())
    assert row["n_fake"] == 2 and row["extractor"] == "vgg19" and row["extractor_sha256"] == digests["vgg19"]
    assert (tmp_path / spec.run_name / "samples.png").exists() and row["sample_grid"] == "samples.png"
    if name == "gatys":
        assert row["steps"] == 2 and row["kimg"] == 0.0 and row["train_img_per_s"] is None
        assert "max_steps = 2 optimisation steps per image" in row["budget_mapping"]


def test_rows_without_weights_are_skipped_untrained(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = RunSpec("adain", "style-tiny", Budget(max_steps=5), protocol=EvalProtocol(extractor="vgg19", n_fake=3))
    row = run(spec, tmp_path / "runs", progress=False)
    assert row["status"] == "skipped" and row["error"].startswith("skipped: weights absent: VGG weights vgg19-dcbb9e9d.pth")
    assert row["metrics"] == {k: S.SKIPPED for k in style_data.metric_names("vgg19")}
    assert row["steps"] == 0 and not (tmp_path / "runs" / spec.run_name / CHECKPOINT_FILE).exists()


def test_content_copy_reference_row(weights, tiny, tmp_path):
    folder, digests = weights
    from genbench.bench.runner import real_data_row

    protocol = EvalProtocol(extractor="vgg19", n_fake=3, weights_sha256=digests["vgg19"])
    row = real_data_row("style-tiny", protocol, tmp_path)
    assert row["label"] == "content (copy)" and row["kind"] == "reference" and row["status"] == "ok"
    assert row["metrics"]["content_loss_vgg19-custom"] == 0.0 and row["metrics"]["style_loss_vgg19-custom"] > 0


def test_prepare_refuses_bad_style_specs(weights, tiny):
    _, digests = weights
    good = tiny_spec("gatys", digests, 3)
    with pytest.raises(SpecError, match="pass --extractor vgg19"):
        prepare(good.replace(protocol=EvalProtocol(n_fake=6)))
    with pytest.raises(SpecError, match="n_fake 91 exceeds the 90 test pairs"):
        prepare(good.replace(protocol=EvalProtocol(extractor="vgg19", n_fake=91)))
    with pytest.raises(SpecError, match="--kimg and --minutes do not apply"):
        prepare(good.replace(budget=Budget(max_steps=3, max_wall_seconds=60)))
    with pytest.raises(SpecError, match="needs a content\\|style pair dataset"):
        prepare(RunSpec("adain", "mnist", Budget(max_steps=1), protocol=EvalProtocol(extractor="vgg19", n_fake=6)))


def test_standard_suite_has_every_style_family():
    from genbench.bench.suites import SUITES, STYLE_PROTOCOL

    entries = [e for e in SUITES.get("standard").entries() if e.spec.dataset == "skimage-style"]
    assert {e.spec.baseline for e in entries} == set(STYLE_FAMILIES)
    assert all(e.spec.protocol == STYLE_PROTOCOL and len({x.spec.seed for x in entries if x.label == e.label}) == 3 for e in entries)
    assert not any(e.spec.dataset == "skimage-style" for e in SUITES.get("quick").entries())
    for e in entries:  # valid without any weights: those are needed only when a row runs
        prepare(e.spec)
