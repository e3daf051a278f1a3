/**
 * Interval bound propagation (paper-notes §3, main-text Eq. 2) in mid/rad form: per affine layer
 * one call of W on mid and one of |W| on rad, plus W on the clean input (the logits come from the
 * same pass). The last layer folds the specification C into W (elision, §7).
 */
import * as tf from '@tensorflow/tfjs-core';
import { actForward } from './act.js';
import { convOp, dense, denseOp, type LinOp } from './affine.js';
import type { ActSpec, BoundOptions, Conv2dCfg, InputBox } from './types.js';

/**
 * Clean activations x and interval bounds [l, u] of the current layer, internal layout [B, ...];
 * x is null when the clean pass is skipped (`noLogits`).
 */
export interface IbpState {
  readonly x: tf.Tensor | null;
  readonly l: tf.Tensor;
  readonly u: tf.Tensor;
}

/** Start of an IBP pass: the (normalised) input box. */
export function ibpInput(box: InputBox, o: BoundOptions = {}): IbpState {
  return { x: o.noLogits ? null : box.x, l: box.lo, u: box.hi };
}

const midRad = (s: IbpState): [tf.Tensor, tf.Tensor] => [
  tf.mul(tf.add(s.l, s.u), 0.5),
  tf.mul(tf.sub(s.u, s.l), 0.5),
];

/**
 * The clean x and the box centre go through the affine map in separate calls (no concat/split):
 * when the logits do not enter a loss, the clean path drops out of the gradient entirely.
 */
function ibpAffine(s: IbpState, op: LinOp): IbpState {
  const [mid, rad] = midRad(s);
  const m = op.affine(mid);
  const r = op.absLinear(rad);
  return { x: s.x && op.affine(s.x), l: tf.sub(m, r), u: tf.add(m, r) };
}

/** Dense layer W [in, out], b [out]. */
export function ibpDense(s: IbpState, W: tf.Tensor, b: tf.Tensor | undefined): IbpState {
  return ibpAffine(s, denseOp(W, b));
}

/** Conv layer W [kh, kw, Cin, Cout], b [Cout]. */
export function ibpConv2d(s: IbpState, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): IbpState {
  return ibpAffine(s, convOp(W, b, cfg));
}

/** Flatten [B, H, W, C] → [B, H·W·C]. */
export function ibpFlatten(s: IbpState): IbpState {
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [t.shape[0]!, -1]);
  return { x: s.x && flat(s.x), l: flat(s.l), u: flat(s.u) };
}

/** Monotone activation: [σ(l), σ(u)]. */
export function ibpAct(s: IbpState, a: ActSpec): IbpState {
  return { x: s.x && actForward(s.x, a), l: actForward(s.l, a), u: actForward(s.u, a) };
}

/**
 * Last dense layer. Without C: like `ibpDense`. With C [B, m, K]: l, u [B, m] bound C·z, computed
 * as C·(W·mid + b) ∓ |C·W|·rad (per-sample rows of C·W from one 2-D product; the per-sample
 * contractions are elementwise products and sums, which every backend runs fast, gradients
 * included); x holds the clean logits [B, K].
 */
export function ibpLast(
  s: IbpState,
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  C: tf.Tensor3D | undefined,
): IbpState {
  if (!C) return ibpDense(s, W, b);
  const [B, m, K] = C.shape;
  const [mid, rad] = midRad(s);
  const zMid = dense(mid, W, b);
  const center = tf.sum(tf.mul(C, tf.reshape(zMid, [B, 1, K])), 2);
  const CW = tf.reshape(specTimesWt(C, W), [B, m, -1]);
  const dev = tf.sum(tf.mul(tf.abs(CW), tf.expandDims(rad, 1)), 2);
  return { x: cleanLogits(s.x, W, b, B), l: tf.sub(center, dev), u: tf.add(center, dev) };
}

let lastCW: { c: object; w: object; cw: tf.Tensor2D } | null = null;

/**
 * C·Wᵀ as [B·m, n] for C [B, m, K] and the last layer's W [n, K]: the rows of the last layer in
 * margin space, which IBP's last layer and CROWN's first backward step both need. The product of
 * the latest (C, W) pair is reused while it is alive (C is made afresh by every bound call, and a
 * variable's buffer changes when it is assigned, so a hit is always the same pass).
 */
export function specTimesWt(C: tf.Tensor3D, W: tf.Tensor): tf.Tensor2D {
  const hit = lastCW;
  if (hit && hit.c === C.dataId && hit.w === W.dataId && !hit.cw.isDisposed) return hit.cw;
  const [B, m, K] = C.shape;
  const cw = tf.matMul(
    tf.reshape(C, [B * m, K]) as tf.Tensor2D,
    tf.transpose(W) as tf.Tensor2D,
  ) as tf.Tensor2D;
  lastCW = { c: C.dataId, w: W.dataId, cw };
  return cw;
}

/** The clean logits of the last layer, or [B, 0] when the clean pass was skipped. */
export function cleanLogits(
  x: tf.Tensor | null,
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  B: number,
): tf.Tensor2D {
  return x === null ? tf.zeros([B, 0]) : dense(x, W, b);
}
