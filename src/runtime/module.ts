/**
 * What every generated module exports, as a type: the CLI, the trainer, the verifier and the
 * benchmark load a generated module (dynamic import) and use it only through this interface.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../base/errors.js';
import type { ParamSpec, Shape, ThreatIR, TrainRecipe, VerifyConfig, OpKind } from '../ir/ir.js';
import type {
  BoundMethod,
  BoundOptions,
  BoundResult,
  InputBox,
  InputCfg,
  ParamSet,
  RunOptions,
} from './types.js';

export type { ParamSet };
import type { LossParts } from './train/loss.js';
import type { Schedule, StepState, TrainConstants, TrainRun } from './train/types.js';

export interface LayerMeta {
  readonly name: string;
  readonly kind: OpKind;
  /** PyTorch-convention shapes ([C, H, W] or [N]). */
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Spec line of the layer. */
  readonly line: number;
  readonly params: readonly string[];
  /** The node's inputs, where they are not just the previous node (graph networks). */
  readonly inputs?: readonly string[];
}

export interface ParamMeta extends ParamSpec {
  /** Shape in the runtime's internal layout. */
  readonly shape: Shape;
}

export interface ModuleMeta {
  readonly name: string;
  readonly moduleName: string;
  readonly sourcePath: string;
  readonly specHash: string;
  readonly compilerVersion: string;
  /** Raw input in PyTorch convention plus the internal layout config used by the runtime. */
  readonly input: {
    readonly shape: Shape;
    readonly domain: readonly [number, number];
    readonly mean: readonly number[];
    readonly std: readonly number[];
  };
  readonly inputCfg: InputCfg;
  readonly classes: number;
  readonly layers: readonly LayerMeta[];
  /** Names of the activation layers, in order (pre-activation bounds are reported for these). */
  readonly activations: readonly string[];
  readonly params: readonly ParamMeta[];
  readonly paramCount: number;
  readonly threat?: ThreatIR;
  readonly train?: TrainRecipe;
  readonly verify: VerifyConfig;
  /** η used at evaluation: the η schedule's end value if the recipe has one, else undefined. */
  readonly evalEta?: number;
}

/** The generated trainer (src/codegen/emit-train.ts; contract in src/runtime/train/types.ts). */
export interface TrainProgram {
  /** The spec's resolved training recipe. */
  readonly recipe: TrainConstants;
  /** ε, κ, β (per iteration), η and lr (per epoch) at iteration `step` of `epoch`; `r` defaults to `recipe`. */
  schedule(epoch: number, step: number, stepsPerEpoch: number, r?: TrainConstants): Schedule;
  /** The loss of the spec's training method for one batch (natural in the clean phase). */
  trainLoss(p: ParamSet, x: tf.Tensor, y: tf.Tensor1D, st: StepState): LossParts;
  /** The epoch loop: clean phase, r re-initialisation, ε ramp; resumes at `run.startEpoch`. */
  train(run: TrainRun): Promise<void>;
}

export interface GeneratedModule extends Partial<TrainProgram> {
  readonly meta: ModuleMeta;
  initParams(seed: number): ParamSet;
  /** x: raw input, internal layout [B, ...inputCfg.shape]; returns logits [B, K]. */
  forward(p: ParamSet, x: tf.Tensor, o?: RunOptions): tf.Tensor2D;
  /** Logits and the output of every ParamRamp layer (as LeakyReLU(η) when o.rampAsLeaky). */
  activations(
    p: ParamSet,
    x: tf.Tensor,
    o?: RunOptions,
  ): { readonly logits: tf.Tensor2D; readonly acts: Readonly<Record<string, tf.Tensor>> };
  bounds(p: ParamSet, box: InputBox, method: BoundMethod, o?: BoundOptions): BoundResult;
  ibp(p: ParamSet, box: InputBox, o?: BoundOptions): BoundResult;
  lbp(p: ParamSet, box: InputBox, o?: BoundOptions): BoundResult;
  crownIbp(p: ParamSet, box: InputBox, o?: BoundOptions): BoundResult;
  crownLbp(p: ParamSet, box: InputBox, o?: BoundOptions): BoundResult;
  crown(p: ParamSet, box: InputBox, o?: BoundOptions): BoundResult;
}

/** What each optional block gives a command, for the error when it is missing. */
const BLOCK_HELP: Readonly<Record<'train' | 'threat', string>> = {
  train: 'add `train { dataset = fashion-mnist }` (and a `threat` block)',
  threat: 'add `threat { train_eps = 0.1  test_eps = [0.1] }`',
};

/**
 * The spec's `train` or `threat` block, for a command that needs it; a UserError naming the
 * missing block and the command otherwise (`why`: what the command uses it for, `alt`: a way around).
 */
export function requireBlock<K extends 'train' | 'threat'>(
  meta: ModuleMeta,
  block: K,
  command: string,
  why: string,
  alt?: string,
): NonNullable<ModuleMeta[K]> {
  const v = meta[block];
  if (v !== undefined) return v as NonNullable<ModuleMeta[K]>;
  throw new UserError(
    `${meta.sourcePath}: the spec has no '${block}' block, which \`vnet ${command}\` needs (${why})`,
    [...(alt ? [alt] : []), BLOCK_HELP[block]],
  );
}
