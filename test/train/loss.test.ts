import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  betaMix,
  certifiedLoss,
  naturalCrossEntropy,
  robustCrossEntropy,
} from '../../src/runtime/train/loss.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** Direct float64 formulas. */
const ce = (z: number[], y: number): number => Math.log(z.reduce((a, v) => a + Math.exp(v), 0)) - z[y]!;
const robust = (lb: number[]): number => Math.log(1 + lb.reduce((a, v) => a + Math.exp(-v), 0));

describe('losses (paper Eq. 5, CROWN-IBP train.py)', () => {
  const logits = [
    [1.5, -0.3, 0.2, 2.1],
    [-1, 4, 0.5, 0.5],
    [0, 0, 0, 0],
  ];
  const labels = [3, 0, 2];
  const lbs = [
    [0.5, -1.2, 3],
    [-0.1, 0.2, 0.05],
    [2, 2, 2],
  ];

  it('natural CE equals mean(logsumexp(z) − z_y)', () => {
    const v = tf.tidy(
      () => naturalCrossEntropy(tf.tensor2d(logits), tf.tensor1d(labels, 'int32')).dataSync()[0]!,
    );
    const want = logits.reduce((a, z, i) => a + ce(z, labels[i]!), 0) / logits.length;
    expect(v).toBeCloseTo(want, 5);
  });

  it('robust CE equals CE over [−lb_j (j ≠ y), 0 at y] = log(1 + Σ exp(−lb_j))', () => {
    const v = tf.tidy(() => robustCrossEntropy(tf.tensor2d(lbs)).dataSync()[0]!);
    const want = lbs.reduce((a, lb) => a + robust(lb), 0) / lbs.length;
    expect(v).toBeCloseTo(want, 5);
    // the scatter form of train.py: 0 at position y, −lb elsewhere, then CE with target y
    const y = 1;
    const full = [-lbs[0]![0]!, 0, -lbs[0]![1]!, -lbs[0]![2]!];
    expect(ce(full, y)).toBeCloseTo(robust(lbs[0]!), 12);
  });

  it('robust CE and its gradient stay finite for extreme bounds', () => {
    const lb = tf.tensor2d([
      [-200, 50, 1e4],
      [300, 400, 500],
    ]);
    const shift = tf.variable(tf.zeros([2, 3]));
    const { value, grads } = tf.variableGrads(() => robustCrossEntropy(tf.add(lb, shift)), [shift]);
    const v = value.dataSync()[0]!;
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeCloseTo((200 + Math.log1p(Math.exp(-200)) + 0) / 2, 3); // first row ≈ 200, second ≈ 0
    for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([value, lb, shift, ...Object.values(grads)]);
  });

  it('β mix is (1 − β)·lb_IBP + β·lb_CROWN', () => {
    const v = tf.tidy(() => betaMix(tf.tensor2d([[1, -2]]), tf.tensor2d([[3, 4]]), 0.25).arraySync());
    expect(v[0]![0]).toBeCloseTo(0.75 * 1 + 0.25 * 3, 6);
    expect(v[0]![1]).toBeCloseTo(0.75 * -2 + 0.25 * 4, 6);
  });

  it('κ mixes natural and robust CE; κ = 0 is the robust term alone', () => {
    tf.tidy(() => {
      const z = tf.tensor2d(logits);
      const y = tf.tensor1d(labels, 'int32');
      const lb = tf.tensor2d(lbs);
      const nat = naturalCrossEntropy(z, y).dataSync()[0]!;
      const rob = robustCrossEntropy(lb).dataSync()[0]!;
      const mixed = certifiedLoss(z, y, lb, 0.3);
      expect(mixed.loss.dataSync()[0]).toBeCloseTo(0.3 * nat + 0.7 * rob, 5);
      expect(mixed.natural.dataSync()[0]).toBeCloseTo(nat, 6);
      const robustOnly = certifiedLoss(z, y, lb, 0);
      expect(robustOnly.loss.dataSync()[0]).toBeCloseTo(rob, 6);
      expect(robustOnly.lb).toBe(lb);
    });
  });
});
