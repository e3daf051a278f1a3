/**
 * Activation layers for generated code: resolving an `ActSpec` for one call (η override,
 * ParamRamp-as-LeakyReLU during the clean phase, r clamped ≥ 1e-4 with a straight-through gradient
 * like torch's in-place `clamp_`, optional Gaussian noise on r), the clean forward σ(x), and the
 * bounding lines `relax` (the shared case tables of `lines.ts` evaluated on tfjs tensors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../base/errors.js';
import type { LineStrategy } from '../ir/ir.js';
import { activate, boundLines, R_MIN } from './lines.js';
import { tfNum } from './num.js';
import type { ActSpec, Relaxation, RunOptions } from './types.js';

/** The lines of one activation call, with the activation itself (LBP needs σ for the clean x). */
export interface ActRelaxation extends Relaxation {
  readonly act: ActSpec;
  /** tL is identically 0 (ReLU and LeakyReLU, tight or adaptive): callers may skip it. */
  readonly tLZero: boolean;
}

/** max(r, R_MIN) in the forward pass, identity gradient (torch `r.data.clamp_(min=1e-4)`). */
const clampR = tf.customGrad((r) => ({
  value: tf.maximum(r as tf.Tensor, R_MIN),
  gradFunc: (dy: tf.Tensor) => dy,
}));

/** The value of x with no gradient (torch `.item()` / `.detach()`). */
const stopGradient = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

function slopeOf(spec: number, o: RunOptions): number {
  const eta = o.eta ?? spec;
  if (!(eta >= 0 && eta <= 1))
    throw new UserError(`activation slope η must be in [0, 1] (monotone, bounding lines valid), got ${eta}`);
  return eta;
}

/** ReLU. */
export function relu(): ActSpec {
  return { kind: 'relu' };
}

/** Sigmoid 1/(1 + e^(−z)). */
export function sigmoidAct(): ActSpec {
  return { kind: 'sigmoid' };
}

/** tanh(z). */
export function tanhAct(): ActSpec {
  return { kind: 'tanh' };
}

/** LeakyReLU with the spec's slope, or `o.eta` when set (η schedule, evaluation at η_end). */
export function leakyRelu(slope: number, o: RunOptions = {}): ActSpec {
  return { kind: 'leaky_relu', slope: slopeOf(slope, o) };
}

/**
 * ParamRamp(η, r) for one call. `o.rampAsLeaky` gives LeakyReLU(η) (r unused, no gradient). r is
 * clamped ≥ 1e-4 with gradient flowing as if unclamped; with `o.rNoise` > 0, r + N(0, (rNoise ·
 * mean r)²) is clamped again the same way (the std carries no gradient), as in the reference code;
 * the noise is drawn from `o.noiseSeed` mixed with `salt` when a seed is given.
 */
export function paramRamp(r: tf.Tensor, eta: number, o: RunOptions = {}, salt = 0): ActSpec {
  const e = slopeOf(eta, o);
  if (o.rampAsLeaky) return { kind: 'leaky_relu', slope: e };
  let rr = clampR(r);
  if (o.rNoise !== undefined && o.rNoise > 0) {
    const std = tf.mul(stopGradient(tf.mean(rr)), o.rNoise);
    // `salt` (the layer's ordinal among the ParamRamp layers) gives each layer its own stream
    const seed = o.noiseSeed === undefined ? undefined : (o.noiseSeed + Math.imul(salt, 0x9e3779b1)) >>> 0;
    rr = clampR(tf.add(rr, tf.mul(tf.randomNormal(r.shape, 0, 1, 'float32', seed), std)));
  }
  return { kind: 'paramramp', eta: e, r: rr };
}

/** σ(x) for a resolved activation (ParamRamp's r [H, W, C] or [N] broadcasts over the batch). */
export function actForward(x: tf.Tensor, a: ActSpec): tf.Tensor {
  return activate(tfNum, a, x);
}

/** The activation a relaxation was made for (LBP needs σ for the clean x); only `relax` records it. */
export function actOf(rel: Relaxation): ActSpec {
  const act = (rel as Partial<ActRelaxation>).act;
  if (!act) throw new Error('internal: this relaxation was not made by rt.relax (no activation recorded)');
  return act;
}

/** Whether tL is identically 0 by construction (lets LBP and CROWN skip it). */
function tLIsZero(rel: Relaxation): boolean {
  return (rel as Partial<ActRelaxation>).tLZero === true;
}

/** Lines in mid/rad form: sm = (sU + sL)/2, sr = (sU − sL)/2, tm = (tU + tL)/2, tr = (tU − tL)/2. */
export interface MidRadLines {
  readonly sm: tf.Tensor;
  readonly sr: tf.Tensor;
  readonly tm: tf.Tensor;
  readonly tr: tf.Tensor;
}

/** The mid/rad form of a relaxation (LBP and CROWN both work in it); skips tL when it is 0. */
export function midRadLines(rel: Relaxation): MidRadLines {
  const half = (a: tf.Tensor, b: tf.Tensor, sign: 1 | -1): tf.Tensor =>
    tf.mul(sign > 0 ? tf.add(a, b) : tf.sub(a, b), 0.5);
  const zero = tLIsZero(rel);
  const tm = zero ? tf.mul(rel.tU, 0.5) : half(rel.tU, rel.tL, 1);
  return {
    sm: half(rel.sU, rel.sL, 1),
    sr: half(rel.sU, rel.sL, -1),
    tm,
    tr: zero ? tm : half(rel.tU, rel.tL, -1),
  };
}

/** Bounding lines of `a` on [l, u] (pre-activation bounds, [B, ...]) for the given strategy. */
export function relax(a: ActSpec, l: tf.Tensor, u: tf.Tensor, lines: LineStrategy): ActRelaxation {
  const { sL, tL, sU, tU, tLZero } = boundLines(tfNum, a, l, u, lines);
  return { sL, tL, sU, tU, tLZero, act: a };
}
