#!/usr/bin/env bash
# The CI smoke suite: VAE and DCGAN on the embedded MNIST, three seeds each, small step budgets,
# then a leaderboard of the rows. The committed baseline (examples/ci/baseline/) was made by this
# same script, so BASE and NEW differ only in the code under test.
#
#   examples/ci/smoke.sh [RUNS_DIR] [BOARD_DIR]     (defaults: runs/ci runs/ci-board)
#
# A run that fails or diverges does not stop the script: its row says so and `genbench compare`
# reports it as a regression. About 1-2 minutes per run on one CPU core.
set -uo pipefail
OUT=${1:-runs/ci}
BOARD=${2:-$OUT-board}
for seed in 0 1 2; do
  for baseline in vae dcgan; do
    genbench run --baseline "$baseline" --dataset mnist --steps 200 --seed "$seed" --eval-seed "$seed" --out "$OUT" \
      || echo "::warning::$baseline seed $seed did not finish; the gate will report it"
  done
done
genbench report "$OUT" --out "$BOARD" --title "genbench CI smoke suite" \
  --note "VAE and DCGAN, 200 steps, seeds 0-2, on the embedded MNIST: a regression gate, not a ranking of methods."
