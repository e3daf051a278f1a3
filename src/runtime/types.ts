/**
 * The contract between generated modules and the hand-written runtime.
 *
 * Generated code is straight-line: one call per layer into these primitives (see
 * `src/runtime/index.ts` for the list). Everything here is synchronous and tfjs-only so that a
 * generated bound function can run inside `tf.tidy` and under `optimizer.minimize` (gradients
 * flow to every parameter, ParamRamp's r included).
 *
 * Internal tensor layout (never visible in files or on the CLI):
 * - activations NHWC for images ([B, H, W, C]), [B, N] for vectors;
 * - dense weight [in, out]; conv weight [kh, kw, in, out]; ParamRamp r [H, W, C] or [N];
 * - a dense weight after a flatten has its rows permuted so that a plain NHWC reshape matches
 *   torch.flatten's C,H,W order (done once in layout.ts).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { BoundMethod, LineStrategy, Padding4 } from '../ir/ir.js';

export type { BoundMethod, LineStrategy };

/** Parameters keyed by `ParamSpec.ident`, internal layout. */
export type ParamSet = Record<string, tf.Variable>;

/** Input domain and per-channel normalisation of a network input (raw values in `domain`). */
export interface InputCfg {
  /** Internal shape without batch: [H, W, C] or [N]. */
  readonly shape: readonly number[];
  readonly domain: readonly [number, number];
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface Conv2dCfg {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: Padding4;
  /** Internal [H, W, C] of the input and output maps. */
  readonly inShape: readonly [number, number, number];
  readonly outShape: readonly [number, number, number];
}

export interface DenseCfg {
  readonly inDim: number;
  readonly outDim: number;
}

/** Resolved activation for one call (η after schedule/override, r clamped ≥ 1e-4 and noised). */
export type ActSpec =
  | { readonly kind: 'relu' }
  | { readonly kind: 'leaky_relu'; readonly slope: number }
  | { readonly kind: 'paramramp'; readonly eta: number; readonly r: tf.Tensor }
  | { readonly kind: 'sigmoid' }
  | { readonly kind: 'tanh' };

/** Bounding lines of an activation over [l, u]: sL·z + tL ≤ σ(z) ≤ sU·z + tU. All slopes ≥ 0. */
export interface Relaxation {
  readonly sL: tf.Tensor;
  readonly tL: tf.Tensor;
  readonly sU: tf.Tensor;
  readonly tU: tf.Tensor;
}

/** Options shared by forward and bound functions of a generated module. */
export interface RunOptions {
  /** Overrides the slope η of every LeakyReLU and ParamRamp (η schedule, evaluation at η_end). */
  readonly eta?: number;
  /** Clean phase of training: ParamRamp acts as LeakyReLU(η) (its r is ignored). */
  readonly rampAsLeaky?: boolean;
  /** Relative std of Gaussian noise on r (training only; paper-notes §1). 0 or absent = off. */
  readonly rNoise?: number;
  /**
   * Seed of that noise for this call (the trainer derives it from the recipe's seed, the epoch and
   * the step, so a resumed run draws the same noise as an uninterrupted one). Absent: unseeded.
   */
  readonly noiseSeed?: number;
  /**
   * BatchNorm in training mode: batch statistics of the clean activations of this call's batch
   * (constants of the bound pass), and the running statistics updated once per call (PyTorch's
   * momentum rule, unbiased variance). Absent: evaluation mode, running statistics.
   */
  readonly bnTrain?: boolean;
  /**
   * With `bnTrain`: use the batch statistics but leave the running statistics alone (the PGD
   * attack inside a training step, which must not move them once per attack step).
   */
  readonly bnFrozen?: boolean;
}

export interface BoundOptions extends RunOptions {
  /** Default 'tight'. */
  readonly lines?: LineStrategy;
  /** Labels [B] (int32): bound the margins z_y − z_j, j ≠ y ascending, folded into the last layer. */
  readonly labels?: tf.Tensor1D;
  /** Explicit specification [B, m, K]; overrides `labels`. Absent and no labels: logit bounds. */
  readonly C?: tf.Tensor3D;
  /** Also return every activation's pre-activation bounds. */
  readonly intermediate?: boolean;
  /** CROWN-family passes may skip the upper bound (training needs only lower margins). */
  readonly lowerOnly?: boolean;
  /**
   * Skip the clean forward pass that rides along with the bounds (a third of an IBP pass): the
   * result's `logits` is then [B, 0]. For callers that have the logits already (verification).
   */
  readonly noLogits?: boolean;
}

/** Pre-activation bounds of one activation layer, internal layout [B, ...]. */
export interface LayerBounds {
  readonly layer: string;
  readonly lower: tf.Tensor;
  readonly upper: tf.Tensor;
}

export interface BoundResult {
  /** [B, m] bounds on C·z (margins with labels, logits without). */
  readonly lower: tf.Tensor2D;
  readonly upper: tf.Tensor2D;
  /**
   * [B, K] clean logits from the same pass (fused), or a separate forward where a method has none;
   * [B, 0] with `noLogits`.
   */
  readonly logits: tf.Tensor2D;
  readonly intermediate?: readonly LayerBounds[];
  /**
   * CROWN-IBP and CROWN-LBP only: the bounds of the forward method underneath (IBP, LBP) on the
   * same specification, from the same pass. They equal what `ibp` / `lbp` return, so a caller
   * that wants both (a β mix in training, a verify table with both rows) runs one pass, not two.
   */
  readonly base?: { readonly lower: tf.Tensor2D; readonly upper: tf.Tensor2D };
}

/** The L∞ ball ∩ domain, in the network's normalised input space, internal layout [B, ...]. */
export interface InputBox {
  /** Clean (normalised) input. */
  readonly x: tf.Tensor;
  readonly lo: tf.Tensor;
  readonly hi: tf.Tensor;
}
