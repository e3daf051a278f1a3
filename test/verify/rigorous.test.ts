/**
 * The rigorous binary64 checker: the emulated directed rounding against the exact neighbours;
 * soundness (never above the margin at sampled points and box corners, never above the plain
 * float64 reference of the same method by more than rounding); tightness (within 1e-9 of the
 * plain reference); margins of ±1e-7 around zero decided by their sign; NaN/Inf anywhere never
 * confirmed.
 */
import { describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import { numel } from '../../src/ir/ir.js';
import { refBounds, refForward } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import {
  confirm,
  down,
  nextDown,
  nextUp,
  rigorousMargins,
  rigorousNet,
  up,
  type RigorousMethod,
} from '../../src/verify/rigorous/index.js';
import { buildNet, randomInputs, useBackend, type LayerDesc, type TestNet } from '../runtime/nets.js';

await useBackend('cpu');

describe('directed rounding in round-to-nearest', () => {
  it('down(c) ≤ pred(c) and up(c) ≥ succ(c), normal and subnormal, at powers of two and near the extremes', () => {
    const rng = rt.rngFromSeed(5);
    const xs: number[] = [
      0,
      -0,
      1,
      -1,
      2,
      0.5,
      3,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      2 ** -1022,
      2 ** -1023,
    ];
    xs.push(Number.MAX_VALUE / 2, -(2 ** 1000), 1e-300, 1 - 2 ** -53);
    for (let i = 0; i < 20000; i++) {
      const e = Math.floor(rng.next() * 2090) - 1070;
      xs.push((rng.next() - 0.5) * 2 ** e);
    }
    for (const x of xs) {
      expect(down(x)).toBeLessThanOrEqual(nextDown(x));
      expect(up(x)).toBeGreaterThanOrEqual(nextUp(x));
      expect(nextDown(x)).toBeLessThan(x);
      expect(nextUp(x)).toBeGreaterThan(x);
      // and no more than two steps away (tight): pred(pred(x)) ≤ down(x)
      expect(down(x)).toBeGreaterThanOrEqual(nextDown(nextDown(x)));
    }
    expect(nextUp(0)).toBe(Number.MIN_VALUE);
    expect(nextDown(1)).toBe(1 - 2 ** -53);
    expect(Number.isNaN(down(NaN))).toBe(true);
    expect(up(Infinity)).toBe(Infinity);
  });
});

const ACTS: LayerDesc[] = [
  { kind: 'relu' },
  { kind: 'leaky_relu', slope: 0.1 },
  { kind: 'paramramp', eta: 0.05 },
];

function deepNet(act: LayerDesc, seed: number): TestNet {
  return buildNet(
    { shape: [2, 4, 4], mean: [0.2, 0.6], std: [0.5, 0.3] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 3, k: 2, s: 2, p: 0 },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 8 },
      act,
      { kind: 'dense', out: 4 },
    ],
    seed,
    { wScale: 1.5, r: [0.05, 0.6] },
  );
}

/** Margins z_y − z_j (j ≠ y) of the float64 forward at raw points. */
function margins(net: TestNet, x: Float64Array, label: number): Float64Array {
  const z = refForward(net.model, net.torch, x, 1)[0]!;
  return Float64Array.from(
    [...z.keys()].filter((j) => j !== label),
    (j) => z[label]! - z[j]!,
  );
}

const PLAIN: Record<RigorousMethod, BoundMethod> = { ibp: 'ibp', 'crown-ibp': 'crown-ibp', crown: 'crown' };

