#!/usr/bin/env bash
# Reproduces the README's results for the shipped DM-Small models (ReLU and ParamRamp), from
# models/ (or from the run directories with RUNS=1). Full test set for IBP and CROWN-IBP; the first
# $SUB test images for LBP, CROWN-LBP and full CROWN (their cost on a 2-core CPU). Writes JSON
# results and reports under runs/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
SUB=${SUB:-200}
out=runs/results
mkdir -p "$out"
one() {
  local name=$1 weights=$2
  node bin/vnet.js verify "specs/$name.vnet" --weights "$weights" --methods ibp,crown-ibp \
    --lines tight,adaptive --pgd-steps 20 --pgd-restarts 1 --json > "$out/$name-full.json"
  node bin/vnet.js verify "specs/$name.vnet" --weights "$weights" --methods ibp,crown-ibp,lbp,crown-lbp,crown \
    --lines tight,adaptive --limit "$SUB" --pgd-steps 200 --pgd-restarts 10 --json > "$out/$name-sub.json"
  node bin/vnet.js inspect "specs/$name.vnet" --weights "$weights" --eps 0.1 --limit 500 --json > "$out/$name-inspect.json"
}
for name in fmnist-dm-small-relu fmnist-dm-small-ramp; do
  if [ "${RUNS:-0}" = 1 ]; then w=runs/$name/best.safetensors; else w=models/$name.safetensors; fi
  one "$name" "$w" &
done
wait
