"""One training step budget and one evaluation of every registered baseline with --device cuda.

    python benchmarks/gpu/smoke.py --out DIR [--steps 2] [--modes fp32,bf16-cl] [--device cuda] [--syncs]

For each baseline, the (dataset, protocol) of its first entry in the quick or standard suite
(else mnist), the protocol's n_fake capped at 500; each mode runs in this one process through
``genbench.bench.runner.run`` (the code path of ``genbench run``). Prints one line per run and
writes DIR/smoke.jsonl (status, error, img/s, peak memory, metric names, perf record). Exit 0
when every run is ok or 'skipped: weights absent' (style families without VGG files), else 1.

``--random-vgg``: the style families (gatys, fast-style, adain) load randomly initialised VGG19 /
VGG16 files written to a temporary folder (``metrics.style.save_random_vgg``, named by their hashes, so the rows'
numbers are '*-custom', never ranked) instead of being skipped for want of torchvision's files:
the smoke then trains and scores every family on the device. Speed does not depend on the values.

``--syncs``: instead, count the host-device synchronisations of each trained family's train_step
(fp32, after 3 warm-up steps, 5 steps under ``torch.cuda.set_sync_debug_mode('warn')``, which warns
at every synchronising call) and write DIR/syncs.jsonl: a step that reads a value back stalls the
GPU's queue. On the CPU nothing synchronises (a dry run reads 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

MODES = {
    "fp32": {},
    "bf16-cl": {"amp": "bf16", "channels_last": True},
    "fp16": {"amp": "fp16"},
    "tf32": {"tf32": True},
    "compile": {"compile": True},
}


def suite_specs() -> dict[str, object]:
    from genbench.bench.suites import SUITES

    first: dict[str, object] = {}
    for suite in ("quick", "standard"):
        if suite not in SUITES:
            continue
        for entry in SUITES.get(suite).entries():
            if entry.kind == "run":
                first.setdefault(entry.spec.baseline, entry.spec)
    return first


def base_spec(specs: dict[str, object], name: str) -> object:
    """The baseline's first suite spec, else one on mnist with the default protocol."""
    from genbench.bench.spec import Budget, EvalProtocol, RunSpec

    return specs.get(name) or RunSpec(name, "mnist", Budget(max_steps=1), protocol=EvalProtocol())


def random_vgg(folder: Path) -> dict[str, str]:
    """Random VGG19 (to relu5_1) and VGG16 (to relu4_3) files under torchvision's names in ``folder``,
    made the search folder ($GENBENCH_WEIGHTS_DIR); returns {net: sha256}."""
    import os

    from genbench.metrics import style as S

    folder.mkdir(parents=True, exist_ok=True)
    digests = {net: S.save_random_vgg(net, folder / S.VGG_NETS[net].file, seed=i, last_layer=last)
               for i, (net, last) in enumerate((("vgg19", "relu5_1"), ("vgg16", "relu4_3")))}
    os.environ["GENBENCH_WEIGHTS_DIR"] = str(folder)
    return digests


def with_vgg(spec: object, digests: dict[str, str] | None) -> object:
    """``spec`` naming the random VGG files by hash (style families only: the loss net's
    ``vgg_sha256`` and, for a vgg protocol, its ``weights_sha256``); unchanged otherwise."""
    if not digests:
        return spec
    from genbench.baselines.base import BASELINES

    net = BASELINES.get(spec.baseline).defaults.get("vgg")
    if net not in digests:
        return spec
    spec = spec.replace(overrides={**dict(spec.overrides), "vgg_sha256": digests[net]})
    if spec.protocol.extractor in digests:
        spec = spec.replace(protocol=dataclasses.replace(spec.protocol, weights_sha256=digests[spec.protocol.extractor]))
    return spec


