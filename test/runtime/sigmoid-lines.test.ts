/**
 * The S-shaped lines (src/runtime/sigmoid-lines.ts) and the max pooling relaxation
 * (src/runtime/maxpool-lines.ts) as plain functions, in float64 and on tfjs tensors: sound on a
 * dense grid (end points included), non-negative slopes, the documented case structure (chords,
 * tangents through an end point, exact lines for dominated windows), and float32 agreement.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LineStrategy } from '../../src/ir/ir.js';
import { initBackend } from '../../src/runtime/backend.js';
import { boundLines } from '../../src/runtime/lines.js';
import { maxPoolLines } from '../../src/runtime/maxpool-lines.js';
import { f64Num, tfNum } from '../../src/runtime/num.js';
import { rngFromSeed } from '../../src/runtime/init.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const rng = (seed: number): (() => number) => {
  const g = rngFromSeed(seed);
  return () => g.next();
};
const F = {
  sigmoid: (z: number): number => 1 / (1 + Math.exp(-z)),
  tanh: (z: number): number => Math.tanh(z),
};
const KINDS = ['sigmoid', 'tanh'] as const;

/** Intervals from every regime: convex only, concave only, crossing narrow and wide, tiny, huge. */
function intervals(): [number, number][] {
  const r = rng(5);
  const out: [number, number][] = [
    [-3, -1],
    [1, 4],
    [-0.1, 0.1],
    [-8, 0.5],
    [-0.5, 8],
    [-30, 30],
    [0, 0],
    [2, 2],
    [-1e-9, 1e-9],
    [0, 5],
    [-5, 0],
  ];
  for (let i = 0; i < 300; i++) {
    const a = (r() - 0.5) * 16;
    const w = r() < 0.2 ? r() * 1e-3 : r() * 12;
    out.push([a, a + w]);
  }
  return out;
}

function lines(kind: 'sigmoid' | 'tanh', l: number, u: number, s: LineStrategy = 'tight') {
  const r = boundLines(f64Num, { kind }, Float64Array.of(l), Float64Array.of(u), s);
  return { sL: r.sL[0]!, tL: r.tL[0]!, sU: r.sU[0]!, tU: r.tU[0]! };
}

