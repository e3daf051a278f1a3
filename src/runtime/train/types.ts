/**
 * The contract between a generated trainer (the `train`, `trainLoss` and `schedule` functions that
 * `src/codegen/emit-train.ts` writes into every generated module) and the hand-written training
 * runtime (`run.ts`): the resolved recipe constants, the per-iteration schedule values, the state
 * a loss function sees, and the `TrainRun` the generated epoch loop drives. Types only, so that a
 * generated module can name them without loading any file-system code.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { TrainRecipe } from '../../ir/ir.js';
import type { ParamSet } from '../types.js';
import type { LossParts } from './loss.js';

/** A spec's training recipe with the threat constants it needs, as a generated module exports it. */
export interface TrainConstants extends TrainRecipe {
  /** ε_max of the ramp (threat.train_eps). */
  readonly trainEps: number;
  /** ε of model selection: the largest test ε; validation uses min(current ε, targetEps). */
  readonly targetEps: number;
}

/** Schedule values of one iteration (paper-notes §5). */
export interface Schedule {
  /** Current ε (per iteration). */
  readonly eps: number;
  /** Weight of the natural loss, tied to ε. */
  readonly kappa: number;
  /** Weight of the CROWN-IBP bound in the bound mix, tied to ε (1 → IBP-free, 0 → IBP only). */
  readonly beta: number;
  /** Slope η of LeakyReLU/ParamRamp this epoch; undefined = the layers' own slopes. */
  readonly eta: number | undefined;
  /** Learning rate this epoch. */
  readonly lr: number;
}

/** What a generated `trainLoss` sees for one iteration. */
export interface StepState extends Schedule {
  /** Clean phase: natural cross-entropy, ParamRamp acting as LeakyReLU(η), r frozen. */
  readonly clean: boolean;
  /** Relative std of the Gaussian noise on r for this step (0 = off; never in the clean phase). */
  readonly rNoise: number;
  /** Seed of this step's r noise, derived from (seed, epoch, step) so that resumed runs repeat it. */
  readonly noiseSeed: number;
  /** ε_max of the ramp (threat.train_eps): the warm-up regularisers weigh λ₀·(1 − ε/ε_max). */
  readonly trainEps: number;
}

/** One minibatch of raw inputs (internal layout [B, ...]) and int32 labels [B]. */
export interface Batch {
  readonly epoch: number;
  readonly step: number;
  readonly x: tf.Tensor;
  readonly y: tf.Tensor1D;
}

/**
 * A generated module's loss function; `adv` is the batch's adversarial inputs when the trainer
 * has an attack (mtl_ibp, sabr), computed before the gradient tape starts.
 */
export type TrainLoss<P extends ParamSet> = (
  p: P,
  x: tf.Tensor,
  y: tf.Tensor1D,
  st: StepState,
  adv?: tf.Tensor,
) => LossParts;

/** A generated module's training attack: adversarial inputs for the batch (raw units, same shape as x). */
export type TrainAttackFn<P extends ParamSet> = (
  p: P,
  x: tf.Tensor,
  y: tf.Tensor1D,
  st: StepState,
) => tf.Tensor;

/**
 * A training run as the generated epoch loop sees it: data, parameters, optimizer, validation and
 * the run directory live behind it (src/runtime/train/run.ts).
 */
export interface TrainRun<P extends ParamSet = ParamSet> {
  /** The effective recipe (the spec's, with command-line overrides). */
  readonly recipe: TrainConstants;
  readonly params: P;
  readonly stepsPerEpoch: number;
  /** First epoch to train (after the last completed one on resume). */
  readonly startEpoch: number;
  /** The minibatches of `epoch`, shuffled by (seed, epoch); each batch is freed when the next is taken. */
  batches(epoch: number): Iterable<Batch>;
  /**
   * One optimisation step on `batch`: gradients of `loss` w.r.t. every parameter (r excluded while
   * `clean`), then Adam at `s.lr`. With `attack` (and not `clean`), the adversarial inputs it
   * returns are computed first, outside the gradient tape, and handed to `loss`.
   */
  step(batch: Batch, s: Schedule, clean: boolean, loss: TrainLoss<P>, attack?: TrainAttackFn<P>): void;
  /**
   * Per-neuron mean of `acts` over the training split (not shuffled, no noise): each tensor
   * [B, ...] becomes [...]. The caller owns the returned tensors.
   */
  meanOverTrainSet(acts: (x: tf.Tensor) => Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor>;
  /**
   * Ends `epoch`: validation at min(end-of-epoch ε, target ε), metrics, checkpoints (last, best,
   * resume state). `end` is the schedule just after the epoch's last iteration (step N of the
   * epoch: the end-of-epoch ε with this epoch's η and learning rate).
   */
  endEpoch(epoch: number, clean: boolean, end: Schedule): Promise<void>;
}
