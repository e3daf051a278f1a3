/**
 * Glue between the commands and a generated module: loading a spec, its weights and a data
 * split. The `Verifiable` view of a module and the evaluation run options are in verifiable.ts
 * (re-exported here), which has no file access.
 */
import type { GeneratedModule, ModuleMeta, ParamSet } from '../runtime/module.js';
import { requireBlock } from '../runtime/module.js';
import { loadSpecModule } from '../codegen/load.js';
import { loadParams } from '../runtime/io/safetensors.js';
import { loadDataset, subset, validationSplit } from '../runtime/io/datasets.js';
import { UserError } from '../base/errors.js';
import type { EvalData } from './evaluate.js';

export { boundsChunked, evalOptions, tidyResult, verifiable } from './verifiable.js';

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
  opts: {
    readonly dir?: string;
    readonly split: EvalSplit;
    readonly limit?: number;
    readonly command?: string;
  },
): Promise<LoadedSplit> {
  const recipe = requireBlock(
    meta,
    'train',
    opts.command ?? 'verify',
    'it evaluates on the data set of the recipe',
    'for given inputs use `vnet bounds --input X.json --eps E`',
  );
  const common = { expectShape: meta.input.shape, ...(opts.dir !== undefined ? { dir: opts.dir } : {}) };
  if (opts.split === 'test') {
    const ds = await loadDataset(recipe.dataset, {
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
  const train = await loadDataset(recipe.dataset, { ...common, split: 'train' });
  const { val } = validationSplit(train.n, recipe.valSplit, recipe.seed);
  if (val.length === 0) {
    throw new UserError(
      `the recipe holds out no validation data (val_split = ${recipe.valSplit}); use --split test`,
    );
  }
  const idx = opts.limit !== undefined ? val.slice(0, opts.limit) : val;
  const ds = subset(train, idx);
  return { x: ds.x, labels: ds.y, indices: idx, source: ds.source };
}

/** The spec's test ε list (the default radii of verify, inspect and report), or a UserError naming the block. */
export const testEpsOf = (meta: ModuleMeta, command: string): readonly number[] =>
  requireBlock(meta, 'threat', command, "its default radii are the threat block's test_eps", 'or pass --eps')
    .testEps;
