/**
 * Runtime primitives of the graph operators (src/ops/batchnorm.ts, add.ts, avgpool.ts, pad.ts)
 * and the generic CROWN walk over a DAG (`backWalk`). The linear ones reuse the dense and conv
 * machinery of ibp.ts / lbp.ts / back.ts, so every fast path (mid/rad forms, status gathering,
 * receptive windows) applies to them: BatchNorm is a diagonal dense map on vectors and a 1x1
 * convolution with a diagonal kernel on maps, average pooling a convolution with the fixed kernel
 * 1/(kh·kw) per channel, zero padding a 1x1 identity convolution with that padding.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backConv2d, backDense, backSum, type BackState } from './back.js';
import type { IbpState } from './ibp.js';
import { lbpConv2d, lbpDense, type LbpState } from './lbp.js';
import type { Conv2dCfg, RunOptions } from './types.js';

/** A per-channel affine map y = x·scale + shift over the last (channel) axis: BatchNorm of one call. */
export interface ChannelAffine {
  readonly scale: tf.Tensor1D;
  readonly shift: tf.Tensor1D;
}

/**
 * BatchNorm's scale and shift for this call. Evaluation: from the running statistics,
 * scale = γ/√(σ² + eps), shift = β − μ·scale. Training (`o.bnTrain`): μ, σ² are the (biased)
 * batch statistics of the clean activations `x` [B, ...s, C], and the running statistics move by
 * running ← (1 − momentum)·running + momentum·batch (unbiased variance), as PyTorch does.
 */
export function bnAffine(
  weight: tf.Tensor | undefined,
  bias: tf.Tensor | undefined,
  mean: tf.Variable,
  variance: tf.Variable,
  eps: number,
  momentum: number,
  x: tf.Tensor | null,
  o: RunOptions,
): ChannelAffine {
  let mu: tf.Tensor = mean;
  let v: tf.Tensor = variance;
  if (o.bnTrain) {
    if (x === null) throw new Error('internal: BatchNorm in training mode without the clean activations');
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const m = tf.moments(x, axes);
    mu = m.mean;
    v = m.variance;
    if (!o.bnFrozen) {
      const n = x.size / x.shape[x.shape.length - 1]!;
      const unbiased = n > 1 ? n / (n - 1) : 1;
      const next = tf.tidy(() => [
        tf.add(tf.mul(mean, 1 - momentum), tf.mul(mu, momentum)),
        tf.add(tf.mul(variance, 1 - momentum), tf.mul(v, momentum * unbiased)),
      ]);
      mean.assign(next[0]!);
      variance.assign(next[1]!);
      tf.dispose(next);
    }
  }
  const inv = tf.rsqrt(tf.add(v, eps));
  const scale = (weight ? tf.mul(weight, inv) : inv) as tf.Tensor1D;
  const shifted = tf.neg(tf.mul(mu, scale));
  return { scale, shift: (bias ? tf.add(bias, shifted) : shifted) as tf.Tensor1D };
}

/** x·scale + shift over the channel axis (the clean forward pass of BatchNorm). */
export const channelAffine = (x: tf.Tensor, a: ChannelAffine): tf.Tensor =>
  tf.add(tf.mul(x, a.scale), a.shift);

/** IBP through a channel affine map, mid/rad form: m' = m·scale + shift, r' = r·|scale| (exact). */
export function ibpChannel(s: IbpState, a: ChannelAffine): IbpState {
  const m = channelAffine(tf.mul(tf.add(s.l, s.u), 0.5), a);
  const r = tf.mul(tf.mul(tf.sub(s.u, s.l), 0.5), tf.abs(a.scale));
  return { x: s.x && channelAffine(s.x, a), l: tf.sub(m, r), u: tf.add(m, r) };
}

/** diag(scale) [C, C] (differentiable: eye·scale). */
const diag = (scale: tf.Tensor1D): tf.Tensor2D => tf.mul(tf.eye(scale.shape[0]), scale) as tf.Tensor2D;
const diagKernel = (scale: tf.Tensor1D): tf.Tensor4D => {
  const C = scale.shape[0];
  return tf.reshape(diag(scale), [1, 1, C, C]) as tf.Tensor4D;
};

/** LBP through a channel affine map: a diagonal dense layer (cfg null) or a diagonal 1x1 conv. */
export function lbpChannel(s: LbpState, a: ChannelAffine, cfg: Conv2dCfg | null): LbpState {
  return cfg ? lbpConv2d(s, diagKernel(a.scale), a.shift, cfg) : lbpDense(s, diag(a.scale), a.shift);
}

