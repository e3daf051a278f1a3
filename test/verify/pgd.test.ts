import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { pgdAttack, pgdStepSize, type PgdTarget } from '../../src/verify/pgd.js';
import { linearNet, useCpu } from './helpers.js';

beforeAll(useCpu);

/** A target that records every point at which the logits are evaluated. */
function spy(inner: PgdTarget): { target: PgdTarget; seen: Float32Array[] } {
  const seen: Float32Array[] = [];
  return {
    seen,
    target: {
      classes: inner.classes,
      domain: inner.domain,
      logits: (x) => {
        seen.push(Float32Array.from(x.dataSync()));
        return inner.logits(x);
      },
    },
  };
}

describe('PGD', () => {
  it('keeps every evaluated point inside the ε-ball ∩ input domain', async () => {
    const n = 6;
    const W = Array.from({ length: n }, (_, i) => [Math.sin(i + 1), Math.cos(3 * i), Math.sin(2 * i + 0.5)]);
    const net = linearNet(W, [0.1, -0.2, 0.05]);
    const x0 = [
      [0, 0.02, 0.5, 0.97, 1, 0.3],
      [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    ];
    const eps = 0.05;
    const { target, seen } = spy(net);
    const x = tf.tensor2d(x0);
    await pgdAttack(target, x, Int32Array.from([0, 1]), eps, {
      steps: 7,
      restarts: 3,
      stepSize: 0.03,
      seed: 5,
    });
    x.dispose();
    expect(seen.length).toBeGreaterThanOrEqual(8); // 7 gradient points + the final point of restart 0
    for (const pts of seen) {
      const B = pts.length / n;
      for (let b = 0; b < B; b++) {
        // samples may have left the batch (broken); match each row to the clean point it came from
        const row = pts.subarray(b * n, (b + 1) * n);
        const fits = x0.some((c) =>
          c.every((v, i) => row[i]! >= Math.max(0, v - eps) - 1e-6 && row[i]! <= Math.min(1, v + eps) + 1e-6),
        );
        expect(fits).toBe(true);
      }
    }
  });

  it('finds the analytic worst case of a linear model, and never breaks a robust sample', async () => {
    // Two classes: margin(x) = c·x + d with c = W[:,0] − W[:,1]. Worst case: x − ε·sign(c), clamped to [0, 1].
    const W = [
      [1, -1],
      [-2, 0.5],
      [0.5, 0],
      [0, 0.25],
    ];
    const b = [0, 0];
    const c = W.map((r) => r[0]! - r[1]!);
    const net = linearNet(W, b);
    const eps = 0.1;
    const x0 = [
      [0.4, 0.3, 0.6, 0.95], // margin 0.1125 > 0; worst case [0.3, 0.4, 0.5, 1 (clamped)] has margin −0.4
      [0.9, 0.05, 0.5, 0.5],
    ];
    const margin = (x: number[]): number => x.reduce((s, v, i) => s + c[i]! * v, 0);
    const worst = x0.map((x) => x.map((v, i) => Math.min(1, Math.max(0, v - eps * Math.sign(c[i]!)))));
    const labels = Int32Array.from([0, 0]);
    expect(margin(x0[0]!)).toBeGreaterThan(0);
    expect(margin(worst[0]!)).toBeLessThan(0); // breakable
    expect(margin(worst[1]!)).toBeGreaterThan(0); // robust
    const x = tf.tensor2d(x0);
    const out = await pgdAttack(net, x, labels, eps, { steps: 40, restarts: 2, stepSize: 0.01, seed: 1 });
    x.dispose();
    expect(out.broken).toEqual([true, false]);
    const w = out.adversarial[0]!;
    expect(w.restart).toBe(0);
    w.x.forEach((v, i) => expect(v).toBeCloseTo(worst[0]![i]!, 5));
    expect(w.logits[1]!).toBeGreaterThan(w.logits[0]!);
    expect(out.adversarial[1]).toBeUndefined();
  });

  it('reports skipped (misclassified) samples as broken, is seeded, and leaks no tensors', async () => {
    const net = linearNet(
      [
        [1, -1, 0.3],
        [-1, 1, 0.2],
      ],
      [0, 0, 0],
    );
    const x = tf.tensor2d([
      [0.6, 0.4],
      [0.5, 0.45],
      [0.2, 0.9],
    ]);
    const before = tf.memory().numTensors;
    const s = { steps: 5, restarts: 2, stepSize: 0.02, seed: 9 };
    const a = await pgdAttack(net, x, Int32Array.from([0, 0, 1]), 0.04, s, [false, false, true]);
    const b = await pgdAttack(net, x, Int32Array.from([0, 0, 1]), 0.04, s, [false, false, true]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    expect(a.broken[2]).toBe(true);
    expect(a.adversarial[2]).toBeUndefined();
    expect(a.broken).toEqual(b.broken);
    expect(a.adversarial.map((w) => w && Array.from(w.x))).toEqual(
      b.adversarial.map((w) => w && Array.from(w.x)),
    );
  });

  it('uses the paper step size: 0.01 on MNIST-like data, ε/10 elsewhere, unless configured', () => {
    expect(pgdStepSize(undefined, 0.3, 'mnist')).toBe(0.01);
    expect(pgdStepSize(0, 0.1, 'fashion-mnist')).toBe(0.01);
    expect(pgdStepSize(undefined, 8 / 255, 'cifar10')).toBeCloseTo(0.8 / 255);
    expect(pgdStepSize(0.005, 0.3, 'mnist')).toBe(0.005);
  });
});
