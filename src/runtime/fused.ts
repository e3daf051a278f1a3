/**
 * Fused kernels for the hot spots of certified training (wasm and webgpu backends), each one tfjs
 * op with its own gradient kernel instead of a dozen small ops (and their taped gradients):
 *
 * `formsLower` — the lower side of CROWN's step back through an activation, and the lower
 * concretization over the box, for dense forms A [S·m, N] (S = 1: shared by the batch, S = B: per
 * sample) and per-sample lines sL, sU, tL, tU [B, N] (a = A[s, j, n], s = b or 0 when shared):
 *   out[b·m + j, c] = a⁺·sL[b, n] + a⁻·sU[b, n]   at the kept columns n = n_c
 *   dot[b, j]       = Σ_n a⁺·tL[b, n] + a⁻·tU[b, n]
 * The back-step uses both outputs (the new form and its bias term); the concretization uses `dot`
 * alone with tL = box lower corner, tU = upper corner. This is back.ts's mid/rad form
 * a·sm − |a|·sr, and so are the gradients (at a = 0 that of the a < 0 side: tfjs takes the
 * derivative of |a| at 0 as −1).
 *
 * `adam` — one Adam update of a parameter (train/adam.ts) as one pass instead of a dozen kernels.
 *
 * The upper side is the same formula with the lines swapped (a⁺ takes the upper line).
 *
 * On wasm the loops are WebAssembly SIMD (simd/kernels.wat) working in place on the backend's
 * memory; on webgpu they are WGSL programs (webgpu-kernels.ts, one dispatch per output instead of
 * one per op). The plain tfjs-op form in back.ts stays the reference: it runs on the other
 * backends (cpu, tensorflow), and the tests compare both, values and gradients
 * (test/runtime/fused.test.ts, test/backend/fused-webgpu.test.ts). `setFused(false)` or
 * VNET_FUSED=off switches the fused kernels off.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { envVar } from './env.js';
import { heapOffset, simdKernels, type HeapBackend, type SimdKernels } from './simd/index.js';

const BACKEND = 'wasm';
/** Kernel names, registered for wasm here and for webgpu in webgpu-kernels.ts. */
export const FORMS = 'VnetFormsLower';
export const FORMS_GRAD = 'VnetFormsLowerGrad';
export const ADAM = 'VnetAdam';

let enabled = envVar('VNET_FUSED') !== 'off';

/** Turns the fused kernels on (default) or off, e.g. to compare both paths in tests. */
export function setFused(on: boolean): void {
  enabled = on;
}

/** Whether the fused kernels run on the current backend. */
export function fusedActive(): boolean {
  if (!enabled) return false;
  const b = tf.getBackend();
  if (b === 'webgpu') return tf.getKernel(FORMS, b) !== undefined; // WGSL (webgpu-kernels.ts)
  return b === BACKEND && tf.getKernel(FORMS, BACKEND) !== undefined && simdKernels(tf.backend()) !== null;
}

/** The attributes of FORMS and FORMS_GRAD. */
export interface FormsAttrs {
  /** Samples B, rows per sample m, width N; whether A is shared (one [m, N] for the batch). */
  readonly B: number;
  readonly m: number;
  readonly N: number;
  readonly shared: boolean;
  /** Kept columns (ascending), or null for all N; `withForms` false computes `dot` only. */
  readonly cols: readonly number[] | null;
  readonly withForms: boolean;
}

/**
 * The kernels, the heap offset of each input, the kept columns as int32 on the heap (or -1) and a
 * scratch row of `scratch` floats; `free` releases the last two.
 */
