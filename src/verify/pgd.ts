/**
 * L∞ PGD attack, as the paper evaluates it (paper-notes §7, §10.13; `_pgd_whitebox`): for each of
 * `restarts` restarts, a uniform random start in the ε-box, then `steps` sign-gradient ascent steps
 * on the cross-entropy, each followed by a projection onto the ε-ball ∩ input domain. A sample is
 * broken if the final point of any restart is misclassified; broken samples leave the batch for
 * the remaining restarts. Batched over samples, seeded, and leak-free; asynchronous only where it
 * reads results back (`await data()`, which every backend supports).
 *
 * Inputs are raw values in the runtime's internal layout (the network normalises internally), so
 * the ball and the domain are simple per-element boxes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DatasetName } from '../ir/ir.js';
import { predict } from './verdict.js';

/** PGD settings; `restarts = 0` or `steps = 0` still checks the clean point only. */
export interface PgdSettings {
  readonly steps: number;
  readonly restarts: number;
  readonly stepSize: number;
  readonly seed: number;
}

/** What is attacked: a differentiable logits function of raw inputs, and the raw input domain. */
export interface PgdTarget {
  logits(x: tf.Tensor): tf.Tensor2D;
  readonly classes: number;
  readonly domain: readonly [number, number];
}

/** Per-sample result of an attack on a batch. */
export interface PgdOutcome {
  /** True where some restart's final point (or the clean point) is misclassified. */
  readonly broken: readonly boolean[];
  /** For samples broken by an attack (not skipped ones): the witness point and its logits. */
  readonly adversarial: readonly Witness[];
}

/** A misclassified point found by restart `restart`: flattened raw input and its logits. */
export type Witness =
  { readonly x: Float32Array; readonly logits: Float32Array; readonly restart: number } | undefined;

/**
 * The paper's step size: 0.01 on MNIST-like data (MNIST, Fashion-MNIST), ε/10 elsewhere.
 * A positive `configured` value (from the spec's verify block or a flag) wins.
 */
export function pgdStepSize(configured: number | undefined, eps: number, dataset: DatasetName): number {
  if (configured !== undefined && Number.isFinite(configured) && configured > 0) return configured;
  return dataset === 'mnist' || dataset === 'fashion-mnist' ? 0.01 : eps / 10;
}

/**
 * Attacks the batch `x` ([B, ...], raw, internal layout) with labels `labels` at radius `eps`.
 * Samples with `skip[b]` (already misclassified on the clean point) are reported broken without
 * an attack (and without a witness). `seed` makes the random starts reproducible
 * (a caller attacking several batches passes a different seed per batch).
 */
export async function pgdAttack(
  target: PgdTarget,
  x: tf.Tensor,
  labels: Int32Array,
  eps: number,
  s: PgdSettings,
  skip?: readonly boolean[],
): Promise<PgdOutcome> {
  const B = labels.length;
  if (x.shape[0] !== B) throw new Error(`pgdAttack: batch of ${x.shape[0]} inputs but ${B} labels`);
  const per = x.size / Math.max(B, 1);
  const broken = Array.from({ length: B }, (_, b) => skip?.[b] === true);
  const adversarial: Witness[] = new Array<Witness>(B).fill(undefined);
  const [dlo, dhi] = target.domain;
  for (let r = 0; r < s.restarts; r++) {
    const active = [...Array(B).keys()].filter((b) => !broken[b]);
    if (active.length === 0) break;
    const [x0, y, lo, hi] = tf.tidy(() => {
      const x0 = tf.gather(x, tf.tensor1d(active, 'int32'));
      const y = tf.oneHot(
        tf.tensor1d(
          active.map((b) => labels[b]!),
          'int32',
        ),
        target.classes,
      );
      return [x0, y, tf.maximum(tf.sub(x0, eps), dlo), tf.minimum(tf.add(x0, eps), dhi)];
    });
    const ceGrad = tf.grad((xx: tf.Tensor) => tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(target.logits(xx))))));
    const start = mixSeed(s.seed, r);
    let xa = tf.tidy(() =>
      tf.minimum(tf.maximum(tf.add(x0, tf.randomUniform(x0.shape, -eps, eps, 'float32', start)), lo), hi),
    );
    for (let t = 0; t < s.steps; t++) {
      const next = tf.tidy(() =>
        tf.minimum(tf.maximum(tf.add(xa, tf.mul(tf.sign(ceGrad(xa)), s.stepSize)), lo), hi),
      );
      xa.dispose();
      xa = next;
    }
    const z = tf.tidy(() => target.logits(xa));
    const zs = await z.data();
    const xs = await xa.data();
    const K = target.classes;
    active.forEach((b, i) => {
      const row = zs.subarray(i * K, (i + 1) * K);
      if (predict(row) !== labels[b]) {
        broken[b] = true;
        adversarial[b] = {
          x: Float32Array.from(xs.subarray(i * per, (i + 1) * per)),
          logits: Float32Array.from(row),
          restart: r,
        };
      }
    });
    tf.dispose([x0, y, lo, hi, xa, z]);
  }
  return { broken, adversarial };
}

/** A non-zero 31-bit seed per (seed, restart): tfjs treats seed 0 as "unseeded". */
function mixSeed(seed: number, restart: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(restart + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) >>> 0;
  return (h % 0x7ffffffe) + 1;
}
