/**
 * `vnet train <spec>`: compiles the spec and runs its generated trainer (the epoch loop, the loss
 * of the spec's method and its schedules are generated code; data, optimizer, validation and the
 * run directory are src/runtime/train/run.ts). At the end the best checkpoint (or the last, if the
 * ε ramp never ended) is evaluated on the test split: clean error and IBP-verified error at the
 * target ε, written to `test.json` in the run directory. The test split is never used to choose
 * a checkpoint.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagNumber, flagString, type ParsedArgs } from '../args.js';
import { info, vnetCommand } from '../../base/output.js';
import { BACKEND_FLAG, startBackend } from '../options.js';
import { UserError } from '../../base/errors.js';
import { requireBlock } from '../../runtime/module.js';
import { loadSpecModule } from '../../codegen/load.js';
import { writeJsonAtomic } from '../../runtime/io/atomic.js';
import { loadDataset } from '../../runtime/io/datasets.js';
import { loadParams } from '../../runtime/io/safetensors.js';
import type { GeneratedModule, TrainProgram } from '../../runtime/module.js';
import { RunDir } from '../../runtime/train/rundir.js';
import { TrainSession, evaluateIbp } from '../../runtime/train/run.js';
import { QUICK_EPOCHS, effectiveRecipe } from '../../train/overrides.js';

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'epochs',
    type: 'number',
    help: "number of epochs (default: the spec's; --quick: 20; --resume: the run's)",
  },
  { name: 'limit-train', type: 'number', help: 'use only the first N images of the training file' },
  {
    name: 'seed',
    type: 'number',
    help: "seed of init, validation split, shuffles and noise (default: the spec's)",
  },
  { name: 'data', type: 'string', help: 'data set directory (default: the usual locations, or a download)' },
  {
    name: 'out',
    short: 'o',
    type: 'string',
    value: 'DIR',
    help: 'run directory (default: runs/<spec-name>, --quick: runs/<spec-name>-quick)',
  },
  BACKEND_FLAG,
  {
    name: 'resume',
    type: 'bool',
    help: 'continue the run in the run directory after its last completed epoch',
  },
  { name: 'force', type: 'bool', help: 'discard a run already in the run directory' },
  {
    name: 'quick',
    type: 'bool',
    help: `quick start: the bundled Fashion-MNIST subset, the recipe compressed to ${QUICK_EPOCHS} epochs, batch ≤ 100`,
  },
];

const SUMMARY = [
  "Train a spec's network with its certified-training recipe (natural, IBP or CROWN-IBP; ParamRamp-aware).",
  'The run directory receives recipe.json, metrics.jsonl (one line per epoch), last.safetensors and',
  'best.safetensors (lowest IBP-verified error on the validation split at the target ε once the ε ramp',
  'has ended) with JSON sidecars, state.safetensors (exact resume point) and test.json. Every file is',
  'written atomically; --resume continues after the last completed epoch with the same numbers as an',
  'uninterrupted run (give the options the run was started with; --epochs may change its length).',
  'Epochs are counted from 1 everywhere: in the progress lines, metrics.jsonl, the sidecars and the report.',
].join('\n');

/** The generated trainer of a module, or a UserError if the module has none. */
function trainerOf(mod: GeneratedModule, spec: string): TrainProgram {
  requireBlock(mod.meta, 'train', 'train', 'it holds the training recipe');
  requireBlock(mod.meta, 'threat', 'train', 'its train_eps ends the ε ramp');
  const { recipe, schedule, trainLoss, train } = mod;
  if (!recipe || !schedule || !trainLoss || !train)
    throw new UserError(`${spec}: the generated module has no trainer (was it compiled by an older vnet?)`);
  return { recipe, schedule, trainLoss, train };
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;

async function run(a: ParsedArgs): Promise<number> {
  const spec = a.positionals[0]!;
  const quick = flagBool(a, 'quick');
  const limit = flagNumber(a, 'limit-train');
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new UserError(`option '--limit-train' needs a positive integer, got ${limit}`);
  const dataDir = flagString(a, 'data');

  const backend = await startBackend(a);
  const mod = await loadSpecModule(spec);
  const trainer = trainerOf(mod, spec);
  const meta = mod.meta;
  const resume = flagBool(a, 'resume');
  const outDir = flagString(a, 'out') ?? join('runs', quick ? `${meta.moduleName}-quick` : meta.moduleName);
  // --resume without --epochs finishes the run with the number of epochs it was started with
  const epochs = flagNumber(a, 'epochs') ?? (resume ? new RunDir(outDir).recordedEpochs() : undefined);
  const seed = flagNumber(a, 'seed');
  const { recipe, changes } = effectiveRecipe(trainer.recipe, {
    quick,
    ...(epochs !== undefined ? { epochs } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  const log = info;

  log(
    `vnet train ${spec}: network ${meta.name}, ${meta.paramCount} parameters, method ${recipe.method}, backend ${backend.name}`,
  );
  if (changes.length) log(`overrides of the spec's recipe:\n${changes.map((c) => `  ${c}`).join('\n')}`);

  const dataOpts = {
    expectShape: meta.input.shape,
    bundled: quick,
    ...(dataDir !== undefined ? { dir: dataDir } : {}),
  };
  const data = await loadDataset(recipe.dataset, {
    ...dataOpts,
    split: 'train',
    ...(limit !== undefined ? { limit } : {}),
  });
  const session = TrainSession.open({
    module: mod,
    recipe,
    data,
    outDir,
    resume,
    force: flagBool(a, 'force'),
    record: { command: ['vnet', 'train', ...a.argv].join(' '), argv: a.argv, backend: backend.detail },
    commandArgv: a.argv,
  });
  log(
    `data: ${data.source} (${session.sizes.train} training, ${session.sizes.val} validation images); ` +
      `${recipe.epochs} epochs × ${session.stepsPerEpoch} steps of ${recipe.batchSize}; run directory ${outDir}`,
  );
  if (session.startEpoch >= recipe.epochs) log(`the run is already complete (${recipe.epochs} epochs)`);
  else await trainer.train(session);

  // Test-set report of the selected checkpoint (never used for selection).
  const dir = session.runDir;
  const best = session.bestSoFar;
  const kind = best ? 'best' : 'last';
  const epoch = best ? best.epoch : (session.metrics.at(-1)?.epoch ?? 0);
  session.dispose();
  if (!best)
    log('no checkpoint was selected: the ε ramp did not end within the epochs run; reporting the last one');
  let test;
  try {
    test = await loadDataset(recipe.dataset, { ...dataOpts, split: 'test' });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    log(`no test-set report: ${e.message}`);
  }
  if (test) {
    const params = loadParams(dir.paramsPath(kind), meta);
    const ev = await evaluateIbp(mod, params, test, recipe.targetEps, { eta: meta.evalEta });
    tf.dispose(Object.values(params));
    writeJsonAtomic(dir.testPath, {
      checkpoint: `${kind}.safetensors`,
      epoch,
      data: test.source,
      images: ev.n,
      eps: ev.eps,
      eta: meta.evalEta ?? null,
      cleanErr: ev.cleanErr,
      ibpVerifiedErr: ev.verifiedErr,
    });
    log(
      `test set (${ev.n} images), ${kind} checkpoint (epoch ${epoch}): clean error ${pct(ev.cleanErr)}, ` +
        `IBP-verified error ${pct(ev.verifiedErr)} at ε = ${ev.eps}`,
    );
  }
  log(
    `files: ${dir.paramsPath(kind)} (+ .json sidecar), ${dir.metricsPath}${test ? `, ${dir.testPath}` : ''}`,
  );
  log(`verify it: ${vnetCommand()} verify ${spec} --weights ${dir.paramsPath(kind)}`);
  return 0;
}

export const trainCommand: CommandSpec = {
  args: ['<spec>'],
  description: SUMMARY,
  options: FLAGS,
  examples: ['train specs/fmnist-mlp.vnet --quick', 'train specs/fmnist-mlp.vnet --resume'],
  run,
};
