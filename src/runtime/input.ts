/**
 * The input set and the output specification: the L∞ ball around a raw input clamped to the raw
 * domain and then normalised per channel (paper-notes §7 "Box", §10.5), and the margin
 * specification C = e_y − e_j (j ≠ y, ascending), which generated code folds into the last layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../base/errors.js';
import { syncReads } from './status.js';
import type { InputBox, InputCfg } from './types.js';

const isIdentityNorm = (cfg: InputCfg): boolean =>
  cfg.mean.every((m) => m === 0) && cfg.std.every((s) => s === 1);

/** (x − mean)/std per channel (the last axis); x in internal layout [B, ...cfg.shape]. */
export function normalize(x: tf.Tensor, cfg: InputCfg): tf.Tensor {
  if (isIdentityNorm(cfg)) return x;
  const mean = cfg.mean.length === 1 ? cfg.mean[0]! : tf.tensor1d(cfg.mean as number[]);
  const std = cfg.std.length === 1 ? cfg.std[0]! : tf.tensor1d(cfg.std as number[]);
  return tf.div(tf.sub(x, mean), std);
}

/**
 * The input set {x' : ‖x' − x‖∞ ≤ ε} ∩ domain, normalised: lo = norm(max(x − ε, d₀)),
 * hi = norm(min(x + ε, d₁)) (per-channel ε/std and the normalised domain). x is raw, internal
 * layout [B, ...cfg.shape], and must lie in the domain; ε is one number or one per sample [B].
 */
export function inputBox(x: tf.Tensor, eps: number | tf.Tensor1D, cfg: InputCfg): InputBox {
  if (typeof eps === 'number' && !(eps >= 0)) throw new UserError(`ε must be a number ≥ 0, got ${eps}`);
  const e = typeof eps === 'number' ? eps : tf.reshape(eps, [x.shape[0]!, ...cfg.shape.map(() => 1)]);
  const [d0, d1] = cfg.domain;
  return {
    x: normalize(x, cfg),
    lo: normalize(tf.maximum(tf.sub(x, e), d0), cfg),
    hi: normalize(tf.minimum(tf.add(x, e), d1), cfg),
  };
}

/** Margin specification [B, K−1, K]: row i is e_y − e_j with j the i-th class ≠ y, ascending. */
export function marginSpec(labels: tf.Tensor1D, K: number): tf.Tensor3D {
  if (syncReads()) {
    // ten small ops (and a broadcast subtraction that wasm runs slowly) replaced by a host loop
    const y = labels.dataSync();
    const B = y.length;
    const c = new Float32Array(B * (K - 1) * K);
    for (let b = 0; b < B; b++) {
      const yb = y[b]!;
      if (!(Number.isInteger(yb) && yb >= 0 && yb < K))
        throw new Error(`marginSpec: label ${yb} of sample ${b} is not a class in 0…${K - 1}`);
      for (let i = 0; i < K - 1; i++) {
        const row = (b * (K - 1) + i) * K;
        c[row + yb] = 1;
        c[row + (i >= yb ? i + 1 : i)] = -1;
      }
    }
    return tf.tensor3d(c, [B, K - 1, K]);
  }
  return tf.tidy(() => {
    const y = tf.cast(labels, 'int32');
    const j = tf.range(0, K - 1, 1, 'int32'); // [K−1]
    const skip = tf.cast(tf.greaterEqual(tf.expandDims(j, 0), tf.expandDims(y, 1)), 'int32'); // j ≥ y
    // int32 one-hots, then cast: the wasm OneHot kernel ignores a float dtype (writes int bits).
    const others = tf.oneHot(tf.add(j, skip), K); // [B, K−1, K]
    return tf.cast(tf.sub(tf.expandDims(tf.oneHot(y, K), 1), others), 'float32') as tf.Tensor3D;
  });
}
