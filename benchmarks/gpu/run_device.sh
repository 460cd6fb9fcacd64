#!/usr/bin/env bash
# On the lent GPU machine (no registry): install the carried wheels (.whl: genbench built from a
# clean checkout, torch-fidelity, lpips), run the GPU benchmarks alone on the device (timings), then
# the CUDA smokes side by side (no timing is claimed from them), and print the Markdown summary.
#
#   BENCH_PARTS="K:SECONDS;..."  pytest -k parts of benchmarks/test_bench_gpu.py, each under its own limit
#                                (default "extract or peak or flops:150;eval:200;train:150"; "" for none)
#   SMOKES="MODES@ONLY:SECONDS;..." smoke.py runs, in parallel after the benchmarks (ONLY: comma list
#                                of baselines, empty for all; default "fp32,bf16-cl@:150")
#   SMOKE_DEVICE=cpu             a dry run of the smokes here (the benchmarks: GENBENCH_BENCH_DEVICE=cpu)
#   SYNCS_S=SECONDS              also count each family's host-device synchronisations per train step
#                                (smoke.py --syncs, in parallel with the smokes)
#
# Everything is written under $RES (default /tmp/gbres, emptied first: a warm machine keeps /tmp
# between calls) and packed into $OUT/results.tgz after each stage (the device tool brings back at
# most 8 files; a stage cut short still leaves the earlier ones). Part i's benchmarks are also
# logged one line each to $RES/bench-i.jsonl as they finish; the summary reads that log for a part
# whose --benchmark-json is empty (cut off by its limit).
set -u
OUT=${OUT:-/tmp/gbout}; RES=${RES:-/tmp/gbres}; rm -rf "$RES"; mkdir -p "$OUT" "$RES"
pack() { tar czf "$OUT/results.tgz.part" -C "$RES" . && mv "$OUT/results.tgz.part" "$OUT/results.tgz"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 GENBENCH_CACHE=/tmp/gbcache
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$RES/nvidia-smi.txt" 2>&1
cat "$RES/nvidia-smi.txt"
python3 -c "import torch, genbench.bench; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" || exit 1
pack
# 1. the benchmarks in parts, most wanted first, alone on the device; a part that runs out still
# leaves its finished results in its $GENBENCH_BENCH_LOG
i=0
IFS=';' read -ra parts <<< "${BENCH_PARTS-extract or peak or flops:150;eval:200;train:150}"
for part in "${parts[@]}"; do
  i=$((i+1)); k=${part%:*}; s=${part##*:}
  echo "== part $i: -k '$k' (${s}s)" >> "$RES/bench.log"
  GENBENCH_BENCH_LOG="$RES/bench-$i.jsonl" timeout "$s" python3 -m pytest benchmarks/test_bench_gpu.py --benchmark-only -q -p no:cacheprovider \
    --benchmark-columns=min,median,rounds --benchmark-json "$RES/gpu-$i.json" -k "$k" >> "$RES/bench.log" 2>&1
  echo "part $i exit $?" >> "$RES/bench.log"
  pack
done
[ -f "$RES/bench.log" ] && grep -E "^== part|passed|failed|error|Error|exit" "$RES/bench.log" | tail -20
# 2. the smokes (one training budget + one evaluation per baseline) and the sync count, side by side
j=0
IFS=';' read -ra smokes <<< "${SMOKES-fp32,bf16-cl@:150}"
for sm in "${smokes[@]}"; do
  j=$((j+1)); modes=${sm%%@*}; rest=${sm#*@}; only=${rest%:*}; s=${rest##*:}
  ( timeout "$s" python3 benchmarks/gpu/smoke.py --out "$RES/smoke-$j" --random-vgg --device "${SMOKE_DEVICE:-cuda}" --modes "$modes" ${only:+--only "$only"} \
      > "$RES/smoke-$j.log" 2>&1; echo "smoke $j ($modes${only:+ of $only}) exit $?" >> "$RES/smoke-$j.log" ) &
done
if [ -n "${SYNCS_S:-}" ]; then
  ( timeout "$SYNCS_S" python3 benchmarks/gpu/smoke.py --out "$RES" --random-vgg --device "${SMOKE_DEVICE:-cuda}" --syncs > "$RES/syncs.log" 2>&1
    echo "syncs exit $?" >> "$RES/syncs.log" ) &
fi
wait
rm -rf "$RES"/smoke-*/runs  # run folders: grids and checkpoints, not needed here
cat "$RES"/smoke-*/smoke.jsonl > "$RES/smoke.jsonl" 2>/dev/null
for f in "$RES"/smoke-*.log; do [ -f "$f" ] && grep -v "^Traceback\|^  " "$f" | tail -40; done
[ -f "$RES/syncs.log" ] && tail -26 "$RES/syncs.log"
pack
gpu=""  # each part's JSON, or its log where the JSON is empty
for n in $(seq 1 "$i"); do
  if [ -s "$RES/gpu-$n.json" ]; then gpu="$gpu $RES/gpu-$n.json"; elif [ -s "$RES/bench-$n.jsonl" ]; then gpu="$gpu $RES/bench-$n.jsonl"; fi
done
smk=""; [ -s "$RES/smoke.jsonl" ] && smk="--smoke $RES/smoke.jsonl"
[ -n "$gpu" ] && python3 benchmarks/gpu/summarize.py $gpu $smk | tee "$RES/summary.md"
pack
