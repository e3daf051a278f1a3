/**
 * Bounding lines, 1-D, for every activation × strategy × case (paper-notes §2, §10.7): validity on a
 * dense grid of [l, u], slopes ≥ 0, tight at least as tight as constant, constant = σ(l)/σ(u), the
 * per-case choices (tight and adaptive, tie rules included) against a plain if/else reading of the
 * tables, the case masks partitioning (l, u) (float32 ties included), and tfjs = float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { LineStrategy } from '../../src/ir/ir.js';
import { activate, boundLines, rampCases, type ActParams, type Lines } from '../../src/runtime/lines.js';
import { f64Num, tfNum } from '../../src/runtime/num.js';
import { useBackend } from './nets.js';

await useBackend('wasm');

type Act = Exclude<ActParams<number>, { kind: 'sigmoid' | 'tanh' }>; // the piecewise-linear ones (sigmoid-lines.test.ts has the S-shaped)
const R = 0.75; // binary-exact, so the tie intervals below are exact ties in float32 and float64
const ACTS: [string, Act][] = [
  ['relu', { kind: 'relu' }],
  ['leaky_relu(0.1)', { kind: 'leaky_relu', slope: 0.1 }],
  ['leaky_relu(0)', { kind: 'leaky_relu', slope: 0 }],
  ['paramramp(0.05, r=0.75)', { kind: 'paramramp', eta: 0.05, r: R }],
  ['paramramp(0, r=0.75)', { kind: 'paramramp', eta: 0, r: R }],
];
const STRATEGIES: LineStrategy[] = ['tight', 'adaptive', 'constant'];

/** Intervals covering every case of every activation, with ties and degenerate ones. */
// Ties: [-0.25, 0.25] and [-1, 1] (u = −l), [0.5, 1] (u − r = r − l), [-0.25, 1.75] (both sides).
const INTERVALS: [number, number][] = [
  [-2, -0.5],
  [-1, 0],
  [-1e-9, -1e-10],
  [-1e-7, 0],
  [-0.5, 0.3],
  [-0.25, 0.25],
  [-0.2, 0.75],
  [-0.7, 0.5],
  [0, 0.5],
  [0.125, 0.75],
  [0.2, 0.2],
  [0, 0],
  [0.1, 1.5],
  [0, 2],
  [0.5, 1],
  [0.75, 1.25],
  [1, 3],
  [0.75, 0.75],
  [-1, 2],
  [-0.3, 1],
  [-2, 3],
  [-0.1, 3],
  [-0.25, 1.75],
  [-1, 1],
  [-3, 0.8],
  [2.5, 2.5],
  [-4, -4],
  [100, 100.00001],
];

const sigma = (a: Act, z: number): number => activate(f64Num, asF64(a), Float64Array.of(z))[0]!;
function asF64(a: Act): ActParams<Float64Array> {
  return a.kind === 'paramramp' ? { ...a, r: Float64Array.of(a.r) } : a;
}
function linesF64(a: Act, l: number, u: number, s: LineStrategy): [number, number, number, number] {
  const r = boundLines(f64Num, asF64(a), Float64Array.of(l), Float64Array.of(u), s);
  return [r.sL[0]!, r.tL[0]!, r.sU[0]!, r.tU[0]!];
}

