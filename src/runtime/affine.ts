/**
 * Affine layers: the plain forward ops generated code calls (`dense`, `conv2d`, `flatten`), and
 * `LinOp`, the common view of a dense or conv layer (apply W, apply |W|, apply W to the identity)
 * that the IBP and LBP passes are written against. Everything is batched along axis 0 and uses
 * 2-D matMul or conv2d only.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Conv2dCfg } from './types.js';

/** tfjs explicit padding for an NHWC conv from the IR's [top, bottom, left, right]. */
export function convPad(cfg: Conv2dCfg): tf.backend_util.ExplicitPadding {
  const [t, b, l, r] = cfg.padding;
  return [
    [0, 0],
    [t, b],
    [l, r],
    [0, 0],
  ];
}

/**
 * x·W + b: x [B, in], W [in, out], b [out]. The bias is a separate add, not tf.fused.matMul: the
 * fused op's gradient always computes the input gradient too, a wasted product whenever x needs
 * none (the input layer, the box centre and radius of the bound passes).
 */
export function dense(x: tf.Tensor, W: tf.Tensor, b: tf.Tensor | undefined): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x as tf.Tensor2D, W as tf.Tensor2D);
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
}

/** NHWC convolution: x [B, H, W, Cin], W [kh, kw, Cin, Cout], b [Cout] (separate bias add, as in `dense`). */
export function conv2d(x: tf.Tensor, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): tf.Tensor4D {
  const y = tf.conv2d(x as tf.Tensor4D, W as tf.Tensor4D, [...cfg.stride], convPad(cfg));
  return b ? (tf.add(y, b) as tf.Tensor4D) : y;
}

/** [B, ...] → [B, n] (NHWC order; dense weights after a flatten are permuted at load time). */
export function flatten(x: tf.Tensor): tf.Tensor2D {
  return tf.reshape(x, [x.shape[0]!, -1]) as tf.Tensor2D;
}

/** A dense or conv layer as a linear map on batches of rows [R, ...inShape] → [R, ...outShape]. */
export interface LinOp {
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** W·t + b (b omitted when the layer has none). */
  affine(t: tf.Tensor): tf.Tensor;
  /** W·t. */
  linear(t: tf.Tensor): tf.Tensor;
  /** |W|·t. */
  absLinear(t: tf.Tensor): tf.Tensor;
  /** The map applied to every unit vector of the input: [numel(inShape), ...outShape]. */
  identity(): tf.Tensor;
  /** The bias broadcast to outShape, or undefined. */
  bias(): tf.Tensor | undefined;
}

const rowsOf = (t: tf.Tensor, shape: readonly number[]): tf.Tensor => tf.reshape(t, [-1, ...shape]);

/** A dense layer W [in, out], b [out] as a LinOp. */
export function denseOp(W: tf.Tensor, b: tf.Tensor | undefined): LinOp {
  const w = W as tf.Tensor2D;
  const [nIn, nOut] = w.shape;
  let absW: tf.Tensor2D | undefined;
  return {
    inShape: [nIn],
    outShape: [nOut],
    affine: (t) => dense(rowsOf(t, [nIn]) as tf.Tensor2D, W, b),
    linear: (t) => tf.matMul(rowsOf(t, [nIn]) as tf.Tensor2D, w),
    absLinear: (t) => tf.matMul(rowsOf(t, [nIn]) as tf.Tensor2D, (absW ??= tf.abs(w))),
    identity: () => W,
    bias: () => b,
  };
}

/** A conv layer W [kh, kw, Cin, Cout], b [Cout] with its config as a LinOp (NHWC maps). */
export function convOp(W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): LinOp {
  const n0 = cfg.inShape[0] * cfg.inShape[1] * cfg.inShape[2];
  const rows = (t: tf.Tensor): tf.Tensor4D => rowsOf(t, cfg.inShape) as tf.Tensor4D;
  let absW: tf.Tensor | undefined;
  return {
    inShape: cfg.inShape,
    outShape: cfg.outShape,
    affine: (t) => conv2d(rows(t), W, b, cfg),
    linear: (t) => conv2d(rows(t), W, undefined, cfg),
    absLinear: (t) => conv2d(rows(t), (absW ??= tf.abs(W)), undefined, cfg),
    identity: () => conv2d(rows(tf.eye(n0)), W, undefined, cfg),
    bias: () => (b ? tf.broadcastTo(b, [...cfg.outShape]) : undefined),
  };
}
