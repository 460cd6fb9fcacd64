"""Train the ``digit-domains`` classifier of the image-to-image metrics and write its weights.

    python scripts/train_domain_classifier.py [--out-dir metrics/weights] [--seed 0] [--epochs 8]

Training data: every embedded MNIST train digit in 2 distinct random domains of the 6 that the
classifier names (plain, textured, red, red-bold, blue, blue-bold; ``bench.i2i_data.
domain_classifier_data``), 8,000 images; val selects the epoch; test accuracy (val and test
digits, 2 domains each, drawn the same way) goes into the JSON. The loop, augmentation and
atomic writes are mnist-lenet's (``bench.train_extractor``). Writes ``digit-domains.pt`` (a
plain state_dict) and ``digit-domains.json`` (sha256, accuracies, per-class test accuracy,
seed, torch version, the command). A new file has a new sha256: update ``DOMAINS_SHA256`` in
``metrics/translation.py`` to ship it. About 2 minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from genbench.bench.i2i_data import domain_classifier_data
from genbench.bench.train_extractor import _atomic_write_bytes, accuracy, fit
from genbench.metrics.extractors import WEIGHTS_DIR, sha256_file
from genbench.metrics.translation import DOMAIN_CLASSES, DomainNet

NAME = "digit-domains"


def train(out_dir: Path, seed: int, epochs: int, batch_size: int = 64, lr: float = 3e-3, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (domain_classifier_data(s) for s in ("train", "val", "test"))
    net = DomainNet()
    t0 = time.perf_counter()
    best_state, best_val, best_epoch = fit(net, (x_tr, y_tr), (x_va, y_va), g, epochs, batch_size, lr)
    test = accuracy(net, x_te, y_te)
    per_class = {c: accuracy(net, x_te[y_te == i], y_te[y_te == i]) for i, c in enumerate(DOMAIN_CLASSES)}
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{NAME}.pt"
    _atomic_write_bytes(weights, lambda f: torch.save(best_state, f))
    info = {
        "name": NAME, "file": weights.name, "sha256": sha256_file(weights), "classes": list(DOMAIN_CLASSES),
        "test_accuracy": test, "test_accuracy_per_class": per_class, "val_accuracy": best_val,
        "best_epoch": best_epoch, "epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr,
        "threads": threads, "train_seconds": round(time.perf_counter() - t0, 1),
        "data": "bench.i2i_data.domain_classifier_data: embedded MNIST train / val / test digits, 2 random "
        f"domains each ({len(x_tr)} / {len(x_va)} / {len(x_te)} images)",
        "torch_version": torch.__version__,
        "command": f"python scripts/train_domain_classifier.py --seed {seed} --epochs {epochs} --threads {threads}",
    }
    text = (json.dumps(info, indent=2) + "\n").encode()
    _atomic_write_bytes(out_dir / f"{NAME}.json", lambda f: f.write(text))
    print(f"test acc {test:.4f} (val {best_val:.4f}, epoch {best_epoch}); wrote {weights} sha256 {info['sha256']}")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    train(args.out_dir, args.seed, args.epochs, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
