import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../../src/runtime/train/adam.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** torch.optim.Adam for one scalar parameter, float64. */
function torchAdam(p0: number, grads: readonly number[], lr: number, wd = 0): number {
  let [p, m, v] = [p0, 0, 0];
  grads.forEach((g0, i) => {
    const t = i + 1;
    const g = g0 + wd * p;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const denom = Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8;
    p -= (lr / (1 - 0.9 ** t)) * (m / denom);
  });
  return p;
}

describe('Adam (PyTorch semantics)', () => {
  it('matches torch.optim.Adam step by step, with weight decay', () => {
    const a = tf.variable(tf.tensor1d([0.5, -2]));
    const adam = new Adam();
    const gs = [
      [0.3, -1],
      [0.1, 2],
      [-0.4, 0.5],
    ];
    for (const g of gs) tf.tidy(() => adam.apply({ a }, { a: tf.tensor1d(g) }, 1e-2, { a: 0.1 }));
    const got = a.dataSync();
    expect(got[0]).toBeCloseTo(
      torchAdam(
        0.5,
        gs.map((g) => g[0]!),
        1e-2,
        0.1,
      ),
      6,
    );
    expect(got[1]).toBeCloseTo(
      torchAdam(
        -2,
        gs.map((g) => g[1]!),
        1e-2,
        0.1,
      ),
      6,
    );
    adam.dispose();
    a.dispose();
  });

  it('a parameter that joins late starts its own step count (bias correction from 1)', () => {
    const a = tf.variable(tf.scalar(1));
    const r = tf.variable(tf.scalar(1));
    const adam = new Adam();
    for (let i = 0; i < 50; i++) tf.tidy(() => adam.apply({ a, r }, { a: tf.scalar(0.2) }, 1e-3));
    expect(adam.steps('r')).toBe(0);
    tf.tidy(() => adam.apply({ a, r }, { a: tf.scalar(0.2), r: tf.scalar(5) }, 1e-3));
    expect(adam.steps('a')).toBe(51);
    expect(adam.steps('r')).toBe(1);
    // first step of a fresh Adam moves by lr·sign(g)
    expect(r.dataSync()[0]).toBeCloseTo(1 - 1e-3, 7);
    adam.dispose();
    tf.dispose([a, r]);
  });

  it('export → import reproduces the next update bit for bit', async () => {
    const mk = (): tf.Variable => tf.variable(tf.tensor1d([0.1, 0.2, 0.3]));
    const a1 = mk();
    const adam1 = new Adam();
    for (let i = 0; i < 4; i++) tf.tidy(() => adam1.apply({ a: a1 }, { a: tf.tensor1d([i, -i, 0.5]) }, 1e-2));
    const a2 = tf.variable(a1.clone());
    const adam2 = new Adam();
    adam2.importState({ a: a2 }, await adam1.exportState());
    tf.tidy(() => adam1.apply({ a: a1 }, { a: tf.tensor1d([0.7, 0.1, -3]) }, 1e-2));
    tf.tidy(() => adam2.apply({ a: a2 }, { a: tf.tensor1d([0.7, 0.1, -3]) }, 1e-2));
    expect(Array.from(a2.dataSync())).toEqual(Array.from(a1.dataSync()));
    adam1.dispose();
    adam2.dispose();
    tf.dispose([a1, a2]);
  });
});