/** The paper's tables read as plain if/else (with the reference code's guards and tie rules). */
function expected(
  a: Act,
  l: number,
  u0: number,
  s: LineStrategy,
): [number, number, number, number] | undefined {
  if (s === 'constant') return [0, sigma(a, l), 0, sigma(a, u0)];
  const adaptive = s === 'adaptive';
  if (a.kind === 'relu') {
    if (l < 0 && l > -1e-7) return undefined; // the 1e-8 guard region: checked by the generic properties only
    if (l >= 0) return [1, 0, 1, 0]; // l = u = 0 included (code: lb = 0 ⇒ sU = 1)
    if (u0 <= 0) return [0, 0, 0, 0];
    const k = u0 / (u0 - l);
    return [adaptive && u0 > -l ? 1 : 0, 0, k, -l * k];
  }
  const eta = a.kind === 'leaky_relu' ? a.slope : a.eta;
  const u = Math.max(u0, l + 1e-6);
  const chord = (x1: number, x2: number, through2: boolean): [number, number] => {
    const k = (sigma(a, x2) - sigma(a, x1)) / Math.max(x2 - x1, 1e-6);
    return [k, through2 ? sigma(a, x2) - k * x2 : sigma(a, x1) - k * x1];
  };
  if (a.kind === 'leaky_relu') {
    if (u <= 0) return [eta, 0, eta, 0];
    if (l >= 0) return [1, 0, 1, 0];
    const [k, b] = chord(l, u, true);
    return [adaptive && u > -l ? 1 : eta, 0, k, b];
  }
  const r = a.r;
  const b0 = (1 - eta) * r;
  const [k, b] = chord(l, u, false);
  const a1 = u > -l;
  const a2 = u - r > r - l;
  if (u <= 0) return [eta, 0, eta, 0];
  if (l < 0 && u <= r) return [adaptive && a1 ? 1 : eta, 0, k, b];
  if (l >= 0 && u <= r) return [1, 0, 1, 0];
  if (l >= 0 && l < r) return adaptive && !a2 ? [k, b, 1, 0] : [k, b, eta, b0];
  if (l >= r) return [eta, b0, eta, b0];
  // unstable: l < 0, u > r
  if (!adaptive) return [eta, 0, eta, b0];
  const k1 = (r - sigma(a, l)) / Math.max(r - l, 1e-6);
  const up: [number, number] = a2 ? [eta, b0] : [k1, sigma(a, l) - k1 * l];
  const lo: [number, number] = a1 ? [sigma(a, u) / u, 0] : [eta, 0];
  return [lo[0], lo[1], up[0], up[1]];
}

describe.each(ACTS)('%s', (_name, a) => {
  it.each(STRATEGIES)('%s lines: valid on a dense grid, slopes ≥ 0, tables and ties', (s) => {
    for (const [l, u] of INTERVALS) {
      const [sL, tL, sU, tU] = linesF64(a, l, u, s);
      const at = `[${l}, ${u}]`;
      expect(sL, at).toBeGreaterThanOrEqual(0);
      expect(sU, at).toBeGreaterThanOrEqual(0);
      const scale = 1 + Math.abs(l) + Math.abs(u);
      let below = -Infinity; // max of lower line − σ
      let above = -Infinity; // max of σ − upper line
      let looser = -Infinity; // tight: max of σ(l) − lower line and upper line − σ(u)
      for (let i = 0; i <= 400; i++) {
        const z = l + ((u - l) * i) / 400;
        const v = sigma(a, z);
        below = Math.max(below, sL * z + tL - v);
        above = Math.max(above, v - (sU * z + tU));
        looser = Math.max(looser, sigma(a, l) - (sL * z + tL), sU * z + tU - sigma(a, u));
      }
      expect(below, `lower line on ${at}`).toBeLessThanOrEqual(1e-12 * scale);
      expect(above, `upper line on ${at}`).toBeLessThanOrEqual(1e-12 * scale);
      // Tight lines are at least as tight as the constant lines σ(l), σ(u) (up to the 1e-6 u guard).
      if (s === 'tight') expect(looser, `tight vs constant on ${at}`).toBeLessThanOrEqual(2e-6 * scale);
      const want = expected(a, l, u, s);
      if (want) [sL, tL, sU, tU].forEach((v, i) => expect(v, `${at} term ${i}`).toBeCloseTo(want[i]!, 9));
    }
  });

  it.each(STRATEGIES)('%s lines: tfjs (float32) equals float64', (s) => {
    const ls = INTERVALS.map((p) => p[0]);
    const us = INTERVALS.map((p) => p[1]);
    const ref = boundLines(
      f64Num,
      {
        ...asF64(a),
        ...(a.kind === 'paramramp' ? { r: new Float64Array(ls.length).fill(a.r) } : {}),
      } as ActParams<Float64Array>,
      Float64Array.from(ls),
      Float64Array.from(us),
      s,
    );
    tf.tidy(() => {
      const ta: ActParams<tf.Tensor> = a.kind === 'paramramp' ? { ...a, r: tf.scalar(a.r) } : a;
      const got = boundLines(tfNum, ta, tf.tensor1d(ls), tf.tensor1d(us), s);
      (['sL', 'tL', 'sU', 'tU'] as const).forEach((key) => {
        const g = got[key].dataSync();
        ref[key].forEach((v, i) => {
          // Degenerate intervals: the 1e-6 guard acts differently in float32 (l + 1e-6 may round to l).
          if (Math.abs(us[i]! - ls[i]!) < 1e-5) return;
          expect(g[i]!, `${key} on [${ls[i]}, ${us[i]}]`).toBeCloseTo(v, 4);
        });
      });
    });
  });
});

