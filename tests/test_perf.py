"""Speed options (AMP, channels_last, compile, TF32): hashed, validated, applied, recorded; and the
loop's deferred NaN check. The CUDA paths run on the GPU machine (benchmarks/gpu/), not here."""

from __future__ import annotations

import json

import pytest
import torch

from genbench.bench.perf import apply_perf, networks, perf_record, precision
from genbench.bench.runner import build_model, prepare, run, spec_command
from genbench.bench.spec import Budget, EvalProtocol, PerfOptions, RunSpec, SpecError
from genbench.bench.timing import tf32_mode
from genbench.bench.datasets import Split
from genbench.bench.train import BatchStream, FiniteWatch

TINY = {"ngf": 4, "ndf": 4, "batch_size": 16}


def _spec(**perf) -> RunSpec:
    return RunSpec("dcgan", "mnist", Budget(max_steps=4), overrides=TINY,
                   protocol=EvalProtocol(n_fake=64), perf=PerfOptions(**perf))


def test_default_perf_keeps_old_hashes_and_options_change_them():
    plain = _spec()
    assert "perf" not in plain.hashed_fields()
    assert RunSpec.from_dict(plain.to_dict()) == plain
    hashes = {plain.hash}
    for opts in ({"amp": "bf16"}, {"channels_last": True}, {"compile": True}, {"tf32": True}):
        spec = _spec(**opts)
        assert spec.hashed_fields()["perf"] == PerfOptions(**opts).to_dict()
        assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
        hashes.add(spec.hash)
    assert len(hashes) == 5


@pytest.mark.parametrize("bad, match", [({"amp": "fp8"}, "amp must be one of"), ({"tf32": 1}, "true or false"),
                                        ({"speed": True}, "unknown perf key")])
def test_bad_perf_options_are_refused(bad, match):
    with pytest.raises(SpecError, match=match):
        RunSpec.from_dict({**_spec().to_dict(), "perf": bad})


def test_fp16_on_cpu_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SpecError, match="fp16 needs a GPU"):
        run(_spec(amp="fp16"), tmp_path)
    assert not any(tmp_path.iterdir())


def test_tf32_mode_restores_the_flags():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with tf32_mode(not before[1]):
        assert torch.backends.cudnn.allow_tf32 is (not before[1])
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_channels_last_and_compile_apply_to_every_network_and_keep_checkpoint_keys():
    prep = prepare(_spec(channels_last=True, compile=True))
    model, _ = build_model(prep)
    plain, _ = build_model(prepare(_spec()))
    assert {n for n, _ in networks(model)} >= {"G", "D"}
    assert list(model.state_dict()["G"]) == list(plain.state_dict()["G"])  # compile() is in place
    conv = next(p for p in model.D.parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert model.amp_scaler is None


def test_bf16_autocast_trains_samples_and_is_recorded(tmp_path):
    row = run(_spec(amp="bf16", channels_last=True), tmp_path)
    assert row["status"] == "ok", row["error"]
    assert row["perf"]["amp"] == "bf16" and row["perf"]["channels_last"] is True
    assert row["perf"]["tf32_eval"] is False and row["perf"]["tf32_train"] is False
    assert "--amp bf16 --channels-last" in row["command"]
    assert row["command"] == spec_command(_spec(amp="bf16", channels_last=True), tmp_path)
    assert row["metrics"]["fd_mnist"] > 0


def test_autocast_really_runs_in_bf16():
    seen = []
    lin = torch.nn.Linear(4, 4)
    lin.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with precision(PerfOptions(amp="bf16"), torch.device("cpu")):
        lin(torch.randn(2, 4))
    lin(torch.randn(2, 4))
    assert seen == [torch.bfloat16, torch.float32]


def test_finite_watch_reports_the_first_bad_step_even_when_read_late():
    w = FiniteWatch()
    for step, v in enumerate([1.0, 2.0, float("nan"), 3.0, float("inf")], start=1):
        w.observe(step, {"loss": torch.tensor(v)})
    assert w.first_bad_step() == 3
    assert torch.isnan(w.bad_losses["loss"])
    clean = FiniteWatch()
    clean.observe(1, {"a": torch.tensor(0.5), "b": torch.tensor(-2.0)})
    assert clean.first_bad_step() is None


def test_finite_watch_checks_pending_steps_with_one_test(monkeypatch):
    """50 steps of 4 losses: one torch.isfinite call (one host read on a GPU), not one per value."""
    calls = []
    real = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: calls.append(t.shape) or real(t))
    w = FiniteWatch()
    for step in range(1, 51):
        w.observe(step, {k: torch.tensor(float(step)) for k in "abcd"})
    assert w.first_bad_step() is None and calls == [torch.Size([200])]