def count_syncs(name: str, spec: object, steps: int = 5) -> dict[str, object]:
    """Synchronising calls per train_step of ``name`` on the spec's device, with where they come from."""
    import warnings

    import torch

    from genbench.bench.runner import build_model, prepare
    from genbench.bench.train import BatchStream

    prep = prepare(spec)
    model, _ = build_model(prep)
    split = prep.dataset.split("train")
    stream = BatchStream(split, int(model.hp["batch_size"]), 0, torch.device(spec.device), prep.dataset.info.kind,
                         num_classes=prep.dataset.info.num_classes)
    model.train()
    for _ in range(3):
        model.train_step([stream.next() for _ in range(model.batches_per_step)])
    batches = [[stream.next() for _ in range(model.batches_per_step)] for _ in range(steps)]
    cuda = torch.device(spec.device).type == "cuda"
    where: dict[str, int] = {}

    def record(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if "synchroniz" not in str(message):
            return
        ours = [f for f in traceback.extract_stack() if "/baselines/" in f.filename or "/bench/" in f.filename]
        if ours:
            key = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}"
        else:  # no genbench frame: name the package file and the thread (acgan on the H100: '__init__.py:1270')
            key = f"{Path(filename).parent.name}/{Path(filename).name}:{lineno} ({threading.current_thread().name})"
        where[key] = where.get(key, 0) + 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("warn")
        try:
            for b in batches:
                model.train_step(b)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
    syncs = sum(where.values())
    return {"baseline": name, "status": "ok", "syncs_per_step": syncs / steps, "where": where}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--modes", default="fp32,bf16-cl")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", default=None, help="comma-separated baselines (default: all registered)")
    ap.add_argument("--syncs", action="store_true", help="count each family's synchronising calls per train step")
    ap.add_argument("--random-vgg", action="store_true",
                    help="style families load random VGG files written under --out (numbers '*-custom')")
    args = ap.parse_args(argv)

    import torch

    from genbench.baselines.base import BASELINES
    from genbench.bench.runner import run
    from genbench.bench.spec import Budget, PerfOptions

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = suite_specs()
    names = args.only.split(",") if args.only else sorted(BASELINES.names())
    digests = random_vgg(Path(tempfile.mkdtemp(prefix="genbench-vgg-"))) if args.random_vgg else None  # not under --out: 110 MB
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""), flush=True)
    if args.syncs:
        with (out / "syncs.jsonl").open("w") as log:
            for name in names:
                base = with_vgg(base_spec(specs, name), digests)
                try:
                    rec = count_syncs(name, base.replace(device=args.device))
                except Exception as exc:  # noqa: BLE001 - e.g. style families without VGG weights
                    rec = {"baseline": name, "status": f"{type(exc).__name__}: {str(exc)[:200]}"}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(f"{name:16s} {rec['status'][:60]:10s} syncs/step {rec.get('syncs_per_step', '')} {rec.get('where', '')}",
                      flush=True)
        return 0
    bad = 0
    with (out / "smoke.jsonl").open("w") as log:
        for name in names:
            base = with_vgg(base_spec(specs, name), digests)
            proto = dataclasses.replace(base.protocol, n_fake=min(base.protocol.n_fake, 500))
            for mode in args.modes.split(","):
                spec = base.replace(budget=Budget(max_steps=args.steps), device=args.device, protocol=proto,
                                    perf=PerfOptions(**MODES[mode]))
                t0 = time.perf_counter()
                try:
                    row = run(spec, out / "runs", resume=False)
                except Exception as exc:  # noqa: BLE001 - refused before the run: log and go on
                    row = {"status": "refused", "error": f"{type(exc).__name__}: {exc}", "metrics": {}}
                    traceback.print_exc()
                secs = time.perf_counter() - t0
                # style families without VGG files are 'skipped: weights absent' by design, not broken
                ok = row["status"] == "ok" or (row["status"] == "skipped" and "weights absent" in str(row.get("error")))
                bad += not ok
                rec = {"baseline": name, "dataset": spec.dataset, "mode": mode, "status": row["status"],
                       "error": row.get("error"), "seconds": round(secs, 2),
                       "train_img_per_s": row.get("train_img_per_s"), "peak_mem_bytes": row.get("peak_mem_bytes"),
                       "metrics": sorted(row.get("metrics", {})), "perf": row.get("perf"),
                       "skipped": row.get("skipped")}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                err = "" if ok else f"  {str(row.get('error'))[:300]}"
                print(f"{name:16s} {spec.dataset:14s} {mode:8s} {row['status']:8s} {secs:6.1f}s "
                      f"{len(rec['metrics']):2d} metrics{err}", flush=True)
    print(f"{bad} of {len(names) * len(args.modes.split(','))} runs not ok", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
