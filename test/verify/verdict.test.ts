import { describe, expect, it } from 'vitest';
import { allFinite, firstNonFiniteLayer, predict, verdict } from '../../src/verify/verdict.js';

describe('verdict rule', () => {
  it('verifies iff the sample is correct and every margin lower bound is > 0', () => {
    expect(verdict([0.1, 2, 3], true)).toEqual({ verified: true, reason: 'verified' });
    expect(verdict(new Float32Array([1e-30, 2]), true).verified).toBe(true);
    expect(verdict([0.1, 0, 3], true)).toEqual({ verified: false, reason: 'margin' });
    expect(verdict([0.1, -1e-9, 3], true)).toEqual({ verified: false, reason: 'margin' });
    expect(verdict([], true).verified).toBe(false);
  });
  it('never verifies a misclassified sample, whatever its bounds say', () => {
    expect(verdict([5, 5, 5], false)).toEqual({ verified: false, reason: 'misclassified' });
    expect(verdict([NaN, 5, 5], false)).toEqual({ verified: false, reason: 'misclassified' });
  });
  it('treats NaN or Inf anywhere in the bounds (margins or intermediate layers) as not verified', () => {
    expect(verdict([1, NaN, 1], true)).toEqual({ verified: false, reason: 'non-finite' });
    expect(verdict([1, Infinity, 1], true).reason).toBe('non-finite');
    expect(verdict([1, 1, -Infinity], true).reason).toBe('non-finite');
    expect(verdict([1, 1, 1], true, false)).toEqual({ verified: false, reason: 'non-finite' });
    expect(allFinite(new Float32Array([1, 2]))).toBe(true);
    expect(allFinite(new Float32Array([1, NaN]))).toBe(false);
  });
  it('predicts the argmax, and −1 for non-finite logits', () => {
    expect(predict([0.1, 3, -2])).toBe(1);
    expect(predict([0.1, 3, 3])).toBe(1);
    expect(predict([0.1, NaN, 5])).toBe(-1);
    expect(predict([Infinity, 0])).toBe(-1);
  });
  it('locates the first layer with non-finite bounds for one sample', () => {
    // batch of 2 samples, 2 neurons per layer
    const layers = [
      { layer: 'relu1', lower: [0, 0, 0, 0], upper: [1, 1, 1, 1] },
      { layer: 'relu2', lower: [0, 0, NaN, 0], upper: [1, 1, 1, 1] },
      { layer: 'relu3', lower: [NaN, 0, NaN, 0], upper: [1, Infinity, 1, 1] },
    ];
    expect(firstNonFiniteLayer(layers, 0, 2)).toBe('relu3');
    expect(firstNonFiniteLayer(layers, 1, 2)).toBe('relu2');
    expect(firstNonFiniteLayer(layers.slice(0, 1), 1, 2)).toBeUndefined();
  });
});
