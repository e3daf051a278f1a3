/**
 * The tfjs runtime (float32, mid/rad forms, NHWC) agrees with the independent float64 reference
 * (textbook forms, C,H,W) for every method × line strategy × activation, on margins, logits and
 * every intermediate pre-activation bound, with and without input normalisation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import { refBounds } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import {
  buildNet,
  randomInputs,
  runBounds,
  toInternal,
  toTorchRows,
  useBackend,
  type LayerDesc,
} from '../runtime/nets.js';

await useBackend('wasm');

const METHODS: BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];
const LINES: LineStrategy[] = ['tight', 'adaptive', 'constant'];
const B = 2;

/** max |a − b| / (1 + |b|) over two per-sample row lists. */
function relErr(a: Float64Array[], b: Float64Array[]): number {
  let w = 0;
  a.forEach((row, i) =>
    row.forEach((v, j) => (w = Math.max(w, Math.abs(v - b[i]![j]!) / (1 + Math.abs(b[i]![j]!))))),
  );
  return w;
}

const nets: [string, () => ReturnType<typeof buildNet>][] = [
  [
    'conv net, ParamRamp(0.02), normalised input',
    () => {
      const a: LayerDesc = { kind: 'paramramp', eta: 0.02 };
      return buildNet(
        { shape: [2, 5, 5], mean: [0.4, 0.6], std: [0.3, 0.2], domain: [0, 1] },
        [
          { kind: 'conv2d', out: 3, k: 3, s: 1, p: [1, 1, 0, 2] },
          a,
          { kind: 'conv2d', out: 2, k: 2, s: 2, p: 0 },
          a,
          { kind: 'flatten' },
          { kind: 'dense', out: 7 },
          a,
          { kind: 'dense', out: 5 },
        ],
        21,
        { wScale: 1.5 },
      );
    },
  ],
  [
    'MLP, LeakyReLU(0.05) then ReLU, no bias on one layer',
    () =>
      buildNet(
        { shape: [9], domain: [-1, 2] },
        [
          { kind: 'dense', out: 8 },
          { kind: 'leaky_relu', slope: 0.05 },
          { kind: 'dense', out: 8, bias: false },
          { kind: 'relu' },
          { kind: 'dense', out: 6 },
          { kind: 'leaky_relu', slope: 0.05 },
          { kind: 'dense', out: 3 },
        ],
        22,
        { wScale: 1.5 },
      ),
  ],
  [
    'no activation at all (conv, flatten, dense: every form stays shared)',
    () =>
      buildNet(
        { shape: [1, 4, 4] },
        [{ kind: 'conv2d', out: 2, k: 2, s: 1, p: 0 }, { kind: 'flatten' }, { kind: 'dense', out: 3 }],
        23,
      ),
  ],
];

describe.each(nets)('%s', (_name, make) => {
  const net = make();
  const x = randomInputs(net, B, 7);
  const K = net.model.classes;
  const labels = [1, K - 1];
  it.each(METHODS.flatMap((m) => LINES.map((l) => [m, l] as const)))('%s, %s lines', (method, lines) => {
    const eps = net.model.input.domain[1] === 2 ? 0.15 : 0.07;
    const ref = refBounds(net.model, net.torch, x, B, eps, method, { lines, labels });
    const refLogit = refBounds(net.model, net.torch, x, B, eps, method, { lines });
    tf.tidy(() => {
      const box = rt.inputBox(toInternal(net, x, B), eps, net.inputCfg);
      const got = runBounds(net, box, method, { lines, C: rt.marginSpec(tf.tensor1d(labels, 'int32'), K) });
      const gotLogit = runBounds(net, box, method, { lines });
      const rows = (t: tf.Tensor): Float64Array[] =>
        (t.arraySync() as number[][]).map((r) => Float64Array.from(r));
      expect(relErr(rows(got.lower), ref.lower)).toBeLessThan(2e-4);
      expect(relErr(rows(got.upper), ref.upper)).toBeLessThan(2e-4);
      expect(relErr(rows(gotLogit.lower), refLogit.lower)).toBeLessThan(2e-4);
      expect(relErr(rows(gotLogit.upper), refLogit.upper)).toBeLessThan(2e-4);
      expect(relErr(rows(got.logits), ref.logits)).toBeLessThan(1e-5);
      got.pre.forEach((p, i) => {
        expect(ref.intermediate[i]!.layer).toBe(p.layer.name);
        expect(relErr(toTorchRows(p.l, p.layer.inShape), ref.intermediate[i]!.lower)).toBeLessThan(2e-4);
        expect(relErr(toTorchRows(p.u, p.layer.inShape), ref.intermediate[i]!.upper)).toBeLessThan(2e-4);
      });
    });
  });
});