function setup(
  backend: tf.KernelBackend,
  inputs: Record<string, TensorInfo>,
  cols: readonly number[] | null,
  scratch = 0,
): {
  k: SimdKernels;
  be: HeapBackend;
  at: Record<string, number>;
  idx: number;
  tmp: number;
  free: () => void;
} {
  const be = backend as unknown as HeapBackend;
  const k = simdKernels(backend);
  if (!k) throw new Error('internal: fused kernels without the wasm backend');
  const made: TensorInfo[] = [];
  let idx = -1;
  if (cols !== null) {
    const t = be.makeOutput([cols.length], 'int32');
    made.push(t);
    (be.typedArrayFromHeap(t) as Int32Array).set(cols);
    idx = heapOffset(be, t);
  }
  let tmp = -1;
  if (cols !== null && scratch > 0) {
    const t = be.makeOutput([scratch], 'float32');
    made.push(t);
    tmp = heapOffset(be, t);
  }
  const at = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, heapOffset(be, t)]));
  return { k, be, at, idx, tmp, free: () => made.forEach((t) => be.disposeData(t.dataId)) };
}

/** Forward: [out [B·m, k], dot [B, m]]. */
const formsLower: KernelFunc = ({ inputs, backend, attrs }) => {
  const { B, m, N, shared, cols, withForms } = attrs as unknown as FormsAttrs;
  const kk = !withForms ? 0 : cols === null ? N : cols.length;
  const ins = inputs as Record<string, TensorInfo>;
  const outI = (backend as unknown as HeapBackend).makeOutput([B * m, kk], 'float32');
  const dotI = (backend as unknown as HeapBackend).makeOutput([B, m], 'float32');
  const { k, be, at, idx, tmp, free } = setup(backend as tf.KernelBackend, ins, cols, N);
  const out = heapOffset(be, outI);
  const dot = new Float32Array(B * m);
  for (let b = 0; b < B; b++)
    for (let j = 0; j < m; j++) {
      const row = at.A! + 4 * ((shared ? 0 : b) * m + j) * N;
      const v = 4 * b * N;
      const o = out + 4 * (b * m + j) * kk;
      dot[b * m + j] = k.dotRow(row, at.tL! + v, at.tU! + v, N);
      if (kk === 0) continue;
      if (idx < 0) k.formRow(row, at.sL! + v, at.sU! + v, N, o);
      else {
        k.formRow(row, at.sL! + v, at.sU! + v, N, tmp);
        k.gatherRow(tmp, idx, kk, o);
      }
    }
  (be.typedArrayFromHeap(dotI) as Float32Array).set(dot);
  free();
  return [outI, dotI];
};

/** Gradient: [dA (A's shape), dsL, dsU, dtL, dtU [B, N]] from dOut [B·m, k], dDot [B, m]. */
const formsLowerGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const ins = inputs as Record<string, TensorInfo>;
  const { B, m, N, shared, cols, withForms } = attrs as unknown as FormsAttrs;
  const kk = !withForms ? 0 : cols === null ? N : cols.length;
  const hb = backend as unknown as HeapBackend;
  const outs = [ins.A!.shape, [B, N], [B, N], [B, N], [B, N]].map((s) => hb.makeOutput([...s], 'float32'));
  const { k, be, at, idx, tmp, free } = setup(backend as tf.KernelBackend, ins, cols, N);
  for (const t of outs) be.typedArrayFromHeap(t).fill(0);
  const [dA, dsL, dsU, dtL, dtU] = outs.map((t) => heapOffset(be, t)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const gD = Float32Array.from(be.typedArrayFromHeap(ins.dDot!));
  for (let b = 0; b < B; b++)
    for (let j = 0; j < m; j++) {
      const r = 4 * ((shared ? 0 : b) * m + j) * N;
      const v = 4 * b * N;
      const g = gD[b * m + j]!;
      if (g !== 0) k.gradRow(at.A! + r, at.tL! + v, at.tU! + v, N, -1, g, dA + r, dtL + v, dtU + v);
      if (kk === 0) continue;
      let w = at.dOut! + 4 * (b * m + j) * kk;
      if (idx >= 0) {
        k.scatterRow(w, idx, kk, tmp, N); // the kept columns' weights at their neurons, 0 elsewhere
        w = tmp;
      }
      k.gradRow(at.A! + r, at.sL! + v, at.sU! + v, N, w, 0, dA + r, dsL + v, dsU + v);
    }
  free();
  return outs;
};