def test_finite_watch_reads_one_cpu_step_directly(monkeypatch):
    """One pending CPU step (the CPU loop checks every step): its values are read, no isfinite kernel;
    a NaN, an inf and a non-finite element of a larger loss tensor are all found."""
    calls = []
    real = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: calls.append(t.shape) or real(t))
    w = FiniteWatch()
    w.observe(1, {"a": torch.tensor(1.0), "b": torch.tensor(2.0, dtype=torch.bfloat16), "c": 3.0})
    assert w.first_bad_step() is None and calls == []
    for bad in (torch.tensor(float("nan")), torch.tensor(float("-inf")), torch.tensor([0.0, float("inf")])):
        w = FiniteWatch()
        w.observe(7, {"a": torch.tensor(1.0), "b": bad})
        assert w.first_bad_step() == 7


@pytest.mark.parametrize("stacked", [True, False])
def test_finite_watch_checks_many_steps_at_once(stacked):
    """The stacked test (0-d tensors, same keys: mixed float dtypes promote, a float64 loss beyond
    float32's range is finite) and the fallback (a python float, changing keys) agree."""
    w = FiniteWatch()
    big = torch.tensor(1e300, dtype=torch.float64)
    for step in range(1, 8):
        bad = step == 5
        losses = {"a": torch.tensor(float("inf") if bad else 1.0, dtype=torch.bfloat16), "b": big}
        if not stacked:
            losses = {"a": 1.0, "b": big} if not bad else {"a": float("nan"), "b": big, "c": torch.tensor(0.0)}
        w.observe(step, losses)
        if step == 2:
            assert w.first_bad_step() is None and w.pending == []  # a check empties the pending steps
    assert w.first_bad_step() == 5 and set(w.bad_losses) >= {"a", "b"}
    w.observe(9, {"a": torch.tensor(float("nan"))})
    assert w.first_bad_step() == 5 and w.pending == []  # the first stays first; nothing more is kept


def test_channels_last_batches_hold_the_same_values():
    """With channels_last the stream keeps its data in that layout once (a gather keeps it): every
    batch is channels_last and equals the contiguous stream's batch exactly."""
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (40, 3, 5, 6), generator=g, dtype=torch.uint8), torch.arange(40))
    plain, cl = (BatchStream(split, 8, 3, torch.device("cpu"), "image", channels_last=c) for c in (False, True))
    for _ in range(7):  # across an epoch boundary
        a, b = plain.next(), cl.next()
        assert b.x.is_contiguous(memory_format=torch.channels_last) and a.x.is_contiguous()
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert split.x.is_contiguous()  # the caller's data is left as it was


def test_stream_checks_the_training_labels_once():
    """The conditional families read batch labels back only on the CPU; the stream checks the whole
    split's labels against num_classes once, with a message naming the range."""
    split = Split(torch.zeros(6, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 2, 9, 3, 4]))
    BatchStream(split, 2, 0, torch.device("cpu"), "image", num_classes=10)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\).*got \[0, 9\]"):
        BatchStream(split, 2, 0, torch.device("cpu"), "image", num_classes=5)
    BatchStream(split, 2, 0, torch.device("cpu"), "image")  # no num_classes (unconditional data): no check


def test_perf_record_names_the_device():
    rec = perf_record(PerfOptions(), "cpu")
    assert rec["device_name"] and rec["amp"] == "off" and rec["tf32_eval"] is False


