/**
 * The alpha-crown row's bounds (src/verify/alpha-row.ts) on small random ReLU nets: every margin
 * bound is ≥ CROWN's, so the verified set contains CROWN's (and somewhere is larger); the bounds
 * are sound on sampled points of the box (corners too); giving up after a failed margin only ever
 * leaves CROWN bounds on the rest; non-finite bounds are reported, never verified.
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/complete/attack.js';
import { forward, type Box } from '../../src/complete/crown.js';
import type { SeqNet } from '../../src/complete/onnx-net.js';
import { fromDense } from '../../src/complete/sparse.js';
import { alphaMargins, alphaRunner, DEFAULT_ALPHA_ROW } from '../../src/verify/alpha-row.js';

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

const argmax = (y: ArrayLike<number>): number => {
  let k = 0;
  for (let j = 1; j < y.length; j++) if (y[j]! > y[k]!) k = j;
  return k;
};

/** Points of the box: corners (every third) and uniform ones. */
function points(box: Box, n: number, seed: number): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, s) =>
    box.lo.map((l, i) => (s % 3 === 0 ? (r() < 0.5 ? l : box.hi[i]!) : l + r() * (box.hi[i]! - l))),
  );
}

describe('alpha-crown margins', () => {
  it('are ≥ CROWN, verify a superset of CROWN (strictly larger somewhere) and are sound on sampled points', () => {
    let crownVerified = 0;
    let alphaVerified = 0;
    let tighter = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const net = randomNet(seed, [5, 12, 12, 4]);
      const r = rng(100 + seed);
      for (let t = 0; t < 6; t++) {
        const c = Float64Array.from({ length: 5 }, () => r());
        const label = argmax(forward(net, c));
        for (const eps of [0.02, 0.05, 0.1, 0.2]) {
          const box = { lo: c.map((v) => Math.max(0, v - eps)), hi: c.map((v) => Math.min(1, v + eps)) };
          const a = alphaMargins(net, box, label, { ...DEFAULT_ALPHA_ROW, giveUp: false });
          expect(a.badLayer).toBeUndefined();
          a.lower.forEach((l, k) => {
            expect(l).toBeGreaterThanOrEqual(a.crownLower[k]!);
            if (l > a.crownLower[k]! + 1e-6) tighter++;
          });
          const cv = a.crownLower.every((v) => v > 0);
          const av = a.lower.every((v) => v > 0);
          if (cv) expect(av).toBe(true);
          crownVerified += cv ? 1 : 0;
          alphaVerified += av ? 1 : 0;
          const others = [0, 1, 2, 3].filter((j) => j !== label);
          for (const x of points(box, 60, seed * 31 + t)) {
            const y = forward(net, x);
            others.forEach((j, k) => expect(y[label]! - y[j]!).toBeGreaterThanOrEqual(a.lower[k]! - 1e-9));
          }
        }
      }
    }
    expect(tighter).toBeGreaterThan(0);
    expect(alphaVerified).toBeGreaterThan(crownVerified);
    expect(crownVerified).toBeGreaterThan(0);
  });

  it('gives up after a margin that stays ≤ 0: the rest keep their CROWN bounds', () => {
    const net = randomNet(3, [5, 12, 12, 4]);
    const c = Float64Array.from([0.5, 0.4, 0.6, 0.5, 0.3]);
    const label = argmax(forward(net, c));
    const box = { lo: c.map((v) => v - 0.5), hi: c.map((v) => v + 0.5) };
    const full = alphaMargins(net, box, label, { ...DEFAULT_ALPHA_ROW, giveUp: false });
    const quick = alphaMargins(net, box, label, DEFAULT_ALPHA_ROW);
    // every margin CROWN leaves ≤ 0 is optimised in the full run (at least two here)
    expect(full.optimised).toBe(full.crownLower.filter((v) => v <= 0).length);
    expect(full.optimised).toBeGreaterThanOrEqual(2);
    expect(quick.optimised).toBe(1);
    expect(quick.lower.some((v) => v <= 0)).toBe(true);
    // the worst CROWN margin was optimised as in the full run; the others are CROWN's
    const worst = [...quick.crownLower.keys()].sort(
      (a, b) => quick.crownLower[a]! - quick.crownLower[b]!,
    )[0]!;
    quick.lower.forEach((l, k) => expect(l).toBe(k === worst ? full.lower[k]! : quick.crownLower[k]!));
  });

  it('runs on raw samples in the internal layout with the ε-ball clipped to the domain; NaN weights are reported', () => {
    const net = randomNet(2, [4, 6, 3]);
    const run = alphaRunner(net, [4], [0, 1]);
    const x = Float32Array.from([0.95, 0.5, 0.02, 0.4]);
    const label = argmax(forward(net, x));
    const a = run(x, label, 0.1);
    // the box: [x − 0.1, x + 0.1] of the float32 values, clipped to [0, 1] (x0 + 0.1 > 1, x2 − 0.1 < 0)
    const lo = Float64Array.from(x, (v) => Math.max(0, v - 0.1));
    const hi = Float64Array.from(x, (v) => Math.min(1, v + 0.1));
    expect([hi[0], lo[2]]).toEqual([1, 0]);
    const clipped = alphaMargins(net, { lo, hi }, label);
    expect(Array.from(a.lower)).toEqual(Array.from(clipped.lower));
    const bad: SeqNet = {
      ...net,
      layers: net.layers.map((l, j) => (j === 0 ? { ...l, b: l.b.map(() => NaN) } : l)),
    };
    const b = alphaMargins(bad, { lo: new Float64Array(4), hi: new Float64Array(4).fill(0.1) }, 0);
    expect(b.badLayer).toBe('ReLU 0 of the float64 network');
    expect(b.lower.every((v) => Number.isNaN(v))).toBe(true);
  });
});
