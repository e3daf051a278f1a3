/**
 * Glue between the commands and a generated module: loading a spec, its weights and a data
 * split, the evaluation run options (η at its end value, paper-notes §1 "η variants"), and the
 * `Verifiable` view of a module (clean logits plus margin bounds over rt.inputBox) that the
 * evaluation loop works on.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as rt from '../runtime/index.js';
import type { GeneratedModule, ModuleMeta, ParamSet } from '../runtime/module.js';
import type { BoundMethod, BoundOptions, BoundResult, RunOptions } from '../runtime/types.js';
import { loadSpecModule } from '../codegen/load.js';
import { loadParams } from '../runtime/io/safetensors.js';
import { loadDataset, subset, validationSplit } from '../runtime/io/datasets.js';
import { UserError } from '../cli/errors.js';
import { BoundRefusal, disposeResult, type EvalData, type Verifiable } from './evaluate.js';

/** Run options for evaluation: η = the schedule's end value when the recipe decays η. */
export function evalOptions(meta: ModuleMeta): RunOptions {
  return meta.evalEta !== undefined ? { eta: meta.evalEta } : {};
}

/**
 * Largest batch for which `method` keeps its linear bounds within the runtime's memory budget
 * (crownBudgetFloats, env VNET_CROWN_BUDGET_MB). LBP and CROWN-LBP carry, per sample, lower and
 * upper matrices [n, n0] for every layer of n neurons (n0 inputs); a factor of 6 covers both sides
 * plus the temporaries of one affine step. Other methods are not capped here (full CROWN chunks
 * itself and refuses, see boundsChunked).
 */
export function batchCap(meta: ModuleMeta, method: BoundMethod): number {
  if (method !== 'lbp' && method !== 'crown-lbp') return Infinity;
  const n0 = meta.inputCfg.shape.reduce((a, b) => a * b, 1);
  const widest = Math.max(n0, ...meta.layers.map((l) => l.outShape.reduce((a, b) => a * b, 1)));
  return Math.max(1, Math.floor(rt.crownBudgetFloats() / (6 * widest * n0)));
}

/**
 * `mod.bounds` on raw inputs `x` over the ε-ball ∩ domain, in chunks of at most batchCap samples
 * (labels in `o` are sliced along). When full CROWN refuses a chunk for memory (the runtime
 * throws a UserError naming its estimate), the chunk is halved until it fits; a refusal at a
 * single sample becomes a `BoundRefusal` carrying the runtime's message.
 */
export function boundsChunked(
  mod: GeneratedModule,
  p: ParamSet,
  x: tf.Tensor,
  eps: number,
  method: BoundMethod,
  o: BoundOptions,
): BoundResult {
  const meta = mod.meta;
  const once = (xs: tf.Tensor, labels: tf.Tensor1D | undefined): BoundResult =>
    tidyResult(() =>
      mod.bounds(p, rt.inputBox(xs, eps, meta.inputCfg), method, { ...o, ...(labels ? { labels } : {}) }),
    );
  const run = (xs: tf.Tensor, labels: tf.Tensor1D | undefined, cap: number): BoundResult => {
    const B = xs.shape[0]!;
    if (B <= cap) {
      try {
        return once(xs, labels);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        if (B <= 1) throw new BoundRefusal(e.message);
        return run(xs, labels, Math.ceil(B / 2));
      }
    }
    const parts: BoundResult[] = [];
    try {
      for (let start = 0; start < B; start += cap) {
        const size = Math.min(cap, B - start);
        const xs2 = tf.slice(xs, start, size);
        const l2 = labels && tf.slice(labels, start, size);
        try {
          parts.push(run(xs2, l2, cap));
        } finally {
          tf.dispose(l2 ? [xs2, l2] : [xs2]);
        }
      }
      return concatResults(parts);
    } finally {
      parts.forEach(disposeResult);
    }
  };
  return run(x, o.labels, batchCap(meta, method));
}

/** The verifier's view of a generated module with loaded parameters (lower-only margin bounds, with intermediates). */
export function verifiable(
  mod: GeneratedModule,
  p: ParamSet,
  o: RunOptions = evalOptions(mod.meta),
): Verifiable {
  const meta = mod.meta;
  return {
    classes: meta.classes,
    inputShape: meta.inputCfg.shape,
    domain: meta.inputCfg.domain,
    logits: (x) => mod.forward(p, x, o),
    bounds: (x, eps, method, lines, labels) =>
      boundsChunked(mod, p, x, eps, method, { ...o, lines, labels, intermediate: true, lowerOnly: true }),
  };
}

/** Results of consecutive sub-batches as one (new tensors). */
function concatResults(rs: readonly BoundResult[]): BoundResult {
  const first = rs[0]!;
  return tidyResult(() => ({
    lower: tf.concat(rs.map((r) => r.lower)),
    upper: tf.concat(rs.map((r) => r.upper)),
    logits: tf.concat(rs.map((r) => r.logits)),
    ...(first.intermediate
      ? {
          intermediate: first.intermediate.map((L, i) => ({
            layer: L.layer,
            lower: tf.concat(rs.map((r) => r.intermediate![i]!.lower)),
            upper: tf.concat(rs.map((r) => r.intermediate![i]!.upper)),
          })),
        }
      : {}),
  }));
}

/** `tf.tidy` for a BoundResult (a plain object of tensors that tfjs's TensorContainer type does not name). */
export function tidyResult(f: () => BoundResult): BoundResult {
  return tf.tidy(() => f() as unknown as tf.TensorContainer) as unknown as BoundResult;
}

/** A spec's generated module with the parameters of a safetensors file. */
export async function loadNetwork(
  specPath: string,
  weightsPath: string,
): Promise<{ mod: GeneratedModule; params: ParamSet }> {
  const mod = await loadSpecModule(specPath);
  return { mod, params: loadParams(weightsPath, mod.meta) };
}

/** Which samples to evaluate: the test set, or the trainer's held-out validation part of the training set. */
export type EvalSplit = 'test' | 'val';

/** Loaded samples plus the dataset index of each (for certificates) and where they came from. */
export interface LoadedSplit extends EvalData {
  readonly indices: Int32Array;
  readonly source: string;
}

/**
 * Loads the evaluation samples of a module's data set: the test split, or the validation split
 * the trainer holds out (same fraction and seed as the recipe), keeping the first `limit`.
 */
export async function loadEvalSplit(
  meta: ModuleMeta,
  opts: { readonly dir?: string; readonly split: EvalSplit; readonly limit?: number },
): Promise<LoadedSplit> {
  const common = { expectShape: meta.input.shape, ...(opts.dir !== undefined ? { dir: opts.dir } : {}) };
  if (opts.split === 'test') {
    const ds = await loadDataset(meta.train.dataset, {
      ...common,
      split: 'test',
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    });
    return {
      x: ds.x,
      labels: ds.y,
      indices: Int32Array.from({ length: ds.n }, (_, i) => i),
      source: ds.source,
    };
  }
  const train = await loadDataset(meta.train.dataset, { ...common, split: 'train' });
  const { val } = validationSplit(train.n, meta.train.valSplit, meta.train.seed);
  if (val.length === 0) {
    throw new UserError(
      `the recipe holds out no validation data (val_split = ${meta.train.valSplit}); use --split test`,
    );
  }
  const idx = opts.limit !== undefined ? val.slice(0, opts.limit) : val;
  const ds = subset(train, idx);
  return { x: ds.x, labels: ds.y, indices: idx, source: ds.source };
}
