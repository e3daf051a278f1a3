/**
 * The schedules of certified training (paper-notes §1 "η variants", §5 "ε, κ and β schedules"),
 * as pure functions of the iteration. ε ramps per iteration and η per epoch with CROWN-IBP's
 * `eps_scheduler.py` (itself DeepMind's `utils.py`): a linear ramp, or the "smoothed" ramp that is
 * quartic until `mid_point` of the way and linear after it. κ and β are tied to the *current* ε,
 * not to the epoch; the learning rate is PyTorch's MultiStepLR stepped once per epoch.
 *
 * Step conventions (eps_scheduler.py, train.py): iteration t = epoch·N + step with N steps per
 * epoch; `init_step = start·N`, `final_step = (start + length − 1)·N`. So ε = 0 up to the first
 * iteration of epoch `start`, rises inside epochs start … start+length−2, and is ε_max from the
 * first iteration of epoch start+length−1 on. η uses the same rule with N = 1 (once per epoch).
 */
import type { ScheduleShape, TrainRecipe } from '../../ir/ir.js';

/** Smallest positive normal float32: an epoch whose final ε is below it is a clean epoch (train.py). */
export const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * DeepMind's linear schedule (`linear_schedule`): the line through (initStep, initValue) and
 * (finalStep, finalValue), clipped to the range of the two values; `finalValue` when the two steps
 * coincide.
 */
export function linearSchedule(
  step: number,
  initStep: number,
  finalStep: number,
  initValue: number,
  finalValue: number,
): number {
  if (finalStep < initStep)
    throw new RangeError(`linearSchedule: finalStep ${finalStep} < initStep ${initStep}`);
  if (initStep === finalStep) return finalValue;
  const rate = (step - initStep) / (finalStep - initStep);
  const v = rate * (finalValue - initValue) + initValue;
  return Math.min(Math.max(v, Math.min(initValue, finalValue)), Math.max(initValue, finalValue));
}

/**
 * DeepMind's smoothed schedule (`smooth_schedule`, mid_point 0.25, beta 4): `initValue` up to
 * `initStep`; then `initValue + α·(step − initStep)^β` until `midStep = initStep +
 * ⌊(finalStep − initStep)·midPoint⌋`; then linear from the mid value to `finalValue` at `finalStep`.
 * α makes the two pieces meet with equal slope at `midStep`. Increasing only (`finalValue >
 * initValue`), like the original; `rampValue` handles decreasing ramps.
 */
export function smoothedSchedule(
  step: number,
  initStep: number,
  finalStep: number,
  initValue: number,
  finalValue: number,
  midPoint = 0.25,
  beta = 4,
): number {
  if (!(finalValue > initValue)) throw new RangeError('smoothedSchedule: finalValue must exceed initValue');
  if (finalStep < initStep)
    throw new RangeError(`smoothedSchedule: finalStep ${finalStep} < initStep ${initStep}`);
  if (!(beta >= 2) || !(midPoint >= 0 && midPoint <= 1))
    throw new RangeError('smoothedSchedule: bad beta or midPoint');
  const midStep = Math.trunc((finalStep - initStep) * midPoint) + initStep;
  let alpha = 1;
  if (midStep > initStep) {
    const t = (midStep - initStep) ** (beta - 1);
    alpha = (finalValue - initValue) / ((finalStep - midStep) * beta * t + (midStep - initStep) * t);
  }
  const midValue = alpha * (midStep - initStep) ** beta + initValue;
  if (step <= initStep) return initValue;
  if (step < midStep) return initValue + alpha * (step - initStep) ** beta;
  return linearSchedule(step, midStep, finalStep, midValue, finalValue);
}

/**
 * A ramp from `from` (at `initStep` and before) to `to` (at `finalStep` and after), of either
 * shape and either direction. A decreasing smoothed ramp is the negated increasing one, as the
 * paper's code builds the η schedule (`EpsilonScheduler("smoothed", …, −0.01, 0)`, η = −value).
 */
export function rampValue(
  shape: ScheduleShape,
  step: number,
  initStep: number,
  finalStep: number,
  from: number,
  to: number,
): number {
  if (from === to) return from;
  if (step < initStep) return from;
  if (shape === 'linear') return linearSchedule(step, initStep, finalStep, from, to);
  return from < to
    ? smoothedSchedule(step, initStep, finalStep, from, to)
    : 0 - smoothedSchedule(step, initStep, finalStep, -from, -to); // 0 − v: never −0
}

/** An epoch-based ramp: starts at epoch `start`, reaches its end value at epoch `start + length − 1`. */
export interface EpochRamp {
  readonly start: number;
  readonly length: number;
  readonly shape: ScheduleShape;
}

/** The iteration at which a ramp reaches its end value: (start + length − 1)·N (never before its start). */
const finalStepOf = (r: EpochRamp, stepsPerEpoch: number): number =>
  (r.start + Math.max(r.length - 1, 0)) * stepsPerEpoch;

/** ε at iteration `step` of `epoch` (per-iteration ramp 0 → epsMax). `step` may equal N (= next epoch's start). */
export function epsAt(
  ramp: EpochRamp,
  epsMax: number,
  epoch: number,
  step: number,
  stepsPerEpoch: number,
): number {
  const t = epoch * stepsPerEpoch + step;
  return rampValue(ramp.shape, t, ramp.start * stepsPerEpoch, finalStepOf(ramp, stepsPerEpoch), 0, epsMax);
}

/** η of `epoch` (per-epoch ramp `from` → `to`, e.g. 0.01 → 0 over epochs 70 … 140). */
export function etaAt(s: NonNullable<TrainRecipe['etaSchedule']>, epoch: number): number {
  return rampValue(s.shape, epoch, s.start, finalStepOf(s, 1), s.from, s.to);
}

/**
 * A coefficient tied to the current ε (κ and β, paper-notes §5): linear in ε from `start` at ε = 0
 * to `end` at ε = epsMax. With (1, κ_end) this is train.py's `(ε_max − ε·(1 − κ_end))/ε_max`.
 */
export function tiedToEps(eps: number, epsMax: number, [start, end]: readonly [number, number]): number {
  if (epsMax <= 0) return start;
  return start + (eps / epsMax) * (end - start);
}

/** MultiStepLR stepped once per epoch: lr·factor^(number of milestones ≤ epoch). */
export function lrAt(lr: number, milestones: readonly number[], factor: number, epoch: number): number {
  return lr * factor ** milestones.filter((m) => m <= epoch).length;
}

/**
 * Number of leading clean epochs: epochs whose end-of-epoch ε (ε at the first iteration of the
 * next epoch) is 0; they are trained with the natural loss (train.py). At most `epochs`.
 */
export function cleanEpochs(ramp: EpochRamp, epsMax: number, stepsPerEpoch: number, epochs: number): number {
  let t = 0;
  while (t < epochs && epsAt(ramp, epsMax, t + 1, 0, stepsPerEpoch) < FLOAT32_TINY) t++;
  return t;
}

/** First epoch trained entirely at ε_max (the ramp has ended): start + length − 1. */
export const fullEpsEpoch = (ramp: EpochRamp): number => ramp.start + Math.max(ramp.length - 1, 0);
