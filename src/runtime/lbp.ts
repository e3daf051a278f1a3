/**
 * LBP, linear bound propagation (paper-notes §4 "LBP pseudocode"): one forward sweep carrying
 * linear bounds AL·x + bL ≤ z ≤ AU·x + bU of every layer in the normalised input x, concretized
 * over the input box after every affine layer (no intersection with IBP).
 *
 * Mid/rad form: with M = (AL + AU)/2 and R = (AU − AL)/2, the affine step
 * AL' = W⁺AL + W⁻AU, AU' = W⁺AU + W⁻AL becomes M' = W·M, R' = |W|·R (two products instead of
 * four), and an activation with slopes sL, sU ≥ 0 maps (M, R) to
 * (sm·M + sr·R, sr·M + sm·R) with sm = (sL + sU)/2, sr = (sU − sL)/2; biases likewise.
 *
 * Storage: the n0 input directions are a batch axis, so conv layers run as plain conv2d on
 * [B·n0, H, W, C]. Until the first activation the bounds are the same for every sample and are
 * kept once ("shared", [n0, ...]); the first affine layer takes A = W directly (no identity
 * product). The clean x rides along (the logits come from the same pass).
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { actForward, actOf, midRadLines } from './act.js';
import { convOp, dense, denseOp, type LinOp } from './affine.js';
import { crownBudgetFloats, MemoryBudgetError, mib } from './budget.js';
import type { Conv2dCfg, InputBox, Relaxation } from './types.js';

/** Box centre c and radius ρ, flattened [B, n0], and the input size n0. */
interface LbpBox {
  readonly c: tf.Tensor2D;
  readonly rho: tf.Tensor2D;
  readonly n0: number;
}

/** LBP state: clean x, bounds [l, u] of the current layer (pre-activation after an affine layer). */
export interface LbpState {
  readonly x: tf.Tensor;
  readonly l: tf.Tensor;
  readonly u: tf.Tensor;
  /** (AL + AU)/2: [n0, ...s] when shared, else [B·n0, ...s]; null = identity (the input itself). */
  readonly M: tf.Tensor | null;
  /** (AU − AL)/2, same layout; null = 0. */
  readonly R: tf.Tensor | null;
  /** (bL + bU)/2: [...s] when shared, else [B, ...s]; null = 0. */
  readonly mb: tf.Tensor | null;
  /** (bU − bL)/2, same layout; null = 0. */
  readonly rb: tf.Tensor | null;
  readonly shared: boolean;
  readonly box: LbpBox;
}

type Opt = tf.Tensor | null;
const add = (a: Opt, b: Opt): Opt => (a === null ? b : b === null ? a : tf.add(a, b));
const sub = (a: Opt, b: Opt): Opt =>
  a === null ? (b === null ? null : tf.neg(b)) : b === null ? a : tf.sub(a, b);
const mul = (a: Opt, s: tf.Tensor): Opt => (a === null ? null : tf.mul(a, s));

/** Start of an LBP pass: z = x, i.e. A = I, b = 0. */
export function lbpInput(box: InputBox): LbpState {
  const B = box.x.shape[0]!;
  const n0 = box.x.size / B;
  const c = tf.reshape(tf.mul(tf.add(box.lo, box.hi), 0.5), [B, n0]) as tf.Tensor2D;
  const rho = tf.reshape(tf.mul(tf.sub(box.hi, box.lo), 0.5), [B, n0]) as tf.Tensor2D;
  return {
    x: box.x,
    l: box.lo,
    u: box.hi,
    M: null,
    R: null,
    mb: null,
    rb: null,
    shared: true,
    box: { c, rho, n0 },
  };
}

/**
 * Closed form over the box: l = AL·c − |AL|·ρ + bL, u = AU·c + |AU|·ρ + bU
 * (= relu(AL)·x_L + neg(AL)·x_U + bL and its upper twin), reshaped to [B, ...outShape].
 */