describe('case masks', () => {
  it('partition every (l, u), ties and float32 guard failures included', () => {
    const cases = [...INTERVALS, [40, 40], [R, R], [0, 0]] as [number, number][];
    const r = cases.map(([l, u]) => (l === 40 && u === 40 ? 40 : R));
    const ls = cases.map((p) => p[0]);
    const us = cases.map((p) => p[1]);
    const f = rampCases(f64Num, Float64Array.from(r), Float64Array.from(ls), Float64Array.from(us));
    tf.tidy(() => {
      const t = rampCases(tfNum, tf.tensor1d(r), tf.tensor1d(ls), tf.tensor1d(us));
      cases.forEach((_, i) => {
        const sum64 = Object.values(f).reduce((acc, m) => acc + m[i]!, 0);
        const sum32 = Object.values(t).reduce((acc, m) => acc + m.dataSync()[i]!, 0);
        expect(sum64).toBe(1);
        expect(sum32).toBe(1);
      });
      // l = u = r = 40: in float32 l + 1e-6 rounds to l, so the guard cannot separate alive from right dead.
      expect(t.rightDead.dataSync()[cases.length - 3]).toBe(1);
    });
    expect(f.unstable[INTERVALS.findIndex(([l, u]) => l === -1 && u === 2)]).toBe(1);
    expect(f.rightUnstable[INTERVALS.findIndex(([l, u]) => l === 0.1 && u === 1.5)]).toBe(1);
  });

  it('ParamRamp σ is η z, z, η z + (1 − η) r on its three pieces, and lines stay valid with r at the clamp', () => {
    const a: Act = { kind: 'paramramp', eta: 0.2, r: 1e-4 };
    expect(sigma(a, -2)).toBeCloseTo(-0.4, 12);
    expect(sigma(a, 5e-5)).toBeCloseTo(5e-5, 12);
    expect(sigma(a, 3)).toBeCloseTo(0.2 * 3 + 0.8 * 1e-4, 12);
    for (const s of STRATEGIES)
      for (const [l, u] of [
        [-1, 1],
        [0, 2e-4],
        [-1e-4, 5e-5],
        [2e-4, 1],
      ] as [number, number][]) {
        const ln = linesF64(a, l, u, s);
        for (let i = 0; i <= 100; i++) {
          const z = l + ((u - l) * i) / 100;
          expect(ln[0] * z + ln[1]).toBeLessThanOrEqual(sigma(a, z) + 1e-12);
          expect(ln[2] * z + ln[3]).toBeGreaterThanOrEqual(sigma(a, z) - 1e-12);
        }
      }
  });
});

describe('gradients through the lines', () => {
  it('are finite for every case, and reach r through intercepts and chords', () => {
    const ls = INTERVALS.map((p) => p[0]);
    const us = INTERVALS.map((p) => p[1]);
    for (const s of ['tight', 'adaptive'] as const) {
      const r = tf.variable(tf.fill([ls.length], R));
      const l = tf.variable(tf.tensor1d(ls));
      const u = tf.variable(tf.tensor1d(us));
      const { value, grads } = tf.variableGrads(() => {
        const ln: Lines<tf.Tensor> = boundLines(tfNum, { kind: 'paramramp', eta: 0.05, r }, l, u, s);
        return tf.sum(tf.addN([ln.sL, ln.tL, ln.sU, ln.tU]));
      }, [r, l, u]);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      for (const g of Object.values(grads))
        expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      expect(Array.from(grads[r.name]!.dataSync()).some((v) => v !== 0)).toBe(true);
      tf.dispose([value, ...Object.values(grads), r, l, u]);
    }
  });
});
