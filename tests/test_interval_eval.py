"""Evaluation at intervals during training: spec fields, the loop's hook timing, curves, best checkpoints.

The test doubles below are baselines addressed by import path (``test_interval_eval:Teleport``),
so pytest's rootdir-relative import of this file makes them resolvable.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

from genbench.baselines.base import Baseline
from genbench.bench.checkpoint import CHECKPOINT_FILE, load_checkpoint
from genbench.bench.datasets import load_dataset
from genbench.bench.interval import CURVE_FILE, IntervalEvaluator, best_file
from genbench.bench.runner import build_model, prepare, run
from genbench.bench.spec import Budget, EvalProtocol, IntervalEval, RunSpec, SpecError
from genbench.bench.train import TrainProgress, train
from test_train_loop import assert_same_state

PROTO = EvalProtocol(n_fake=200)
CLOCK = [0.0]  # the fake perf_counter of test_hook_time_is_outside_the_wall_budget_and_throughput


class Tick(Baseline):
    """Each train step advances the fake clock by one second; nothing is learned."""

    defaults = {"batch_size": 8}
    paper = "test double"

    def build(self, hp, data, generator):
        self.n = 0

    def train_step(self, batches):
        CLOCK[0] += 1.0
        self.n += 1
        return {"loss": torch.tensor(0.0)}

    def sample(self, n, generator, condition=None):
        return torch.zeros(n, *self.data_info.shape, dtype=torch.uint8)

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = int(state["n"])


class Teleport(Tick):
    """Samples real training digits while step <= good_until, uniform noise after: quality falls.

    crash_at > 0 raises once at that step (the file ``flag`` records that it did), so that the
    rerun of the same spec resumes from its checkpoint.
    """

    defaults = {"batch_size": 8, "good_until": 4, "crash_at": 0, "flag": ""}

    def build(self, hp, data, generator):
        self.n = 0
        self.digits = load_dataset("mnist").split("train").x

    def train_step(self, batches):
        self.n += 1
        if self.n == self.hp["crash_at"] and not Path(self.hp["flag"]).exists():
            Path(self.hp["flag"]).touch()
            raise RuntimeError("planned crash")
        return {"loss": torch.tensor(0.0)}

    def sample(self, n, generator, condition=None):
        if self.n <= self.hp["good_until"]:
            return self.digits[torch.randint(len(self.digits), (n,), generator=generator)].clone()
        return torch.randint(0, 256, (n, *self.data_info.shape), generator=generator, dtype=torch.uint8)


SEEDS: list[int] = []  # the initial seeds of the generators SeedTeleport.sample was given


class SeedTeleport(Teleport):
    """Teleport that records which seed each sample call draws from."""

    def sample(self, n, generator, condition=None):
        SEEDS.append(generator.initial_seed())
        return super().sample(n, generator, condition)


def _spec(baseline="dcgan", steps=6, interval=None, **kw):
    hp = {"batch_size": 16} if baseline == "dcgan" else kw.pop("overrides", {})
    return RunSpec(baseline, "mnist", Budget(max_steps=steps), overrides=hp, protocol=PROTO, interval_eval=interval, **kw)


# -- the spec -------------------------------------------------------------------------------------
def test_spec_fields_hash_round_trip_and_validation():
    plain = _spec()
    assert "interval_eval" not in plain.hashed_fields()  # unset: the hash of specs made before the field
    with_ie = _spec(interval=IntervalEval(every=2))
    assert with_ie.hash != plain.hash
    assert _spec(interval=IntervalEval(every=2, select="best")).hash != with_ie.hash
    assert _spec(interval=IntervalEval(every=3)).hash != with_ie.hash
    assert _spec(interval={"every": 2}) == with_ie  # a mapping is accepted, as for budget/protocol
    for spec in (plain, with_ie):
        assert RunSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="the split the row reports"):
        _spec(interval=IntervalEval(every=2, select="best", split="test"))
    with pytest.raises(SpecError, match="every must be an integer >= 1"):
        IntervalEval(every=0)
    with pytest.raises(SpecError, match="select must be one of"):
        IntervalEval(every=1, select="latest")
    with pytest.raises(SpecError, match="unknown interval_eval key"):
        IntervalEval.from_dict({"every": 1, "n": 5})


# -- the loop's hook ------------------------------------------------------------------------------
def test_hook_time_is_outside_the_wall_budget_and_throughput(monkeypatch, tmp_path):
    """A fake clock: a step takes 1 s, the hook 100 s. Budget 10 s of training."""
    spec = _spec("test_interval_eval:Tick", overrides={"batch_size": 8}).replace(budget=Budget(max_wall_seconds=10.0))
    prep = prepare(spec)
    model, gen = build_model(prep)
    calls = []

    def hook(m, progress):
        calls.append((progress.steps, progress.images, progress.wall_seconds))
        CLOCK[0] += 100.0

    monkeypatch.setattr(time, "perf_counter", lambda: CLOCK[0])
    out = train(spec, model, prep.dataset.split("train"), "image", tmp_path, gen, progress=False, hook=hook, hook_every=2)
    monkeypatch.undo()
    assert out.stopped_by == "wall" and out.steps == 10  # counted with the hook, it would stop at step 3
    assert out.wall_seconds == pytest.approx(10.0) and out.hook_seconds == pytest.approx(500.0)
    assert calls == [(s, 8 * s, pytest.approx(float(s))) for s in (2, 4, 6, 8, 10)]
    assert out.train_img_per_s == pytest.approx(8.0)  # 8 images per 1-s step, hook excluded
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE, spec.hash)["wall_seconds"] == pytest.approx(10.0)


def test_checkpoint_written_for_the_hook_is_outside_the_wall_budget(monkeypatch, tmp_path):
    """The loop checkpoints after every hook call (for resume); when only the hook asked for it,
    its writing time counts as the hook's: a checkpoint taking 50 s of the fake clock leaves the
    10-s training budget alone."""
    import genbench.bench.train as loop

    spec = _spec("test_interval_eval:Tick", overrides={"batch_size": 8}).replace(budget=Budget(max_wall_seconds=10.0))
    prep = prepare(spec)
    model, gen = build_model(prep)
    save = loop.save_checkpoint

    def slow_save(*args, **kwargs):
        CLOCK[0] += 50.0
        return save(*args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", slow_save)
    monkeypatch.setattr(time, "perf_counter", lambda: CLOCK[0])
    out = train(spec, model, prep.dataset.split("train"), "image", tmp_path, gen, progress=False,
                hook=lambda m, p: None, hook_every=2)
    monkeypatch.undo()
    assert out.stopped_by == "wall" and out.steps == 10 and out.wall_seconds == pytest.approx(10.0)
    assert out.hook_seconds == pytest.approx(5 * 50.0)  # the final checkpoint (step 10, also a hook step) included


def test_hook_every_must_be_positive(tmp_path):
    spec = _spec("test_interval_eval:Tick", steps=2, overrides={"batch_size": 8})
    prep = prepare(spec)
    model, gen = build_model(prep)
    with pytest.raises(ValueError, match="hook_every must be an integer >= 1"):
        train(spec, model, prep.dataset.split("train"), "image", tmp_path, gen, hook=lambda m, p: None, hook_every=0)


# -- runs with interval evaluation ----------------------------------------------------------------
def test_interval_eval_changes_no_training_number(tmp_path):
    """The hook samples with its own seeded generator and restores the global RNG: same run otherwise."""
    ie = IntervalEval(every=2, n_fake=100)
    with_ie = run(_spec(interval=ie), tmp_path)
    plain = run(_spec(), tmp_path)
    assert with_ie["status"] == "ok" and with_ie["metrics"] == plain["metrics"]
    a = load_checkpoint(tmp_path / _spec(interval=ie).run_name / CHECKPOINT_FILE, _spec(interval=ie).hash)
    b = load_checkpoint(tmp_path / _spec().run_name / CHECKPOINT_FILE, _spec().hash)
    assert_same_state(a["model"], b["model"])
    assert [p["step"] for p in with_ie["curve"]] == [2, 4, 6]
    assert [p["kimg"] for p in with_ie["curve"]] == [0.032, 0.064, 0.096]
    assert all(p["metric"] == p["metrics"]["fd_mnist"] and p["wall_s"] > 0 for p in with_ie["curve"])
    assert with_ie["checkpoint"] == "final" and with_ie["checkpoint_step"] == 6
    assert with_ie["interval_eval"]["split"] == "val" and with_ie["interval_eval"]["n_real"] == 500
    assert with_ie["interval_eval"]["metric"] == "fd_mnist" and with_ie["interval_eval"]["higher_is_better"] is False
    assert with_ie["split"] == "test" and with_ie["n_fake"] == 200
    assert plain["curve"] is None and plain["checkpoint"] == "final" and plain["checkpoint_step"] == 6
    assert with_ie["command"].startswith("genbench sweep --spec ")


def test_best_checkpoint_is_the_one_scored(tmp_path):
    """Quality falls after step 4: best is step 2 (ties keep the earlier), scored like a 2-step run."""
    hp = {"batch_size": 8, "good_until": 4}
    ie = IntervalEval(every=2, n_fake=100, select="best")
    row = run(_spec("test_interval_eval:Teleport", steps=8, interval=ie, overrides=hp), tmp_path)
    assert row["status"] == "ok" and row["checkpoint"] == "best" and row["checkpoint_step"] == 2
    values = [p["metric"] for p in row["curve"]]
    assert [p["step"] for p in row["curve"]] == [2, 4, 6, 8]
    assert values[0] == values[1] and min(values[2:]) > 10 * values[0]
    two_steps = run(_spec("test_interval_eval:Teleport", steps=2, overrides=hp), tmp_path)
    assert row["metrics"] == two_steps["metrics"]  # the full-n test-split numbers are the best state's
    assert row["steps"] == 8  # training went on to the budget; the row says which state it scores
    assert sorted(p.name for p in Path(row["run_dir"]).glob("best-s*.pt")) == [best_file(2)]


def test_selection_samples_are_not_the_reported_samples(tmp_path):
    """A checkpoint selected on some samples and reported on the same ones carries its selection
    noise into the number (on ring8 the reported value was the curve's own minimum): the interval
    evaluations draw from interval.sample_seed(eval_seed), the reported evaluation from eval_seed."""
    from genbench.bench.interval import sample_seed

    SEEDS.clear()
    hp = {"batch_size": 8, "good_until": 4}
    ie = IntervalEval(every=2, n_fake=100, select="best")
    row = run(_spec("test_interval_eval:SeedTeleport", steps=4, interval=ie, overrides=hp, eval_seed=3), tmp_path)
    assert row["status"] == "ok" and sample_seed(3) != 3
    assert SEEDS == [sample_seed(3), sample_seed(3), 3] and row["interval_eval"]["sample_seed"] == sample_seed(3)


def test_resumed_run_keeps_its_curve(tmp_path):
    ie = IntervalEval(every=2, n_fake=100, select="best")
    hp = {"batch_size": 8, "good_until": 4, "crash_at": 7, "flag": str(tmp_path / "crashed")}
    spec = _spec("test_interval_eval:Teleport", steps=8, interval=ie, overrides=hp)
    first = run(spec, tmp_path / "runs")
    assert first["status"] == "failed" and "planned crash" in first["error"]
    resumed = run(spec, tmp_path / "runs")
    uninterrupted = _spec("test_interval_eval:Teleport", steps=8, interval=ie, overrides={**hp, "crash_at": 0})
    whole = run(uninterrupted, tmp_path / "runs")
    assert resumed["status"] == "ok" and resumed["checkpoint_step"] == whole["checkpoint_step"] == 2
    assert [(p["step"], p["metric"]) for p in resumed["curve"]] == [(p["step"], p["metric"]) for p in whole["curve"]]
    assert resumed["metrics"] == whole["metrics"]


class _Fake:
    """The least a model needs for IntervalEvaluator: a state, and mode switches."""

    def __init__(self):
        self.w = 0

    def state_dict(self):
        return {"w": torch.tensor(self.w)}

    def load_state_dict(self, state):
        self.w = int(state["w"])

    def eval(self):
        pass

    def train(self):
        pass


def test_stale_points_and_best_files_of_a_killed_attempt_are_dropped(tmp_path):
    """Attempt 1 evaluates steps 2, 4, 6 (6 best) and dies before the step-6 checkpoint.
    Attempt 2 resumes from step 4: step 6 is evaluated again (now worse), and best is step 4."""
    ie = IntervalEval(every=2, select="best", metric="m")
    values = {}

    def score(model):
        return {"metrics": {"m": values[model.w]}, "higher_is_better": {"m": False}, "n_real": 10}

    model = _Fake()
    first = IntervalEvaluator(ie, tmp_path, "h", score, "m")
    for step, value in ((2, 5.0), (4, 3.0), (6, 1.0)):
        model.w, values[step] = step, value
        first(model, TrainProgress(step, step * 8, float(step)))
    assert {p.name for p in tmp_path.glob("best-s*.pt")} == {best_file(4), best_file(6)}
    second = IntervalEvaluator(ie, tmp_path, "h", score, "m")
    assert [p["step"] for p in second.points] == [2, 4, 6]
    model.w, values[6] = 6, 9.0
    second(model, TrainProgress(6, 48, 6.0))
    assert {p.name for p in tmp_path.glob("best-s*.pt")} == {best_file(4)}
    fields = second.finish(model, TrainProgress(6, 48, 6.0))
    assert fields["checkpoint"] == "best" and fields["checkpoint_step"] == 4 and model.w == 4  # state loaded
    assert [p["metric"] for p in fields["curve"]] == [5.0, 3.0, 9.0]
    with pytest.raises(Exception, match="belongs to spec h"):
        IntervalEvaluator(ie, tmp_path, "other", score, "m")
    assert (tmp_path / CURVE_FILE).exists()


def test_unknown_selection_metric_fails_the_run_clearly(tmp_path):
    row = run(_spec(interval=IntervalEval(every=2, n_fake=100, metric="fid")), tmp_path)
    assert row["status"] == "failed" and "interval_eval metric 'fid' is not among" in row["error"]
    assert "fd_mnist" in row["error"]


@pytest.mark.parametrize("values, step, checkpoint", [((math.inf, math.inf, math.inf), 6, "final"),
                                                      ((math.inf, 2.0, math.nan), 4, "best")])
def test_best_without_a_finite_point_reports_the_final_state(tmp_path, values, step, checkpoint):
    """A toy reverse KL is inf until some sample is good: with no finite point there is nothing to
    select, and the row reports the final state and says so (the run used to fail after training)."""
    ie = IntervalEval(every=2, select="best", metric="m")
    by_step = dict(zip((2, 4, 6), values))

    def score(model):
        return {"metrics": {"m": by_step[model.w]}, "higher_is_better": {"m": False}, "n_real": 10}

    model = _Fake()
    evaluator = IntervalEvaluator(ie, tmp_path, "h", score, "m")
    for s in (2, 4, 6):
        model.w = s
        evaluator(model, TrainProgress(s, s * 8, float(s)))
    fields = evaluator.finish(model, TrainProgress(6, 48, 6.0))
    assert (fields["checkpoint"], fields["checkpoint_step"], model.w) == (checkpoint, step, step)
    assert ("fallback" in fields["interval_eval"]) is (checkpoint == "final")
    assert [p.name for p in tmp_path.glob("best-s*.pt")] == ([best_file(4)] if checkpoint == "best" else [])
