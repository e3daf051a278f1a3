/**
 * Interval bound propagation (paper-notes §3, main-text Eq. 2) in mid/rad form: per affine layer
 * one call of W on [x; mid] (the clean input rides along, so the logits come from the same pass)
 * and one of |W| on rad. The last layer folds the specification C into W (elision, §7).
 */
import * as tf from '@tensorflow/tfjs-core';
import { actForward } from './act.js';
import { convOp, dense, denseOp, type LinOp } from './affine.js';
import type { ActSpec, Conv2dCfg, InputBox } from './types.js';

/** Clean activations x and interval bounds [l, u] of the current layer, internal layout [B, ...]. */
export interface IbpState {
  readonly x: tf.Tensor;
  readonly l: tf.Tensor;
  readonly u: tf.Tensor;
}

/** Start of an IBP pass: the (normalised) input box. */
export function ibpInput(box: InputBox): IbpState {
  return { x: box.x, l: box.lo, u: box.hi };
}

const midRad = (s: IbpState): [tf.Tensor, tf.Tensor] => [
  tf.mul(tf.add(s.l, s.u), 0.5),
  tf.mul(tf.sub(s.u, s.l), 0.5),
];

/** [x; mid] through the affine map in one call, split back. */
function withMid(s: IbpState, mid: tf.Tensor, affine: (t: tf.Tensor) => tf.Tensor): [tf.Tensor, tf.Tensor] {
  const B = s.x.shape[0]!;
  const [x, m] = tf.split(affine(tf.concat([s.x, mid], 0)), [B, B], 0);
  return [x!, m!];
}

function ibpAffine(s: IbpState, op: LinOp): IbpState {
  const [mid, rad] = midRad(s);
  const [x, m] = withMid(s, mid, op.affine);
  const r = op.absLinear(rad);
  return { x, l: tf.sub(m, r), u: tf.add(m, r) };
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
  return { x: flat(s.x), l: flat(s.l), u: flat(s.u) };
}

/** Monotone activation: [σ(l), σ(u)]. */
export function ibpAct(s: IbpState, a: ActSpec): IbpState {
  return { x: actForward(s.x, a), l: actForward(s.l, a), u: actForward(s.u, a) };
}

/**
 * Last dense layer. Without C: like `ibpDense`. With C [B, m, K]: l, u [B, m] bound C·z, computed
 * as C·(W·mid + b) ∓ |C·W|·rad; x holds the clean logits [B, K].
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
  const [x, zMid] = withMid(s, mid, (t) => dense(t as tf.Tensor2D, W, b));
  const center = tf.reshape(tf.matMul(C, tf.expandDims(zMid, 2)), [B, m]);
  const CW = tf.reshape(tf.matMul(tf.reshape(C, [B * m, K]), tf.transpose(W)), [B, m, -1]);
  const dev = tf.reshape(tf.matMul(tf.abs(CW), tf.expandDims(rad, 2)), [B, m]);
  return { x, l: tf.sub(center, dev), u: tf.add(center, dev) };
}
