#!/usr/bin/env bash
# Reproduces the README's results for the shipped DM-Small models (ReLU and ParamRamp), from
# models/ (or from the run directories with RUNS=1): the full test set for IBP, CROWN-IBP, LBP
# and CROWN-LBP with tight and adaptive lines (PGD 20 steps x 1 restart), and the first $SUB
# test images for all five methods, full CROWN included (PGD 200 steps x 10 restarts, the
# paper's setting). Writes JSON results and neuron-status tables under runs/results/. The two
# networks run at once, one core each. ONLY=relu or ONLY=ramp runs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
SUB=${SUB:-500}
out=runs/results
mkdir -p "$out"
one() {
  local name=$1 weights=$2
  node bin/vnet.js verify "specs/$name.vnet" --weights "$weights" --methods ibp,crown-ibp,lbp,crown-lbp \
    --lines tight,adaptive --pgd-steps 20 --pgd-restarts 1 --json > "$out/$name-full.json"
  node bin/vnet.js verify "specs/$name.vnet" --weights "$weights" --methods ibp,crown-ibp,lbp,crown-lbp,crown \
    --lines tight,adaptive --limit "$SUB" --pgd-steps 200 --pgd-restarts 10 --json > "$out/$name-sub.json"
  node bin/vnet.js inspect "specs/$name.vnet" --weights "$weights" --eps 0.1 --limit 500 --json > "$out/$name-inspect.json"
}
for name in fmnist-dm-small-relu fmnist-dm-small-ramp; do
  case "${ONLY:-}" in "" | "${name##*-}") ;; *) continue ;; esac
  if [ "${RUNS:-0}" = 1 ]; then w=runs/$name/best.safetensors; else w=models/$name.safetensors; fi
  one "$name" "$w" &
done
wait
