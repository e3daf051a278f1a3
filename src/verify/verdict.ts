/**
 * The verdict rule, as pure functions on plain arrays (paper-notes §7): a sample is verified iff
 * it is correctly classified, every margin lower bound z_y − z_j (j ≠ y) is finite and > 0, and
 * no bound computed for the sample (intermediate pre-activation bounds included) is NaN or ±Inf.
 * A non-finite bound is never trusted: the sample is not verified and the caller warns, naming
 * the first layer whose pre-activation bounds went non-finite (`firstNonFiniteLayer`).
 */

/** Predicted class: argmax of the logits, or −1 when any logit is NaN/±Inf (never correct). */
export function predict(logits: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let j = 0; j < logits.length; j++) {
    const v = logits[j]!;
    if (!Number.isFinite(v)) return -1;
    if (best < 0 || v > bestValue) {
      best = j;
      bestValue = v;
    }
  }
  return best;
}

/** True iff every value is finite (no NaN, no ±Inf). */
export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}

/** Why a sample is or is not verified. */
export type VerdictReason = 'verified' | 'misclassified' | 'non-finite' | 'margin';

export interface Verdict {
  readonly verified: boolean;
  readonly reason: VerdictReason;
}

/**
 * The verdict for one sample. `lower` are its margin lower bounds (K − 1 values), `correct`
 * whether the clean prediction equals the label, `otherFinite` whether every other bound the
 * method computed for this sample (intermediate layers) is finite. Misclassification wins over
 * every other reason; an empty margin list (K = 1) is never verified.
 */
export function verdict(lower: ArrayLike<number>, correct: boolean, otherFinite = true): Verdict {
  if (!correct) return { verified: false, reason: 'misclassified' };
  if (!otherFinite || !allFinite(lower)) return { verified: false, reason: 'non-finite' };
  if (lower.length === 0) return { verified: false, reason: 'margin' };
  for (let i = 0; i < lower.length; i++) if (!(lower[i]! > 0)) return { verified: false, reason: 'margin' };
  return { verified: true, reason: 'verified' };
}

/** Pre-activation bounds of one layer for a whole batch, flattened per sample (row-major [B, n]). */
export interface FlatLayerBounds {
  readonly layer: string;
  readonly lower: ArrayLike<number>;
  readonly upper: ArrayLike<number>;
}

/**
 * The first layer (in network order) whose pre-activation bounds for sample `b` of a batch of
 * `batch` samples contain NaN or ±Inf, or undefined when all of them are finite (the fault is
 * then in the last affine layer).
 */
export function firstNonFiniteLayer(
  layers: readonly FlatLayerBounds[],
  b: number,
  batch: number,
): string | undefined {
  for (const L of layers) {
    const n = L.lower.length / batch;
    for (let i = b * n; i < (b + 1) * n; i++) {
      if (!Number.isFinite(L.lower[i]!) || !Number.isFinite(L.upper[i]!)) return L.layer;
    }
  }
  return undefined;
}
