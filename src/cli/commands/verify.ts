/**
 * `vnet verify <spec> --weights W`: clean error, PGD error and verified error of a trained network
 * per ε, bound method and line strategy (paper-notes §7), as a table or JSON, with optional
 * per-sample certificates (JSON lines). A sample that a method verifies while PGD breaks it is a
 * soundness bug: it is reported loudly and the command exits 3.
 */
import { existsSync, statSync } from 'node:fs';
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagList, flagNumber, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { fileError, UserError } from '../../base/errors.js';
import { vnetCommand } from '../../base/output.js';
import { ProgressBar } from '../../base/progress.js';
import {
  BACKEND_FLAG,
  BOUND_METHODS,
  LINE_STRATEGIES,
  epsWarning,
  intFlag,
  JSON_FLAG,
  parseEps,
  pickList,
  splitFlag,
  startBackend,
} from '../options.js';
import { batchCount } from '../../verify/evaluate.js';
import { loadNetwork, testEpsOf } from '../../verify/model.js';
import { requireBlock } from '../../runtime/module.js';
import type { BackendName } from '../../runtime/backend.js';
import { pgdStepSize } from '../../verify/pgd.js';
import { reportVerify, verifyContext } from '../../verify/results.js';
import { loadJob, type VerifyJob } from '../../scale/job.js';
import { defaultWorkers, runJob } from '../../scale/run.js';
import { parseShard, shardFromEnv, shardName, WHOLE, type Shard } from '../../scale/shard.js';
import { formatVnnlibVerify, verifyVnnlib } from '../../verify/vnnlib-verify.js';

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The generated module's methods, and alpha-crown (α-CROWN of the float64 complete verifier, ReLU nets). */
const METHODS = [...BOUND_METHODS, 'alpha-crown'] as const;

const FLAGS: readonly OptionSpec[] = [
  { name: 'weights', type: 'string', help: 'safetensors file with the network parameters (required)' },
  { name: 'data', type: 'string', help: 'data set directory (default: the usual locations)' },
  {
    name: 'split',
    type: 'string',
    help: "test, or val: the part of the training set `vnet train` holds out (the spec's val_split and seed; pass the same --data)",
    default: 'test',
  },
  {
    name: 'eps',
    type: 'list',
    help: "L∞ radii in raw input units, e.g. 0.1,8/255 (default: the spec's test_eps)",
  },
  {
    name: 'methods',
    type: 'list',
    help: `bound methods: ${METHODS.join(',')} (default: the spec's; alpha-crown: float64, ReLU chains)`,
  },
  { name: 'lines', type: 'list', help: "line strategies: tight,adaptive,constant (default: the spec's)" },
  { name: 'limit', type: 'number', help: 'evaluate only the first N samples' },
  { name: 'batch', type: 'number', help: 'samples per batch', default: 100 },
  { name: 'pgd-steps', type: 'number', help: "PGD steps (default: the spec's, paper 200)" },
  {
    name: 'pgd-restarts',
    type: 'number',
    help: "PGD random restarts; 0 skips the attack (default: the spec's, paper 10)",
  },
  {
    name: 'pgd-step',
    type: 'number',
    help: "PGD step size (default: the spec's; paper 0.01 on MNIST-like data, else ε/10)",
  },
  { name: 'seed', type: 'number', help: 'seed of the PGD random starts', default: 1 },
  {
    name: 'certificates',
    type: 'string',
    help: 'write one JSON line per sample, method, lines and ε to this file',
  },
  JSON_FLAG,
  {
    name: 'vnnlib',
    type: 'string',
    help: 'complete verification of a VNN-LIB property instead of the data set (ReLU networks): holds/violated/unknown/timeout',
  },
  { name: 'timeout', type: 'number', help: 'seconds for --vnnlib', default: 60 },
  {
    name: 'workers',
    type: 'number',
    help: 'worker threads, each with its own backend (default: the number of cores)',
  },
  {
    name: 'shard',
    type: 'string',
    help: 'i/n: run only shard i of n (batches b with b mod n = i); default from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX/VNET_SHARD_COUNT',
  },
  {
    name: 'results',
    type: 'string',
    value: 'FILE',
    help: 'results file (JSON lines, one per finished batch): rerunning resumes from it',
  },
  BACKEND_FLAG,
];

/** `--workers`, `--shard` (or the job engine's environment) and `--results` of a run. */
export function scaleFlags(a: ParsedArgs): { workers: number; shard: Shard; results?: string } {
  const workers = intFlag(a, 'workers', 1) ?? defaultWorkers();
  const shardFlag = flagString(a, 'shard');
  const shard = shardFlag !== undefined ? parseShard(shardFlag) : (shardFromEnv(process.env) ?? WHOLE);
  const results = flagString(a, 'results');
  return { workers, shard, ...(results !== undefined ? { results } : {}) };
}

