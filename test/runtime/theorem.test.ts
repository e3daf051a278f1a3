/**
 * Relations between the methods (paper-notes §3–4): Theorem 2 ordering with tight lines
 * (IBP ≤ {LBP, CROWN-IBP} ≤ CROWN-LBP ≤ CROWN for lower bounds, reversed for upper), constant lines
 * reproduce IBP for every method, LBP equals CROWN on one hidden layer, and full CROWN's row
 * chunking under a memory budget changes nothing (or refuses, naming the estimate), and LBP refuses
 * a batch that does not fit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import * as rt from '../../src/runtime/index.js';
import {
  buildNet,
  randomInputs,
  runBounds,
  toInternal,
  useBackend,
  type LayerDesc,
  type TestNet,
} from './nets.js';

await useBackend('wasm');

const B = 3;
const K = 5;
const labels = [0, 3, 4];

function bounds(
  net: TestNet,
  x: Float64Array,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
): [number[][], number[][]] {
  return tf.tidy(() => {
    const box = rt.inputBox(toInternal(net, x, B), eps, net.inputCfg);
    const C = rt.marginSpec(tf.tensor1d(labels, 'int32'), K);
    const r = runBounds(net, box, method, { lines, C });
    return [r.lower.arraySync() as number[][], r.upper.arraySync() as number[][]];
  });
}

function deepNet(act: LayerDesc, seed: number): TestNet {
  return buildNet(
    { shape: [1, 6, 6] },
    [
      { kind: 'conv2d', out: 4, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 4, k: 4, s: 2, p: 1 },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 12 },
      act,
      { kind: 'dense', out: K },
    ],
    seed,
    { wScale: 1.8, r: [0.1, 1] },
  );
}

const ACTS: [string, LayerDesc][] = [
  ['relu', { kind: 'relu' }],
  ['leaky_relu(0.05)', { kind: 'leaky_relu', slope: 0.05 }],
  ['paramramp(0.02)', { kind: 'paramramp', eta: 0.02 }],
];

/** a ≤ b elementwise, up to float32 noise. */
function expectLE(a: number[][], b: number[][], what: string): void {
  let worst = -Infinity;
  a.forEach((row, i) =>
    row.forEach((v, j) => (worst = Math.max(worst, (v - b[i]![j]!) / (1 + Math.abs(v))))),
  );
  expect(worst, what).toBeLessThan(2e-5);
}

describe.each(ACTS)('with %s', (_name, act) => {
  it.each([31, 32])('Theorem 2 ordering with tight lines (seed %i)', (seed) => {
    const net = deepNet(act, seed);
    const x = randomInputs(net, B, seed);
    const [ibp, lbp, ci, cl, c] = (['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'] as const).map((m) =>
      bounds(net, x, 0.1, m, 'tight'),
    );
    for (const [lo, hi, name] of [
      [ibp!, lbp!, 'IBP ≤ LBP'],
      [ibp!, ci!, 'IBP ≤ CROWN-IBP'],
      [lbp!, cl!, 'LBP ≤ CROWN-LBP'],
      [ci!, cl!, 'CROWN-IBP ≤ CROWN-LBP'],
      [cl!, c!, 'CROWN-LBP ≤ CROWN'],
    ] as const) {
      expectLE(lo[0], hi[0], `lower: ${name}`);
      expectLE(hi[1], lo[1], `upper: ${name}`);
    }
    // The ordering is not vacuous: CROWN is strictly tighter than IBP somewhere.
    expect(c![0].flat().some((v, i) => v > ibp![0].flat()[i]! + 1e-3)).toBe(true);
  });

  it('constant lines reproduce IBP for every method', () => {
    const net = deepNet(act, 33);
    const x = randomInputs(net, B, 33);
    const [l0, u0] = bounds(net, x, 0.1, 'ibp', 'tight');
    for (const m of ['lbp', 'crown-ibp', 'crown-lbp', 'crown'] as const) {
      const [l, u] = bounds(net, x, 0.1, m, 'constant');
      l.flat().forEach((v, i) => expect(v, m).toBeCloseTo(l0.flat()[i]!, 4));
      u.flat().forEach((v, i) => expect(v, m).toBeCloseTo(u0.flat()[i]!, 4));
    }
  });

  it.each(['tight', 'adaptive'] as const)('on one hidden layer, LBP equals CROWN (%s lines)', (lines) => {
    const net = buildNet({ shape: [7] }, [{ kind: 'dense', out: 9 }, act, { kind: 'dense', out: K }], 34, {
      wScale: 2,
    });
    const x = randomInputs(net, B, 34);
    const [l1, u1] = bounds(net, x, 0.2, 'lbp', lines);
    for (const m of ['crown', 'crown-ibp', 'crown-lbp'] as const) {
      const [l2, u2] = bounds(net, x, 0.2, m, lines);
      l1.flat().forEach((v, i) => expect(v, m).toBeCloseTo(l2.flat()[i]!, 4));
      u1.flat().forEach((v, i) => expect(v, m).toBeCloseTo(u2.flat()[i]!, 4));
    }
  });
});

describe('full CROWN under a memory budget', () => {
  const saved = process.env['VNET_CROWN_BUDGET_MB'];
  afterEach(() => {
    if (saved === undefined) delete process.env['VNET_CROWN_BUDGET_MB'];
    else process.env['VNET_CROWN_BUDGET_MB'] = saved;
  });
  const net = deepNet({ kind: 'relu' }, 35);
  const x = randomInputs(net, B, 35);

  it('gives the same bounds when rows are processed in many small chunks', () => {
    delete process.env['VNET_CROWN_BUDGET_MB'];
    const whole = bounds(net, x, 0.1, 'crown', 'tight');
    process.env['VNET_CROWN_BUDGET_MB'] = '0.05'; // a few rows per chunk
    const chunked = bounds(net, x, 0.1, 'crown', 'tight');
    whole[0].flat().forEach((v, i) => expect(chunked[0].flat()[i]).toBeCloseTo(v, 5));
    whole[1].flat().forEach((v, i) => expect(chunked[1].flat()[i]).toBeCloseTo(v, 5));
  });

  it('refuses with a MemoryBudgetError naming the estimate when one row does not fit, leaking nothing', () => {
    process.env['VNET_CROWN_BUDGET_MB'] = '0.0001';
    const before = tf.memory().numTensors;
    expect(() => bounds(net, x, 0.1, 'crown', 'tight')).toThrow(rt.MemoryBudgetError);
    expect(() => bounds(net, x, 0.1, 'crown', 'tight')).toThrow(
      /MiB per neuron of a layer of shape \[6, 6, 4\] at batch 3/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('LBP refuses a batch whose linear bounds exceed the budget, naming the estimate', () => {
    process.env['VNET_CROWN_BUDGET_MB'] = '0.01';
    const before = tf.memory().numTensors;
    expect(() => bounds(net, x, 0.1, 'lbp', 'tight')).toThrow(rt.MemoryBudgetError);
    expect(() => bounds(net, x, 0.1, 'crown-lbp', 'tight')).toThrow(
      /LBP needs about [\d.]+ MiB for its linear bounds at a layer of shape \[6, 6, 4\] \(batch 3, 36 input dimensions\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a malformed budget', () => {
    process.env['VNET_CROWN_BUDGET_MB'] = 'lots';
    expect(() => rt.crownBudgetFloats()).toThrow(/VNET_CROWN_BUDGET_MB/);
  });
});
