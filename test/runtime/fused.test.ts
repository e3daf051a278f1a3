/**
 * The fused wasm kernels (src/runtime/fused.ts, simd/kernels.wat) against the plain tfjs-op path
 * they replace: CROWN-IBP / CROWN-LBP lower bounds and every parameter's gradient through the
 * generated-code primitives, the kernel on its own (shared forms, exact zeros, widths that are
 * not a multiple of 4, kept columns, the concretization's dot-only form), and Adam bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { simdModuleSource, TS_PATH, WAT_PATH } from '../../scripts/build-simd.js';
import type { LineStrategy } from '../../src/ir/ir.js';
import * as rt from '../../src/runtime/index.js';
import { fusedActive, setFused } from '../../src/runtime/fused.js';
import { adamBoth, FORMS_CASES, formsBoth } from './fused-ref.js';
import {
  buildNet,
  paramGrads,
  randomInputs,
  relErr,
  runBounds,
  toInternal,
  useBackend,
  type LayerDesc,
  type TestNet,
} from './nets.js';

await useBackend('wasm');
afterEach(() => setFused(true));

const relu: LayerDesc = { kind: 'relu' };

const nets: [string, () => TestNet][] = [
  [
    'MLP with ReLU and ParamRamp (kept columns)',
    () =>
      buildNet(
        { shape: [1, 6, 7] },
        [
          { kind: 'flatten' },
          { kind: 'dense', out: 37 },
          relu,
          { kind: 'dense', out: 30 },
          { kind: 'paramramp', eta: 0.05 },
          { kind: 'dense', out: 6 },
        ],
        81,
        { wScale: 1.3, bScale: 1.5, r: [0.05, 0.6] },
      ),
  ],
  [
    'conv net with LeakyReLU on maps, 3 channels',
    () =>
      buildNet(
        { shape: [3, 9, 9] },
        [
          { kind: 'conv2d', out: 5, k: 3, s: 2, p: 1 },
          { kind: 'leaky_relu', slope: 0.1 },
          { kind: 'conv2d', out: 3, k: 3, s: 1, p: 0 },
          relu,
          { kind: 'flatten' },
          { kind: 'dense', out: 11 },
          relu,
          { kind: 'dense', out: 5 },
        ],
        82,
        { wScale: 1.4 },
      ),
  ],
];

const B = 3;

/** Lower margin bounds and the gradient of a weighted sum of them, fused on or off. */
function lowerAndGrads(
  net: TestNet,
  method: 'crown-ibp' | 'crown-lbp',
  lines: LineStrategy,
  fused: boolean,
): { lower: number[][]; grads: Float32Array[] } {
  setFused(fused);
  const x = randomInputs(net, B, 5);
  const K = net.model.classes;
  const labels = [0, K - 1, 2];
  const bounds = (n: TestNet): tf.Tensor => {
    const box = rt.inputBox(toInternal(n, x, B), 0.04, n.inputCfg);
    const C = rt.marginSpec(tf.tensor1d(labels, 'int32'), K);
    return runBounds(n, box, method, { lines, C, lowerOnly: true }).lower;
  };
  const lower = tf.tidy(() => bounds(net).arraySync() as number[][]);
  const weights = tf.tensor2d(
    Array.from({ length: B * (K - 1) }, (_, i) => ((i * 7) % 5) - 2),
    [B, K - 1],
  );
  const { grads, leaked } = paramGrads(net, (n) => tf.sum(tf.mul(bounds(n), weights)));
  expect(leaked).toBe(0);
  weights.dispose();
  return { lower, grads };
}

/** The kernels a call runs: name, first output shape, and the width of the second input. */
async function kernelsOf(f: () => tf.Tensor): Promise<{ name: string; out: number[]; n: number }[]> {
  const info = await tf.profile(() => f());
  tf.dispose(info.result as tf.Tensor);
  return info.kernels.map((k) => ({
    name: k.name,
    out: [...(k.outputShapes[0] ?? [])],
    n: k.inputShapes[1]?.[1] ?? 0,
  }));
}

