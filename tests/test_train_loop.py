"""Registry-parametrized smoke tests of every baseline through the generic loop."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from genbench.baselines import BASELINES, Baseline, TaskKind
from genbench.bench.checkpoint import CHECKPOINT_FILE
from genbench.bench.runner import build_model, prepare
from genbench.bench.spec import Budget, EvalProtocol, RunSpec
from genbench.bench.train import train

TINY = {"batch_size": 16}
# Families that generate from noise (or labels) train here on mnist / ring8; translation and style
# families need their own paired data and have the same checks in tests/test_zoo_i2i.py / test_zoo_style.py.
GENERATIVE = (TaskKind.UNCONDITIONAL, TaskKind.CLASS_CONDITIONAL, TaskKind.LIKELIHOOD)
LOOP_NAMES = [n for n in BASELINES.names() if BASELINES.get(n).task in GENERATIVE]


def dataset_for(name: str) -> str:
    return "mnist" if "image" in BASELINES.get(name).data_kinds else "ring8"


def make_spec(name: str, steps: int, **kw: Any) -> RunSpec:
    return RunSpec(name, dataset_for(name), Budget(max_steps=steps), overrides=TINY,
                   protocol=EvalProtocol(n_fake=200), **kw)


def train_model(spec: RunSpec, run_dir, resume: bool = True):
    prep = prepare(spec)
    model, gen = build_model(prep)
    out = train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen,
                resume=resume, progress=False)
    return model, out, prep


def flat_state(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flat_state(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(flat_state(v, f"{prefix}{i}."))
        return out
    return {prefix: obj}


def assert_same_state(a: dict, b: dict) -> None:
    fa, fb = flat_state(a), flat_state(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        if isinstance(fa[k], torch.Tensor):
            assert torch.equal(fa[k], fb[k]), k
        else:
            assert fa[k] == fb[k], k


@pytest.mark.parametrize("name", LOOP_NAMES)
def test_trains_and_samples_in_range(name, tmp_path):
    model, out, prep = train_model(make_spec(name, 3), tmp_path)
    assert out.status == "ok" and out.steps == 3 and out.stopped_by == "steps"
    assert out.images == 3 * model.batches_per_step * TINY["batch_size"]
    model.eval()
    x = model.sample(10, torch.Generator().manual_seed(1))
    info = prep.dataset.info
    assert tuple(x.shape) == (10, *info.shape)
    if info.kind == "image":
        assert x.dtype == torch.uint8 and x.device.type == "cpu"
        assert x.float().std() > 0  # not a constant image
    assert (tmp_path / CHECKPOINT_FILE).exists()


@pytest.mark.parametrize("name", LOOP_NAMES)
def test_same_seed_same_samples(name, tmp_path):
    samples = []
    for i in range(2):
        model, _, _ = train_model(make_spec(name, 2), tmp_path / str(i))
        model.eval()
        samples.append(model.sample(16, torch.Generator().manual_seed(7)))
    assert torch.equal(samples[0], samples[1])
    model, _, _ = train_model(make_spec(name, 2, seed=5), tmp_path / "other")
    model.eval()
    assert not torch.equal(model.sample(16, torch.Generator().manual_seed(7)), samples[0])


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("name", LOOP_NAMES)
def test_resume_is_bit_identical(name, tmp_path):
    spec = make_spec(name, 6, checkpoint_every=3)
    straight, out, _ = train_model(spec, tmp_path / "straight")

    prep = prepare(spec)
    model, gen = build_model(prep)
    real_step = model.train_step
    calls = {"n": 0}

    def crashing_step(batches):
        calls["n"] += 1
        if calls["n"] == 5:  # dies after the step-3 checkpoint, mid-way to step 6
            raise _Interrupt()
        return real_step(batches)

    model.train_step = crashing_step  # type: ignore[method-assign]
    with pytest.raises(_Interrupt):
        train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, tmp_path / "resumed", gen, progress=False)
    resumed, out2, _ = train_model(spec, tmp_path / "resumed")
    assert out2.steps == 6 and out2.images == out.images
    assert_same_state(straight.state_dict(), resumed.state_dict())


class NaNBaseline(Baseline):
    """A model whose loss turns NaN at step 3 (tests the diverged path)."""

    task = TaskKind.UNCONDITIONAL
    defaults = {"batch_size": 8}

    def build(self, hp, data, generator):
        self.w = torch.zeros((), requires_grad=True)
        self.n = 0

    def train_step(self, batches):
        self.n += 1
        return {"loss": torch.tensor(float("nan") if self.n >= 3 else 1.0)}

    def sample(self, n, generator, condition=None):
        return torch.zeros(n, *self.data_info.shape, dtype=torch.uint8)

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


@pytest.fixture
def nan_baseline():
    BASELINES.register("test-nan", NaNBaseline)
    yield "test-nan"
    BASELINES.unregister("test-nan")


def test_nan_loss_marks_run_diverged(nan_baseline, tmp_path):
    from genbench.bench.runner import run

    row = run(RunSpec(nan_baseline, "mnist", Budget(max_steps=10), protocol=EvalProtocol(n_fake=200)), tmp_path)
    assert row["status"] == "diverged" and row["steps"] == 3
    assert "non-finite loss at step 3" in row["error"]
    assert row["metrics"] == {}


def test_kimg_budget_counts_real_images(tmp_path):
    spec = RunSpec("dcgan", "mnist", Budget(max_kimg=0.1), overrides=TINY, protocol=EvalProtocol(n_fake=200))
    _, out, _ = train_model(spec, tmp_path)
    assert out.stopped_by == "kimg" and out.images == 112  # 7 batches of 16 >= 100 images


@pytest.mark.parametrize("name", BASELINES.names())
def test_family_cites_its_paper_and_defaults(name):
    import re

    cls = BASELINES.get(name)
    doc = cls.__doc__ or ""
    assert cls.paper and re.search(r"(19|20)\d\d", cls.paper), f"{name}: `paper` must cite author and year"
    assert re.search(r"(19|20)\d\d", doc), f"{name}: the class docstring must cite the paper"
    assert "batch_size" in cls.defaults and cls.task is not None


def _interrupted_then_resumed(spec: RunSpec, run_dir, crash_at: int, scaler=None, between=None):
    """Train ``spec`` in ``run_dir``, dying in call ``crash_at`` of train_step, then resume it
    (``between()`` runs in between); a fresh ``scaler()`` on the model of each segment."""
    prep = prepare(spec)
    model, gen = build_model(prep)
    model.amp_scaler = scaler() if scaler else None
    real_step = model.train_step
    calls = {"n": 0}

    def crashing_step(batches):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise _Interrupt()
        return real_step(batches)

    model.train_step = crashing_step  # type: ignore[method-assign]
    with pytest.raises(_Interrupt):
        train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen, progress=False)
    if between is not None:
        between()
    model, gen = build_model(prep)
    model.amp_scaler = scaler() if scaler else None
    out = train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen, progress=False)
    return model, out


def test_resume_restores_the_fp16_loss_scale(tmp_path):
    """The GradScaler's scale and growth tracker are checkpointed: a resumed run does not restart at
    the initial scale and redo the back-offs (skipped steps) the first segment had done. A CPU
    GradScaler whose initial scale overflows fp32 gradients stands in for fp16's overflows."""
    spec = RunSpec("dcgan", "mnist", Budget(max_steps=8), overrides={"batch_size": 8, "ngf": 4, "ndf": 4},
                   protocol=EvalProtocol(n_fake=200), checkpoint_every=4)

    def scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0 ** 126)

    prep = prepare(spec)
    straight, gen = build_model(prep)
    straight.amp_scaler = scaler()
    train(spec, straight, prep.dataset.split("train"), "image", tmp_path / "straight", gen, progress=False)
    assert straight.amp_scaler.get_scale() < 2.0 ** 126  # it did back off
    resumed, out = _interrupted_then_resumed(spec, tmp_path / "resumed", crash_at=6, scaler=scaler)
    assert out.steps == 8
    assert resumed.amp_scaler.state_dict() == straight.amp_scaler.state_dict()
    assert_same_state(straight.state_dict(), resumed.state_dict())


