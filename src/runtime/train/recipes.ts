/**
 * The newer certified-training recipes that generated trainers call as `rt.*` (docs/training.md):
 *
 * - Shi et al. 2021 ("Fast certified robust training with short warmup", NeurIPS): the IBP
 *   initialisation (`ibpInit`) and the warm-up regularisers L_tightness and L_relu
 *   (`warmupRegularizer`), weighted λ₀·(1 − ε/ε_max) during the ε ramp (`warmupWeight`);
 * - the PGD attack inside a training step (`trainPgd`), used by MTL-IBP (De Palma et al., ICLR
 *   2024: `mtlIbpLoss`) and SABR (Müller et al., ICLR 2023: the small box of `sabrBox`);
 * - global gradient-norm clipping (`clipGradients`).
 *
 * Implemented from the papers' formulas. All tensors are tfjs tensors; functions that return a
 * differentiable scalar are meant to be called inside the step's gradient tape.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WarmupRegularizers } from '../../ir/ir.js';
import { inputBox } from '../input.js';
import { rngFromSeed } from '../init.js';
import { torchToInternal } from '../layout.js';
import type { ModuleMeta, ParamSet } from '../module.js';
import type { InputBox, InputCfg, LayerBounds } from '../types.js';
import { naturalCrossEntropy, robustCrossEntropy, type LossParts } from './loss.js';

// ---------------------------------------------------------------- IBP initialisation

/**
 * The weights `ibpInit` redraws: every dense and conv weight except the last in parameter order
 * (the classification layer keeps PyTorch's init, as in Shi et al.), each with its std
 * σ = √(2π)/n_in (n_in = fan-in: inputs of a dense unit, in_channels·kh·kw of a conv), halved for
 * a layer that reads the output of an `add` (a residual sum of two branches).
 */
export function ibpInitPlan(meta: Pick<ModuleMeta, 'params' | 'layers'>): { name: string; std: number }[] {
  const weights = meta.params.filter((p) => p.role === 'dense.weight' || p.role === 'conv.weight');
  const layerOf = new Map(meta.layers.flatMap((l) => l.params.map((n) => [n, l] as const)));
  const kindOf = new Map(meta.layers.map((l) => [l.name, l.kind]));
  return weights.slice(0, -1).map((w) => {
    const layer = layerOf.get(w.name);
    const i = layer ? meta.layers.indexOf(layer) : -1;
    const input = layer?.inputs?.[0] ?? (i > 0 ? meta.layers[i - 1]!.name : undefined);
    const afterAdd = input !== undefined && kindOf.get(input) === 'add';
    const std = Math.sqrt(2 * Math.PI) / w.fanIn;
    return { name: w.name, std: afterAdd ? std / 2 : std };
  });
}

/** Redraws the weights of `ibpInitPlan` from N(0, σ²), seeded by `seed` (biases and the rest untouched). */
export function ibpInit(params: ParamSet, meta: Pick<ModuleMeta, 'params' | 'layers'>, seed: number): void {
  const rng = rngFromSeed(seed ^ 0x1b1b1b1b);
  for (const { name, std } of ibpInitPlan(meta)) {
    const spec = meta.params.find((p) => p.name === name)!;
    const torch = new Float32Array(spec.torchShape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < torch.length; i++) torch[i] = std * rng.normal();
    const v = params[spec.ident];
    if (!v) throw new Error(`internal: no parameter ${spec.ident} to initialise`);
    const t = tf.tensor(torchToInternal(spec, torch), [...spec.shape]);
    v.assign(t);
    t.dispose();
  }
}

// ---------------------------------------------------------------- warm-up regularisers

/** λ₀·(1 − ε/ε_max) while ε < ε_max (the ramp), 0 after it. */
export function warmupWeight(r: WarmupRegularizers, eps: number, trainEps: number): number {
  return trainEps > 0 && eps < trainEps ? r.lambda * (1 - eps / trainEps) : 0;
}

/** 1 where v > 0, else 0, with a zero gradient (tf.step: comparisons have no gradient in tfjs). */
const positive = (v: tf.Tensor): tf.Tensor => tf.step(v);

