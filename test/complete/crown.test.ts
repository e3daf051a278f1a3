/**
 * The complete verifier's bounds on random ReLU nets: IBP/CROWN intermediate bounds contain
 * sampled pre-activations (box corners too); α-CROWN is never below CROWN and stays sound; β
 * bounds with splits are sound on points that satisfy the splits; the exact gradient in α
 * matches finite differences; branch and bound agrees with exhaustive sampling on tiny nets.
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/complete/attack.js';
import { branchAndBound, DEFAULT_BAB } from '../../src/complete/bab.js';
import {
  crownBounds,
  forward,
  ibp,
  initParams,
  optimizeRow,
  rowBound,
  type Box,
  type Splits,
} from '../../src/complete/crown.js';
import type { SeqNet } from '../../src/complete/onnx-net.js';
import { fromDense } from '../../src/complete/sparse.js';

function randomNet(seed: number, widths: number[]): SeqNet {
  const r = rng(seed);
  const layers = [];
  for (let k = 1; k < widths.length; k++) {
    const [n, m] = [widths[k - 1]!, widths[k]!];
    const W = Float64Array.from({ length: m * n }, () => (r() * 2 - 1) / Math.sqrt(n));
    layers.push({ W: fromDense(W, m, n), b: Float64Array.from({ length: m }, () => (r() - 0.5) * 0.4) });
  }
  return { inputShape: [widths[0]!], nIn: widths[0]!, nOut: widths[widths.length - 1]!, layers };
}

function samples(box: Box, n: number, seed: number): Float64Array[] {
  const r = rng(seed);
  const d = box.lo.length;
  const out: Float64Array[] = [];
  for (let s = 0; s < n; s++)
    out.push(box.lo.map((l, i) => (s % 3 === 0 ? (r() < 0.5 ? l : box.hi[i]!) : l + r() * (box.hi[i]! - l))));
  if (d <= 4)
    for (let c = 0; c < 1 << d; c++) out.push(box.lo.map((l, i) => ((c >> i) & 1 ? box.hi[i]! : l)));
  return out;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

const box4: Box = { lo: Float64Array.from([-1, -0.5, 0, -0.2]), hi: Float64Array.from([0.5, 0.5, 1, 0.4]) };

describe('complete verifier bounds', () => {
  const net = randomNet(1, [4, 12, 10, 3]);

  it('IBP and CROWN intermediate bounds contain sampled pre-activations; CROWN is inside IBP', () => {
    const iv = ibp(net, box4);
    const cb = crownBounds(net, box4);
    for (const x of samples(box4, 300, 2)) {
      const pre: Float64Array[] = [];
      const y = forward(net, x, pre);
      pre.forEach((z, j) =>
        z.forEach((v, i) => {
          expect(v).toBeGreaterThanOrEqual(cb.lo[j]![i]! - 1e-12);
          expect(v).toBeLessThanOrEqual(cb.hi[j]![i]! + 1e-12);
        }),
      );
      y.forEach((v, i) => expect(v).toBeGreaterThanOrEqual(iv.outLo[i]! - 1e-12));
    }
    cb.lo.forEach((l, j) => l.forEach((v, i) => expect(v).toBeGreaterThanOrEqual(iv.lo[j]![i]! - 1e-12)));
  });

  it('α-CROWN is never below CROWN and stays below every sampled objective value', () => {
    const cb = crownBounds(net, box4);
    const xs = samples(box4, 300, 3);
    for (const lam of [Float64Array.from([1, -1, 0]), Float64Array.from([0.3, 0.5, -2])]) {
      const crown = rowBound(net, 2, lam, cb, box4, undefined, undefined, false).lb;
      const alpha = optimizeRow(net, lam, cb, box4, undefined, initParams(cb), {
        iterations: 40,
        lrAlpha: 0.1,
        lrBeta: 0.05,
      }).lb;
      expect(alpha).toBeGreaterThanOrEqual(crown);
      const min = Math.min(...xs.map((x) => dot(lam, forward(net, x))));
      expect(alpha).toBeLessThanOrEqual(min + 1e-9);
    }
  });

  it('the α gradient matches finite differences', () => {
    const cb = crownBounds(net, box4);
    const lam = Float64Array.from([1, -1, 0.5]);
    const p = initParams(cb);
    p.alpha = p.alpha.map((a) => a.map((_, i) => 0.3 + 0.05 * (i % 5)));
    const r = rowBound(net, 2, lam, cb, box4, undefined, p, true);
    let checked = 0;
    for (let j = 0; j < p.alpha.length; j++)
      for (let i = 0; i < p.alpha[j]!.length; i++) {
        const g = r.gAlpha![j]![i]!;
        if (g === 0) continue;
        const h = 1e-6;
        const q = { alpha: p.alpha.map((a) => a.slice()), beta: p.beta };
        q.alpha[j]![i]! += h;
        const fd = (rowBound(net, 2, lam, cb, box4, undefined, q, false).lb - r.lb) / h;
        expect(fd).toBeCloseTo(g, 4);
        checked++;
      }
    expect(checked).toBeGreaterThan(0);
  });

  it('β bounds with splits are sound on points that satisfy the splits, and β helps', () => {
    const cb = crownBounds(net, box4);
    // split the first unstable neuron of layer 0 both ways
    const i = cb.lo[0]!.findIndex((l, k) => l < 0 && cb.hi[0]![k]! > 0);
    expect(i).toBeGreaterThanOrEqual(0);
    const lam = Float64Array.from([1, -1, 0]);
    const xs = samples(box4, 2000, 4);
    for (const s of [1, -1] as const) {
      const splits: Splits = cb.lo.map((l) => new Int8Array(l.length));
      splits[0]![i] = s;
      const lo = cb.lo.slice();
      const hi = cb.hi.slice();
      if (s === 1) (lo[0] = lo[0]!.slice())[i] = 0;
      else (hi[0] = hi[0]!.slice())[i] = 0;
      const b = { lo, hi };
      const r = optimizeRow(net, lam, b, box4, splits, initParams(b), {
        iterations: 60,
        lrAlpha: 0.1,
        lrBeta: 0.05,
      });
      let min = Infinity;
      for (const x of xs) {
        const pre: Float64Array[] = [];
        const y = forward(net, x, pre);
        if (s * pre[0]![i]! < 0) continue;
        min = Math.min(min, dot(lam, y));
      }
      expect(r.lb).toBeLessThanOrEqual(min + 1e-9);
    }
  });

  it('branch and bound agrees with dense sampling on tiny nets (ReLU and input splitting)', () => {
    for (let seed = 10; seed < 16; seed++) {
      const n = randomNet(seed, [2, 8, 8, 2]);
      const box: Box = { lo: Float64Array.from([-1, -1]), hi: Float64Array.from([1, 1]) };
      // unsafe: y_1 ≥ y_0 + t, with t chosen near the true maximum of y_1 − y_0
      let max = -Infinity;
      for (let a = 0; a <= 200; a++)
        for (let c = 0; c <= 200; c++) {
          const y = forward(n, [-1 + a / 100, -1 + c / 100]);
          max = Math.max(max, y[1]! - y[0]!);
        }
      for (const t of [max + 0.05, max - 0.05]) {
        const unsafe = [{ rows: 1, A: Float64Array.from([1, -1]), b: Float64Array.from([-t]) }];
        for (const inputSplitMaxDim of [16, 0]) {
          const r = branchAndBound(
            n,
            { lo: box.lo, hi: box.hi, unsafe },
            { ...DEFAULT_BAB, inputSplitMaxDim, deadline: Date.now() + 20_000 },
          );
          expect(r.status, `seed ${seed} t ${t} split ${inputSplitMaxDim}`).toBe(
            t > max ? 'holds' : 'violated',
          );
          if (r.counterexample) {
            const y = forward(n, r.counterexample.x);
            expect(y[1]! - y[0]!).toBeGreaterThanOrEqual(t);
          }
        }
      }
    }
  });
});