function concretize(
  M: tf.Tensor,
  R: Opt,
  mb: Opt,
  rb: Opt,
  shared: boolean,
  box: LbpBox,
  outShape: readonly number[],
): { l: tf.Tensor; u: tf.Tensor } {
  const B = box.c.shape[0];
  const N = numel(outShape);
  const n0 = box.n0;
  // [A·c, |A|·ρ] as [B, N]: one 2-D product while shared, batched row-vector products otherwise.
  const terms = (A: tf.Tensor): [tf.Tensor, tf.Tensor] => {
    if (shared) {
      const A2 = tf.reshape(A, [n0, N]) as tf.Tensor2D;
      return [tf.matMul(box.c, A2), tf.matMul(box.rho, tf.abs(A2))];
    }
    const A3 = tf.reshape(A, [B, n0, N]);
    const row = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [B, 1, n0]);
    const flat = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [B, N]);
    return [flat(tf.matMul(row(box.c), A3)), flat(tf.matMul(row(box.rho), tf.abs(A3)))];
  };
  const tL = terms(R ? tf.sub(M, R) : M);
  const tU = R ? terms(tf.add(M, R)) : tL;
  const flatBias = (t: Opt): Opt => (t === null ? null : tf.reshape(t, shared ? [N] : [B, N]));
  const lo = add(tf.sub(tL[0], tL[1]), sub(flatBias(mb), flatBias(rb)))!;
  const up = add(tf.add(tU[0], tU[1]), add(flatBias(mb), flatBias(rb)))!;
  return { l: tf.reshape(lo, [B, ...outShape]), u: tf.reshape(up, [B, ...outShape]) };
}

/**
 * Refuses (MemoryBudgetError, a UserError) a step that would need more than the memory budget:
 * `perDirection` float32 values per input direction, for every sample unless still shared.
 */
function guard(s: LbpState, perDirection: number, perSample: boolean, shape: readonly number[]): void {
  const B = s.x.shape[0]!;
  const need = (perSample ? B : 1) * s.box.n0 * perDirection;
  const budget = crownBudgetFloats();
  if (need > budget)
    throw new MemoryBudgetError(
      `LBP needs about ${mib(need)} MiB for its linear bounds at a layer of shape [${shape.join(', ')}] ` +
        `(batch ${B}, ${s.box.n0} input dimensions), over the budget of ${mib(budget)} MiB`,
      ['use a smaller batch, or raise the budget with VNET_CROWN_BUDGET_MB'],
    );
}

/** A per-layer tensor without a batch axis through a row-batched map. */
function applyShared(f: (t: tf.Tensor) => tf.Tensor, t: tf.Tensor, outShape: readonly number[]): tf.Tensor {
  return tf.reshape(f(tf.expandDims(t, 0)), [...outShape]);
}

function lbpAffine(s: LbpState, op: LinOp): LbpState {
  const B = s.x.shape[0]!;
  const out = op.outShape;
  guard(s, 2 * numel(op.inShape) + 6 * numel(out), !s.shared, out);
  // Clean x and the mid bias in one call of the affine map.
  let x: tf.Tensor;
  let mb: Opt;
  if (s.mb === null) {
    x = op.affine(s.x);
    mb = op.bias() ?? null;
  } else {
    const bRows = s.shared ? tf.expandDims(s.mb, 0) : s.mb;
    const y = op.affine(tf.concat([s.x, bRows], 0));
    x = tf.slice(y, 0, B);
    const mbRows = tf.slice(y, B);
    mb = s.shared ? tf.reshape(mbRows, [...out]) : mbRows;
  }
  const M = s.M === null ? op.identity() : op.linear(s.M);
  const R = s.R === null ? null : op.absLinear(s.R);
  const rb = s.rb === null ? null : s.shared ? applyShared(op.absLinear, s.rb, out) : op.absLinear(s.rb);
  return { x, ...concretize(M, R, mb, rb, s.shared, s.box, out), M, R, mb, rb, shared: s.shared, box: s.box };
}

/** Dense layer W [in, out], b [out]. */
export function lbpDense(s: LbpState, W: tf.Tensor, b: tf.Tensor | undefined): LbpState {
  return lbpAffine(s, denseOp(W, b));
}

/** Conv layer W [kh, kw, Cin, Cout], b [Cout]. */
export function lbpConv2d(s: LbpState, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): LbpState {
  return lbpAffine(s, convOp(W, b, cfg));
}

/** Flatten [.., H, W, C] → [.., H·W·C] for the clean x, the bounds and the linear forms. */
export function lbpFlatten(s: LbpState): LbpState {
  const B = s.x.shape[0]!;
  const N = s.x.size / B;
  const rows = (t: Opt): Opt => (t === null ? null : tf.reshape(t, [-1, N]));
  const bias = (t: Opt): Opt => (t === null ? null : tf.reshape(t, s.shared ? [N] : [B, N]));
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, N]);
  const M = s.M === null ? null : rows(s.M);
  return { ...s, x: flat(s.x), l: flat(s.l), u: flat(s.u), M, R: rows(s.R), mb: bias(s.mb), rb: bias(s.rb) };
}

