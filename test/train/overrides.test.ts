import { describe, expect, it } from 'vitest';
import type { TrainConstants } from '../../src/runtime/train/types.js';
import { effectiveRecipe } from '../../src/train/overrides.js';

const spec: TrainConstants = {
  dataset: 'fashion-mnist',
  epochs: 100,
  batchSize: 256,
  optimizer: { kind: 'adam', lr: 1e-3, weightDecay: 0 },
  lrMilestones: [70, 80, 90],
  lrFactor: 0.5,
  trainEps: 0.1,
  targetEps: 0.1,
  epsSchedule: { start: 1, length: 61, shape: 'linear' },
  method: 'ibp',
  kappa: [0, 0],
  beta: [1, 0],
  etaSchedule: { from: 0.01, to: 0, start: 61, length: 31, shape: 'smoothed' },
  lines: 'adaptive',
  seed: 2019,
  valSplit: 0.1,
  rNoise: 0,
};

describe('effectiveRecipe', () => {
  it('keeps the spec recipe without overrides', () => {
    expect(effectiveRecipe(spec, {})).toEqual({ recipe: spec, changes: [] });
  });

  it('--epochs and --seed replace just those fields', () => {
    const { recipe, changes } = effectiveRecipe(spec, { epochs: 5, seed: 1 });
    expect(recipe).toEqual({ ...spec, epochs: 5, seed: 1 });
    expect(changes).toEqual(['epochs 100 → 5', 'seed 2019 → 1']);
  });

  it('--quick compresses every epoch-based number by the same factor', () => {
    const { recipe, changes } = effectiveRecipe(spec, { quick: true });
    expect(recipe.epochs).toBe(20);
    expect(recipe.batchSize).toBe(100);
    expect(recipe.epsSchedule).toEqual({ start: 1, length: 12, shape: 'linear' }); // clean phase kept ≥ 1 epoch
    expect(recipe.lrMilestones).toEqual([14, 16, 18]);
    expect(recipe.etaSchedule).toEqual({ from: 0.01, to: 0, start: 12, length: 6, shape: 'smoothed' });
    expect(recipe.method).toBe('ibp');
    expect(changes).toContain('epochs 100 → 20');
    expect(changes).toContain('lrMilestones [70, 80, 90] → [14, 16, 18]');
    expect(effectiveRecipe(spec, { quick: true, epochs: 10 }).recipe.epsSchedule.length).toBe(6);
  });

  it('rejects bad values with the flag name', () => {
    expect(() => effectiveRecipe(spec, { epochs: 0 })).toThrow(/'--epochs' needs a positive integer/);
    expect(() => effectiveRecipe(spec, { epochs: 2.5 })).toThrow(/'--epochs'/);
    expect(() => effectiveRecipe(spec, { seed: -1 })).toThrow(/'--seed'/);
  });
});
