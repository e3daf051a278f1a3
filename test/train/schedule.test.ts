import { describe, expect, it } from 'vitest';
import {
  cleanEpochs,
  epsAt,
  etaAt,
  fullEpsEpoch,
  linearSchedule,
  lrAt,
  rampValue,
  smoothedSchedule,
  tiedToEps,
} from '../../src/runtime/train/schedule.js';

describe('η schedule (paper-notes §1: smoothed 0.01 → 0 over epochs 70 … 140)', () => {
  const eta = { from: 0.01, to: 0, start: 70, length: 71, shape: 'smoothed' as const };
  it.each([
    [75, 0.009994],
    [80, 0.009911],
    [87, 0.009258],
    [100, 0.006987],
    [120, 0.003493],
    [139, 0.000175],
  ])('η(%i) = %f', (t, v) => {
    expect(etaAt(eta, t)).toBeCloseTo(v, 6);
  });
  it('is 0.01 up to epoch 70 and 0 from epoch 140 on', () => {
    for (const t of [0, 1, 69, 70]) expect(etaAt(eta, t)).toBe(0.01);
    for (const t of [140, 141, 200]) expect(etaAt(eta, t)).toBe(0);
  });
  it('decreases monotonically and continuously at the mid step', () => {
    let prev = Infinity;
    for (let t = 60; t <= 150; t++) {
      const v = etaAt(eta, t);
      expect(v).toBeLessThanOrEqual(prev);
      prev = v;
    }
    // The quartic and the linear piece meet at mid_step = 87 (value 0.009258 from both sides).
    expect(Math.abs(etaAt(eta, 86) - etaAt(eta, 87))).toBeLessThan(2e-4);
  });
  it('linear η ramps through the midpoint', () => {
    expect(etaAt({ ...eta, shape: 'linear' }, 105)).toBeCloseTo(0.005, 12);
  });
});

describe('ε schedule (eps_scheduler.py: init_step = start·N, final_step = (start+length−1)·N)', () => {
  const ramp = { start: 10, length: 51, shape: 'linear' as const };
  const N = 235;
  it('is 0 before the start epoch and at its first iteration', () => {
    for (const e of [0, 5, 9]) for (const s of [0, 100, 234]) expect(epsAt(ramp, 0.4, e, s, N)).toBe(0);
    expect(epsAt(ramp, 0.4, 10, 0, N)).toBe(0);
    expect(epsAt(ramp, 0.4, 10, 1, N)).toBeGreaterThan(0);
  });
  it('rises per iteration and reaches ε_max at the start of epoch start+length−1', () => {
    expect(epsAt(ramp, 0.4, 35, 0, N)).toBeCloseTo(0.2, 12); // halfway: (35−10)/(60−10)
    expect(epsAt(ramp, 0.4, 59, 234, N)).toBeLessThan(0.4);
    expect(epsAt(ramp, 0.4, 60, 0, N)).toBe(0.4);
    expect(epsAt(ramp, 0.4, 150, 7, N)).toBe(0.4);
    expect(epsAt(ramp, 0.4, 20, 1, N)).toBeGreaterThan(epsAt(ramp, 0.4, 20, 0, N));
  });
  it('counts clean epochs by their end-of-epoch ε; the first full-ε epoch is start+length−1', () => {
    expect(cleanEpochs(ramp, 0.4, N, 200)).toBe(10);
    expect(cleanEpochs({ start: 1, length: 61, shape: 'linear' }, 0.1, 20, 100)).toBe(1);
    expect(cleanEpochs({ start: 0, length: 5, shape: 'smoothed' }, 0.1, 20, 100)).toBe(0);
    expect(cleanEpochs(ramp, 0.4, N, 4)).toBe(4);
    expect(fullEpsEpoch(ramp)).toBe(60);
  });
  it('smoothed ε starts quartic, ends at ε_max', () => {
    const sm = { ...ramp, shape: 'smoothed' as const };
    const early = epsAt(sm, 0.4, 11, 0, N);
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThan(epsAt(ramp, 0.4, 11, 0, N)); // slower than linear at first
    expect(epsAt(sm, 0.4, 60, 0, N)).toBeCloseTo(0.4, 12);
    expect(epsAt(sm, 0.4, 61, 3, N)).toBe(0.4);
  });
});

describe('schedule primitives', () => {
  it('linear schedule clips and handles equal steps like DeepMind', () => {
    expect(linearSchedule(5, 10, 20, 0, 1)).toBe(0);
    expect(linearSchedule(25, 10, 20, 0, 1)).toBe(1);
    expect(linearSchedule(15, 10, 20, 1, 0)).toBe(0.5);
    expect(linearSchedule(3, 10, 10, 0, 1)).toBe(1);
  });
  it('smoothed schedule: α·(t−init)^4 before mid, linear after, matching the closed form', () => {
    // init 0, final 100, 0 → 1: mid = 25, α = 1 / ((100−25)·4·25³ + 25·25³)
    const alpha = 1 / (75 * 4 * 25 ** 3 + 25 * 25 ** 3);
    expect(smoothedSchedule(10, 0, 100, 0, 1)).toBeCloseTo(alpha * 10 ** 4, 15);
    const mid = alpha * 25 ** 4;
    expect(smoothedSchedule(60, 0, 100, 0, 1)).toBeCloseTo(mid + ((60 - 25) / 75) * (1 - mid), 15);
    expect(smoothedSchedule(0, 0, 100, 0, 1)).toBe(0);
    expect(smoothedSchedule(100, 0, 100, 0, 1)).toBe(1);
    expect(() => smoothedSchedule(1, 0, 10, 1, 0)).toThrow(RangeError);
  });
  it('rampValue mirrors decreasing smoothed ramps', () => {
    expect(rampValue('smoothed', 30, 0, 100, 1, 0)).toBeCloseTo(1 - smoothedSchedule(30, 0, 100, 0, 1), 15);
    expect(rampValue('linear', 7, 0, 100, 0.3, 0.3)).toBe(0.3);
  });
  it('κ and β are tied to the current ε', () => {
    expect(tiedToEps(0, 0.4, [1, 0.5])).toBe(1);
    expect(tiedToEps(0.4, 0.4, [1, 0.5])).toBe(0.5);
    expect(tiedToEps(0.1, 0.4, [1, 0])).toBeCloseTo((0.4 - 0.1) / 0.4, 15); // train.py's form
    expect(tiedToEps(0.2, 0.4, [0, 0])).toBe(0);
    expect(tiedToEps(0.3, 0.4, [1, 1])).toBe(1); // β_end = 1 (CIFAR 2.2/255)
  });
  it('multi-step lr counts milestones reached (MultiStepLR stepped per epoch)', () => {
    expect(lrAt(5e-4, [130, 190], 0.1, 129)).toBe(5e-4);
    expect(lrAt(5e-4, [130, 190], 0.1, 130)).toBeCloseTo(5e-5, 18);
    expect(lrAt(5e-4, [130, 190], 0.1, 199)).toBeCloseTo(5e-6, 18);
    expect(lrAt(1e-3, [70, 80, 90], 0.5, 85)).toBeCloseTo(2.5e-4, 18);
  });
});