async function run(a: ParsedArgs): Promise<number> {
  const specPath = a.positionals[0]!;
  const weightsPath = requireFlag(flagString(a, 'weights'), 'weights');
  const vnnlibPath = flagString(a, 'vnnlib');
  if (vnnlibPath !== undefined) {
    const timeout = flagNumber(a, 'timeout') ?? 60;
    if (!(timeout > 0)) throw new UserError(`--timeout must be > 0, got ${timeout}`);
    await startBackend(a);
    const { mod } = await loadNetwork(specPath, weightsPath);
    const r = verifyVnnlib(specPath, weightsPath, vnnlibPath, timeout, mod.meta.classes);
    console.log(flagBool(a, 'json') ? JSON.stringify(r) : formatVnnlibVerify(r, mod.meta.name));
    return 0;
  }
  const split = splitFlag(a);
  const limit = intFlag(a, 'limit', 1);
  const batch = intFlag(a, 'batch', 1) ?? 100;
  const steps = intFlag(a, 'pgd-steps', 0);
  const restarts = intFlag(a, 'pgd-restarts', 0);
  const stepFlag = flagNumber(a, 'pgd-step');
  if (stepFlag !== undefined && !(stepFlag > 0))
    throw new UserError(`--pgd-step must be > 0, got ${stepFlag}`);
  const seed = intFlag(a, 'seed', 0) ?? 1;
  const epsFlag = flagList(a, 'eps');
  const methodsFlag = flagList(a, 'methods');
  const linesFlag = flagList(a, 'lines');
  const eps = epsFlag && distinct(epsFlag.map((e) => parseEps(e)));
  const methods = methodsFlag && distinct(pickList('methods', methodsFlag, METHODS));
  const lines = linesFlag && distinct(pickList('lines', linesFlag, LINE_STRATEGIES));
  const certificates = flagString(a, 'certificates');
  if (certificates !== undefined && existsSync(certificates) && statSync(certificates).isDirectory())
    throw fileError(certificates, 'is a directory (--certificates needs a file name)');
  const json = flagBool(a, 'json');
  const scale = scaleFlags(a);
  const backend = (flagString(a, 'backend') ?? 'auto') as BackendName;

  await startBackend(a);
  // the spec's defaults come from its module (compiled once here, cached for the workers)
  const { mod } = await loadNetwork(specPath, weightsPath);
  const meta = mod.meta;
  const dataset = requireBlock(
    meta,
    'train',
    'verify',
    'it evaluates on the data set of the recipe',
    `for given inputs use \`${vnetCommand()} bounds --input X.json --eps E\``,
  ).dataset;
  if (meta.layers.some((l) => l.inputs !== undefined))
    console.error(
      'warning: the rigorous binary64 check handles chains only; this graph network gets float32 verdicts (not confirmed)',
    );
  const epsList = eps ?? testEpsOf(meta, 'verify');
  for (const e of eps ?? []) {
    const far = epsWarning(e, meta.input.domain);
    if (far) console.error(`warning: ${far}`);
  }
  const dataDir = flagString(a, 'data');
  const job: VerifyJob = {
    specPath,
    weightsPath,
    backend,
    data: {
      split,
      ...(dataDir !== undefined ? { dir: dataDir } : {}),
      ...(limit !== undefined ? { limit } : {}),
    },
    settings: {
      eps: epsList,
      methods: methods ?? meta.verify.methods,
      lines: lines ?? [meta.verify.lines],
      batch,
      pgd: { steps: steps ?? meta.verify.pgd.steps, restarts: restarts ?? meta.verify.pgd.restarts, seed },
      pgdStep: epsList.map((e) => pgdStepSize(stepFlag ?? meta.verify.pgd.stepSize, e, dataset)),
      certificates: certificates !== undefined,
    },
  };
  const loaded = await loadJob(job);
  const t0 = performance.now();
  const bar = new ProgressBar({
    total: batchCount(loaded.data.labels.length, batch),
    label: scale.shard.count > 1 ? `verify ${shardName(scale.shard)}` : 'verify',
    unit: 'batch',
  });
  const result = await runJob(job, loaded, { ...scale, onProgress: (done) => bar.update(done) });
  bar.done();
  if (result.resumed > 0)
    process.stderr.write(`resumed ${result.resumed} finished batches from ${scale.results}\n`);
  return reportVerify(result.report, {
    ...verifyContext(result.header, json, (performance.now() - t0) / 1000),
    ...(certificates !== undefined ? { certificates } : {}),
  });
}

export const verifyCommand: CommandSpec = {
  args: ['<spec>'],
  description: [
    'Evaluates a network on a data split: clean error, PGD error (L∞, random restarts) and verified',
    'error per ε, bound method and line strategy. A sample is verified iff every margin lower bound',
    'is > 0 (NaN/Inf never verifies) and a rigorous binary64 check with outward rounding confirms',
    'it (samples it does not confirm are counted as unconfirmed and not verified). Exit 3 if a',
    'verified sample is broken by PGD (a soundness bug). --workers, --shard and --results spread',
    'the batches over threads, machines (SLURM array jobs) and resumable runs.',
  ].join('\n'),
  options: FLAGS,
  examples: [
    'verify specs/fmnist-mlp.vnet --weights runs/fmnist-mlp-quick/best.safetensors --eps 0.05,0.1 --methods ibp,crown-ibp',
  ],
  run,
};
