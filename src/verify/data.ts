/**
 * The evaluation samples of a spec's data set (no TensorFlow.js: the certificate checker uses it
 * too): the test split, or the validation part the trainer holds out.
 */
import type { ModelIR } from '../ir/ir.js';
import { loadDataset, subset, validationSplit } from '../runtime/io/datasets.js';
import { UserError } from '../base/errors.js';
import { vnetCommand } from '../base/output.js';
import type { EvalData } from './evaluate.js';

/** What the loader needs from a module's meta or a checked IR. */
export type DataMeta = Pick<ModelIR, 'input' | 'train'> & { readonly sourcePath?: string };

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
  meta: DataMeta,
  opts: {
    readonly dir?: string;
    readonly split: EvalSplit;
    readonly limit?: number;
    readonly command?: string;
  },
): Promise<LoadedSplit> {
  const recipe = meta.train;
  if (recipe === undefined)
    throw new UserError(
      `${meta.sourcePath ?? 'the spec'}: the spec has no 'train' block, which \`vnet ${opts.command ?? 'verify'}\` needs (it evaluates on the data set of the recipe)`,
      [
        `for given inputs use \`${vnetCommand()} bounds --input X.json --eps E\``,
        'add a train { dataset = ... } block',
      ],
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
