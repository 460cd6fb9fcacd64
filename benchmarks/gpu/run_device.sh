#!/usr/bin/env bash
# On the lent GPU machine (no registry): install the carried wheels (.whl: genbench built from a
# clean checkout, torch-fidelity, lpips), smoke the baselines (SMOKE_ONLY: a comma list) with --device cuda, run the GPU
# benchmarks, and write $OUT/{smoke.log,smoke.jsonl,gpu-N.json,bench.jsonl,bench.log,nvidia-smi.txt} and print the Markdown summary;
# SYNCS=1 also counts each family's host-device synchronisations per train step ($OUT/syncs.jsonl).
# Limits: SMOKE_S seconds for the smoke, BENCH_PARTS for the benchmarks (the device tool's call is 10 minutes).
set -u
OUT=${OUT:-/tmp/gbout}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 GENBENCH_CACHE=/tmp/gbcache GENBENCH_BENCH_LOG="$OUT/bench.jsonl"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
cat "$OUT/nvidia-smi.txt"
python3 -c "import torch, genbench.bench; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" || exit 1
timeout "${SMOKE_S:-150}" python3 benchmarks/gpu/smoke.py --out /tmp/smoke --random-vgg --modes "${SMOKE_MODES:-fp32,bf16-cl}" ${SMOKE_ONLY:+--only "$SMOKE_ONLY"} \
  > "$OUT/smoke.log" 2>&1; echo "smoke exit $?" >> "$OUT/smoke.log"
cp /tmp/smoke/smoke.jsonl "$OUT/" 2>/dev/null
grep -v "^Traceback\|^  " "$OUT/smoke.log" | tail -45
if [ -n "${SYNCS:-}" ]; then  # host-device synchronisations per train step of each family ($OUT/syncs.jsonl)
  timeout "${SYNCS_S:-120}" python3 benchmarks/gpu/smoke.py --out "$OUT" --random-vgg --syncs ${SMOKE_ONLY:+--only "$SMOKE_ONLY"} > "$OUT/syncs.log" 2>&1
  tail -22 "$OUT/syncs.log"
fi
# the benchmarks in parts, most wanted first, each under its own limit (a part that runs out
# still leaves its finished results in $GENBENCH_BENCH_LOG); BENCH_PARTS is "K:SECONDS;..."
i=0
IFS=';' read -ra parts <<< "${BENCH_PARTS:-extract or peak or flops:150;eval:200;train:150}"
for part in "${parts[@]}"; do
  i=$((i+1)); k=${part%:*}; s=${part##*:}
  echo "== part $i: -k '$k' (${s}s)" >> "$OUT/bench.log"
  timeout "$s" python3 -m pytest benchmarks/test_bench_gpu.py --benchmark-only -q -p no:cacheprovider \
    --benchmark-columns=min,median,rounds --benchmark-json "$OUT/gpu-$i.json" -k "$k" >> "$OUT/bench.log" 2>&1
  echo "part $i exit $?" >> "$OUT/bench.log"
done
grep -E "^== part|passed|failed|error|Error|exit" "$OUT/bench.log" | tail -20
python3 benchmarks/gpu/summarize.py "$OUT"/gpu-*.json --smoke "$OUT/smoke.jsonl"