/**
 * Activation with lines `rel` (made by `relax` on this state's l, u, so it carries σ; slopes ≥ 0):
 * rescales the linear forms per neuron (paper-notes §4, forward mode Eqs. 38–50). After this, l
 * and u hold the interval [σ(l), σ(u)] (LBP concretizes only after affine layers).
 */
export function lbpAct(s: LbpState, rel: Relaxation): LbpState {
  const B = s.x.shape[0]!;
  const shape = s.x.shape.slice(1);
  const N = numel(shape);
  const n0 = s.box.n0;
  guard(s, 8 * N, true, shape);
  const { sm, sr, tm, tr } = midRadLines(rel);
  const sm3 = tf.reshape(sm, [B, 1, N]);
  const sr3 = tf.reshape(sr, [B, 1, N]);
  const view = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [s.shared ? 1 : B, n0, N]);
  const M3 = view(s.M ?? tf.eye(n0));
  const R3 = s.R === null ? null : view(s.R);
  const rows = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B * n0, ...shape]);
  const M = rows(add(tf.mul(M3, sm3), mul(R3, sr3))!);
  const R = rows(add(tf.mul(M3, sr3), mul(R3, sm3))!);
  const sm2 = tf.reshape(sm, [B, ...shape]);
  const sr2 = tf.reshape(sr, [B, ...shape]);
  const mb = add(add(mul(s.mb, sm2), mul(s.rb, sr2)), tm)!;
  const rb = add(add(mul(s.mb, sr2), mul(s.rb, sm2)), tr)!;
  const a = actOf(rel);
  return {
    x: actForward(s.x, a),
    l: actForward(s.l, a),
    u: actForward(s.u, a),
    M,
    R,
    mb,
    rb,
    shared: false,
    box: s.box,
  };
}

/** Σ_n v[b, n]·Wt[b, j, n] → [B, m], with v [B, n] or shared [n]. */
function perSample(v: tf.Tensor, Wt: tf.Tensor3D, shared: boolean): tf.Tensor {
  const [B, m, n] = Wt.shape;
  return shared
    ? tf.reshape(tf.matMul(tf.reshape(Wt, [B * m, n]), tf.reshape(v, [n, 1])), [B, m])
    : tf.reshape(tf.matMul(Wt, tf.reshape(v, [B, n, 1])), [B, m]);
}

/**
 * Last dense layer. Without C: like `lbpDense`. With C [B, m, K]: the per-sample layer C·W, C·b
 * (elision); l, u [B, m] bound C·z and x holds the clean logits [B, K].
 */
export function lbpLast(
  s: LbpState,
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  C: tf.Tensor3D | undefined,
): LbpState {
  if (!C) return lbpDense(s, W, b);
  const [B, m, K] = C.shape;
  const n = W.shape[0]!;
  const n0 = s.box.n0;
  const C2 = tf.reshape(C, [B * m, K]);
  const CW = tf.reshape(tf.matMul(C2, tf.transpose(W)), [B, m, n]) as tf.Tensor3D; // rows of C·W
  const absCW = tf.abs(CW) as tf.Tensor3D;
  const CWt = tf.transpose(CW, [0, 2, 1]); // [B, n, m]; explicit (small) transposes keep matMul flag-free
  const Cb = b ? tf.reshape(tf.matMul(C2, tf.reshape(b, [K, 1])), [B, m]) : null;
  // M·(C·W)ᵀ per sample. A shared M [n0, n] takes one 2-D product with every sample's (C·W)ᵀ
  // side by side (a broadcast batch axis in matMul would break tfjs's gradient).
  const apply = (t: tf.Tensor, Wt: tf.Tensor): tf.Tensor => {
    if (!s.shared) return tf.matMul(tf.reshape(t, [B, n0, n]), Wt);
    const sideBySide = tf.reshape(tf.transpose(Wt, [1, 0, 2]), [n, B * m]);
    return tf.transpose(tf.reshape(tf.matMul(tf.reshape(t, [n0, n]), sideBySide), [n0, B, m]), [1, 0, 2]);
  };
  const M = tf.reshape(s.M === null ? CWt : apply(s.M, CWt), [B * n0, m]);
  const R = s.R === null ? null : tf.reshape(apply(s.R, tf.abs(CWt)), [B * n0, m]);
  const mb = add(s.mb === null ? null : perSample(s.mb, CW, s.shared), Cb);
  const rb = s.rb === null ? null : perSample(s.rb, absCW, s.shared);
  const x = dense(s.x as tf.Tensor2D, W, b);
  return { x, ...concretize(M, R, mb, rb, false, s.box, [m]), M, R, mb, rb, shared: false, box: s.box };
}
