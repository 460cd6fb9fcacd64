"""Markdown summary of a pytest-benchmark JSON from benchmarks/test_bench_gpu.py (or the CPU benchmarks).

    python benchmarks/gpu/summarize.py gpu.json [gpu-2.json ...] [--smoke smoke.jsonl] > reports/benchmarks/gpu.md

A file may also be the one-line-per-benchmark log that $GENBENCH_BENCH_LOG collects (``*.jsonl``,
benchmarks/conftest.py): it keeps the benchmarks of a part cut off by its time limit, whose
--benchmark-json file is then empty (such a file is skipped with a note on stderr).

One table per benchmark group: each row's throughput (extra_info img/s, or 1 / min time), and its
ratio to the group's first genbench row; then the derived headline numbers (peak fraction of
feature extraction, harness overhead), the device and the package versions of the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _rate(b: dict) -> float | None:
    info = b.get("extra_info", {})
    if "img_per_s" in info:
        return float(info["img_per_s"])
    return None


def _label(b: dict) -> str:
    """A row's name: its parameter id when that names the side, else 'side [id]'."""
    name = b["name"]
    if "[" not in name:
        return name.removeprefix("test_gpu_")
    base, param = name.split("[", 1)
    param = param.rstrip("]")
    if any(k in param for k in ("genbench", "fidelity", "torchmetrics", "bare")):
        return param
    return f"{base.removeprefix('test_gpu_eval_').removeprefix('test_gpu_').replace('_', '-')} [{param}]"


def _mode(b: dict) -> str:
    return b.get("extra_info", {}).get("numeric_mode", "").split(" ")[0]


def _clean(text: object, limit: int = 80) -> str:
    return " ".join(str(text).split()).replace("|", "/")[:limit]


