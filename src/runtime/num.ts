/**
 * A tiny elementwise-arithmetic interface, `Num<T>`, so that the bounding-line case tables
 * (`lines.ts`) are written once and shared by the tfjs runtime (`tfNum`, float32 tensors with
 * broadcasting and gradients) and the float64 reference interpreter (`f64Num`, plain
 * Float64Array loops). Comparisons return 0/1 masks that carry no gradient, so every case table
 * is branch-free: no `tf.where`, hence no NaN gradients from an untaken branch.
 */
import * as tf from '@tensorflow/tfjs-core';

/** An operand: an array of the implementation's type, or a plain number (broadcast). */
export type Val<T> = T | number;

/** Elementwise arithmetic over arrays of type T (same shape, or broadcastable for tfjs). */
export interface Num<T> {
  add(a: Val<T>, b: Val<T>): T;
  sub(a: Val<T>, b: Val<T>): T;
  mul(a: Val<T>, b: Val<T>): T;
  div(a: Val<T>, b: Val<T>): T;
  max(a: Val<T>, b: Val<T>): T;
  min(a: Val<T>, b: Val<T>): T;
  relu(a: T): T;
  /** x if x ≥ 0, else slope·x. */
  leaky(a: T, slope: number): T;
  /** 1 where a > b, else 0 (no gradient). */
  gt(a: Val<T>, b: Val<T>): T;
  /** 1 where a ≥ b, else 0 (no gradient). */
  ge(a: Val<T>, b: Val<T>): T;
  /** Zeros shaped like a (no gradient). */
  zeros(a: T): T;
  /** 1/(1 + e^(−a)). */
  sigmoid(a: T): T;
  /** tanh(a). */
  tanh(a: T): T;
}

/**
 * tfjs implementation. Masks use `step` (gradient 0), because `greater`/`cast` have no registered
 * gradient and would break `tf.variableGrads` whenever a mask depends on a parameter.
 * `step(a − b)` equals [a > b] exactly in IEEE arithmetic with subnormals (a − b = 0 iff a = b).
 */
export const tfNum: Num<tf.Tensor> = {
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  div: (a, b) => tf.div(a, b),
  max: (a, b) => tf.maximum(a, b),
  min: (a, b) => tf.minimum(a, b),
  relu: (a) => tf.relu(a),
  leaky: (a, slope) => (slope === 0 ? tf.relu(a) : tf.leakyRelu(a, slope)),
  gt: (a, b) => tf.step(tf.sub(a, b)),
  ge: (a, b) => tf.sub(1, tf.step(tf.sub(b, a))),
  zeros: (a) => tf.zerosLike(a),
  sigmoid: (a) => tf.sigmoid(a),
  tanh: (a) => tf.tanh(a),
};

function zip(a: Val<Float64Array>, b: Val<Float64Array>, f: (x: number, y: number) => number): Float64Array {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('f64Num: at least one array operand');
  const n = typeof a === 'number' ? (b as Float64Array).length : a.length;
  if (typeof a !== 'number' && typeof b !== 'number' && a.length !== b.length)
    throw new Error(`f64Num: length mismatch ${a.length} vs ${b.length}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = f(typeof a === 'number' ? a : a[i]!, typeof b === 'number' ? b : b[i]!);
  return out;
}

/** float64 implementation on equal-length Float64Arrays (numbers broadcast). */
export const f64Num: Num<Float64Array> = {
  add: (a, b) => zip(a, b, (x, y) => x + y),
  sub: (a, b) => zip(a, b, (x, y) => x - y),
  mul: (a, b) => zip(a, b, (x, y) => x * y),
  div: (a, b) => zip(a, b, (x, y) => x / y),
  max: (a, b) => zip(a, b, (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y))),
  min: (a, b) => zip(a, b, (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y))),
  relu: (a) => a.map((x) => (x > 0 ? x : Number.isNaN(x) ? NaN : 0)),
  leaky: (a, s) => a.map((x) => (x >= 0 ? x : s * x)),
  gt: (a, b) => zip(a, b, (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? 1 : 0)),
  ge: (a, b) => zip(a, b, (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x >= y ? 1 : 0)),
  zeros: (a) => new Float64Array(a.length),
  sigmoid: (a) => a.map((x) => 1 / (1 + Math.exp(-x))),
  tanh: (a) => a.map((x) => Math.tanh(x)),
};
