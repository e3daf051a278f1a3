/**
 * CROWN backward bounds (paper-notes §4 "CROWN"): a linear form A·z + c of some layer, walked back
 * layer by layer to the input and concretized over the box. Generated code chains
 * `backLast → backAct/backDense/backConv2d/backFlatten … → backConcretize` for CROWN-IBP and
 * CROWN-LBP (relaxations from the stored IBP or LBP bounds), and `crownLayer` for the
 * intermediate bounds of full CROWN (identity specification, processed in row chunks under a
 * memory budget).
 *
 * Layout: A holds `rows` linear forms per sample as [B·rows, ...s] (a batch of maps, so conv
 * layers go back through conv2dTranspose), or [rows, ...s] while it is the same for every sample
 * ("shared": before the first activation). The lower side uses sL on A⁺ and sU on A⁻, the upper
 * side the reverse; both are written in mid/rad form: A' = A·sm ∓ |A|·sr.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { midRadLines } from './act.js';
import { convPad } from './affine.js';
import { crownBudgetFloats, MemoryBudgetError, mib } from './budget.js';
import type { Conv2dCfg, InputBox, Relaxation } from './types.js';

/** A backward pass in progress: lower form AL·z + cL and (unless lowerOnly) upper form AU·z + cU. */
export interface BackState {
  readonly AL: tf.Tensor;
  /** [B, rows], or [rows] when shared; null = 0. */
  readonly cL: tf.Tensor | null;
  /** null when only the lower bound is wanted; the same object as AL until an activation splits them. */
  readonly AU: tf.Tensor | null;
  readonly cU: tf.Tensor | null;
  readonly shared: boolean;
  readonly rows: number;
  readonly batch: number;
  /** Floats per (row, sample) at the widest step so far: the memory estimate of crownLayer. */
  readonly peak: number;
}

type Opt = tf.Tensor | null;
const addOpt = (a: Opt, b: Opt): Opt => (a === null ? b : b === null ? a : tf.add(a, b));
const sides = (f: BackState): number => (f.AU === null ? 1 : 2);

/**
 * Start from the last dense layer W [n, K], b [K]: A = C·Wᵀ, c = C·b with C [B, m, K]
 * (margins folded in), or A = Wᵀ, c = b (logits, shared) without C.
 */
export function backLast(
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  C: tf.Tensor3D | undefined,
  batch: number,
  lowerOnly: boolean,
): BackState {
  const [n, K] = (W as tf.Tensor2D).shape;
  let A: tf.Tensor;
  let c: Opt;
  let rows: number;
  if (C) {
    rows = C.shape[1];
    const C2 = tf.reshape(C, [batch * rows, K]);
    A = tf.matMul(C2, tf.transpose(W));
    c = b ? tf.reshape(tf.matMul(C2, tf.reshape(b, [K, 1])), [batch, rows]) : null;
  } else {
    rows = K;
    A = tf.transpose(W);
    c = b ?? null;
  }
  return {
    AL: A,
    cL: c,
    AU: lowerOnly ? null : A,
    cU: lowerOnly ? null : c,
    shared: !C,
    rows,
    batch,
    peak: (lowerOnly ? 1 : 2) * (n + K),
  };
}

/** Apply a linear back-step (A ↦ A·W, c += A·b) to both sides, once while they coincide. */
function backAffine(
  f: BackState,
  mapA: (A: tf.Tensor, R: number) => tf.Tensor,
  biasOf: ((A: tf.Tensor, R: number) => tf.Tensor) | null,
  width: number,
): BackState {
  const R = f.shared ? f.rows : f.batch * f.rows;
  const cShape = f.shared ? [f.rows] : [f.batch, f.rows];
  const side = (A: tf.Tensor, c: Opt): [tf.Tensor, Opt] => [
    mapA(A, R),
    biasOf ? addOpt(c, tf.reshape(biasOf(A, R), cShape)) : c,
  ];
  const [AL, cL] = side(f.AL, f.cL);
  const [AU, cU] = f.AU === null ? [null, null] : f.AU === f.AL ? [AL, cL] : side(f.AU, f.cU);
  return { ...f, AL, cL, AU, cU, peak: Math.max(f.peak, sides(f) * width) };
}

