"""The one generic training loop: seeded batches, budgets, checkpoints, resume, divergence.

Every baseline trains here. The loop never looks inside the model: it hands
``model.batches_per_step`` batches to ``model.train_step`` and counts steps, real
images shown and wall seconds against the Budget; the first limit reached stops it.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from genbench.baselines.base import Baseline, Batch
from genbench.bench import distributed
from genbench.bench.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from genbench.bench.datasets import Split
from genbench.bench.perf import precision
from genbench.bench.spec import RunSpec, SpecError
from genbench.bench.timing import Stopwatch, peak_memory_bytes, reset_peak_memory

WARMUP_STEPS = 3  # steps excluded from the throughput reading (allocator, caches, lazy init)
# On a GPU, reading a loss on the host waits for the queue to drain; the loop checks losses for
# NaN/inf on the device every step but reads the flag only every SYNC_EVERY steps (and before
# every checkpoint and at the end), so the GPU never idles between steps.
SYNC_EVERY = 50


@dataclass
class TrainOutcome:
    status: str  # ok | diverged
    error: str | None
    steps: int
    images: int
    wall_seconds: float
    stopped_by: str | None
    train_img_per_s: float | None
    peak_mem_bytes: int | None  # this run's peak (bench.timing.peak_memory_bytes); None: not measurable
    last_losses: dict[str, float] = field(default_factory=dict)
    hook_seconds: float = 0.0  # time spent in the interval hook: in neither wall_seconds nor train_img_per_s
    world_size: int = 1  # data-parallel ranks; images and train_img_per_s count all of them

    @property
    def kimg(self) -> float:
        return self.images / 1000.0


@dataclass(frozen=True)
class TrainProgress:
    """Where training stands when the interval hook is called (wall_seconds excludes hook time)."""

    steps: int
    images: int
    wall_seconds: float

    @property
    def kimg(self) -> float:
        return self.images / 1000.0


# hook(model, progress): called after every ``hook_every``-th step (model in train mode; the loop
# puts it back in train mode afterwards). Its time is paused out of the wall budget and throughput.
StepHook = Callable[[Baseline, TrainProgress], None]


class BatchStream:
    """Deterministic shuffled batches without replacement; epoch e uses seed (seed, e).

    The position (epoch, offset) is the whole state, so a resumed run continues with
    exactly the batches the uninterrupted run would have seen. Incomplete tail batches
    are dropped. ``shard`` (rank, world size): a data-parallel rank's stream yields its rows
    [rank * b, (rank + 1) * b) of each global batch of ``batch_size``, b = batch_size / world
    size; every rank holds the same (epoch, offset).
    """

    def __init__(
        self, split: Split, batch_size: int, seed: int, device: torch.device, kind: str, channels_last: bool = False,
        shard: tuple[int, int] = (0, 1), num_classes: int | None = None,
    ) -> None:
        if batch_size > len(split):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(split)} training samples")
        if num_classes and split.y is not None and len(split.y) and (int(split.y.min()) < 0 or int(split.y.max()) >= num_classes):
            # checked once here, so that the conditional families need not read every batch's labels back
            # from a GPU (two host syncs per batch): they check the range only on the CPU
            raise ValueError(f"the training labels must lie in [0, {num_classes}) (the dataset's num_classes), "
                             f"got [{int(split.y.min())}, {int(split.y.max())}]")
        rank, world = shard
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} (the global batch) is not divisible by the world size {world}")
        self.local = batch_size // world  # rows of each batch this rank trains on
        self.start = rank * self.local
        self.memory_format = torch.channels_last if channels_last and kind == "image" else torch.contiguous_format
        self.x = split.x.to(device)
        if self.memory_format is torch.channels_last and self.x.dim() == 4:  # once: a gather keeps the layout
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = None if split.y is None else split.y.to(device)
        self.batch_size, self.seed, self.kind = batch_size, seed, kind
        self.epoch, self.offset = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.x.device)

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self._perm = self._permutation(self.epoch)

    def next(self) -> Batch:
        if self.offset + self.batch_size > len(self.x):
            self.epoch, self.offset = self.epoch + 1, 0
            self._perm = self._permutation(self.epoch)
        idx = self._perm[self.offset : self.offset + self.batch_size]
        if self.local != self.batch_size:
            idx = idx[self.start : self.start + self.local]
        self.offset += self.batch_size
        # the gather copies (in place below is safe, and is x / 127.5 - 1 exactly); index_select costs
        # less host time than x[idx], which keeps the channels_last layout that index_select drops
        x = (self.x[idx] if self.memory_format is torch.channels_last else self.x.index_select(0, idx)).float()
        if self.kind == "image":
            x = x.div_(127.5).sub_(1.0)
        if self.memory_format is torch.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)  # a no-op: kept for a layout the gather changed
        return Batch(x=x, y=None if self.y is None else self.y.index_select(0, idx))


def _finite(v: Any) -> bool:
    """Whether a loss value (a tensor of any shape, or a number) holds no NaN/inf."""
    if not isinstance(v, torch.Tensor):
        return math.isfinite(float(v))
    if v.numel() == 1 and v.device.type == "cpu":
        return math.isfinite(v.item())
    return bool(torch.isfinite(v).all())


class FiniteWatch:
    """Remembers the first step whose losses held a NaN/inf, without a host sync per step on GPUs.

    ``observe`` only keeps the step's (detached) losses; ``first_bad_step`` checks every step kept
    since the last check in one stacked test (a handful of kernels and one host read, however many
    steps), so the per-step cost is a list append: on a GPU the loop stays ahead of the device.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.first_bad: int | None = None
        self.bad_losses: dict[str, torch.Tensor] = {}

    def observe(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        if losses and self.first_bad is None:
            self.pending.append((step, {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in losses.items()}))

    def _finite_rows(self) -> list[bool]:
        vals = [v for _, d in self.pending for v in d.values()]
        widths = {len(d) for _, d in self.pending}
        # one stacked test of 0-d tensors on one device (compared with each other, not with the run's
        # device string: 'cuda' != the tensors' 'cuda:0') on a GPU or for several steps; one CPU
        # step's few values are read directly (no sync to save, and cheaper than the test's kernels)
        if len(widths) == 1 and all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in vals) and \
                len(devices := {v.device for v in vals}) == 1 and \
                (next(iter(devices)).type != "cpu" or len(self.pending) > 1):
            ok = torch.isfinite(torch.stack(vals)).view(len(self.pending), -1).all(1)  # stack promotes dtypes
            return ok.tolist()
        return [all(map(_finite, d.values())) for _, d in self.pending]

    def first_bad_step(self) -> int | None:
        """Host read (a sync on GPUs): the first non-finite step, or None."""
        if self.first_bad is None and self.pending:
            for (step, losses), ok in zip(self.pending, self._finite_rows()):
                if not ok:
                    self.first_bad, self.bad_losses = step, losses
                    break
            self.pending = []
        return self.first_bad


