import { describe, expect, it } from 'vitest';
import { layerStatus, mergeStatus, rampStatus, reluStatus } from '../../src/verify/status.js';

describe('neuron status', () => {
  it('classifies ReLU neurons as dead / unstable / alive', () => {
    expect(reluStatus(-2, -1)).toBe('dead');
    expect(reluStatus(-2, 0)).toBe('dead');
    expect(reluStatus(0, 0)).toBe('dead');
    expect(reluStatus(-1, 1)).toBe('unstable');
    expect(reluStatus(0, 1)).toBe('alive');
    expect(reluStatus(0.5, 1)).toBe('alive');
  });
  it('classifies ParamRamp neurons into the six states of paper-notes §1 (r = 1)', () => {
    const r = 1;
    expect(rampStatus(-2, -1, r)).toBe('left dead');
    expect(rampStatus(-2, 0, r)).toBe('left dead');
    expect(rampStatus(-1, 0.5, r)).toBe('left unstable');
    expect(rampStatus(-1, 1, r)).toBe('left unstable'); // u ≤ r
    expect(rampStatus(0, 0.5, r)).toBe('alive'); // 0 ≤ l
    expect(rampStatus(0.2, 1, r)).toBe('alive');
    expect(rampStatus(0, 2, r)).toBe('right unstable');
    expect(rampStatus(0.5, 1.5, r)).toBe('right unstable');
    expect(rampStatus(1, 2, r)).toBe('right dead'); // l ≥ r
    expect(rampStatus(3, 4, r)).toBe('right dead');
    expect(rampStatus(-1, 2, r)).toBe('unstable');
    expect(rampStatus(-0.001, 1.001, r)).toBe('unstable');
  });
  it('counts per layer with per-neuron r broadcast over the batch, skipping non-finite bounds', () => {
    // 2 samples x 3 neurons; r per neuron = [1, 2, 0.5]
    const lower = [-1, 0, 0.6, -1, NaN, -1];
    const upper = [0.5, 3, 0.9, 3, 1, -0.5];
    const s = layerStatus('ramp1', 'paramramp', lower, upper, [1, 2, 0.5]);
    expect(s.total).toBe(5);
    expect(s.nonFinite).toBe(1);
    expect(s.counts).toEqual({
      'left dead': 1,
      'left unstable': 1,
      alive: 0,
      'right unstable': 1,
      'right dead': 1,
      unstable: 1,
    });
    expect(s.percent['left dead']).toBeCloseTo(20);
    const relu = layerStatus('relu1', 'relu', [-1, 1, -1], [1, 2, -0.5]);
    expect(relu.counts).toEqual({ dead: 1, unstable: 1, alive: 1 });
    const merged = mergeStatus(relu, relu);
    expect(merged.total).toBe(6);
    expect(merged.counts['dead']).toBe(2);
    expect(merged.percent['alive']).toBeCloseTo(100 / 3);
    expect(() => layerStatus('ramp1', 'paramramp', [0, 0], [1, 1])).toThrow(/r with one value per neuron/);
  });
});
