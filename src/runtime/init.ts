/**
 * Seeded randomness and parameter initialisation. `rngFromSeed` is xoshiro128** seeded through
 * splitmix32 (reproducible across platforms); `initParam` draws PyTorch's default init
 * (kaiming_uniform(a = √5) ⇒ U(±1/√fanIn) for weights, the same bound for biases; ParamRamp r = 1;
 * BatchNorm weight 1, bias 0, running mean 0, running var 1)
 * in PyTorch layout order and converts it with layout.ts, so one seed gives one torch state_dict.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { torchToInternal } from './layout.js';
import type { ParamMeta } from './module.js';

/** A seeded pseudo-random generator. */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** xoshiro128** seeded with splitmix32 from any finite number (its integer part, all 53 bits). */
export function rngFromSeed(seed: number): Rng {
  let sm = (Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32)) >>> 0;
  const splitmix = (): number => {
    sm = (sm + 0x9e3779b9) >>> 0;
    let z = sm;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = [splitmix(), splitmix(), splitmix(), splitmix()];
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  const next = (): number => nextU32() / 2 ** 32;
  return {
    nextU32,
    next,
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}

/** PyTorch-layout values of a freshly initialised parameter. */
export function initTorchValues(spec: ParamMeta, rng: Rng): Float32Array {
  const out = new Float32Array(numel(spec.torchShape));
  // ParamRamp r = 1; BatchNorm as torch: weight 1, bias 0, running mean 0, running var 1
  if (spec.role === 'ramp.r' || spec.role === 'bn.weight' || spec.role === 'bn.var') return out.fill(1);
  if (spec.role === 'bn.bias' || spec.role === 'bn.mean') return out;
  const bound = 1 / Math.sqrt(spec.fanIn);
  for (let i = 0; i < out.length; i++) out[i] = bound * (2 * rng.next() - 1);
  return out;
}

/** A trainable variable in internal layout, initialised as PyTorch does by default. */
export function initParam(spec: ParamMeta, rng: Rng): tf.Variable {
  const t = tf.tensor(torchToInternal(spec, initTorchValues(spec, rng)), [...spec.shape]);
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}
