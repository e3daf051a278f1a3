/**
 * The status-driven fast paths of LBP and CROWN (src/runtime/status.ts: per-sample forms over the
 * neurons each sample keeps) give the bounds of the plain batched tfjs path and of the float64
 * reference, gradients included, on nets wide enough to take them (full CROWN's identity
 * specifications with ≥ 32 rows) and with dead neurons, ParamRamp neurons whose slopes are 0 but
 * whose intercept is not (right-dead), and conv layers before and after.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import { refBounds } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import { setStatusGather, statusGather } from '../../src/runtime/status.js';
import {
  boundsRelErr,
  buildNet,
  marginRows,
  paramGrads,
  randomInputs,
  relErr,
  rows,
  runBounds,
  toInternal,
  useBackend,
  type LayerDesc,
  type TestNet,
} from './nets.js';

await useBackend('wasm');

const B = 5;
const relu: LayerDesc = { kind: 'relu' };

const nets: [string, () => TestNet][] = [
  [
    'ReLU MLP, three hidden layers of 40 (many dead neurons)',
    () =>
      buildNet(
        { shape: [1, 6, 6] },
        [
          { kind: 'flatten' },
          { kind: 'dense', out: 40 },
          relu,
          { kind: 'dense', out: 40 },
          relu,
          { kind: 'dense', out: 36, bias: false },
          relu,
          { kind: 'dense', out: 5 },
        ],
        61,
        { wScale: 2, bScale: 0.6 },
      ),
  ],
  [
    'ParamRamp(0) MLP (right-dead neurons: slopes 0, intercept r)',
    () =>
      buildNet(
        { shape: [36] },
        [
          { kind: 'dense', out: 48 },
          { kind: 'paramramp', eta: 0 },
          { kind: 'dense', out: 40 },
          { kind: 'paramramp', eta: 0 },
          { kind: 'dense', out: 4 },
        ],
        62,
        { wScale: 2, r: [0.02, 0.2] },
      ),
  ],
  [
    'conv, then wide dense layers',
    () =>
      buildNet(
        { shape: [2, 6, 6] },
        [
          { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
          relu,
          { kind: 'conv2d', out: 4, k: 2, s: 2, p: 0 },
          relu,
          { kind: 'flatten' },
          { kind: 'dense', out: 40 },
          { kind: 'leaky_relu', slope: 0.1 },
          { kind: 'dense', out: 33 },
          relu,
          { kind: 'dense', out: 3 },
        ],
        63,
        { wScale: 1.8 },
      ),
  ],
];

afterEach(() => setStatusGather(true));

function run(net: TestNet, x: Float64Array, method: BoundMethod, lines: LineStrategy, gather: boolean) {
  setStatusGather(gather);
  return marginRows(net, x, B, 0.08, method, lines, [0, 1, net.model.classes - 1, 2, 1]);
}

it('the fast paths are on for the wasm backend', () => {
  expect(statusGather()).toBe(true);
  setStatusGather(false);
  expect(statusGather()).toBe(false);
});

describe.each(nets)('%s', (_name, make) => {
  const net = make();
  const x = randomInputs(net, B, 5);
  const methods: BoundMethod[] = ['lbp', 'crown-ibp', 'crown-lbp', 'crown'];

  it('has dead neurons at the bounds the fast paths see', () => {
    const r = run(net, x, 'lbp', 'tight', true);
    const dead = r.pre.flatMap(([, u]) => u!.flat()).filter((v) => v <= 0).length;
    expect(dead).toBeGreaterThan(20);
  });

  it.each(methods.flatMap((m) => (['tight', 'adaptive'] as const).map((l) => [m, l] as const)))(
    '%s, %s lines: fast path = plain path = float64 reference',
    (method, lines) => {
      const fast = run(net, x, method, lines, true);
      const plain = run(net, x, method, lines, false);
      expect(boundsRelErr(fast, plain)).toBeLessThan(1e-5);
      const K = net.model.classes;
      const ref = refBounds(net.model, net.torch, x, B, 0.08, method, { lines, labels: [0, 1, K - 1, 2, 1] });
      expect(relErr(fast.lower, ref.lower)).toBeLessThan(2e-4);
      expect(relErr(fast.upper, ref.upper)).toBeLessThan(2e-4);
    },
  );

  it.each(methods)('%s: the same gradients on both paths, and no leaked tensor', (method) => {
    const grads = (gather: boolean): Float32Array[] => {
      setStatusGather(gather);
      const { grads: g, leaked } = paramGrads(net, (n) => {
        const box = rt.inputBox(toInternal(n, x, B), 0.08, n.inputCfg);
        const r = runBounds(n, box, method, { lines: 'adaptive' });
        return tf.add(tf.sum(r.lower), tf.mul(tf.sum(r.upper), 0.5)) as tf.Scalar;
      });
      expect(leaked).toBe(0);
      return g;
    };
    const fast = grads(true);
    const plain = grads(false);
    fast.forEach((g, i) => {
      expect(Array.from(g).every(Number.isFinite)).toBe(true);
      expect(relErr([g], [plain[i]!])).toBeLessThan(1e-4);
    });
  });
});

it('lowerOnly CROWN passes take the fast path too', () => {
  const net = nets[0]![1]();
  const x = randomInputs(net, B, 9);
  const lower = (gather: boolean): number[][] => {
    setStatusGather(gather);
    return tf.tidy(() => {
      const box = rt.inputBox(toInternal(net, x, B), 0.08, net.inputCfg);
      return rows(runBounds(net, box, 'crown', { lines: 'adaptive', lowerOnly: true }).lower);
    });
  };
  expect(relErr(lower(true), lower(false))).toBeLessThan(1e-5);
});

it('dense back-steps multiply only the kept rows of Wᵀ (no scatter back to full width first)', async () => {
  const net = nets[0]![1]();
  const x = randomInputs(net, B, 11);
  // the products of one CROWN-IBP pass: [rows, k]·[k, n] on the fast path, never more than the
  // plain path's count (a scatter of the kept columns back to full width would add one per side)
  const products = async (gather: boolean): Promise<number[][][]> => {
    setStatusGather(gather);
    const prof = await tf.profile(() => {
      const box = rt.inputBox(toInternal(net, x, B), 0.08, net.inputCfg);
      const K = net.model.classes;
      const C = rt.marginSpec(tf.tensor1d([0, 1, K - 1, 2, 1], 'int32'), K);
      const r = runBounds(net, box, 'crown-ibp', { lines: 'adaptive', C });
      return r.lower;
    });
    return prof.kernels.filter((k) => k.name === 'BatchMatMul').map((k) => k.inputShapes as number[][]);
  };
  const fast = await products(true);
  const plain = await products(false);
  expect(fast.length).toBeLessThanOrEqual(plain.length);
  // and the fast path multiplies fewer numbers in all (dead neurons skipped)
  const macs = (ps: number[][][]): number =>
    ps.reduce((n, [a, b]) => n + a!.reduce((x, y) => x * y, 1) * b![b!.length - 1]!, 0);
  expect(macs(fast)).toBeLessThan(macs(plain));
});