describe('rigorous bounds on random deep nets', () => {
  for (const act of ACTS)
    for (const lines of ['tight', 'adaptive'] as LineStrategy[])
      it(`${act.kind}, ${lines} lines: below every sampled margin (corners too), within 1e-9 of the plain float64 bound`, () => {
        const net = deepNet(act, act.kind.length * 7 + lines.length);
        const rnet = rigorousNet(net.model, net.torch);
        expect(rnet.defect).toBeUndefined();
        const per = numel(net.model.input.shape);
        const X = randomInputs(net, 3, 11);
        const eps = 0.07;
        const rng = rt.rngFromSeed(3);
        for (let b = 0; b < 3; b++) {
          const x = X.slice(b * per, (b + 1) * per);
          const label = b % 4;
          for (const m of ['ibp', 'crown-ibp', 'crown'] as RigorousMethod[]) {
            // intersect: false makes `crown` the same algorithm as the plain reference's
            const rig = rigorousMargins(rnet, x, eps, label, m, { lines, intersect: false });
            const best = rigorousMargins(rnet, x, eps, label, m, { lines, intersect: true });
            const ref = refBounds(net.model, net.torch, x, 1, eps, PLAIN[m], { lines, labels: [label] })
              .lower[0]!;
            for (let j = 0; j < rig.length; j++) {
              expect(Number.isFinite(rig[j]!)).toBe(true);
              expect(rig[j]!).toBeLessThanOrEqual(ref[j]! + 1e-12 * (1 + Math.abs(ref[j]!)));
              expect(rig[j]!).toBeGreaterThan(ref[j]! - 1e-9 * (1 + Math.abs(ref[j]!)));
              // intersected intermediate bounds can only help tight lines (adaptive ones may get worse)
              if (lines === 'tight')
                expect(best[j]!).toBeGreaterThan(ref[j]! - 1e-9 * (1 + Math.abs(ref[j]!)));
            }
            for (let s = 0; s < 60; s++) {
              const corner = s < 30;
              const xp = x.map((v) => {
                const t = corner ? (rng.next() < 0.5 ? -1 : 1) : 2 * rng.next() - 1;
                return Math.min(1, Math.max(0, v + t * eps));
              });
              const mg = margins(net, xp, label);
              for (let j = 0; j < rig.length; j++) {
                expect(rig[j]!).toBeLessThanOrEqual(mg[j]!);
                expect(best[j]!).toBeLessThanOrEqual(mg[j]!);
              }
            }
          }
        }
      });
});

/** input 1 → h = relu(w·x) (2 units) → z0 = h1 + h2, z1 = h1 + h2 − m: the margin is m everywhere. */
function constantMarginNet(m: number, w = 1): TestNet {
  const net = buildNet(
    { shape: [1] },
    [{ kind: 'dense', out: 2 }, { kind: 'relu' }, { kind: 'dense', out: 2 }],
    1,
  );
  net.torch['dense1.weight'] = Float64Array.from([w, w]);
  net.torch['dense1.bias'] = Float64Array.from([0, 0]);
  net.torch['dense2.weight'] = Float64Array.from([1, 1, 1, 1]);
  net.torch['dense2.bias'] = Float64Array.from([0, -m]);
  return net;
}

