"""Train the ``mnist-lenet`` feature extractor on the embedded MNIST and write its weights.

    python -m genbench.bench.train_extractor [--out-dir metrics/weights] [--seed 0] [--epochs 15]

Trains on the train split (4000 digits) with light random affine augmentation, keeps the
epoch with the best val accuracy, reports test accuracy, and writes ``mnist-lenet.pt``
(a plain state_dict, loadable with ``weights_only=True``) and ``mnist-lenet.json``
(sha256, accuracies, seed, epochs, torch version, the command) atomically. A new file has a
new sha256: update ``MNIST_LENET_SHA256`` in ``genbench/metrics/extractors.py`` to ship it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from genbench.bench.datasets import load_dataset
from genbench.metrics.extractors import WEIGHTS_DIR, MnistLeNet, sha256_file

NAME = "mnist-lenet"


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random affine jitter of float (B, 1, 28, 28) in [0, 1]: rotate +-10 deg, scale 0.9-1.1, shift +-2 px."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=g) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(b, generator=g) * 2 - 1) * 0.1
    shift = (torch.rand(b, 2, generator=g) * 2 - 1) * (2 / 14)  # normalised coords: 1 px = 2/28
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.inference_mode()
def accuracy(net: torch.nn.Module, x_uint8: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy in [0, 1] of ``net`` on uint8 (N, 1, 28, 28) images with int64 (N,) labels."""
    net.eval()
    correct = 0
    for i in range(0, len(x_uint8), batch_size):
        logits = net(x_uint8[i : i + batch_size].float() / 255)
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    return correct / len(x_uint8)


def _train_epoch(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Generator,
    batch_size: int,
) -> float:
    """One pass over uint8 (N, 1, 28, 28) images x and int64 labels y; returns the mean loss."""
    net.train()
    order = torch.randperm(len(x), generator=g)
    total = 0.0
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        xb = _augment(x[idx].float() / 255, g)
        loss = F.cross_entropy(net(xb), y[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(idx)
    return total / len(x)


def _atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temp file next to ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def train_mnist_lenet(
    out_dir: Path = WEIGHTS_DIR,
    seed: int = 0,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 3e-3,
    threads: int | None = 1,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train, select on val, write ``mnist-lenet.pt`` and ``.json`` into ``out_dir``; return the info.

    threads: torch CPU threads while training (restored afterwards). One is the default: this
    small CNN gains little from a second thread and slows down several-fold when its threads
    compete with other processes for the cores. Takes about 2 minutes on one core.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(Path(out_dir), seed, epochs, batch_size, lr, verbose)
    finally:
        torch.set_num_threads(previous)


def fit(
    net: torch.nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    g: torch.Generator,
    epochs: int,
    batch_size: int,
    lr: float,
    verbose: bool = True,
) -> tuple[dict[str, torch.Tensor], float, int]:
    """Train ``net`` on uint8 (images, labels) with AdamW and a one-cycle schedule, keep the epoch
    with the best val accuracy (later epochs win ties: the schedule has annealed further) and load
    it into ``net``; returns (its state_dict, its val accuracy, its epoch). Shared by the project's
    classifiers (mnist-lenet here, digit-domains in scripts/train_domain_classifier.py)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * math.ceil(len(train[0]) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    best_val, best_state, best_epoch, t0 = -1.0, None, 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        loss = _train_epoch(net, opt, sched, *train, g, batch_size)
        acc = accuracy(net, *val)
        if acc >= best_val:
            best_val, best_state, best_epoch = acc, copy.deepcopy(net.state_dict()), epoch
        if verbose:
            print(f"epoch {epoch:2d}/{epochs}  loss {loss:.4f}  val acc {acc:.4f}  {time.perf_counter() - t0:.0f}s")
    net.load_state_dict(best_state)
    return best_state, best_val, best_epoch


def _train(out_dir: Path, seed: int, epochs: int, batch_size: int, lr: float, verbose: bool) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    data = load_dataset("mnist")
    tr, va, te = data.split("train"), data.split("val"), data.split("test")
    net = MnistLeNet()
    t0 = time.perf_counter()
    best_state, best_val, best_epoch = fit(net, (tr.x, tr.y), (va.x, va.y), g, epochs, batch_size, lr, verbose)
    test = accuracy(net, te.x, te.y)
    weights = out_dir / f"{NAME}.pt"
    _atomic_write_bytes(weights, lambda f: torch.save(best_state, f))
    info = {
        "name": NAME,
        "file": weights.name,
        "sha256": sha256_file(weights),
        "test_accuracy": test,
        "val_accuracy": best_val,
        "best_epoch": best_epoch,
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "threads": torch.get_num_threads(),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "dataset": f"mnist (embedded, sha256 {data.info.sha256}); train 4000 / val 500 / test 500",
        "torch_version": torch.__version__,
        "command": f"python -m genbench.bench.train_extractor --seed {seed} --epochs {epochs} "
        f"--threads {torch.get_num_threads()}",
    }
    text = (json.dumps(info, indent=2) + "\n").encode()
    _atomic_write_bytes(out_dir / f"{NAME}.json", lambda f: f.write(text))
    if verbose:
        print(f"test acc {test:.4f} (val {best_val:.4f}, epoch {best_epoch}); wrote {weights} sha256 {info['sha256']}")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genbench.bench.train_extractor", description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", "--out", type=Path, default=WEIGHTS_DIR, help="where to write mnist-lenet.pt/.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    train_mnist_lenet(args.out_dir, seed=args.seed, epochs=args.epochs, threads=args.threads, verbose=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