def _progress(total_steps: int | None, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total_steps, unit="step", dynamic_ncols=True, leave=False)


def train(
    spec: RunSpec,
    model: Baseline,
    train_split: Split,
    kind: str,
    run_dir: Path,
    generator: torch.Generator,
    resume: bool = True,
    progress: bool | None = None,
    hook: StepHook | None = None,
    hook_every: int = 0,
) -> TrainOutcome:
    """Train ``model`` (already ``setup``) until the budget stops it.

    Checkpoints go to ``run_dir/checkpoint.pt`` every ``spec.checkpoint_every`` steps and
    at the end; with ``resume`` an existing checkpoint of the same spec is continued.
    A non-finite loss stops the run with status 'diverged' (no exception).
    ``hook`` (with ``hook_every`` > 0) runs after every hook_every-th finite step, before that
    step's checkpoint, and a checkpoint follows every hook call (so a resumed run and the
    hook's own saved state agree). The time it takes counts neither against the wall budget nor
    in ``train_img_per_s``; it is returned as ``hook_seconds``.

    Inside a data-parallel run (``bench.distributed.current()``) every rank calls this in
    lockstep: each trains on its slice of the global batch, steps and images count the global
    batch, rank 0's wall clock decides the wall budget, rank 0 writes the checkpoint (with every
    rank's RNG state), and the hook (rank 0's evaluator, a no-op elsewhere) ends in a barrier.
    """
    if hook is not None and (isinstance(hook_every, bool) or not isinstance(hook_every, int) or hook_every < 1):
        raise ValueError(f"hook_every must be an integer >= 1 when a hook is given, got {hook_every!r}")
    device = torch.device(spec.device)
    budget = spec.budget
    ddp = distributed.current()
    rank, world = (ddp.rank, ddp.world_size) if ddp is not None else (0, 1)
    stream = BatchStream(
        train_split, int(model.hp["batch_size"]), spec.seed, device, kind, channels_last=spec.perf.channels_last,
        shard=(rank, world), num_classes=model.data_info.num_classes,
    )
    draws: Any = contextlib.nullcontext()
    if ddp is not None:  # rank 0's networks, gradient averaging, per-rank global RNG; draws of the global batch
        ddp.attach(model, spec.seed)
        draws = ddp.train_draws(model.generator, stream.local)
    ckpt_path = Path(run_dir) / CHECKPOINT_FILE
    steps, images, wall = 0, 0, 0.0
    # the throughput clock: images and seconds of the timed (post-warm-up) steps of every segment of
    # the run, checkpointed with the losses of the checkpoint's step, so that a resumed run's
    # train_img_per_s covers all its timed steps and a resume that takes no step keeps both readings
    timed = Stopwatch(device)
    timed_images, status, error, last, resumed_last = 0, "ok", None, {}, {}
    resumed_peak: int | None = None
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, spec.hash)
        made_on, now_on = state.get("data_sha256"), model.data_info.sha256
        if made_on is not None and now_on is not None and made_on != now_on:
            raise SpecError(
                f"{ckpt_path} was trained on other data (sha256 {made_on[:12]}…) than {spec.dataset!r} holds now "
                f"({now_on[:12]}…; data_root is not in the spec hash): delete the checkpoint to train afresh, or "
                "point --data-root back at the data it was trained on"
            )
        model.load_state_dict(state["model"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng_ranks"][rank] if "torch_rng_ranks" in state else state["torch_rng"])
        stream.restore(state["stream"])
        steps, images, wall = int(state["steps"]), int(state["images"]), float(state["wall_seconds"])
        # absent from older checkpoints: the loss scale restarts, the clock counts this segment only
        if model.amp_scaler is not None and state.get("amp_scaler"):
            model.amp_scaler.load_state_dict(state["amp_scaler"])
        timed_images, timed.seconds = int(state.get("timed_images", 0)), float(state.get("timed_seconds", 0.0))
        resumed_last = {k: float(v) for k, v in state.get("last_losses", {}).items()}
        resumed_peak = state.get("peak_mem_bytes")  # the earlier segments' peak (absent: older checkpoints)

    def run_peak() -> int | None:
        """The run's peak memory so far: this segment's and the checkpointed segments' (None: unknown)."""
        known = [p for p in (resumed_peak, peak_memory_bytes(device)) if p is not None]
        return max(known) if known else None

    def checkpoint(step_losses: dict[str, float]) -> None:
        """Written with the throughput clock stopped (so ``timed.seconds`` is all of it)."""
        ranks_rng = ddp.gather_object(torch.get_rng_state()) if ddp is not None else None
        if rank != 0:
            return
        extra = {} if ddp is None else {"world_size": world, "torch_rng_ranks": ranks_rng}
        if model.amp_scaler is not None:  # the fp16 loss scale and its growth tracker
            extra["amp_scaler"] = model.amp_scaler.state_dict()
        save_checkpoint(
            ckpt_path,
            {
                "spec_hash": spec.hash, "data_sha256": model.data_info.sha256, "steps": steps, "images": images,
                "wall_seconds": wall,
                "model": model.state_dict(), "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(), "stream": stream.state(),
                "timed_images": timed_images, "timed_seconds": timed.seconds, "last_losses": step_losses,
                "peak_mem_bytes": run_peak(), **extra,
            },
        )

    def read_losses() -> dict[str, float]:
        """This step's losses on the host (the global batch's mean in a data-parallel run)."""
        read = {k: float(v) for k, v in losses.items()}
        return ddp.mean_losses(read) if ddp is not None and read else read

    reset_peak_memory(device)
    show = (sys.stderr.isatty() if progress is None else progress) and rank == 0
    bar = _progress(budget.max_steps, show)
    hook_seconds = 0.0
    model.train()
    t_start = time.perf_counter() - wall
    stopped_by = budget.reached(steps, images / 1000.0, wall)
    local_step = 0
    watch = FiniteWatch()
    sync_every = SYNC_EVERY if device.type == "cuda" else 1
    while stopped_by is None:
        if local_step == WARMUP_STEPS:
            timed.start()
        if ddp is not None:  # DDP's broadcast_buffers: every rank starts the step from rank 0's buffers
            ddp.broadcast_networks(model, parameters=False)
        batches = [stream.next() for _ in range(model.batches_per_step)]
        with precision(spec.perf, device), draws:
            losses = model.train_step(batches)
        model.amp_update()
        steps += 1
        local_step += 1
        n_img = sum(len(b) for b in batches) * world
        images += n_img
        if local_step > WARMUP_STEPS:
            timed_images += n_img
        watch.observe(steps, losses)
        will_checkpoint = bool(spec.checkpoint_every and steps % spec.checkpoint_every == 0)
        will_hook = hook is not None and steps % hook_every == 0
        wall = time.perf_counter() - t_start
        if ddp is not None and budget.max_wall_seconds is not None:  # every rank stops at the same step
            wall = ddp.broadcast_scalar(wall)
        stopped_by = budget.reached(steps, images / 1000.0, wall)
        if will_checkpoint or will_hook or stopped_by is not None or local_step % sync_every == 0:
            bad_step = own_bad = watch.first_bad_step()
            if ddp is not None:  # a non-finite loss on any rank stops every rank
                bad_step = ddp.first_bad_step(own_bad)
            if bad_step is not None:
                shown = watch.bad_losses or losses
                status = "diverged"
                error = f"non-finite loss at step {bad_step}" + (
                    f" (seen at step {steps})" if bad_step != steps else ""
                ) + (f" on another rank (rank {rank}'s losses at step {steps})" if own_bad != bad_step else "") + (
                    ": " + ", ".join(f"{k}={float(v):.4g}" for k, v in shown.items())
                )
                break
        if bar is not None:
            bar.update(1)
            if local_step % sync_every == 0:
                last = {k: float(v) for k, v in losses.items()}
                bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()}, refresh=False)
        if will_hook:  # paused out of the wall clock and the throughput clock
            if local_step > WARMUP_STEPS:
                timed.stop()
            t_hook = time.perf_counter()
            hook(model, TrainProgress(steps, images, wall))
            model.train()
            if ddp is not None:
                ddp.barrier()
            spent = time.perf_counter() - t_hook
            hook_seconds += spent
            t_start += spent
            if local_step > WARMUP_STEPS:
                timed.start()
        if will_checkpoint or will_hook:  # written outside the throughput clock (checkpoint_every is not
            timing = local_step > WARMUP_STEPS  # in the spec hash, so it must not change train_img_per_s)
            if timing:
                timed.stop()
            t_ckpt = time.perf_counter()
            checkpoint(read_losses())
            if not will_checkpoint:  # written only because the hook ran: outside the wall budget, as the hook
                spent = time.perf_counter() - t_ckpt
                hook_seconds += spent
                t_start += spent
            if timing:
                timed.start()
    if local_step > WARMUP_STEPS:
        timed.stop()
    wall = time.perf_counter() - t_start
    if bar is not None:
        bar.close()
    if status == "ok":
        last = read_losses() if local_step else resumed_last  # no step: a resume of a finished run
        checkpoint(last)
    throughput = timed_images / timed.seconds if timed.seconds > 0 else None
    peak = run_peak()
    if ddp is not None:  # the largest rank's peak; None where no rank could measure its own
        peak = int(ddp.max_scalar(-1 if peak is None else peak))
        peak = None if peak < 0 else peak
    return TrainOutcome(
        status=status, error=error, steps=steps, images=images, wall_seconds=wall,
        stopped_by=stopped_by if status == "ok" else None, train_img_per_s=throughput,
        peak_mem_bytes=peak, last_losses=last, hook_seconds=hook_seconds, world_size=world,
    )


def finite_or_none(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