def summarize(data: dict, smoke: list[dict] | None = None, versions: str | None = None) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or "ungrouped"].append(b)
    device = next((b["extra_info"]["device"] for b in data["benchmarks"] if "device" in b.get("extra_info", {})), "?")
    recorded = next((b["extra_info"]["versions"] for b in data["benchmarks"] if "versions" in b.get("extra_info", {})), None)
    lines = [f"# GPU benchmarks: {device}", "", f"Versions: {recorded or versions or '(not recorded)'}.", "",
             f"Run at {data.get('datetime', '?')}; machine: {data.get('machine_info', {}).get('cpu', {}).get('brand_raw', '?')}"
             f" ({data.get('machine_info', {}).get('cpu', {}).get('count', '?')} CPUs).", ""]
    headline: list[str] = []
    peak = flops = None
    for name, rows in groups.items():
        if name == "gpu-peak":
            for b in rows:
                peak = b["extra_info"].get("tflops", peak)
                flops = b["extra_info"].get("flops_per_image", flops)
            continue
        host = "genbench_us_per_step" in rows[0].get("extra_info", {})  # the loops' host time around a do-nothing step
        lines += [f"## {name}", "", "| loop | us per step | minus bare | | min s |" if host else
                  "| benchmark | img/s | vs genbench | numeric mode | min s |", "|---|---:|---:|---|---:|"]
        ref = next((_rate(b) for b in rows if "genbench" in b["name"]), None)
        for b in rows:
            info = b.get("extra_info", {})
            if "genbench_us_per_step" in info:
                lines.append(f"| genbench (rounds {', '.join(f'{x:,.1f}' for x in info['genbench_rounds_us'])}) | "
                             f"{info['genbench_us_per_step']:,.1f} | {info['overhead_us']:+,.1f} | | |")
                lines.append(f"| bare loop (rounds {', '.join(f'{x:,.1f}' for x in info['bare_rounds_us'])}) | "
                             f"{info['bare_us_per_step']:,.1f} | | | {b['stats']['min']:.3f} (both) |")
                headline.append(f"- {name.split(' (')[0]}: genbench's loop {info['genbench_us_per_step']:,.1f} us/step vs "
                                f"bare {info['bare_us_per_step']:,.1f} = {info['overhead_us']:+,.1f} us of host time per step")
                continue
            if "genbench_img_per_s" in info:  # an interleaved genbench / bare pair
                lines.append(f"| genbench (rounds {', '.join(f'{x:,.0f}' for x in info['genbench_rounds'])}) | "
                             f"{info['genbench_img_per_s']:,.0f} | 1.00x | | |")
                lines.append(f"| bare loop (rounds {', '.join(f'{x:,.0f}' for x in info['bare_rounds'])}) | "
                             f"{info['bare_img_per_s']:,.0f} | {info['bare_img_per_s'] / info['genbench_img_per_s']:.2f}x"
                             f" | | {b['stats']['min']:.3f} (both) |")
                continue
            r = _rate(b)
            ratio = f"{r / ref:.2f}x" if r and ref else ""
            mode = b.get("extra_info", {}).get("numeric_mode", "")
            lines.append(f"| {_label(b)} | {r:,.0f} | {ratio} | {mode} | "
                         f"{b['stats']['min']:.3f} |" if r else f"| {b['name']} | | | {mode} | {b['stats']['min']:.3f} |")
        lines.append("")
        if name.startswith("gpu-train"):  # a host-time group has neither img/s field: no ratio line
            info = rows[0].get("extra_info", {})
            g = info.get("genbench_img_per_s") or next((_rate(b) for b in rows if "[genbench" in b["name"]), None)
            bare = info.get("bare_img_per_s") or next((_rate(b) for b in rows if "[bare" in b["name"]), None)
            if g and bare:
                paired = f" (median of the rounds' own ratios {info['ratio_paired']:.3f})" if "ratio_paired" in info else ""
                headline.append(f"- {name.split(' (')[0]}: genbench {g:,.0f} img/s vs bare loop {bare:,.0f} "
                                f"= {g / bare:.3f}{paired}")
        else:
            for b in rows:
                if "genbench" in b["name"] or not _rate(b):
                    continue
                mode = _mode(b)
                for g in rows:  # every genbench row in the same numeric mode as this peer row
                    if "genbench" in g["name"] and _rate(g) and _mode(g) == mode:
                        headline.append(f"- {name}: {_label(g)} / {_label(b)} ({mode}) = {_rate(g) / _rate(b):.2f}x")
    if peak and flops:
        lines += ["## Peak fraction", "", f"bf16 matmul 8192^3 measured: {peak:.0f} TFLOP/s; Inception-v3 forward "
                  f"(299x299, counted by FlopCounterMode): {flops / 1e9:.2f} GFLOP/image.", ""]
        for b in groups.get(next((g for g in groups if g.startswith("gpu-inception-extract")), ""), []):
            r = _rate(b)
            if r:
                lines.append(f"- {_label(b)}: {r * flops / 1e12:.1f} TFLOP/s = "
                             f"{100 * r * flops / 1e12 / peak:.1f}% of the bf16 peak")
        lines.append("")
    if headline:
        lines = lines[:6] + ["## Headline ratios", ""] + headline + [""] + lines[6:]
    if smoke:
        ok = sum(r["status"] == "ok" for r in smoke)
        lines += [f"## Smoke: {len({r['baseline'] for r in smoke})} baselines, 2 steps + one evaluation each, --device cuda", "",
                  f"{ok} of {len(smoke)} runs ok.", "", "| baseline | dataset | mode | status | s | train img/s |",
                  "|---|---|---|---|---:|---:|"]
        for r in smoke:
            ips = f"{r['train_img_per_s']:,.0f}" if r.get("train_img_per_s") else ""
            err = f" ({_clean(r.get('error'))})" if r["status"] != "ok" else ""
            lines.append(f"| {r['baseline']} | {r['dataset']} | {r['mode']} | {r['status']}{err} | {r['seconds']} | {ips} |")
        lines.append("")
    return "\n".join(lines)


def load(path: str | Path) -> dict | None:
    """A pytest-benchmark JSON file, or a $GENBENCH_BENCH_LOG ``*.jsonl`` log as the same structure;
    None (with a note on stderr) for a missing or empty file: a part killed by its time limit."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if not text.strip():
        print(f"summarize: {path} is missing or empty (a part cut off by its limit?); skipped", file=sys.stderr)
        return None
    if path.suffix != ".jsonl":
        return json.loads(text)
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {"benchmarks": [{"name": r["name"], "group": r["group"], "extra_info": r.get("extra_info", {}),
                            "stats": {"min": r["min_s"], "median": r.get("median_s"), "rounds": r.get("rounds")}}
                           for r in records]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+", help="one or more pytest-benchmark JSON files (parts of one run)")
    ap.add_argument("--smoke", default=None)
    ap.add_argument("--versions", default=None, help="the run's package versions, when its JSON lacks them")
    args = ap.parse_args(argv)
    parts = [part for part in map(load, args.json) if part is not None]
    if not parts:
        ap.error(f"none of {args.json} exists")
    seen: set[tuple[str, str]] = set()  # a benchmark given twice (a part's JSON and a log holding it) counts once
    benchmarks = [b for part in parts for b in part["benchmarks"]
                  if (b["name"], b["group"]) not in seen and not seen.add((b["name"], b["group"]))]
    data = dict(parts[0], benchmarks=benchmarks)
    smoke = None
    if args.smoke and Path(args.smoke).exists():
        smoke = [json.loads(line) for line in Path(args.smoke).read_text().splitlines() if line.strip()]
    sys.stdout.write(summarize(data, smoke, args.versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