def test_resume_of_a_finished_run_keeps_its_speed_and_last_losses(tmp_path):
    """Training finished, then evaluation crashed: the rerun loads the final checkpoint and takes no
    step; its row keeps the first run's throughput and last losses (they were None and {})."""
    spec = make_spec("dcgan", 6)
    _, first, _ = train_model(spec, tmp_path)
    assert first.train_img_per_s and first.last_losses
    _, again, _ = train_model(spec, tmp_path)
    assert again.steps == first.steps and again.images == first.images
    assert again.train_img_per_s == first.train_img_per_s and again.last_losses == first.last_losses


def test_resumed_run_reports_the_peak_of_every_segment(tmp_path):
    """Peak memory is checkpointed with the throughput clock: a rerun that takes no step reports
    the training's peak, not the memory of a process that never trained."""
    spec = make_spec("dcgan", 6)
    _, first, _ = train_model(spec, tmp_path)
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["peak_mem_bytes"] == first.peak_mem_bytes
    torch.save({**state, "peak_mem_bytes": 10 ** 12}, tmp_path / CHECKPOINT_FILE)
    _, again, _ = train_model(spec, tmp_path)
    assert again.steps == first.steps and again.peak_mem_bytes == 10 ** 12


def test_resumed_throughput_covers_every_segments_timed_steps(tmp_path):
    """The throughput clock is checkpointed: after a crash and a resume, train_img_per_s is the timed
    images of both segments (each after its own warm-up) over both segments' timed seconds."""
    from genbench.bench.train import WARMUP_STEPS

    spec = make_spec("dcgan", 12, checkpoint_every=6)
    b = TINY["batch_size"]
    first = {}

    def read_first_segment():
        first.update(torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True))

    _, out = _interrupted_then_resumed(spec, tmp_path, crash_at=9, between=read_first_segment)  # after step 6
    assert first["steps"] == 6 and first["timed_images"] == (6 - WARMUP_STEPS) * b and first["timed_seconds"] > 0
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["timed_images"] == first["timed_images"] + (12 - 6 - WARMUP_STEPS) * b
    assert state["timed_seconds"] > first["timed_seconds"]
    assert out.train_img_per_s == state["timed_images"] / state["timed_seconds"]
    assert out.last_losses == state["last_losses"] and set(out.last_losses) >= {"loss_d", "loss_g"}


def test_checkpoints_without_scaler_clock_or_losses_resume_as_before(tmp_path):
    """A checkpoint written before these fields existed still resumes as before: the loss scale starts
    afresh, and a resume that takes no step has no speed reading and no last losses."""
    from genbench.bench.checkpoint import save_checkpoint

    spec = make_spec("dcgan", 4)
    train_model(spec, tmp_path)
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    for key in ("timed_images", "timed_seconds", "last_losses", "amp_scaler"):
        state.pop(key, None)
    save_checkpoint(tmp_path / CHECKPOINT_FILE, state)
    prep = prepare(spec)
    model, gen = build_model(prep)
    model.amp_scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
    out = train(spec, model, prep.dataset.split("train"), "image", tmp_path, gen, progress=False)
    assert out.status == "ok" and out.steps == 4
    assert out.train_img_per_s is None and out.last_losses == {}
    assert model.amp_scaler.get_scale() == 256.0
