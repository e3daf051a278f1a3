/**
 * Windowed forms (src/runtime/windows.ts; LBP's input directions, full CROWN's identity rows on conv
 * layers) give the bounds of the plain full-map path and of
 * the float64 reference, on conv nets with strides 1–3, padding before and after, asymmetric
 * padding, several channels, conv→conv without an activation between, a conv straight before
 * the last layer, and a net whose first layer is an activation; gradients included.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { LineStrategy } from '../../src/ir/ir.js';
import { refBounds } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import {
  convPlan,
  inputGeom,
  lbpWindows,
  setLbpWindows,
  setWindowUnrolledMax,
  type WindowMode,
} from '../../src/runtime/windows.js';
import {
  boundsRelErr,
  buildNet,
  marginRows,
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

const B = 4;
const relu: LayerDesc = { kind: 'relu' };

const nets: [string, () => TestNet][] = [
  [
    'DM-Small shape: 4×4/2 valid, 4×4/1 valid, dense',
    () =>
      buildNet(
        { shape: [1, 14, 14] },
        [
          { kind: 'conv2d', out: 4, k: 4, s: 2, p: 0 },
          relu,
          { kind: 'conv2d', out: 6, k: 4, s: 1, p: 0 },
          { kind: 'paramramp', eta: 0.01 },
          { kind: 'flatten' },
          { kind: 'dense', out: 12 },
          relu,
          { kind: 'dense', out: 5 },
        ],
        71,
        { wScale: 1.5, r: [0.05, 0.5] },
      ),
  ],
  [
    'padded strides 2 and 3, 3 input channels, conv→conv, asymmetric padding',
    () =>
      buildNet(
        { shape: [3, 13, 11] },
        [
          { kind: 'conv2d', out: 5, k: 4, s: 2, p: 1 },
          { kind: 'leaky_relu', slope: 0.1 },
          { kind: 'conv2d', out: 4, k: 3, s: 1, p: [0, 2, 1, 0] },
          { kind: 'conv2d', out: 6, k: 3, s: 3, p: 1 },
          relu,
          { kind: 'flatten' },
          { kind: 'dense', out: 7 },
        ],
        72,
        { wScale: 1.4 },
      ),
  ],
  [
    'activation first, then a conv straight before the last layer',
    () =>
      buildNet(
        { shape: [2, 9, 9] },
        [
          relu,
          { kind: 'conv2d', out: 3, k: 3, s: 2, p: 1 },
          relu,
          { kind: 'conv2d', out: 2, k: 2, s: 1, p: 0 },
          { kind: 'flatten' },
          { kind: 'dense', out: 4 },
        ],
        73,
        { wScale: 1.6 },
      ),
  ],
];

/** Windows that outgrow the map: three stride-1 convs on a 6×6 map ('auto' falls back to whole maps). */
const deep = (): TestNet =>
  buildNet(
    { shape: [2, 6, 6] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      relu,
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      relu,
      { kind: 'conv2d', out: 2, k: 3, s: 1, p: 0 },
      relu,
      { kind: 'flatten' },
      { kind: 'dense', out: 4 },
    ],
    74,
    { wScale: 1.5 },
  );

const start = lbpWindows();
afterEach(() => setLbpWindows(start));

const labels = (K: number): number[] => [0, K - 1, 1, 2];

function run(
  net: TestNet,
  x: Float64Array,
  method: 'lbp' | 'crown-lbp' | 'crown',
  lines: LineStrategy,
  m: WindowMode,
) {
  setLbpWindows(m);
  return marginRows(net, x, B, 0.1, method, lines, labels(net.model.classes));
}