describe.each(KINDS)('%s lines', (kind) => {
  const f = F[kind];
  it('are sound on a grid of [l, u] (end points included), with slopes ≥ 0', () => {
    for (const [l, u] of intervals()) {
      const ln = lines(kind, l, u);
      expect(ln.sL).toBeGreaterThanOrEqual(0);
      expect(ln.sU).toBeGreaterThanOrEqual(0);
      for (let i = 0; i <= 400; i++) {
        const z = l + ((u - l) * i) / 400;
        expect(ln.sL * z + ln.tL).toBeLessThanOrEqual(f(z) + 1e-12);
        expect(ln.sU * z + ln.tU).toBeGreaterThanOrEqual(f(z) - 1e-12);
      }
    }
  });

  it('follow the cases: chords and tangents at the midpoint in the convex and concave parts', () => {
    const chordAt = (l: number, u: number, z: number): number => f(l) + ((f(u) - f(l)) / (u - l)) * (z - l);
    // u ≤ 0: upper = chord, lower = tangent at the midpoint (touches there)
    let ln = lines(kind, -3, -1);
    for (const z of [-3, -1]) expect(ln.sU * z + ln.tU).toBeCloseTo(chordAt(-3, -1, z), 12);
    expect(ln.sL * -2 + ln.tL).toBeCloseTo(f(-2), 12);
    // l ≥ 0: lower = chord, upper = tangent at the midpoint
    ln = lines(kind, 1, 4);
    for (const z of [1, 4]) expect(ln.sL * z + ln.tL).toBeCloseTo(chordAt(1, 4, z), 12);
    expect(ln.sU * 2.5 + ln.tU).toBeCloseTo(f(2.5), 12);
  });

  it('crossing a wide interval: tangents through the end points, touching f inside', () => {
    const [l, u] = [-6, 5];
    const ln = lines(kind, l, u);
    // the upper line passes (nearly) through (l, f(l)) and touches f at some d in (0, u)
    expect(ln.sU * l + ln.tU - f(l)).toBeGreaterThanOrEqual(0);
    expect(ln.sU * l + ln.tU - f(l)).toBeLessThan(1e-4);
    let gap = Infinity;
    for (let i = 0; i <= 5000; i++) {
      const z = (u * i) / 5000;
      gap = Math.min(gap, ln.sU * z + ln.tU - f(z));
    }
    expect(gap).toBeLessThan(1e-6);
    // the lower line likewise through (u, f(u)) and touching f in (l, 0)
    expect(f(u) - (ln.sL * u + ln.tL)).toBeGreaterThanOrEqual(0);
    expect(f(u) - (ln.sL * u + ln.tL)).toBeLessThan(1e-4);
    // crossing with an end point near 0: the chord is valid on that side (k ≤ f'(l), k ≤ f'(u))
    const k = (a: number, b: number): number => (f(b) - f(a)) / (b - a);
    expect(lines(kind, -0.1, 3).sL).toBeCloseTo(k(-0.1, 3), 10);
    expect(lines(kind, -3, 0.1).sU).toBeCloseTo(k(-3, 0.1), 10);
    // a symmetric narrow one: the chord crosses f at 0, so neither side may use it
    const s = lines(kind, -0.1, 0.1);
    expect(s.sL).not.toBeCloseTo(k(-0.1, 0.1), 6);
    expect(s.sU).not.toBeCloseTo(k(-0.1, 0.1), 6);
  });

  it('adaptive lines are the tight ones; constant lines are IBP', () => {
    for (const [l, u] of intervals().slice(0, 40)) {
      expect(lines(kind, l, u, 'adaptive')).toEqual(lines(kind, l, u, 'tight'));
      const c = lines(kind, l, u, 'constant');
      expect(c).toEqual({ sL: 0, tL: f(l), sU: 0, tU: f(u) });
    }
  });

  it('float32 tfjs lines agree with float64 and stay sound up to float32 rounding', () => {
    const iv = intervals();
    const l = iv.map((p) => p[0]);
    const u = iv.map((p) => p[1]);
    const got = tf.tidy(() => {
      const r = boundLines(tfNum, { kind }, tf.tensor1d(l), tf.tensor1d(u), 'tight');
      return [r.sL, r.tL, r.sU, r.tU].map((t) => Array.from(t.dataSync()));
    });
    iv.forEach(([a, b], i) => {
      const want = lines(kind, Math.fround(a), Math.fround(b));
      // (on intervals narrower than 1e-2 float32 chord slopes lose digits, not soundness)
      if (b - a > 1e-2) {
        expect(Math.abs(got[0]![i]! - want.sL)).toBeLessThan(1e-4);
        expect(Math.abs(got[2]![i]! - want.sU)).toBeLessThan(1e-4);
      }
      for (const z of [a, (a + b) / 2, b]) {
        expect(got[0]![i]! * z + got[1]![i]!).toBeLessThanOrEqual(f(z) + 1e-5 * (1 + Math.abs(z)));
        expect(got[2]![i]! * z + got[3]![i]!).toBeGreaterThanOrEqual(f(z) - 1e-5 * (1 + Math.abs(z)));
      }
    });
  });
});

