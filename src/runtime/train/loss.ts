/**
 * The losses of certified training (paper Eqs. 5–6, paper-notes §5; CROWN-IBP `train.py`):
 * natural cross-entropy, the robust cross-entropy on margin lower bounds, the κ mix of the two,
 * and CROWN-IBP's β mix of IBP and CROWN-IBP margin bounds. Every function is a differentiable
 * composition of tfjs ops (call them inside `tf.variableGrads` / `tf.tidy`); log-sum-exp keeps
 * them finite for any finite input.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Below this β, CROWN-IBP training computes IBP bounds only (train.py `factor < 1e-5`). */
export const CROWN_BETA_MIN = 1e-5;

/** What a generated `trainLoss` hands to the training loop. */
export interface LossParts {
  /** The scalar that is minimised. */
  readonly loss: tf.Scalar;
  /** Mean natural cross-entropy of the batch. */
  readonly natural: tf.Scalar;
  /** Mean robust cross-entropy (absent in natural steps). */
  readonly robust?: tf.Scalar;
  /** Clean logits [B, K]. */
  readonly logits: tf.Tensor2D;
  /** Margin lower bounds [B, K−1] the robust loss used (absent in natural steps). */
  readonly lb?: tf.Tensor2D;
}

/** Mean cross-entropy of logits [B, K] against integer labels [B]: mean(logsumexp(z) − z_y). */
export function naturalCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const K = logits.shape[1];
    const zy = tf.sum(tf.mul(logits, tf.oneHot(tf.cast(labels, 'int32'), K)), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), zy));
  });
}

/**
 * Robust cross-entropy of margin lower bounds lb [B, K−1] (lb_j bounds z_y − z_j, j ≠ y):
 * CE over the vector [−lb_j for j ≠ y, 0 at y] with target y, which is
 * mean_b log(1 + Σ_j exp(−lb_bj)); computed as logsumexp([0, −lb]) (stable for any lb).
 */
export function robustCrossEntropy(lb: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const zeros = tf.zeros([lb.shape[0], 1]);
    return tf.mean(tf.logSumExp(tf.concat([zeros, tf.neg(lb)], 1), 1));
  });
}

/** CROWN-IBP's bound mix (1 − β)·lb_IBP + β·lb_CROWN-IBP. */
export function betaMix(lbIbp: tf.Tensor2D, lbCrown: tf.Tensor2D, beta: number): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.mul(lbIbp, 1 - beta), tf.mul(lbCrown, beta)));
}

/** The loss of a clean (natural) step: plain cross-entropy. */
export function naturalLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): LossParts {
  const natural = naturalCrossEntropy(logits, labels);
  return { loss: natural, natural, logits };
}

/**
 * The loss of a certified step, κ·CE(z, y) + (1 − κ)·CE(−lb, y) (paper Eq. 5). With κ = 0 (the
 * paper's "(0, 0)" schedule) it is the robust term alone; the natural term is still reported.
 */
export function certifiedLoss(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  lb: tf.Tensor2D,
  kappa: number,
): LossParts {
  const natural = naturalCrossEntropy(logits, labels);
  const robust = robustCrossEntropy(lb);
  const loss =
    kappa === 0
      ? robust
      : tf.tidy(() => tf.add(tf.mul(natural, kappa), tf.mul(robust, 1 - kappa)) as tf.Scalar);
  return { loss, natural, robust, logits, lb };
}