/** Back through a dense layer W [in, out], b [out]. */
export function backDense(f: BackState, W: tf.Tensor, b: tf.Tensor | undefined): BackState {
  const [nIn, nOut] = (W as tf.Tensor2D).shape;
  const Wt = tf.transpose(W); // explicit: matMul's transpose flags are slow on wasm
  return backAffine(
    f,
    (A, R) => tf.matMul(tf.reshape(A, [R, nOut]), Wt),
    b ? (A, R) => tf.matMul(tf.reshape(A, [R, nOut]), tf.reshape(b, [nOut, 1])) : null,
    nIn + nOut,
  );
}

/** Back through a conv layer W [kh, kw, Cin, Cout], b [Cout] (conv2dTranspose = conv backprop input). */
export function backConv2d(f: BackState, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): BackState {
  const [hi, wi, ci] = cfg.inShape;
  const [ho, wo, co] = cfg.outShape;
  const pad = convPad(cfg);
  return backAffine(
    f,
    (A, R) =>
      tf.conv2dTranspose(
        tf.reshape(A, [R, ho, wo, co]) as tf.Tensor4D,
        W as tf.Tensor4D,
        [R, hi, wi, ci],
        [...cfg.stride],
        pad,
      ),
    b ? (A, R) => tf.matMul(tf.sum(tf.reshape(A, [R, ho * wo, co]), 1), tf.reshape(b, [co, 1])) : null,
    hi * wi * ci + ho * wo * co,
  );
}

/** Back through a flatten of a map with internal shape [H, W, C]. */
export function backFlatten(f: BackState, mapShape: readonly number[]): BackState {
  const r = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [-1, ...mapShape]);
  const AL = r(f.AL);
  return { ...f, AL, AU: f.AU === null ? null : f.AU === f.AL ? AL : r(f.AU) };
}

/**
 * Back through an activation with lines `rel` (on the layer's pre-activation bounds [B, ...s]):
 * lower A' = A⁺·sL + A⁻·sU = A·sm − |A|·sr, c += A⁺·tL + A⁻·tU = A·tm − |A|·tr; upper with + .
 */
export function backAct(f: BackState, rel: Relaxation): BackState {
  const B = f.batch;
  const m = f.rows;
  const shape = rel.sL.shape.slice(1);
  const N = numel(shape);
  const lines = midRadLines(rel);
  const sm = tf.reshape(lines.sm, [B, 1, N]);
  const sr = tf.reshape(lines.sr, [B, 1, N]);
  const tm = tf.reshape(lines.tm, [B, N]);
  const tr = tf.reshape(lines.tr, [B, N]);
  const view = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [f.shared ? 1 : B, m, N]);
  const out = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [B * m, ...shape]);
  const terms = (A: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] => {
    const A3 = view(A);
    const abs = tf.abs(A3);
    return [tf.mul(A3, sm), tf.mul(abs, sr), rowsDot(A3, tm, f.shared), rowsDot(abs, tr, f.shared)];
  };
  const combine = (t: ReturnType<typeof terms>, c: Opt, sign: 1 | -1): [tf.Tensor, tf.Tensor] => {
    const [a, ar, bias, biasR] = t;
    const pm = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => (sign > 0 ? tf.add(x, y) : tf.sub(x, y));
    return [out(pm(a, ar)), addOpt(c, tf.reshape(pm(bias, biasR), [B, m]))!];
  };
  const tL = terms(f.AL);
  const [AL, cL] = combine(tL, f.cL, -1);
  let AU: Opt = null;
  let cU: Opt = null;
  if (f.AU !== null) [AU, cU] = combine(f.AU === f.AL ? tL : terms(f.AU), f.cU, 1);
  return { ...f, AL, cL, AU, cU, shared: false, peak: Math.max(f.peak, sides(f) * 4 * N) };
}

/**
 * Σ_n A[b, j, n]·v[b, n] → [B, m] for A [B, m, n], or shared A [1, m, n] (as [m, n]·vᵀ, then a
 * small transpose: tfjs's batched matMul gradient does not reduce a broadcast batch axis).
 */
function rowsDot(A: tf.Tensor, v: tf.Tensor, shared: boolean): tf.Tensor {
  const [, m, n] = A.shape as [number, number, number];
  const B = v.shape[0]!;
  if (shared)
    return tf.transpose(tf.matMul(tf.reshape(A, [m, n]) as tf.Tensor2D, tf.transpose(v) as tf.Tensor2D));
  return tf.reshape(tf.matMul(A, tf.reshape(v, [B, n, 1])), [B, m]);
}

