"""One training step budget and one evaluation of every registered baseline with --device cuda.

    python benchmarks/gpu/smoke.py --out DIR [--steps 2] [--modes fp32,bf16-cl] [--device cuda]

For each baseline, the (dataset, protocol) of its first entry in the quick or standard suite
(else mnist), the protocol's n_fake capped at 500; each mode runs in this one process through
``genbench.bench.runner.run`` (the code path of ``genbench run``). Prints one line per run and
writes DIR/smoke.jsonl (status, error, img/s, peak memory, metric names, perf record). Exit 0
when every run is ok or 'skipped: weights absent' (style families without VGG files), else 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--modes", default="fp32,bf16-cl")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", default=None, help="comma-separated baselines (default: all registered)")
    args = ap.parse_args(argv)

    import torch

    from genbench.baselines.base import BASELINES
    from genbench.bench.runner import run
    from genbench.bench.spec import Budget, EvalProtocol, PerfOptions, RunSpec

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = suite_specs()
    names = args.only.split(",") if args.only else sorted(BASELINES.names())
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""), flush=True)
    bad = 0
    with (out / "smoke.jsonl").open("w") as log:
        for name in names:
            base = specs.get(name) or RunSpec(name, "mnist", Budget(max_steps=1), protocol=EvalProtocol())
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
