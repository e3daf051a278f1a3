/**
 * Small glue that every generated bound function needs at its ends: resolving the output
 * specification from the options, and assembling a `BoundResult` (with the optional per-layer
 * pre-activation bounds). Kept here so generated code stays one call per layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { marginSpec } from './input.js';
import type { BoundOptions, BoundResult, LayerBounds } from './types.js';

/** The specification matrix C [B, m, K] of a bound call, or undefined for plain logit bounds. */
export function specFor(o: BoundOptions, classes: number): tf.Tensor3D | undefined {
  if (o.C) return o.C;
  if (o.labels) return marginSpec(o.labels, classes);
  return undefined;
}

/**
 * tf.tidy for a bound function: keeps exactly the tensors of the returned BoundResult. (BoundResult
 * is an interface, which tf.tidy's TensorContainer type does not admit, hence the cast.)
 */
export function tidyBounds(fn: () => BoundResult): BoundResult {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as BoundResult;
}

/** One activation layer's pre-activation bounds as the generated code hands them over. */
export type PreActivation = readonly [layer: string, lower: tf.Tensor, upper: tf.Tensor];

/**
 * Assemble a BoundResult. `upper` may be absent (lowerOnly CROWN passes): it is then +∞, which is
 * sound and makes a missing upper bound impossible to mistake for a real one.
 */
export function boundResult(
  lower: tf.Tensor,
  upper: tf.Tensor | undefined,
  logits: tf.Tensor | null,
  o: BoundOptions,
  pre: readonly PreActivation[],
  base?: readonly [lower: tf.Tensor, upper: tf.Tensor],
): BoundResult {
  const lo = lower as tf.Tensor2D;
  // no clean pass (noLogits): an empty [B, 0]
  const z = logits ?? tf.zeros([lo.shape[0], 0]);
  const up = (upper ?? tf.fill(lo.shape, Infinity)) as tf.Tensor2D;
  const intermediate: LayerBounds[] | undefined = o.intermediate
    ? pre.map(([layer, l, u]) => ({ layer, lower: l, upper: u }))
    : undefined;
  return {
    lower: lo,
    upper: up,
    logits: z as tf.Tensor2D,
    ...(intermediate ? { intermediate } : {}),
    ...(base ? { base: { lower: base[0] as tf.Tensor2D, upper: base[1] as tf.Tensor2D } } : {}),
  };
}
