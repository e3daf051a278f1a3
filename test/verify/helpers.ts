/**
 * Small hand-written networks for the verifier's tests, independent of the code generator: a
 * linear classifier logits = x·W + b whose margin bounds over a box are exact (interval
 * arithmetic is exact for one affine map), wrapped as a `Verifiable`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/runtime/backend.js';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import type { BoundResult } from '../../src/runtime/types.js';
import type { Verifiable } from '../../src/verify/evaluate.js';

/** The cpu backend with tfjs's gradients registered (PGD differentiates the logits). */
export async function useCpu(): Promise<void> {
  await initBackend('cpu');
}

/** A linear classifier on raw inputs in [lo, hi]^n with weight W [n, K] and bias b [K]. */
export function linearNet(
  W: number[][],
  b: number[],
  domain: readonly [number, number] = [0, 1],
): Verifiable {
  const n = W.length;
  const K = b.length;
  const Wt = tf.tensor2d(W);
  const bt = tf.tensor1d(b);
  tf.keep(Wt);
  tf.keep(bt);
  return {
    classes: K,
    inputShape: [n],
    domain,
    logits: (x) => tf.add(tf.matMul(x as tf.Tensor2D, Wt), bt),
    bounds(x, eps, _method: BoundMethod, _lines: LineStrategy, labels): BoundResult {
      return tf.tidy(() => {
        const x2 = x as tf.Tensor2D;
        const lo = tf.maximum(tf.sub(x2, eps), domain[0]);
        const hi = tf.minimum(tf.add(x2, eps), domain[1]);
        // C [B, K-1, K] with rows e_y − e_j, j ≠ y ascending.
        const ys = labels.arraySync();
        const C = tf.tensor3d(
          ys.map((y) =>
            [...Array(K).keys()]
              .filter((j) => j !== y)
              .map((j) => [...Array(K).keys()].map((k) => (k === y ? 1 : 0) - (k === j ? 1 : 0))),
          ),
        );
        const [B, m] = [ys.length, K - 1];
        const C2 = tf.reshape(C, [B * m, K]);
        const Wc = tf.reshape(tf.matMul(C2, Wt, false, true), [B, m, n]);
        const bc = tf.reshape(tf.matMul(C2, tf.reshape(bt, [K, 1])), [B, m]);
        const pos = tf.relu(Wc);
        const neg = tf.neg(tf.relu(tf.neg(Wc)));
        const lo3 = tf.expandDims(lo, 1);
        const hi3 = tf.expandDims(hi, 1);
        const lower = tf.add(tf.sum(tf.add(tf.mul(pos, lo3), tf.mul(neg, hi3)), 2), bc) as tf.Tensor2D;
        const upper = tf.add(tf.sum(tf.add(tf.mul(pos, hi3), tf.mul(neg, lo3)), 2), bc) as tf.Tensor2D;
        const logits = tf.add(tf.matMul(x2, Wt), bt) as tf.Tensor2D;
        return { lower, upper, logits, intermediate: [] };
      });
    },
  };
}