/** CROWN back through a channel affine map (as `lbpChannel`). */
export function backChannel(f: BackState, a: ChannelAffine, cfg: Conv2dCfg | null): BackState {
  return cfg ? backConv2d(f, diagKernel(a.scale), a.shift, cfg) : backDense(f, diag(a.scale), a.shift);
}

/** IBP of a sum of two nodes: [l₁ + l₂, u₁ + u₂] (exact for independent intervals; sound always). */
export function ibpAdd(a: IbpState, b: IbpState): IbpState {
  return { x: a.x && b.x && tf.add(a.x, b.x), l: tf.add(a.l, b.l), u: tf.add(a.u, b.u) };
}

/** Zero padding of NHWC maps by cfg.padding [top, bottom, left, right]. */
export function padMap(x: tf.Tensor, cfg: Conv2dCfg): tf.Tensor4D {
  const [t, b, l, r] = cfg.padding;
  if (t === 0 && b === 0 && l === 0 && r === 0) return x as tf.Tensor4D;
  return tf.pad(x as tf.Tensor4D, [
    [0, 0],
    [t, b],
    [l, r],
    [0, 0],
  ]);
}

/** Average pooling of NHWC maps; padded zeros count (count_include_pad, PyTorch's default). */
export function avgPool(x: tf.Tensor, cfg: Conv2dCfg): tf.Tensor4D {
  return tf.avgPool(padMap(x, cfg), [...cfg.kernel], [...cfg.stride], 'valid');
}

/** IBP through a linear map with non-negative weights (pooling, padding): [f(l), f(u)], exact. */
export function ibpPositive(s: IbpState, fn: (t: tf.Tensor) => tf.Tensor): IbpState {
  return { x: s.x && fn(s.x), l: fn(s.l), u: fn(s.u) };
}

/** Constant kernels, one per backend and shape, kept for the life of the process. */
const kernels = new Map<string, tf.Tensor4D>();
function constantKernel(key: string, make: () => tf.Tensor4D): tf.Tensor4D {
  const k = `${tf.getBackend()}:${key}`;
  let t = kernels.get(k);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.tidy(make));
    kernels.set(k, t);
  }
  return t;
}

/** The kernel [kh, kw, C, C] of average pooling as a convolution: 1/(kh·kw) on the channel diagonal. */
export function poolKernel(C: number, kh: number, kw: number): tf.Tensor4D {
  return constantKernel(`pool:${C}:${kh}:${kw}`, () =>
    tf.tile(tf.reshape(tf.mul(tf.eye(C), 1 / (kh * kw)), [1, 1, C, C]), [kh, kw, 1, 1]),
  );
}

/** The 1x1 identity kernel [1, 1, C, C] (zero padding as a convolution). */
export function identityKernel(C: number): tf.Tensor4D {
  return constantKernel(`eye:${C}`, () => tf.reshape(tf.eye(C), [1, 1, C, C]));
}

/** One node of a DAG for the CROWN walk: the value indices of its inputs and its back-step. */
export interface BackStep {
  /** Value index of each input: 0 = the network input, k + 1 = node k. */
  readonly inputs: readonly number[];
  /** The backward states of the node's inputs, given the state on its output. */
  step(f: BackState): readonly BackState[];
}

/**
 * CROWN backward over a DAG from value `from` (state `f` on it) down to the input, nodes in
 * reverse topological order: a value read by several nodes sums the states of all of them
 * (`backSum`, at its internal shape `shapes[value]`) before its own node is passed.
 */
export function backWalk(
  steps: readonly BackStep[],
  shapes: readonly (readonly number[])[],
  from: number,
  f: BackState,
): BackState {
  const pending = new Map<number, BackState>([[from, f]]);
  for (let v = from; v >= 1; v--) {
    const g = pending.get(v);
    if (!g) continue;
    pending.delete(v);
    const node = steps[v - 1]!;
    const outs = node.step(g);
    node.inputs.forEach((i, j) => {
      const prev = pending.get(i);
      pending.set(i, prev ? backSum(prev, outs[j]!, shapes[i]!) : outs[j]!);
    });
  }
  const out = pending.get(0);
  if (!out) throw new Error('internal: the CROWN walk did not reach the input');
  return out;
}