def test_fp16_scaler_helpers_scale_and_step(monkeypatch):
    """Baseline.backward/optimizer_step go through a GradScaler when one is set (CPU GradScaler)."""
    model, _ = build_model(prepare(_spec()))
    apply_perf(model, PerfOptions())
    assert model.amp_scaler is None
    model.amp_scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    w = torch.nn.Parameter(torch.ones(()))
    opt = torch.optim.SGD([w], lr=0.1)
    model.backward(w * 2.0)
    assert float(w.grad) == pytest.approx(2048.0)  # scaled by init_scale
    model.optimizer_step(opt)  # unscales before stepping
    assert float(w.detach()) == pytest.approx(1.0 - 0.1 * 2.0)
    model.amp_update()
    assert model.amp_scaler.get_scale() == pytest.approx(1024.0)
    model.backward(w * 5.0)  # a stale gradient: minimize zeroes it before its own backward
    model.minimize(w * 3.0, opt)
    assert float(w.detach()) == pytest.approx(0.8 - 0.1 * 3.0)


def _every_trained_family() -> list[tuple[str, RunSpec]]:
    from test_train_loop import LOOP_NAMES, make_spec
    from test_zoo_i2i import FAMILIES, spec_for

    return [(n, make_spec(n, 3)) for n in LOOP_NAMES] + [(n, spec_for(n, 3)) for n in sorted(FAMILIES)]


@pytest.mark.parametrize("name,spec", _every_trained_family(), ids=[n for n, _ in _every_trained_family()])
def test_every_family_trains_under_a_loss_scaler(name, spec, tmp_path):
    """fp16's GradScaler allows one step per optimizer between updates; WGAN and StarGAN step their
    critic n_critic times per train_step (found on the GPU: 'step() has already been called since
    the last update()'). A CPU GradScaler drives the same code path here; autocast stays off."""
    from genbench.bench.train import train

    prep = prepare(spec)
    model, gen = build_model(prep)
    model.amp_scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
    out = train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, tmp_path, gen, progress=False)
    assert out.status == "ok" and out.steps == 3
    assert model.amp_scaler.get_scale() == pytest.approx(256.0)  # finite gradients: the scale never backs off


@pytest.mark.parametrize("compiled", [True, False])
def test_compile_stride_bug_row_says_what_to_do(compiled, tmp_path, monkeypatch):
    """The message torch 2.11 gave on the H200 for dcgan --compile (an inductor bug, not ours)."""
    import genbench.bench.runner as runner

    def broken(*a, **k):
        raise AssertionError("expected size 32==32, stride 196==1 at dim=1\\n"
                             "Error in op: torch.ops.aten.convolution_backward.default")

    monkeypatch.setattr(runner, "_train_and_score", broken)
    row = run(_spec(compile=compiled), tmp_path)
    assert row["status"] == "failed" and row["error"].startswith("AssertionError: expected size")
    assert ("pytorch/pytorch#171622" in row["error"]) is compiled


def test_gpu_smoke_names_random_vgg_files_for_style_families_only():
    """benchmarks/gpu/smoke.py --random-vgg: the style families get the random files' hashes (loss
    net and vgg protocol), so they train and score on the GPU machine; other families are unchanged."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "smoke.py"
    mod_spec = importlib.util.spec_from_file_location("gpu_smoke", path)
    smoke = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(smoke)
    digests = {"vgg19": "1" * 64, "vgg16": "2" * 64}
    specs = smoke.suite_specs()
    for name, net in (("gatys", "vgg19"), ("fast-style", "vgg16"), ("adain", "vgg19")):
        base = smoke.base_spec(specs, name)
        spec = smoke.with_vgg(base, digests)
        assert spec.hparams["vgg_sha256"] == digests[net]
        assert spec.protocol.extractor == "vgg19" and spec.protocol.weights_sha256 == digests["vgg19"]
        assert spec.replace(overrides=base.overrides, protocol=base.protocol) == base
    dcgan = smoke.base_spec(specs, "dcgan")
    assert smoke.with_vgg(dcgan, digests) == dcgan and smoke.with_vgg(dcgan, None) == dcgan