describe('fused kernels on wasm', () => {
  it('simd/kernels-wasm.ts is kernels.wat assembled (npm run build:simd)', async () => {
    expect(readFileSync(TS_PATH, 'utf8')).toBe(await simdModuleSource(readFileSync(WAT_PATH, 'utf8')));
  });

  it('are active on wasm and switch off', () => {
    expect(fusedActive()).toBe(true);
    setFused(false);
    expect(fusedActive()).toBe(false);
  });

  /** Both bounds of a bound-only pass (no gradient), fused on or off. */
  function bothSides(
    net: TestNet,
    method: 'crown-ibp' | 'crown-lbp' | 'crown',
    fused: boolean,
  ): number[][][] {
    setFused(fused);
    const x = randomInputs(net, B, 6);
    const K = net.model.classes;
    return tf.tidy(() => {
      const box = rt.inputBox(toInternal(net, x, B), 0.04, net.inputCfg);
      const C = rt.marginSpec(tf.tensor1d([1, 0, K - 1], 'int32'), K);
      const r = runBounds(net, box, method, { lines: 'tight', C });
      return [r.lower.arraySync() as number[][], r.upper.arraySync() as number[][]];
    });
  }

  describe.each(nets)('%s', (_, make) => {
    it.each(['crown-ibp', 'crown-lbp', 'crown'] as const)(
      '%s lower and upper bounds equal the op path',
      (method) => {
        const [a, b] = [bothSides(make(), method, true), bothSides(make(), method, false)];
        expect(relErr(a[0]!, b[0]!)).toBeLessThan(2e-5);
        expect(relErr(a[1]!, b[1]!)).toBeLessThan(2e-5);
        expect(a[0]!.flat().every((v, i) => v <= a[1]!.flat()[i]!)).toBe(true);
      },
    );

    const net = make();
    it.each([
      ['crown-ibp', 'adaptive'],
      ['crown-ibp', 'tight'],
      ['crown-lbp', 'adaptive'],
    ] as const)('%s %s lower bounds and parameter gradients equal the op path', (method, lines) => {
      const a = lowerAndGrads(net, method, lines, true);
      const b = lowerAndGrads(net, method, lines, false);
      expect(relErr(a.lower, b.lower)).toBeLessThan(2e-5);
      a.grads.forEach((g, i) => {
        expect(g.every(Number.isFinite)).toBe(true);
        expect(relErr([g], [b.grads[i]!])).toBeLessThan(2e-4);
      });
      // the bounds are not all trivially equal (something to compare)
      expect(a.lower.flat().some((v) => v !== 0)).toBe(true);
    });
  });

  it('the MLP takes the kept-columns form and the conv net the whole-map form', async () => {
    for (const [i, cols] of [
      [0, true],
      [1, false],
    ] as const) {
      const net = nets[i]![1]();
      const x = randomInputs(net, B, 5);
      const K = net.model.classes;
      const ks = await kernelsOf(() => {
        const box = rt.inputBox(toInternal(net, x, B), 0.04, net.inputCfg);
        const C = rt.marginSpec(tf.tensor1d([0, 1, 2], 'int32'), K);
        return runBounds(net, box, 'crown-ibp', { lines: 'adaptive', C, lowerOnly: true }).lower;
      });
      // (k = the form's width after the step, N = the layer's)
      const fused = ks.filter((k) => k.name === 'VnetFormsLower').map((k) => ({ k: k.out[1]!, N: k.n }));
      expect(fused.length).toBeGreaterThanOrEqual(3); // activations and the concretization
      if (cols) expect(fused.some((f) => f.k > 0 && f.k < f.N)).toBe(true);
      else expect(fused.some((f) => f.N === 3 * 3 * 3 && f.k === f.N)).toBe(true); // conv2's map
    }
  });
});

describe('formsLower kernel', () => {
  it.each(FORMS_CASES)('%s: values and gradients', (_, o) => {
    const { fused, ref, nValues } = formsBoth(o, 9);
    const read = (ts: tf.Tensor[]): Float32Array[] => ts.map((t) => t.dataSync() as Float32Array);
    const [f, r] = [read(fused), read(ref)];
    f.forEach((v, i) =>
      expect(relErr([v], [r[i]!]), `${i < nValues ? 'value' : 'gradient'} ${i}`).toBeLessThan(1e-6),
    );
    // (the zeros of A matter: tfjs's |a|' is −1 at 0, so they take the a < 0 side, not 0)
    expect(r[nValues]!.some((v, i) => i % 3 === 0 && v !== 0)).toBe(true);
    tf.dispose([...fused, ...ref]);
  });
});

describe('fused Adam', () => {
  it('gives the same bits as the op path, with and without weight decay, odd sizes', () => {
    const { fused, ops, start, steps } = adamBoth();
    for (const k of Object.keys(fused)) {
      const [a, b] = [fused[k]!.dataSync(), ops[k]!.dataSync()];
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(relErr([a], [start[k]!.dataSync()])).toBeGreaterThan(1e-3); // the update did something
    }
    expect(steps).toBe(4);
    tf.dispose([...Object.values(fused), ...Object.values(ops), ...Object.values(start)]);
  });
});