describe('max pooling lines', () => {
  const K = 4;
  /** Windows of K cells with random bounds; every fifth dominated by one cell. */
  function windows(n: number): { lP: Float64Array[]; uP: Float64Array[] } {
    const r = rng(8);
    const lP = Array.from({ length: K }, () => new Float64Array(n));
    const uP = Array.from({ length: K }, () => new Float64Array(n));
    for (let o = 0; o < n; o++)
      for (let k = 0; k < K; k++) {
        const a = (r() - 0.5) * 4;
        const w = r() * 2;
        const lift = o % 5 === 0 && k === o % K ? 10 : 0;
        lP[k]![o] = a + lift;
        uP[k]![o] = a + w + lift;
      }
    return { lP, uP };
  }
  const n = 200;
  const { lP, uP } = windows(n);
  const value = (a: readonly Float64Array[], c: Float64Array, x: number[], o: number): number =>
    x.reduce((s, v, k) => s + a[k]![o]! * v, c[o]!);

  it.each(['tight', 'adaptive', 'constant'] as const)('%s: sound at sampled points and corners', (s) => {
    const ln = maxPoolLines(f64Num, lP, uP, s);
    const r = rng(3);
    for (let o = 0; o < n; o++) {
      for (let k = 0; k < K; k++) {
        expect(ln.aL[k]![o]!).toBeGreaterThanOrEqual(0);
        expect(ln.aU[k]![o]!).toBeGreaterThanOrEqual(0);
      }
      for (let t = 0; t < 40; t++) {
        const x = Array.from({ length: K }, (_, k) => {
          const q = t % 2 === 0 ? (r() < 0.5 ? 0 : 1) : r();
          return lP[k]![o]! + q * (uP[k]![o]! - lP[k]![o]!);
        });
        const y = Math.max(...x);
        expect(value(ln.aL, ln.cL, x, o)).toBeLessThanOrEqual(y + 1e-12);
        expect(value(ln.aU, ln.cU, x, o)).toBeGreaterThanOrEqual(y - 1e-12);
      }
    }
  });

  it('tight: the cell with the largest lower bound below; exact where it dominates, else max u above', () => {
    const ln = maxPoolLines(f64Num, lP, uP, 'tight');
    for (let o = 0; o < n; o++) {
      const ls = lP.map((a) => a[o]!);
      const us = uP.map((a) => a[o]!);
      const i = ls.indexOf(Math.max(...ls));
      expect(ln.aL.map((a) => a[o])).toEqual(ls.map((_, k) => +(k === i)));
      const dominated = us.every((v, k) => k === i || v <= ls[i]!);
      if (o % 5 === 0) expect(dominated).toBe(true);
      expect(ln.aU.map((a) => a[o])).toEqual(ls.map((_, k) => +(dominated && k === i)));
      expect(ln.cU[o]).toBe(dominated ? 0 : Math.max(...us));
    }
  });

  it('adaptive: never worse than tight at the box centre; constant = [max l, max u]', () => {
    const t = maxPoolLines(f64Num, lP, uP, 'tight');
    const a = maxPoolLines(f64Num, lP, uP, 'adaptive');
    const c = maxPoolLines(f64Num, lP, uP, 'constant');
    let better = 0;
    for (let o = 0; o < n; o++) {
      const mid = lP.map((l, k) => (l[o]! + uP[k]![o]!) / 2);
      const vt = value(t.aU, t.cU, mid, o);
      const va = value(a.aU, a.cU, mid, o);
      expect(va).toBeLessThanOrEqual(vt + 1e-12);
      if (va < vt - 1e-9) better++;
      expect(c.cL[o]).toBe(Math.max(...lP.map((l) => l[o]!)));
      expect(c.cU[o]).toBe(Math.max(...uP.map((u) => u[o]!)));
    }
    expect(better).toBeGreaterThan(0); // the plane is taken somewhere
  });

  it('float32 tfjs lines equal float64 on the same windows', () => {
    const got = tf.tidy(() => {
      const r = maxPoolLines(
        tfNum,
        lP.map((a) => tf.tensor1d(Float32Array.from(a))),
        uP.map((a) => tf.tensor1d(Float32Array.from(a))),
        'adaptive',
      );
      return { aU: r.aU.map((t) => Array.from(t.dataSync())), cU: Array.from(r.cU.dataSync()) };
    });
    const want = maxPoolLines(
      f64Num,
      lP.map((a) => Float64Array.from(a, Math.fround)),
      uP.map((a) => Float64Array.from(a, Math.fround)),
      'adaptive',
    );
    for (let o = 0; o < n; o++) {
      expect(got.cU[o]!).toBeCloseTo(want.cU[o]!, 4);
      for (let k = 0; k < K; k++) expect(got.aU[k]![o]!).toBeCloseTo(want.aU[k]![o]!, 4);
    }
  });
});
