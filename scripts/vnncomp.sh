#!/bin/sh
# Full VNN-COMP 2021 runs (mnistfc, oval21) with the official timeouts × SCALE, resumable.
# usage: npm run vnncomp -- [SCALE]   (benchmarks from $VNNCOMP_DIR, results under runs/)
set -e
B="${VNNCOMP_DIR:-../shared/benchmarks/vnncomp2021}"
SCALE="${1:-1}"
OUT="runs/vnncomp-x$SCALE"
mkdir -p "$OUT"
for bench in mnistfc oval21; do
  node bin/vnet.js vnncomp "$B/$bench/${bench}_instances.csv" --timeout-scale "$SCALE" \
    --out "$OUT/$bench.csv" --counterexamples "$OUT/counterexamples" \
    --report "$OUT/$bench.html" --compare "$B/results/consensus.csv" || true
done