/** The attributes of ADAM. */
export interface AdamAttrs {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** lr / (1 − β1^t) and √(1 − β2^t). */
  readonly stepSize: number;
  readonly sqrtBc2: number;
  readonly decay: number;
}

/**
 * One Adam update of a parameter as one pass: [p', m', v'] from p, g, m, v, with the operations of
 * train/adam.ts's tfjs-op form in the same order, each rounded to float32: the same bits.
 */
const adamKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, g, m, v } = inputs as Record<string, TensorInfo>;
  const { beta1, beta2, epsilon, stepSize, sqrtBc2, decay } = attrs as unknown as AdamAttrs;
  const { k, be, at, free } = setup(backend as tf.KernelBackend, { p: p!, g: g!, m: m!, v: v! }, null);
  const outs = [p, p, p].map((t) => be.makeOutput([...t!.shape], 'float32'));
  const [op, om, ov] = outs.map((t) => heapOffset(be, t)) as [number, number, number];
  k.adam(
    at.p!,
    at.g!,
    at.m!,
    at.v!,
    op,
    om,
    ov,
    p!.shape.reduce((x, y) => x * y, 1),
    beta1,
    1 - beta1,
    beta2,
    1 - beta2,
    epsilon,
    stepSize,
    sqrtBc2,
    decay,
  );
  free();
  return outs;
};

/** The fused Adam update [p', m', v'] (only where `fusedActive()`). */
export function fusedAdam(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(ADAM, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
}

/** Registers the fused kernels for wasm and their gradient (idempotent; installWasmKernels calls it). */
export function installFusedKernels(): void {
  for (const [kernelName, kernelFunc] of [
    [FORMS, formsLower],
    [FORMS_GRAD, formsLowerGrad],
    [ADAM, adamKernel],
  ] as const)
    if (!tf.getKernel(kernelName, BACKEND))
      tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  registerFusedGradient();
}

/**
 * The gradient of `formsLower` on every backend that has the kernels (wasm, webgpu): its gradient
 * kernel runs once, eagerly (each input's thunk returns its part; the backward pass's scope frees
 * them). Idempotent.
 */
export function registerFusedGradient(): void {
  if (tf.getGradient(FORMS)) return;
  tf.registerGradient({
    kernelName: FORMS,
    inputsToSave: ['A', 'sL', 'sU', 'tL', 'tU'],
    gradFunc: (dy, saved, attrs) => {
      const [dOut, dDot] = dy as tf.Tensor[];
      const [A, sL, sU, tL, tU] = saved as tf.Tensor[];
      const g = tf
        .engine()
        .runKernel(
          FORMS_GRAD,
          { A: A!, sL: sL!, sU: sU!, tL: tL!, tU: tU!, dOut: dOut!, dDot: dDot! },
          attrs,
        ) as tf.Tensor[];
      return { A: () => g[0]!, sL: () => g[1]!, sU: () => g[2]!, tL: () => g[3]!, tU: () => g[4]! };
    },
  });
}

/**
 * The fused `formsLower` (see the file comment): A [S·m, ...] (any trailing shape of N elements),
 * lines sL, sU, tL, tU [B, ...N]; returns [out [B·m, k], dot [B, m]] (out [B·m, 0] without
 * forms). Only where `fusedActive()`.
 */
export function fusedFormsLower(
  A: tf.Tensor,
  lines: { sL: tf.Tensor; sU: tf.Tensor; tL: tf.Tensor; tU: tf.Tensor },
  o: Omit<FormsAttrs, 'N'>,
): [tf.Tensor2D, tf.Tensor2D] {
  const { B, m, shared } = o;
  const N = A.size / ((shared ? 1 : B) * m);
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, N]);
  const [out, dot] = tf.engine().runKernel(
    FORMS,
    {
      A: tf.reshape(A, [-1]),
      sL: flat(lines.sL),
      sU: flat(lines.sU),
      tL: flat(lines.tL),
      tU: flat(lines.tU),
    },
    { ...o, N } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
  return [out as tf.Tensor2D, dot as tf.Tensor2D];
}
