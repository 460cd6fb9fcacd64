"""Data-parallel training and sharded evaluation (bench/distributed.py) with 2 gloo ranks on CPU.

The 2-rank checks run once per module, in one launch of 2 spawned ranks (1 torch thread each;
each launch costs two fresh interpreters), and are compared here with the same code run in one
process: the loss trajectory of a model without batch statistics, bit-identical resume, equal
parameters on every rank, sharded evaluation against unsharded, a whole data-parallel run (its
row and checkpoint), and a rank that raises (the launch stops the rank waiting for it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genbench.bench import distributed
from genbench.bench.checkpoint import CHECKPOINT_FILE
from genbench.bench.cli import build_parser, main as cli_main, _spec_from_args
from genbench.bench.distributed import GlobalDraws, shard_bounds
from genbench.bench.results import read_jsonl
from genbench.bench.runner import _score_samples, build_model, prepare, run
from genbench.bench.spec import Budget, EvalProtocol, RunSpec, SpecError
from genbench.bench.train import train

VAE = {"batch_size": 16, "ch": 4, "hidden": 32, "z_dim": 8}  # no batch statistics
DCGAN = {"batch_size": 16, "ngf": 8, "ndf": 8}  # BatchNorm in G and D
VAE_STEPS = 5
N_FAKE = 301  # odd: the two shards differ in size


def vae_spec(world_size: int = 1) -> RunSpec:
    return RunSpec("vae", "mnist", Budget(max_steps=VAE_STEPS), seed=3, overrides=VAE,
                   protocol=EvalProtocol(n_fake=N_FAKE), world_size=world_size)


def dcgan_spec(world_size: int) -> RunSpec:
    return RunSpec("dcgan", "mnist", Budget(max_steps=6), overrides=DCGAN, checkpoint_every=3,
                   protocol=EvalProtocol(n_fake=64), world_size=world_size)


def gan_points_spec(world_size: int) -> RunSpec:
    return RunSpec("gan", "ring8", Budget(max_steps=1), overrides={"batch_size": 16},
                   protocol=EvalProtocol(n_fake=N_FAKE), world_size=world_size)


def train_recording(spec: RunSpec, run_dir: Path, crash_at: int | None = None):
    """Train ``spec`` from scratch; returns (model, per-step losses). crash_at: raise at that call."""
    prep = prepare(spec)
    model, gen = build_model(prep)
    real_step, trajectory = model.train_step, []

    def step(batches):
        if crash_at is not None and len(trajectory) + 1 == crash_at:
            raise _Interrupt()
        out = real_step(batches)
        trajectory.append({k: float(v) for k, v in out.items()})
        return out

    model.train_step = step  # type: ignore[method-assign]
    train(spec, model, prep.dataset.split("train"), prep.dataset.info.kind, run_dir, gen, resume=True, progress=False)
    model.train_step = real_step  # type: ignore[method-assign]
    return model, trajectory


class _Interrupt(Exception):
    pass


def _params(model) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.detach().clone() for n in ("G", "D") for k, v in getattr(model, n).named_parameters()}


def _session(spec: RunSpec, root: str) -> None:
    """Runs in each of the 2 ranks; every rank saves what the parent compares to rank{r}.pt."""
    ddp = distributed.current()
    root_p = Path(root)
    out: dict = {}
    # 1. the loss trajectory of a model without batch statistics
    model, out["vae_losses"] = train_recording(spec, root_p / "vae")
    out["vae_state"] = model.state_dict()
    # 2. sharded evaluation of this model against the unsharded code path on the same model
    prep = prepare(spec)
    model.eval()
    gen = torch.Generator().manual_seed(11)
    shard = ddp.sample_shard(model, N_FAKE, gen, None)
    out["shard_len"] = len(shard)
    gathered = ddp.gather_rows(shard)
    row: dict = {"metrics": {}, "higher_is_better": {}}
    _score_samples(row, shard, prep, root_p / f"sharded{ddp.rank}", shard=ddp)
    if ddp.is_main:
        full = model.sample(N_FAKE, torch.Generator().manual_seed(11))
        ref: dict = {"metrics": {}, "higher_is_better": {}}
        _score_samples(ref, full, prep, root_p / "unsharded")
        out.update(gathered=gathered, full=full, sharded_metrics=row["metrics"], unsharded_metrics=ref["metrics"],
                   sharded_n=row["n_fake"])
    # 3. points (mode metrics over every sample at once), sharded vs unsharded
    pprep = prepare(gan_points_spec(2))
    pmodel, _ = build_model(pprep)
    pmodel.eval()
    pshard = ddp.sample_shard(pmodel, N_FAKE, torch.Generator().manual_seed(5), None)
    prow: dict = {"metrics": {}, "higher_is_better": {}}
    _score_samples(prow, pshard, pprep, root_p / f"points{ddp.rank}", shard=ddp)
    if ddp.is_main:
        pref: dict = {"metrics": {}, "higher_is_better": {}}
        _score_samples(pref, pmodel.sample(N_FAKE, torch.Generator().manual_seed(5)), pprep, root_p / "points")
        out.update(points_sharded=prow["metrics"], points_unsharded=pref["metrics"])
    # 4. BatchNorm model: straight vs interrupted-and-resumed, parameters on both ranks
    dspec = dcgan_spec(2)
    straight, _ = train_recording(dspec, root_p / "straight")
    with pytest.raises(_Interrupt):
        train_recording(dspec, root_p / "resumed", crash_at=5)  # after the step-3 checkpoint
    resumed, _ = train_recording(dspec, root_p / "resumed")
    out.update(straight=straight.state_dict(), resumed=resumed.state_dict(), dcgan_params=_params(straight))
    # 5. a whole run as each rank runs it under `genbench run --nproc 2` or torchrun; then again (reused)
    out["row"] = run(run_spec(), root_p / "runs")
    out["again"] = run(run_spec(), root_p / "runs")
    torch.save(out, root_p / f"rank{ddp.rank}.pt")
    # 6. rank 1 fails while rank 0 waits for it: the launch must stop rank 0 and report rank 1's error
    if ddp.rank == 1:
        raise _Deliberate("rank 1 gives up")
    ddp.barrier()


class _Deliberate(RuntimeError):
    pass


def run_spec() -> RunSpec:
    return dcgan_spec(2).replace(budget=Budget(max_steps=4), checkpoint_every=2,
                                 interval_eval={"every": 2, "n_fake": 32, "select": "best"})


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    with pytest.raises(distributed.RankFailed) as failed:
        distributed.launch(_session, vae_spec(2), str(root), threads=1)
    return [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(2)], root, failed.value


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return train_recording(vae_spec(1), tmp_path_factory.mktemp("vae1"))


def test_two_ranks_follow_the_one_process_loss_trajectory(two_ranks, one_process):
    (r0, r1), *_ = two_ranks
    model, single = one_process
    assert len(single) == len(r0["vae_losses"]) == len(r1["vae_losses"]) == VAE_STEPS
    for step, (one, a, b) in enumerate(zip(single, r0["vae_losses"], r1["vae_losses"])):
        for key in one:  # each rank's loss is its slice's mean: their mean is the global batch's
            assert (a[key] + b[key]) / 2 == pytest.approx(one[key], rel=1e-5, abs=1e-6), (step, key)
        assert a != b  # the ranks saw different rows
    one = torch.cat([v.reshape(-1) for v in _tensors(model.state_dict())])  # networks and Adam moments
    two = torch.cat([v.reshape(-1) for v in _tensors(r0["vae_state"])])
    torch.testing.assert_close(two, one, rtol=1e-4, atol=1e-5)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        return [obj.float()] if obj.is_floating_point() else []
    if isinstance(obj, dict):
        return [t for k in sorted(obj, key=str) for t in _tensors(obj[k])]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def test_sharded_evaluation_equals_unsharded(two_ranks):
    (r0, r1), *_ = two_ranks
    assert (r0["shard_len"], r1["shard_len"]) == (150, 151)
    assert torch.equal(r0["gathered"], r0["full"])  # each shard's latents are the one-process rows
    assert r0["sharded_n"] == N_FAKE
    assert r0["sharded_metrics"] and r0["sharded_metrics"] == r0["unsharded_metrics"]
    assert r0["points_sharded"] and r0["points_sharded"] == r0["points_unsharded"]


def test_ranks_stay_replicas_and_resume_is_bit_identical(two_ranks):
    (r0, r1), *_ = two_ranks
    for key, value in r0["dcgan_params"].items():  # averaged gradients keep every rank's parameters equal
        assert torch.equal(value, r1["dcgan_params"][key]), key
    from test_train_loop import assert_same_state

    assert_same_state(r0["straight"], r0["resumed"])
    assert_same_state(r1["straight"], r1["resumed"])


def test_global_draws_are_the_rows_of_one_draw():
    cases = [  # (draw at size n, batch dimension)
        (lambda g, n: torch.randn(n, 3, generator=g), 0),
        (lambda g, n: torch.rand((n, 2, 2), generator=g), 0),
        (lambda g, n: torch.randn(2, n, 5, generator=g), 1),  # StyleGAN's (2, n, z) latents
        (lambda g, n: torch.randint(0, 10, (n,), generator=g), 0),
        (lambda g, n: torch.randint(7, size=(n, 4), generator=g), 0),
        (lambda g, n: torch.normal(0.0, 2.0, (n, 3), generator=g), 0),
        (lambda g, n: torch.empty(n, 3).uniform_(generator=g), 0),
    ]
    for draw, dim in cases:
        for start in (0, 3, 6):
            g, ref = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
            with GlobalDraws(g, local=3, total=9, start=start):
                part = draw(g, 3)
                after = torch.rand((), generator=g)  # a scalar: the same draw as one process
            whole = draw(ref, 9)
            assert torch.equal(part, whole.narrow(dim, start, 3))
            assert torch.equal(after, torch.rand((), generator=ref))
    g, other = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    with GlobalDraws(g, local=3, total=9, start=3):
        untouched = torch.randn(3, 2, generator=other)  # another generator is left alone
    assert torch.equal(untouched, torch.randn(3, 2, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="not inside"):
        GlobalDraws(g, local=4, total=9, start=6)
    randn, inherited = torch.randn, "normal_" not in vars(torch.Tensor)
    with pytest.raises(KeyError), GlobalDraws(g, local=3, total=9, start=0):
        assert torch.randn is not randn
        raise KeyError
    assert torch.randn is randn and ("normal_" not in vars(torch.Tensor)) == inherited  # wrappers removed


def test_shards_cover_the_rows_in_order():
    for n in (1, 7, 301, 1000):
        for world in (1, 2, 3, 8):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
            assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_world_size_in_the_hash_only_above_one():
    one, two = vae_spec(1), vae_spec(2)
    assert "world_size" not in one.hashed_fields() and two.hashed_fields()["world_size"] == 2
    assert one.hash != two.hash
    assert RunSpec.from_dict(two.to_dict()) == two
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SpecError, match="world_size"):
            RunSpec("vae", "mnist", Budget(max_steps=1), world_size=bad)


def test_bad_data_parallel_specs_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(SpecError, match="not divisible by the world size 3"):
        prepare(RunSpec("vae", "mnist", Budget(max_steps=1), overrides=VAE, world_size=3))
    with pytest.raises(SpecError, match="smaller than the world size"):
        prepare(RunSpec("vae", "mnist", Budget(max_steps=1), overrides=VAE, protocol=EvalProtocol(n_fake=1),
                        world_size=2))
    with pytest.raises(SpecError, match="--device cuda"):
        distributed.check_spec(RunSpec("vae", "mnist", Budget(max_steps=1), device="cuda:1", world_size=2), 16)
    with pytest.raises(SpecError, match="'fast-style' cannot run data-parallel: it learns its style images"):
        prepare(RunSpec("fast-style", "skimage-style", Budget(max_steps=1), world_size=2))  # failed in the collectives
    assert cli_main(["run", "--baseline", "vae", "--dataset", "mnist", "--steps", "1", "--set", "batch_size=15",
                     "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_nproc_flag_and_torchrun_environment(monkeypatch):
    args = ["run", "--baseline", "vae", "--dataset", "mnist", "--steps", "1"]
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert _spec_from_args(build_parser().parse_args(args)).world_size == 1
    assert _spec_from_args(build_parser().parse_args([*args, "--nproc", "4"])).world_size == 4
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun the launch decides
    assert _spec_from_args(build_parser().parse_args(args)).world_size == 2
    with pytest.raises(SpecError, match="WORLD_SIZE=2"):
        _spec_from_args(build_parser().parse_args([*args, "--nproc", "3"]))


def test_a_data_parallel_run_writes_one_row_and_one_checkpoint(two_ranks):
    (r0, r1), root, _ = two_ranks
    spec, row = run_spec(), r0["row"]
    assert r1["row"] == row and r0["again"] == row  # every rank returns rank 0's row; a finished run is reused
    assert row["status"] == "ok", row["error"]
    assert row["world_size"] == 2 and row["steps"] == 4 and row["kimg"] == 4 * 16 / 1000
    assert row["train_img_per_s_per_rank"] == pytest.approx(row["train_img_per_s"] / 2)
    assert row["metrics"]["fd_mnist"] > 0 and row["n_fake"] == 64
    assert [p["step"] for p in row["curve"]] == [2, 4] and row["checkpoint"] == "best"
    assert "--nproc 2" in row["command"] or "world_size" in row["command"]
    run_dir = root / "runs" / spec.run_name
    state = torch.load(run_dir / CHECKPOINT_FILE, weights_only=True)
    assert state["world_size"] == 2 and len(state["torch_rng_ranks"]) == 2 and state["steps"] == 4
    assert not torch.equal(state["torch_rng_ranks"][0], state["torch_rng_ranks"][1])  # per-rank global RNG
    assert [r["spec_hash"] for r in read_jsonl(root / "runs" / "results.jsonl")] == [spec.hash]
    assert json.loads((run_dir / "row.json").read_text())["world_size"] == 2


def test_a_failing_rank_stops_the_launch_with_its_error(two_ranks):
    *_, failed = two_ranks
    assert str(failed) == "data-parallel rank 1 failed: test_distributed._Deliberate: rank 1 gives up"
    assert "Traceback" in failed.traceback
