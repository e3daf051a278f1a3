/**
 * Times the VNN-LIB parser on a generated property of N inputs (default 300 000: about 29 MB),
 * each input boxed by two asserts, and a two-disjunct output region.
 * usage: npx tsx scripts/vnnlib-parse-time.ts [N]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVnnlib } from '../src/vnnlib/parse.js';

const n = Number(process.argv[2] ?? 300_000);
const lines: string[] = [];
for (let i = 0; i < n; i++) lines.push(`(declare-const X_${i} Real)`);
lines.push('(declare-const Y_0 Real)', '(declare-const Y_1 Real)');
for (let i = 0; i < n; i++) lines.push(`(assert (<= X_${i} 0.${i}1))`, `(assert (>= X_${i} -0.${i}1))`);
lines.push('(assert (or (and (>= Y_0 Y_1)) (and (<= Y_0 -3))))');
const dir = mkdtempSync(join(tmpdir(), 'vnnlib-time-'));
const path = join(dir, 'big.vnnlib');
try {
  writeFileSync(path, lines.join('\n'));
  const t0 = performance.now();
  const p = readVnnlib(path);
  const s = (performance.now() - t0) / 1000;
  const mb = statSync(path).size / 1e6;
  console.log(`${mb.toFixed(1)} MB, ${p.nX} inputs, ${p.cases.length} case(s): parsed in ${s.toFixed(2)} s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