/** a / b where b ≠ 0, a / 1 where b = 0 (finite values and gradients; the caller masks that case out). */
const safeDiv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
  tf.div(a, tf.add(b, tf.sub(1, positive(tf.abs(b)))));

/**
 * Shi et al. 2021, §4.3, over the IBP pre-activation bounds [l, u] of every activation layer
 * (centre c = (u + l)/2, radius d = (u − l)/2, means over the batch and the layer):
 *
 * - L_tightness = mean over layers of ReLU(τ − t₀/t_i)/τ, with t_i = mean(d) and t₀ the mean
 *   radius of the input box: it penalises a layer whose bounds grew more than 1/τ times;
 * - L_relu = mean over layers of [ReLU(τ − r_mean) + ReLU(τ − r_var)]/τ, where r_mean balances
 *   the mean centre of the active (l > 0) against that of the inactive (u < 0) neurons and r_var
 *   their summed squared deviations from mean(c), each ratio folded to min(r, 1/r) ≤ 1. A layer
 *   with no active or no inactive neuron contributes no L_relu (the ratio is undefined).
 *
 * Returns the unweighted sum of the terms that are switched on (a scalar, differentiable).
 */
export function warmupRegularizer(
  box: InputBox,
  layers: readonly LayerBounds[],
  r: WarmupRegularizers,
): tf.Scalar {
  return tf.tidy(() => {
    if (layers.length === 0) return tf.scalar(0);
    const t0 = tf.mean(tf.mul(tf.sub(box.hi, box.lo), 0.5));
    const tau = r.tol;
    let tight: tf.Tensor = tf.scalar(0);
    let relu: tf.Tensor = tf.scalar(0);
    for (const b of layers) {
      const c = tf.mul(tf.add(b.upper, b.lower), 0.5);
      const d = tf.mul(tf.sub(b.upper, b.lower), 0.5);
      if (r.tightness) {
        const t = tf.maximum(tf.mean(d), 1e-12);
        tight = tf.add(tight, tf.div(tf.relu(tf.sub(tau, tf.div(t0, t))), tau));
      }
      if (r.relu) {
        const act = positive(b.lower);
        const inact = positive(tf.neg(b.upper));
        const meanAct = tf.mean(tf.mul(c, act));
        const meanInact = tf.neg(tf.mean(tf.mul(c, inact)));
        const dev = tf.square(tf.sub(c, tf.mean(c)));
        const varAct = tf.sum(tf.mul(dev, act));
        const varInact = tf.sum(tf.mul(dev, inact));
        const fold = (ratio: tf.Tensor) => tf.minimum(ratio, tf.div(1, tf.maximum(ratio, 1e-12)));
        const rm = fold(safeDiv(meanAct, meanInact));
        const rv = fold(safeDiv(varAct, varInact));
        const term = tf.div(tf.add(tf.relu(tf.sub(tau, rm)), tf.relu(tf.sub(tau, rv))), tau);
        // defined only when both states occur (and their centres are not all zero)
        const defined = tf.mul(
          tf.mul(positive(meanAct), positive(meanInact)),
          tf.mul(positive(varAct), positive(varInact)),
        );
        relu = tf.add(relu, tf.mul(term, defined));
      }
    }
    return tf.div(tf.add(tight, relu), layers.length) as tf.Scalar;
  });
}

/** `parts` with `reg`·`weight` added to the minimised loss (reported parts unchanged). */
export function withRegularizer(parts: LossParts, reg: tf.Scalar, weight: number): LossParts {
  const loss = tf.tidy(() => tf.add(parts.loss, tf.mul(reg, weight)) as tf.Scalar);
  return { ...parts, loss };
}

// ---------------------------------------------------------------- the attack inside training

/** The PGD attack of a training step: `steps` signed-gradient steps of `step`·ε, from a seeded random start. */
export interface TrainPgdOptions {
  readonly steps: number;
  /** Step size as a fraction of ε. */
  readonly step: number;
  readonly seed: number;
}

