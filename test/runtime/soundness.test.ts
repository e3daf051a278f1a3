/**
 * Soundness of every bound method × line strategy × activation on random conv nets with three
 * hidden layers: the margins (and logits) of points sampled in the input set, box corners
 * included, never leave the bounds; intermediate bounds contain the sampled pre-activations.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import { numel } from '../../src/ir/ir.js';
import { refForward, refPreActivations } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import {
  buildNet,
  randomInputs,
  runBounds,
  toInternal,
  toTorchRows,
  useBackend,
  type LayerDesc,
  type TestNet,
} from './nets.js';

const METHODS: BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];
const LINES: LineStrategy[] = ['tight', 'adaptive', 'constant'];
const ACTS: [string, LayerDesc][] = [
  ['relu', { kind: 'relu' }],
  ['leaky_relu(0.1)', { kind: 'leaky_relu', slope: 0.1 }],
  ['paramramp(0.05)', { kind: 'paramramp', eta: 0.05 }],
  ['paramramp(0)', { kind: 'paramramp', eta: 0 }],
];
const B = 3;
const EPS = 0.08;
const TOL = 2e-4;

function makeNet(act: LayerDesc, seed: number): TestNet {
  return buildNet(
    { shape: [2, 6, 6], mean: [0.3, 0.5], std: [0.5, 0.25] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 4, k: 3, s: 2, p: [1, 0, 1, 0] },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 10 },
      act,
      { kind: 'dense', out: 4 },
    ],
    seed,
    { wScale: 1.6, r: [0.05, 1.2] },
  );
}

/** Raw points in the input set of each sample: random box corners and uniform interior points. */
function samplePoints(net: TestNet, x: Float64Array, seed: number, perSample: number): Float64Array[] {
  const rng = rt.rngFromSeed(seed);
  const n0 = numel(net.model.input.shape);
  const [d0, d1] = net.model.input.domain;
  const pts: Float64Array[] = [];
  for (let b = 0; b < B; b++) {
    const rows: Float64Array = new Float64Array(perSample * n0);
    for (let k = 0; k < perSample; k++)
      for (let i = 0; i < n0; i++) {
        const v = x[b * n0 + i]!;
        const lo = Math.max(v - EPS, d0);
        const hi = Math.min(v + EPS, d1);
        const t = k < perSample / 2 ? +(rng.next() < 0.5) : rng.next(); // first half: corners
        rows[k * n0 + i] = lo + (hi - lo) * t;
      }
    pts.push(rows);
  }
  return pts;
}

/** Pre-activation values of every activation layer for raw points (float64 reference). */
const preActivations = (net: TestNet, pts: Float64Array, count: number): Float64Array[][] =>
  refPreActivations(net.model, net.torch, pts, count);

await useBackend('wasm');

describe.each(ACTS)('soundness with %s', (_name, act) => {
  const net = makeNet(act, 11);
  const x = randomInputs(net, B, 5);
  const labels = [0, 2, 3];
  const PER = 120;
  const pts = samplePoints(net, x, 99, PER);
  const logits = pts.map((p) => refForward(net.model, net.torch, p, PER));
  const margins = logits.map((ls, b) =>
    ls.map((z) =>
      Float64Array.from(
        [0, 1, 2, 3].filter((j) => j !== labels[b]),
        (j) => z[labels[b]!]! - z[j]!,
      ),
    ),
  );
  const pre = pts.map((p) => preActivations(net, p, PER));

  it.each(METHODS.flatMap((m) => LINES.map((l) => [m, l] as const)))('%s with %s lines', (method, lines) => {
    tf.tidy(() => {
      const box = rt.inputBox(toInternal(net, x, B), EPS, net.inputCfg);
      const C = rt.marginSpec(tf.tensor1d(labels, 'int32'), 4);
      const withC = runBounds(net, box, method, { lines, C });
      const noC = runBounds(net, box, method, { lines });
      const lo = withC.lower.arraySync() as number[][];
      const up = withC.upper.arraySync() as number[][];
      const llo = noC.lower.arraySync() as number[][];
      const lup = noC.upper.arraySync() as number[][];
      let worst = -Infinity;
      for (let b = 0; b < B; b++)
        for (let k = 0; k < PER; k++) {
          margins[b]![k]!.forEach((v, j) => (worst = Math.max(worst, lo[b]![j]! - v, v - up[b]![j]!)));
          logits[b]![k]!.forEach((v, j) => (worst = Math.max(worst, llo[b]![j]! - v, v - lup[b]![j]!)));
        }
      expect(worst).toBeLessThan(TOL);
      // Intermediate pre-activation bounds contain the sampled pre-activations.
      withC.pre.forEach((p, i) => {
        const pl = toTorchRows(p.l, p.layer.inShape);
        const pu = toTorchRows(p.u, p.layer.inShape);
        let w = -Infinity;
        for (let b = 0; b < B; b++)
          for (let k = 0; k < PER; k++)
            pre[b]![k]![i]!.forEach((v, j) => (w = Math.max(w, pl[b]![j]! - v, v - pu[b]![j]!)));
        expect(w, `layer ${p.layer.name}`).toBeLessThan(TOL);
      });
      // The clean logits come out of the same pass and match the forward pass.
      const clean = refForward(net.model, net.torch, x, B);
      const got = withC.logits.arraySync() as number[][];
      clean.forEach((z, b) => z.forEach((v, j) => expect(got[b]![j]!).toBeCloseTo(v, 4)));
    });
  });
});
