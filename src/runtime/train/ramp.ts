/**
 * ParamRamp's r outside the forward pass (paper-notes §1): its re-initialisation at the end of the
 * clean phase — r ← the per-neuron mean of the LeakyReLU(η) outputs over the training set
 * (negative outputs included), clamped to ≥ 1e-4 — and the in-place clamp r ← max(r, 1e-4) after
 * every optimizer step, which is what PyTorch's `r.data.clamp_(min=1e-4)` at the next forward does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { R_MIN } from '../lines.js';

/** Sets r to max(mean, 1e-4); `mean` has r's shape (internal layout, no batch axis). */
export function resetRamp(r: tf.Variable, mean: tf.Tensor): void {
  if (mean.shape.join('x') !== r.shape.join('x'))
    throw new Error(
      `resetRamp: mean activation [${mean.shape.join(', ')}] does not match r [${r.shape.join(', ')}]`,
    );
  tf.tidy(() => r.assign(tf.maximum(mean, R_MIN)));
}

/** r ← max(r, 1e-4) in place. */
export function clampRamp(r: tf.Variable): void {
  tf.tidy(() => r.assign(tf.maximum(r, R_MIN)));
}