describe('window geometry', () => {
  it('a 4×4/2 valid conv puts each pixel in a 2×2 window, the next 4×4/1 conv in a 5×5 one', () => {
    const g0 = inputGeom([14, 14, 1])!;
    const cfg = (
      inShape: [number, number, number],
      outShape: [number, number, number],
      k: number,
      s: number,
    ) => ({
      kernel: [k, k] as const,
      stride: [s, s] as const,
      padding: [0, 0, 0, 0] as const,
      inShape,
      outShape,
    });
    const p1 = convPlan(g0, cfg([14, 14, 1], [6, 6, 4], 4, 2))!;
    expect([p1.geom.y.size, p1.geom.x.size]).toEqual([2, 2]);
    expect(p1.classes).toHaveLength(4); // two offsets per axis under stride 2
    // pixel (5, 0) reaches outputs o with 2o ≤ 5 ≤ 2o + 3: o ∈ {1, 2}
    expect(p1.geom.y.off[5 * 14]).toBe(1);
    const p2 = convPlan(p1.geom, cfg([6, 6, 4], [3, 3, 6], 4, 1))!;
    expect([p2.geom.y.size, p2.geom.x.size]).toEqual([5, 5]);
    expect(p2.classes).toHaveLength(1);
    expect(convPlan(g0, cfg([14, 14, 1], [5, 5, 4], 2, 3))).toBeNull(); // kernel < stride
  });
});

describe.each(nets)('%s', (_name, make) => {
  const net = make();
  const x = randomInputs(net, B, 3);

  it.each(
    (['lbp', 'crown-lbp', 'crown'] as const).flatMap((m) =>
      (['tight', 'adaptive'] as const).map((l) => [m, l] as const),
    ),
  )('%s, %s lines: windowed = full-map path = float64 reference', (method, lines) => {
    const win = run(net, x, method, lines, 'always');
    const plain = run(net, x, method, lines, 'off');
    expect(boundsRelErr(win, plain)).toBeLessThan(1e-5);
    const K = net.model.classes;
    const ref = refBounds(net.model, net.torch, x, B, 0.1, method, { lines, labels: labels(K) });
    expect(relErr(win.lower, ref.lower)).toBeLessThan(2e-4);
    expect(relErr(win.upper, ref.upper)).toBeLessThan(2e-4);
  });

  it('window convs as conv2d (large windows) = as one unrolled product (small ones)', () => {
    const unrolled = run(net, x, 'lbp', 'tight', 'always');
    const prev = setWindowUnrolledMax(0);
    try {
      const conv = run(net, x, 'lbp', 'tight', 'always');
      expect(relErr(conv.lower, unrolled.lower)).toBeLessThan(1e-5);
      conv.pre.forEach(([l], i) => expect(relErr(l!, unrolled.pre[i]![0]!)).toBeLessThan(1e-5));
    } finally {
      setWindowUnrolledMax(prev);
    }
  });

  it('the same gradients on both paths, and no leaked tensor', () => {
    const grads = (m: WindowMode): Float32Array[] => {
      setLbpWindows(m);
      const { grads: g, leaked } = paramGrads(net, (n) => {
        const box = rt.inputBox(toInternal(n, x, B), 0.1, n.inputCfg);
        const a = runBounds(n, box, 'lbp', { lines: 'adaptive' });
        const c = runBounds(n, box, 'crown', { lines: 'adaptive' });
        return tf.addN([
          tf.sum(a.lower),
          tf.mul(tf.sum(a.upper), 0.5),
          tf.sum(c.lower),
          tf.sum(c.upper),
        ]) as tf.Scalar;
      });
      expect(leaked).toBe(0);
      return g;
    };
    const win = grads('always');
    const plain = grads('off');
    win.forEach((g, i) => {
      expect(Array.from(g).every(Number.isFinite)).toBe(true);
      expect(relErr([g], [plain[i]!])).toBeLessThan(1e-4);
    });
  });
});

it('windows that outgrow the map: auto (whole maps from there on) = always = off = float64 reference', () => {
  const net = deep();
  const x = randomInputs(net, B, 4);
  for (const method of ['lbp', 'crown-lbp', 'crown'] as const) {
    const off = run(net, x, method, 'tight', 'off');
    const ref = refBounds(net.model, net.torch, x, B, 0.1, method, {
      lines: 'tight',
      labels: labels(net.model.classes),
    });
    for (const m of ['auto', 'always'] as const) {
      const got = run(net, x, method, 'tight', m);
      expect(boundsRelErr(got, off)).toBeLessThan(1e-5);
      expect(relErr(got.lower, ref.lower)).toBeLessThan(2e-4);
    }
  }
});