describe('margins of ±1e-7 around zero', () => {
  for (const m of [1e-7, -1e-7, 0, 2 ** -60, -(2 ** -60)])
    for (const method of ['ibp', 'crown-ibp', 'crown'] as RigorousMethod[])
      it(`exact margin ${m}, ${method}: the rigorous bound is ≤ ${m} and > 0 exactly when ${m} > 1e-12`, () => {
        const net = constantMarginNet(m, 3.7);
        const rnet = rigorousNet(net.model, net.torch);
        const lb = rigorousMargins(rnet, [0.5], 0.3, 0, method)[0]!;
        expect(lb).toBeLessThanOrEqual(m);
        if (m > 1e-12) expect(lb).toBeGreaterThan(0);
        else expect(lb).toBeLessThanOrEqual(0);
        expect(lb).toBeGreaterThan(m - 1e-12);
      });

  it('a margin that float32 rounds to a positive number but is −1e-7 exactly is not confirmed', () => {
    // z0 − z1 = (1 + 2⁻²³)·x − x − c with c chosen so that the exact margin at x ∈ [0.5, 0.5] is −1e-7,
    // while float32 arithmetic (of 0.5·(1 + 2⁻²³) − 0.5 = 2⁻²⁴ ≈ 5.96e-8, minus a float32 c) says otherwise.
    const net = constantMarginNet(0);
    net.torch['dense1.weight'] = Float64Array.from([1 + 2 ** -23, 1]);
    net.torch['dense2.weight'] = Float64Array.from([1, 0, 0, 1]);
    const c = 2 ** -24 + 1e-7;
    net.torch['dense2.bias'] = Float64Array.from([0, c]);
    const rnet = rigorousNet(net.model, net.torch);
    for (const method of ['ibp', 'crown'] as RigorousMethod[]) {
      const lb = rigorousMargins(rnet, [0.5], 0, 0, method)[0]!;
      expect(lb).toBeLessThan(0);
      expect(lb).toBeGreaterThan(-1e-7 - 1e-13);
    }
    expect(confirm(rnet, [0.5], 0, 0, 'crown-lbp', 'tight').confirmed).toBe(false);
    // the same margin shifted up by 2e-7 is confirmed
    net.torch['dense2.bias'] = Float64Array.from([0, c - 2e-7]);
    expect(confirm(rigorousNet(net.model, net.torch), [0.5], 0, 0, 'crown', 'tight').confirmed).toBe(true);
  });
});

describe('NaN and ±Inf never verify', () => {
  const net = deepNet({ kind: 'relu' }, 2);
  const per = numel(net.model.input.shape);
  const x = randomInputs(net, 1, 1).slice(0, per);
  const ok = rigorousNet(net.model, net.torch);
  const all = (v: Float64Array): boolean => v.every((z) => z === -Infinity);
  it('in the input, in ε', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const xb = x.slice();
      xb[3] = bad;
      expect(all(rigorousMargins(ok, xb, 0.01, 0, 'crown'))).toBe(true);
      expect(all(rigorousMargins(ok, x, bad, 0, 'ibp'))).toBe(true);
      expect(confirm(ok, xb, 0, 0.01, 'ibp', 'tight').confirmed).toBe(false);
    }
  });
  it('in a weight, a bias, r, or a bound that overflows', () => {
    for (const [name, bad] of [
      ['conv2d2.weight', NaN],
      ['dense1.bias', Infinity],
      ['dense2.weight', -Infinity],
    ] as const) {
      const t = { ...net.torch, [name]: net.torch[name]!.map((v, i) => (i === 1 ? bad : v)) };
      const r = rigorousNet(net.model, t);
      expect(r.defect).toContain(name.split('.')[0]);
      expect(all(rigorousMargins(r, x, 0, 0, 'ibp'))).toBe(true);
    }
    const huge = {
      ...net.torch,
      'dense1.weight': net.torch['dense1.weight']!.map((v) => v * 1e307),
      'dense2.weight': net.torch['dense2.weight']!.map((v) => v * 1e307),
    };
    const big = rigorousMargins(rigorousNet(net.model, huge), x, 0.05, 0, 'crown');
    expect(big.some((v) => v === -Infinity)).toBe(true);
    const ramp = deepNet({ kind: 'paramramp', eta: 0.05 }, 3);
    const rr = { ...ramp.torch, 'paramramp1.r': ramp.torch['paramramp1.r']!.map(() => NaN) };
    expect(rigorousNet(ramp.model, rr).defect).toBeDefined();
  });
  it('a label outside the classes, an input outside the domain by more than ε', () => {
    expect(all(rigorousMargins(ok, x, 0.01, 9, 'ibp'))).toBe(true);
    expect(
      all(
        rigorousMargins(
          ok,
          x.map(() => 3),
          0.01,
          0,
          'ibp',
        ),
      ),
    ).toBe(true);
  });
});