/** Box centre and radius, flattened [B, n0]. */
function boxCR(box: InputBox): [tf.Tensor2D, tf.Tensor2D] {
  const B = box.x.shape[0]!;
  const flat = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [B, -1]);
  return [flat(tf.mul(tf.add(box.lo, box.hi), 0.5)), flat(tf.mul(tf.sub(box.hi, box.lo), 0.5))];
}

function concretizeWith(
  f: BackState,
  c: tf.Tensor2D,
  rho: tf.Tensor2D,
): { lower: tf.Tensor2D; upper?: tf.Tensor2D } {
  const [B, n0] = c.shape;
  const m = f.rows;
  const terms = (A: tf.Tensor): [tf.Tensor, tf.Tensor] => {
    const A3 = tf.reshape(A, [f.shared ? 1 : B, m, n0]);
    return [rowsDot(A3, c, f.shared), rowsDot(tf.abs(A3), rho, f.shared)];
  };
  const withC = (v: tf.Tensor, cc: Opt): tf.Tensor2D => (cc === null ? v : tf.add(v, cc)) as tf.Tensor2D;
  const tL = terms(f.AL);
  const lower = withC(tf.sub(tL[0], tL[1]), f.cL);
  if (f.AU === null) return { lower };
  const tU = f.AU === f.AL ? tL : terms(f.AU);
  return { lower, upper: withC(tf.add(tU[0], tU[1]), f.cU) };
}

/**
 * Closed form over the normalised box: lower = A⁺·x_L + A⁻·x_U + c = A·mid − |A|·rad + c,
 * upper = A·mid + |A|·rad + c; [B, rows] each (upper absent when lowerOnly).
 */
export function backConcretize(f: BackState, box: InputBox): { lower: tf.Tensor2D; upper?: tf.Tensor2D } {
  const [c, rho] = boxCR(box);
  return concretizeWith(f, c, rho);
}

/**
 * Bounds of one layer's pre-activations by a full backward pass: the identity specification of
 * that layer (one row per neuron), walked back by `chain` (which starts with the layer's own
 * affine step) and concretized. Rows are processed in chunks sized so that the widest step stays
 * under the memory budget; the first row is a probe that measures the per-row width. Refuses with
 * a UserError naming the estimate when even one row does not fit.
 * Returns lower and upper [B, ...shape] (upper = +∞ when lowerOnly).
 */
export function crownLayer(
  box: InputBox,
  shape: readonly number[],
  lowerOnly: boolean,
  chain: (f: BackState) => BackState,
): { lower: tf.Tensor; upper: tf.Tensor } {
  const n = numel(shape);
  const B = box.x.shape[0]!;
  const [c, rho] = boxCR(box);
  let peak = 0;
  const run = (start: number, q: number): tf.Tensor[] =>
    tf.tidy(() => {
      const I = tf.reshape(tf.cast(tf.oneHot(tf.range(start, start + q, 1, 'int32'), n), 'float32'), [
        q,
        ...shape,
      ]);
      const s = lowerOnly ? 1 : 2;
      const f = chain({
        AL: I,
        cL: null,
        AU: lowerOnly ? null : I,
        cU: null,
        shared: true,
        rows: q,
        batch: B,
        peak: s * n,
      });
      const r = concretizeWith(f, c, rho);
      peak = Math.max(f.peak, sides(f) * 2 * c.shape[1]);
      return r.upper ? [r.lower, r.upper] : [r.lower];
    });
  const parts = [run(0, 1)];
  const budget = crownBudgetFloats();
  const perRow = B * peak;
  const q = Math.floor(budget / perRow);
  if (q < 1) {
    throw new MemoryBudgetError(
      `full CROWN needs about ${mib(perRow)} MiB per neuron of a layer of shape [${shape.join(', ')}] at batch ${B}, ` +
        `over the budget of ${mib(budget)} MiB`,
      ['use a smaller batch, or raise the budget with VNET_CROWN_BUDGET_MB'],
    );
  }
  for (let start = 1; start < n; start += q) parts.push(run(start, Math.min(q, n - start)));
  const join = (i: number): tf.Tensor =>
    tf.reshape(
      tf.concat(
        parts.map((p) => p[i]!),
        1,
      ),
      [B, ...shape],
    );
  return { lower: join(0), upper: lowerOnly ? tf.fill([B, ...shape], Infinity) : join(1) };
}
