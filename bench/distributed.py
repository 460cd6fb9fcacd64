"""Data-parallel runs: N processes ("ranks") train one model on slices of each global batch.

A RunSpec with ``world_size`` N > 1 runs as N ranks in a torch.distributed process group: gloo
on CPU, nccl with ``device='cuda'`` (rank r on ``cuda:LOCAL_RANK``). ``genbench run --nproc N``
(``runner.run`` with such a spec) starts the N local ranks itself (``launch``: spawned
processes meeting through a file store); under an existing ``torchrun`` launch (RANK and
WORLD_SIZE set) every process joins that group instead (``join_launch``). What each part does:

- Batches: ``batch_size`` is the global batch B (divisible by N). Every rank draws the same
  permutation of the training split from the run seed (``BatchStream``, whose whole state
  (epoch, offset) is the same on every rank) and takes rows [r B/N, (r+1) B/N) of each batch.
- Randomness: the model's generator has the same state on every rank. Inside ``train_step``
  (``GlobalDraws``) a draw from it that has a dimension of the rank's batch size (latents,
  noise maps, dropout masks, sampled labels) is made at the global size and the rank keeps its
  rows, so the rank's latents are exactly its rows of the one-process latents and the
  generator advances as in one process. Other draws (scalars, permutations of the local
  batch) come out alike on every rank. The global torch RNG is per rank: rank 0 keeps the
  run's stream, rank r > 0 is reseeded from (seed, r); checkpoints keep every rank's state.
- Gradients: ``Baseline.optimizer_step`` averages the gradients of the optimizer's parameters
  over the ranks (one all-reduce per dtype) before stepping. With losses that are means over
  equal slices this is the gradient of the global batch, as DistributedDataParallel computes
  it; parameters start equal (broadcast from rank 0), so they stay equal.
- Batch statistics: BatchNorm normalises with each rank's slice (DDP without SyncBatchNorm);
  buffers (running statistics) are broadcast from rank 0 before every step, as DDP's
  ``broadcast_buffers`` does, so the state that is saved and sampled is rank 0's. SyncBatchNorm
  is not used, on CPU or GPU. This changes the numbers, so world size is in the spec hash.
- Budget: a step is one global step, images count the global batch (kimg as in one process);
  the wall clock is rank 0's, broadcast every step, so every rank stops at the same step; a
  non-finite loss on any rank stops all of them (status 'diverged').
- Checkpoints: rank 0 writes the one ``checkpoint.pt`` (the usual keys plus ``world_size`` and
  ``torch_rng_ranks``); every rank loads it on resume, which is bit-identical to the
  uninterrupted data-parallel run.
- Evaluation: the n_fake samples are split into contiguous shards (``shard_bounds``); rank r
  samples its shard with the evaluation generator under ``GlobalDraws`` (the latents one
  process draws for those rows) and extracts its features; features and logits are gathered
  to rank 0 in order (exact float32 values), which computes FeatureStats and every metric, so
  they equal one process's on the same samples. What needs the whole model or data at once
  (image-to-image and style scoring, ``Baseline.evaluate``, code accuracy, interval
  evaluation) runs on rank 0 while the others wait.
- Rows: rank 0 writes the one row, with ``world_size``, ``train_img_per_s`` (all ranks) and
  ``train_img_per_s_per_rank`` (per GPU under nccl).

Not exact: per-rank state a model keeps outside its networks (CycleGAN's image pool, BEGAN's
k_t, which follows each rank's losses) is rank 0's after a resume; counters a model derives
from ``len(batch)`` (EMA half-lives in kimg, learning-rate schedules in images) see the
rank's slice unless the model multiplies by ``Baseline.world_size``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist

from genbench.bench.perf import networks
from genbench.bench.spec import RunSpec, SpecError

ENV_KEYS = ("RANK", "WORLD_SIZE")
# A rank that waits this long in a collective raises. Ranks > 0 wait this way while rank 0 alone
# evaluates the whole split (image-to-image, style, Baseline.evaluate), hence more than the 30 min default.
TIMEOUT = _dt.timedelta(hours=2)
_NO_BAD_STEP = 2**62

_current: "Dist | None" = None


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows [start, end) of rank ``rank`` when n rows are split into contiguous shards in rank order.

    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return rank * n // world_size, (rank + 1) * n // world_size


def rank_seed(seed: int, rank: int) -> int:
    """The global-RNG seed of rank ``rank`` > 0 (rank 0 keeps the run seed's stream)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


def current() -> "Dist | None":
    """This process's rank in a data-parallel run, or None outside one."""
    return _current


def in_launch() -> bool:
    """True under a launcher that set RANK and WORLD_SIZE (torchrun, or ``launch``'s ranks)."""
    return all(k in os.environ for k in ENV_KEYS)


def launch_rank() -> int | None:
    """RANK of this process under a launcher, else None (a plain single-process run)."""
    return int(os.environ["RANK"]) if in_launch() else None


def resolve_world_size(nproc: int | None) -> int:
    """World size of a run from ``--nproc`` and the environment of a torchrun launch."""
    env = int(os.environ["WORLD_SIZE"]) if in_launch() else None
    if nproc is not None and (isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1):
        raise SpecError(f"--nproc must be an integer >= 1, got {nproc!r}")
    if env is not None and nproc is not None and env != nproc:
        raise SpecError(f"--nproc {nproc} but this process is one of WORLD_SIZE={env} launched by torchrun; "
                        "drop --nproc under torchrun (the launch decides the world size)")
    return env if env is not None else (nproc or 1)


def check_spec(spec: RunSpec, batch_size: int, baseline: Any = None) -> None:
    """What a data-parallel spec needs before anything runs (raises SpecError); ``baseline``: the
    baseline class, whose ``data_parallel_refusal`` (a reason) refuses world size > 1."""
    n = spec.world_size
    if n == 1:
        return
    reason = getattr(baseline, "data_parallel_refusal", "")
    if reason:
        raise SpecError(f"baseline {spec.baseline!r} cannot run data-parallel: {reason}; run with --nproc 1")
    if batch_size % n:
        raise SpecError(f"batch_size {batch_size} (the global batch) is not divisible by the world size {n}; "
                        f"pick --set batch_size=<a multiple of {n}> or another --nproc")
    if spec.protocol.n_fake < n:
        raise SpecError(f"n_fake {spec.protocol.n_fake} is smaller than the world size {n}: every rank samples a shard")
    dev = torch.device(spec.device)
    if dev.type not in ("cpu", "cuda"):
        raise SpecError(f"data-parallel runs use gloo on cpu or nccl on cuda, not device {spec.device!r}")
    if dev.type == "cuda" and dev.index is not None:
        raise SpecError(f"with world size {n} use --device cuda (rank r runs on cuda:LOCAL_RANK), not {spec.device!r}")
    if not dist.is_available():
        raise SpecError("this PyTorch build has no torch.distributed; run with world size 1")


# -- draws of the global batch ---------------------------------------------------------------------
_SIZED = ("randn", "rand", "randint", "normal")  # torch.<name>(..., size, generator=...)
_INPLACE = ("normal_", "uniform_", "random_", "exponential_", "cauchy_", "log_normal_", "geometric_", "bernoulli_")
_SIZE_TYPES = (tuple, list, torch.Size)


def _size_of(name: str, args: tuple, kwargs: dict) -> tuple[Sequence[int], Callable[[tuple], tuple]] | None:
    """The size argument of a call to ``torch.<name>`` and how to rebuild (args, kwargs) with another."""
    if "size" in kwargs:
        return kwargs["size"], lambda s: (args, {**kwargs, "size": s})
    if name in ("randn", "rand"):  # randn(2, 3) or randn((2, 3))
        if len(args) == 1 and isinstance(args[0], _SIZE_TYPES):
            return args[0], lambda s: ((s, *args[1:]), kwargs)
        return args, lambda s: (s, kwargs)
    if args and isinstance(args[-1], _SIZE_TYPES):  # randint(low, high, size), normal(mean, std, size)
        return args[-1], lambda s: ((*args[:-1], s), kwargs)
    return None


class GlobalDraws:
    """Inside this context, draws from ``generator`` are rows of the global batch's draws.

    A call to ``torch.randn / rand / randint / normal(..., size)`` or an in-place sampler
    (``Tensor.normal_``, ``uniform_``, ...) with ``generator=generator`` whose size has a
    dimension equal to ``local`` (the first such dimension is the batch dimension) is made with
    that dimension ``total`` instead, and rows [start, start + local) of it are returned: what
    one process drawing for the whole batch would hand these rows, and the generator ends in
    the same state. Draws without such a dimension, other generators and other functions are
    left alone. Only those functions are wrapped (on entry, restored on exit), so every other
    operation runs at full speed (a TorchFunctionMode would dispatch each one through Python).

    >>> g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    >>> with GlobalDraws(g1, local=2, total=6, start=2):
    ...     part = torch.randn(2, 3, generator=g1)
    >>> torch.equal(part, torch.randn(6, 3, generator=g2)[2:4])
    True
    """

    def __init__(self, generator: torch.Generator, local: int, total: int, start: int) -> None:
        if not 0 <= start <= start + local <= total:
            raise ValueError(f"rows [{start}, {start + local}) are not inside a batch of {total}")
        self.generator, self.local, self.total, self.start = generator, local, total, start
        self._undo: list[tuple[Any, str, Any]] = []

    def _dim(self, size: Sequence[int]) -> int | None:
        return next((d for d, s in enumerate(size) if int(s) == self.local), None)

    def _rows(self, full: torch.Tensor, dim: int) -> torch.Tensor:
        return full.narrow(dim, self.start, self.local).contiguous()

    def _sized(self, name: str, draw: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        @functools.wraps(draw)
        def global_draw(*args: Any, **kwargs: Any) -> torch.Tensor:
            found = _size_of(name, args, kwargs) if kwargs.get("generator") is self.generator else None
            dim = None if found is None else self._dim(found[0])
            if dim is None:
                return draw(*args, **kwargs)
            size = [int(s) for s in found[0]]
            size[dim] = self.total
            args, kwargs = found[1](tuple(size))
            return self._rows(draw(*args, **kwargs), dim)

        return global_draw

    def _inplace(self, sampler: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        @functools.wraps(sampler)
        def global_sampler(target: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            dim = self._dim(target.shape) if kwargs.get("generator") is self.generator else None
            if dim is None:
                return sampler(target, *args, **kwargs)
            shape = list(target.shape)
            shape[dim] = self.total
            full = sampler(target.new_empty(shape), *args, **kwargs)
            with torch.no_grad():
                target.copy_(self._rows(full, dim))
            return target

        return global_sampler

    def __enter__(self) -> "GlobalDraws":
        if self._undo:
            raise RuntimeError("GlobalDraws is already active; it is not re-entrant")
        if self.local == self.total:
            return self
        for name in _SIZED:
            self._undo.append((torch, name, getattr(torch, name)))
            setattr(torch, name, self._sized(name, getattr(torch, name)))
        for name in _INPLACE:
            self._undo.append((torch.Tensor, name, vars(torch.Tensor).get(name)))  # None: inherited from TensorBase
            setattr(torch.Tensor, name, self._inplace(getattr(torch.Tensor, name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


# -- the process group --------------------------------------------------------------------------------
@dataclass
class Dist:
    """This process's place in a data-parallel run, and the collectives the harness uses.

    Data-plane collectives (gradients, parameters, features) run on ``device`` through the
    backend (gloo: CPU tensors, nccl: CUDA tensors); host-side scalars and objects (wall clock,
    divergence flags, RNG states, the row) go through ``control``, a gloo group (the default
    group itself under gloo), so they never wait for a GPU queue.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    control: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def bounds(self, n: int) -> tuple[int, int]:
        return shard_bounds(n, self.rank, self.world_size)

    def shard_size(self, n: int) -> int:
        start, end = self.bounds(n)
        return end - start

    # host-side scalars and objects (control group)
    def barrier(self) -> None:
        dist.barrier(group=self.control)

    def _host(self, values: Sequence[float], op: Any) -> list[float]:
        t = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(t, op=op, group=self.control)
        return t.tolist()

    def broadcast_scalar(self, value: float) -> float:
        """Rank 0's ``value`` on every rank."""
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.broadcast(t, src=0, group=self.control)
        return float(t.item())

    def max_scalar(self, value: float) -> float:
        return self._host([value], dist.ReduceOp.MAX)[0]

    def first_bad_step(self, step: int | None) -> int | None:
        """The earliest non-finite step over all ranks (None: every rank's losses are finite)."""
        got = int(self._host([_NO_BAD_STEP if step is None else step], dist.ReduceOp.MIN)[0])
        return None if got >= _NO_BAD_STEP else got

    def mean_losses(self, losses: dict[str, float]) -> dict[str, float]:
        """Each loss averaged over the ranks (a batch mean of equal slices: the global batch's mean)."""
        keys = sorted(losses)
        sums = self._host([losses[k] for k in keys], dist.ReduceOp.SUM)
        return {k: s / self.world_size for k, s in zip(keys, sums)}

    def broadcast_object(self, obj: Any) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def gather_object(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0, None on the others."""
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0, group=self.control)
        return out

    # data plane
    def _flat_apply(self, tensors: Sequence[torch.Tensor], collective: Callable[[torch.Tensor], None]) -> None:
        """Run ``collective`` on one flat buffer per (device, dtype) and copy the result back."""
        buckets: dict[tuple[Any, Any], list[torch.Tensor]] = {}
        for t in tensors:
            buckets.setdefault((t.device, t.dtype), []).append(t)
        for group in buckets.values():
            flat = torch.cat([t.detach().reshape(-1) for t in group]).to(self.device)
            collective(flat)
            offset = 0
            with torch.no_grad():
                for t in group:
                    t.copy_(flat[offset : offset + t.numel()].view_as(t))
                    offset += t.numel()

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Replace the gradients of ``optimizer``'s parameters by their mean over the ranks."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if any(g.is_sparse for g in grads):
            raise ValueError("data-parallel gradient averaging takes dense gradients; a parameter has a sparse one")

        def mean(flat: torch.Tensor) -> None:
            dist.all_reduce(flat)
            flat.div_(self.world_size)

        self._flat_apply(grads, mean)

    def broadcast_networks(self, model: Any, parameters: bool = True) -> None:
        """Rank 0's parameters (with ``parameters``) and buffers of every network of ``model``."""
        seen: set[int] = set()
        tensors = []
        for _, net in networks(model):
            for t in [*(net.parameters() if parameters else ()), *net.buffers()]:
                if id(t) not in seen:
                    seen.add(id(t))
                    tensors.append(t.data)
        self._flat_apply(tensors, lambda flat: dist.broadcast(flat, src=0))

    def gather_rows(self, x: torch.Tensor) -> torch.Tensor | None:
        """Every rank's rows of ``x`` (same trailing shape), concatenated in rank order on rank 0
        (on ``x``'s device); None on the other ranks."""
        local = x.detach().contiguous().to(self.device)
        n = torch.tensor([local.shape[0]], dtype=torch.int64, device=self.device)
        sizes = [torch.zeros_like(n) for _ in range(self.world_size)]
        dist.all_gather(sizes, n)
        counts = [int(s) for s in sizes]
        buf = local.new_zeros((max(counts), *local.shape[1:]))
        buf[: local.shape[0]] = local
        out = [torch.empty_like(buf) for _ in range(self.world_size)] if self.is_main else None
        dist.gather(buf, out, dst=0)
        if out is None:
            return None
        return torch.cat([o[:c] for o, c in zip(out, counts)]).to(x.device)

    # model helpers
    def attach(self, model: Any, seed: int) -> None:
        """Make ``model`` a replica: rank 0's networks, gradient averaging in ``optimizer_step``,
        ``model.world_size``, and this rank's global RNG stream (rank 0 keeps the run's)."""
        model.world_size = self.world_size
        model.grad_reducer = self.average_gradients
        self.broadcast_networks(model)
        if self.rank > 0:
            torch.manual_seed(rank_seed(seed, self.rank))

    def train_draws(self, generator: torch.Generator, local: int) -> GlobalDraws:
        """Draws of a training step: this rank's rows of the global batch (``local`` per rank)."""
        return GlobalDraws(generator, local, local * self.world_size, local * self.rank)

    def sample_shard(
        self, model: Any, n: int, generator: torch.Generator, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """This rank's rows of ``model.sample(n, generator, condition)``: the same latents and
        conditions one process uses for those rows, drawn under ``GlobalDraws``."""
        start, end = self.bounds(n)
        with GlobalDraws(generator, end - start, n, start):
            return model.sample(end - start, generator, None if condition is None else condition[start:end])


def idle_hook(model: Any, progress: Any) -> None:
    """The interval hook of ranks > 0: rank 0 evaluates while they wait at the loop's barrier."""


def init(device: str, world_size: int, rank: int, local_rank: int, init_method: str = "env://") -> Dist:
    """Join the process group (gloo on CPU, nccl on CUDA with cuda:local_rank) as ``rank``."""
    global _current
    if _current is not None:
        raise RuntimeError("this process is already a rank of a data-parallel run")
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(local_rank)
        backend, dev = "nccl", torch.device("cuda", local_rank)
    else:
        backend = "gloo"
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size, timeout=TIMEOUT)
    control = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend != "gloo" else None
    _current = Dist(rank, world_size, local_rank, backend, dev, control)
    return _current


def shutdown() -> None:
    global _current
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = None


@contextlib.contextmanager
def _joined(device: str, world_size: int, rank: int, local_rank: int, init_method: str) -> Iterator[Dist]:
    ctx = init(device, world_size, rank, local_rank, init_method)
    try:
        yield ctx
    finally:
        shutdown()


def join_launch(fn: Callable[..., Any], spec: RunSpec, *args: Any, **kwargs: Any) -> Any:
    """Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT set): join its group, run
    ``fn(spec, *args, **kwargs)`` as this rank, leave the group."""
    world = int(os.environ["WORLD_SIZE"])
    if world != spec.world_size:
        raise SpecError(f"the spec asks for world size {spec.world_size} but this launch has WORLD_SIZE={world}")
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    with _joined(spec.device, world, rank, local, "env://"):
        return fn(spec, *args, **kwargs)


def _rank_main(local_rank: int, fn: Callable[..., Any], spec: RunSpec, args: tuple, kwargs: dict,
               init_method: str, threads: int) -> None:
    """Entry point of one spawned rank."""
    n = spec.world_size
    os.environ.update(RANK=str(local_rank), WORLD_SIZE=str(n), LOCAL_RANK=str(local_rank), LOCAL_WORLD_SIZE=str(n))
    torch.set_num_threads(threads)
    if local_rank > 0 and "progress" in kwargs:
        kwargs = {**kwargs, "progress": False}
    with _joined(spec.device, n, local_rank, local_rank, init_method):
        fn(spec, *args, **kwargs)


class RankFailed(RuntimeError):
    """A spawned rank raised or died; ``traceback`` holds what it printed."""

    def __init__(self, message: str, traceback: str) -> None:
        super().__init__(message)
        self.traceback = traceback


def launch(fn: Callable[..., Any], spec: RunSpec, *args: Any, threads: int | None = None, **kwargs: Any) -> None:
    """Run ``fn(spec, *args, **kwargs)`` in ``spec.world_size`` spawned local ranks and wait.

    The ranks meet through a file store in a temporary folder (no port to pick). threads: torch
    threads per rank (default: the usable cores, or $OMP_NUM_THREADS when smaller, shared out).
    Raises RankFailed when a rank raises or dies (the others are then stopped).
    """
    import torch.multiprocessing as mp

    from genbench.bench.sweep import default_threads

    n = spec.world_size
    if torch.device(spec.device).type == "cuda" and torch.cuda.device_count() < n:
        raise SpecError(f"world size {n} needs {n} GPUs on this machine, found {torch.cuda.device_count()}")
    threads = threads or default_threads(n)
    store = tempfile.mkdtemp(prefix="genbench-ranks-")
    try:
        mp.start_processes(
            _rank_main, args=(fn, spec, args, kwargs, f"file://{store}/store", threads),
            nprocs=n, join=True, start_method="spawn",
        )
    except mp.ProcessRaisedException as exc:
        text = str(exc).strip()
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "unknown error")
        raise RankFailed(f"data-parallel rank {exc.error_index} failed: {last}", text) from None
    except mp.ProcessExitedException as exc:
        raise RankFailed(f"data-parallel rank {exc.error_index} died (exit code {exc.exit_code})", str(exc)) from None
    finally:
        shutil.rmtree(store, ignore_errors=True)