/**
 * PGD on the cross-entropy of `logitsOf` within B(x, ε) ∩ domain (raw input units): a uniform
 * random start, then x ← Π(x + step·ε·sign ∇CE). Runs outside the step's gradient tape; the
 * result is a plain tensor (the caller disposes it). ε = 0 returns a copy of x.
 */
export function trainPgd(
  logitsOf: (x: tf.Tensor) => tf.Tensor2D,
  x: tf.Tensor,
  y: tf.Tensor1D,
  eps: number,
  cfg: InputCfg,
  o: TrainPgdOptions,
): tf.Tensor {
  if (!(eps > 0)) return tf.clone(x);
  const [d0, d1] = cfg.domain;
  const lo = tf.maximum(tf.sub(x, eps), d0);
  const hi = tf.minimum(tf.add(x, eps), d1);
  const project = (z: tf.Tensor) => tf.minimum(tf.maximum(z, lo), hi);
  let xa = tf.tidy(() => project(tf.add(x, tf.randomUniform(x.shape, -eps, eps, 'float32', o.seed))));
  const grad = tf.grad((z: tf.Tensor) => naturalCrossEntropy(logitsOf(z), y));
  for (let k = 0; k < o.steps; k++) {
    const next = tf.tidy(() => project(tf.add(xa, tf.mul(tf.sign(grad(xa)), o.step * eps))));
    xa.dispose();
    xa = next;
  }
  tf.dispose([lo, hi]);
  return xa;
}

/**
 * SABR's small box: the adversarial point `adv` moved into B(x, ε − τ) (τ = λ·ε), then
 * B(centre, τ) ∩ domain, which lies inside B(x, ε) ∩ domain.
 */
export function sabrBox(x: tf.Tensor, adv: tf.Tensor, eps: number, lambda: number, cfg: InputCfg): InputBox {
  const tau = lambda * eps;
  const reach = eps - tau;
  const centre = tf.tidy(() => tf.minimum(tf.maximum(adv, tf.sub(x, reach)), tf.add(x, reach)));
  return inputBox(centre, tau, cfg);
}

/**
 * MTL-IBP (De Palma et al. 2024): (1 − α)·CE(z_adv, y) + α·CE(−lb, y) on the adversarial logits
 * and the margin lower bounds of the whole ball, mixed with the clean CE by κ as in Eq. 5:
 * κ·CE(z, y) + (1 − κ)·[...]. The reported robust term is the bound term.
 */
export function mtlIbpLoss(
  logits: tf.Tensor2D,
  advLogits: tf.Tensor2D,
  labels: tf.Tensor1D,
  lb: tf.Tensor2D,
  alpha: number,
  kappa: number,
): LossParts {
  const natural = naturalCrossEntropy(logits, labels);
  const robust = robustCrossEntropy(lb);
  const loss = tf.tidy(() => {
    const adv = naturalCrossEntropy(advLogits, labels);
    const mixed = tf.add(tf.mul(adv, 1 - alpha), tf.mul(robust, alpha));
    return (kappa === 0 ? mixed : tf.add(tf.mul(natural, kappa), tf.mul(mixed, 1 - kappa))) as tf.Scalar;
  });
  return { loss, natural, robust, logits, lb };
}

// ---------------------------------------------------------------- gradient clipping

/**
 * Scales every gradient by min(1, maxNorm/‖g‖₂), ‖g‖₂ the global norm over all of them (as
 * torch.nn.utils.clip_grad_norm_). Returns new tensors; the caller disposes the old ones.
 */
export function clipGradients(
  grads: Readonly<Record<string, tf.Tensor>>,
  maxNorm: number,
): Record<string, tf.Tensor> {
  const keys = Object.keys(grads);
  if (keys.length === 0) return {};
  const factor = tf.tidy(() => {
    const sq = tf.addN(keys.map((k) => tf.sum(tf.square(grads[k]!))));
    return tf.minimum(1, tf.div(maxNorm, tf.add(tf.sqrt(sq), 1e-6)));
  });
  const out = Object.fromEntries(keys.map((k) => [k, tf.mul(grads[k]!, factor)]));
  factor.dispose();
  return out;
}
