import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MemoryBudgetError } from '../../src/runtime/index.js';
import type { GeneratedModule } from '../../src/runtime/module.js';
import type { BoundOptions, BoundResult, InputBox } from '../../src/runtime/types.js';
import { boundsChunked } from '../../src/verify/model.js';
import { BoundRefusal } from '../../src/verify/evaluate.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** A module whose bounds refuse batches larger than `fits`; lower = label, upper = first input. */
function fakeModule(fits: number, calls: number[]): GeneratedModule {
  const meta = { inputCfg: { shape: [2], domain: [0, 1], mean: [0], std: [1] } };
  return {
    meta,
    bounds(_p: unknown, box: InputBox, _m: unknown, o: BoundOptions): BoundResult {
      const B = box.x.shape[0]!;
      calls.push(B);
      if (B > fits) throw new MemoryBudgetError(`batch ${B} over budget`);
      const lower = tf.reshape(tf.cast(o.labels!, 'float32'), [B, 1]) as tf.Tensor2D;
      const upper = tf.slice(box.x, [0, 0], [B, 1]) as tf.Tensor2D;
      return {
        lower,
        upper,
        logits: tf.zeros([B, 2]),
        intermediate: [{ layer: 'relu1', lower: tf.zeros([B, 3]), upper: tf.ones([B, 3]) }],
      };
    },
  } as unknown as GeneratedModule;
}

describe('boundsChunked', () => {
  it('halves refused batches, keeps sample order, remembers the size that fits, and leaks nothing', async () => {
    const calls: number[] = [];
    const mod = fakeModule(3, calls);
    const x = tf.tensor2d(Array.from({ length: 7 }, (_, i) => [i / 10, 0]));
    const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 6], 'int32');
    const before = tf.memory().numTensors;
    const r = boundsChunked(mod, {}, x, 0.01, 'lbp', { labels, intermediate: true });
    expect(Array.from(await r.lower.data())).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const up = Array.from(await r.upper.data());
    up.forEach((v, i) => expect(v).toBeCloseTo(i / 10, 5)); // the clean input of each sample, in order
    expect(r.intermediate![0]!.lower.shape).toEqual([7, 3]);
    expect(calls).toEqual([7, 4, 2, 2, 2, 1]);
    tf.dispose([r.lower, r.upper, r.logits, r.intermediate![0]!.lower, r.intermediate![0]!.upper]);
    expect(tf.memory().numTensors).toBe(before);
    calls.length = 0;
    const r2 = boundsChunked(mod, {}, x, 0.01, 'lbp', { labels });
    expect(calls).toEqual([2, 2, 2, 1]); // the learned size is used directly
    expect(Array.from(await r2.lower.data())).toEqual([0, 1, 2, 3, 4, 5, 6]);
    tf.dispose([r2.lower, r2.upper, r2.logits, x, labels]);
  });

  it('turns a refusal at a single sample into a BoundRefusal with the runtime message', () => {
    const mod = fakeModule(0, []);
    const x = tf.tensor2d([[0.1, 0.2]]);
    expect(() => boundsChunked(mod, {}, x, 0.01, 'crown', {})).toThrow(BoundRefusal);
    expect(() => boundsChunked(mod, {}, x, 0.01, 'crown', {})).toThrow(/batch 1 over budget/);
    x.dispose();
  });

  it('passes other errors through', () => {
    const mod = {
      meta: { inputCfg: { shape: [2], domain: [0, 1], mean: [0], std: [1] } },
      bounds: () => {
        throw new Error('boom');
      },
    } as unknown as GeneratedModule;
    const x = tf.tensor2d([[0.1, 0.2]]);
    expect(() => boundsChunked(mod, {}, x, 0.01, 'ibp', {})).toThrow('boom');
    x.dispose();
  });
});
