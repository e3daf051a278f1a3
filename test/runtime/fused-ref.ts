/**
 * Test helper shared by test/runtime/fused.test.ts (wasm) and test/backend/fused-webgpu.child.ts
 * (webgpu): the fused kernels and the plain op path run on the same inputs of the current backend.
 * Both return tensors; the caller reads them (synchronously or not) and disposes them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedFormsLower, setFused, type FormsAttrs } from '../../src/runtime/fused.js';
import * as rt from '../../src/runtime/index.js';
import { Adam } from '../../src/runtime/train/adam.js';

/** The kernel-level cases: per sample or shared forms, all or kept columns, forms or dot only. */
export const FORMS_CASES: [string, FormsAttrs][] = [
  ['per sample, all columns, N = 10', { B: 3, m: 4, N: 10, shared: false, cols: null, withForms: true }],
  [
    'per sample, kept columns, N = 10',
    { B: 3, m: 4, N: 10, shared: false, cols: [0, 3, 4, 9], withForms: true },
  ],
  ['shared forms, kept columns', { B: 3, m: 4, N: 10, shared: true, cols: [1, 2, 5, 6, 7], withForms: true }],
  ['dot only (the concretization)', { B: 3, m: 4, N: 10, shared: false, cols: null, withForms: false }],
];

/** The op form of back.ts: out = (A·sm − |A|·sr)[:, cols], dot = Σ A·tm − |A|·tr. */
function formsReference(A: tf.Tensor, l: tf.Tensor[], o: FormsAttrs): tf.Tensor[] {
  const [sL, sU, tL, tU] = l as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const A3 = tf.reshape(A, [o.shared ? 1 : o.B, o.m, o.N]);
  const v = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [o.B, 1, o.N]);
  const half = (a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor => v(tf.mul(tf.add(a, tf.mul(b, s)), 0.5));
  const abs = tf.abs(A3);
  const dot = tf.sum(tf.sub(tf.mul(A3, half(tU, tL, 1)), tf.mul(abs, half(tU, tL, -1))), 2);
  if (!o.withForms) return [dot];
  let out = tf.reshape(tf.sub(tf.mul(A3, half(sU, sL, 1)), tf.mul(abs, half(sU, sL, -1))), [o.B * o.m, o.N]);
  if (o.cols) out = tf.gather(out, tf.tensor1d([...o.cols], 'int32'), 1);
  return [out, dot];
}

/**
 * Values, then gradients of a random weighted sum of them (with respect to A, sL, sU, tL, tU; A,
 * tL, tU without forms, where sL and sU do not enter the op form), of the fused kernel (`fused`)
 * and of the op form (`ref`), on seeded inputs where every third entry of A is exactly 0 (the
 * gradient's a = 0 side). `nValues` outputs come first.
 */
export function formsBoth(
  o: FormsAttrs,
  seed: number,
): { fused: tf.Tensor[]; ref: tf.Tensor[]; nValues: number } {
  const { B, m, N, shared, cols, withForms } = o;
  const rng = rt.rngFromSeed(seed);
  const rnd = (n: number, zeroEvery = 0): number[] =>
    Array.from({ length: n }, (_, i) => (zeroEvery && i % zeroEvery === 0 ? 0 : rng.next() * 2 - 1));
  const A = tf.tensor1d(rnd((shared ? 1 : B) * m * N, 3));
  const pos = (): tf.Tensor => tf.tensor2d(rnd(B * N).map(Math.abs), [B, N]);
  const inputs = [A, pos(), pos(), tf.tensor2d(rnd(B * N), [B, N]), pos()]; // A, sL, sU, tL, tU
  const wOut = tf.tensor2d(rnd(B * m * (cols ? cols.length : N)), [B * m, cols ? cols.length : N]);
  const wDot = tf.tensor2d(rnd(B * m), [B, m]);
  const wrt = withForms ? [0, 1, 2, 3, 4] : [0, 3, 4];
  const run = (f: (xs: tf.Tensor[]) => tf.Tensor[]): tf.Tensor[] => {
    const loss = (xs: tf.Tensor[]): tf.Scalar => {
      const r = f(xs);
      const s = tf.sum(tf.mul(r[r.length - 1]!, wDot));
      return (withForms ? tf.add(s, tf.sum(tf.mul(r[0]!, wOut))) : s) as tf.Scalar;
    };
    const values = f(inputs);
    const grads = tf.grads((...xs: tf.Tensor[]) => {
      const all = [...inputs];
      wrt.forEach((k, i) => (all[k] = xs[i]!));
      return loss(all);
    })(wrt.map((k) => inputs[k]!));
    return [...values, ...grads];
  };
  const fused = run(([a, sL, sU, tL, tU]) => {
    const [out, dot] = fusedFormsLower(a!, { sL: sL!, sU: sU!, tL: tL!, tU: tU! }, o);
    return withForms ? [out, dot] : [dot];
  });
  const ref = run(([a, ...l]) => formsReference(a!, l, o));
  tf.dispose([...inputs, wOut, wDot]);
  return { fused, ref, nValues: withForms ? 2 : 1 };
}

/**
 * Four Adam steps of the same parameters and gradients, fused and on the op path (weight decay on
 * `w`; sizes not a multiple of 4). Returns both parameter sets, the start values, and the fused
 * optimizer's step count; leaves the fused kernels on.
 */
export function adamBoth(): {
  fused: Record<string, tf.Variable>;
  ops: Record<string, tf.Variable>;
  start: Record<string, tf.Tensor>;
  steps: number;
} {
  const shapes: Record<string, number[]> = { w: [7, 149], b: [3] };
  const init = (): Record<string, tf.Tensor> =>
    Object.fromEntries(
      Object.entries(shapes).map(([k, s], i) => [k, tf.randomNormal(s, 0, 1, 'float32', i + 1)]),
    );
  const start = init();
  const vars = (): Record<string, tf.Variable> =>
    Object.fromEntries(Object.entries(start).map(([k, t]) => [k, tf.variable(t)]));
  const [fused, ops] = [vars(), vars()];
  const [af, ao] = [new Adam(), new Adam()];
  for (let step = 0; step < 4; step++) {
    const g = Object.fromEntries(
      Object.entries(shapes).map(([k, s], i) => [k, tf.randomNormal(s, 0, 0.3, 'float32', 10 * step + i)]),
    );
    setFused(true);
    af.apply(fused, g, 1e-2, { w: 0.01 });
    setFused(false);
    ao.apply(ops, g, 1e-2, { w: 0.01 });
    tf.dispose(Object.values(g));
  }
  setFused(true);
  const steps = af.steps('w');
  af.dispose();
  ao.dispose();
  return { fused, ops, start, steps };
}
