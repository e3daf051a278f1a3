#!/usr/bin/env python3
"""Prints the README's verify tables (markdown) from the JSON files scripts/results.sh writes:
`scripts/results-table.py [DIR] [full|sub]` (default: runs/results, full)."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else 'runs/results')
which = sys.argv[2] if len(sys.argv) > 2 else 'full'
names = [('fmnist-dm-small-relu', 'ReLU'), ('fmnist-dm-small-ramp', 'ParamRamp(0.01→0)')]
print('| network | method | lines | n | clean err | PGD err | verified err | mean margin lower bound | bound s |')
print('|---|---|---|---|---|---|---|---|---|')
for name, label in names:
    for part in (which,):
        f = out / f'{name}-{part}.json'
        if not f.exists() or f.stat().st_size == 0:
            continue
        d = json.loads(f.read_text())
        for r in d['rows']:
            pgd = '-' if r['pgdErrPct'] is None else f"{r['pgdErrPct']:.2f}%"
            shared = f" ({r['sharedWith']} pass)" if r.get('sharedWith') else ''
            print(f"| {label} | {r['method']} | {r['lines']} | {r['n']} | {r['cleanErrPct']:.2f}% | {pgd} | "
                  f"{r['verifiedErrPct']:.2f}% | {r['meanMarginLower']:.4f} | {r['seconds']:.1f}{shared} |")
