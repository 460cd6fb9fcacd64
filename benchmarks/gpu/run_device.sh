#!/usr/bin/env bash
# On the lent GPU machine (no registry): install the carried wheels (.whl: genbench built from a
# clean checkout, torch-fidelity, lpips), smoke every baseline with --device cuda, run the GPU
# benchmarks, and write $OUT/{smoke.log,smoke.jsonl,gpu.json,bench.log,gpu.md,nvidia-smi.txt}.
# Limits: SMOKE_S and BENCH_S seconds for the two parts (the device tool's call is 10 minutes).
set -u
OUT=${OUT:-/tmp/gbout}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 GENBENCH_CACHE=/tmp/gbcache GENBENCH_BENCH_LOG="$OUT/bench.jsonl"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
cat "$OUT/nvidia-smi.txt"
python3 -c "import torch, genbench.bench; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 1
timeout "${SMOKE_S:-150}" python3 benchmarks/gpu/smoke.py --out /tmp/smoke --modes "${SMOKE_MODES:-fp32,bf16-cl}" \
  > "$OUT/smoke.log" 2>&1; echo "smoke exit $?" >> "$OUT/smoke.log"
cp /tmp/smoke/smoke.jsonl "$OUT/" 2>/dev/null
grep -v "^Traceback\|^  " "$OUT/smoke.log" | tail -45
timeout "${BENCH_S:-260}" python3 -m pytest benchmarks/test_bench_gpu.py --benchmark-only -q -p no:cacheprovider \
  --benchmark-columns=min,median,rounds --benchmark-json "$OUT/gpu.json" ${BENCH_K:+-k "$BENCH_K"} > "$OUT/bench.log" 2>&1
echo "bench exit $?" >> "$OUT/bench.log"
grep -E "passed|failed|error|Error" "$OUT/bench.log" | tail -12
python3 benchmarks/gpu/summarize.py "$OUT/gpu.json" --smoke "$OUT/smoke.jsonl" > "$OUT/gpu.md" && cat "$OUT/gpu.md"
