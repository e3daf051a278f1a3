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
import { evaluate } from '../../verify/evaluate.js';
import { evalOptions, loadEvalSplit, loadNetwork, testEpsOf, verifiable } from '../../verify/model.js';
import { requireBlock } from '../../runtime/module.js';
import { pgdStepSize } from '../../verify/pgd.js';
import { reportVerify } from '../../verify/results.js';
import { formatVnnlibVerify, verifyVnnlib } from '../../verify/vnnlib-verify.js';

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

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
  { name: 'methods', type: 'list', help: `bound methods: ${BOUND_METHODS.join(',')} (default: the spec's)` },
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
  BACKEND_FLAG,
];

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
  const methods = methodsFlag && distinct(pickList('methods', methodsFlag, BOUND_METHODS));
  const lines = linesFlag && distinct(pickList('lines', linesFlag, LINE_STRATEGIES));
  const certificates = flagString(a, 'certificates');
  if (certificates !== undefined && existsSync(certificates) && statSync(certificates).isDirectory())
    throw fileError(certificates, 'is a directory (--certificates needs a file name)');
  const json = flagBool(a, 'json');

  await startBackend(a);
  const { mod, params } = await loadNetwork(specPath, weightsPath);
  const meta = mod.meta;
  const dataset = requireBlock(
    meta,
    'train',
    'verify',
    'it evaluates on the data set of the recipe',
    'for given inputs use `vnet bounds --input X.json --eps E`',
  ).dataset;
  const epsList = eps ?? testEpsOf(meta, 'verify');
  for (const e of eps ?? []) {
    const far = epsWarning(e, meta.input.domain);
    if (far) console.error(`warning: ${far}`);
  }
  const pgd = {
    steps: steps ?? meta.verify.pgd.steps,
    restarts: restarts ?? meta.verify.pgd.restarts,
    seed,
    stepSize: epsList.map((e) => pgdStepSize(stepFlag ?? meta.verify.pgd.stepSize, e, dataset)),
  };
  const data = await loadEvalSplit(meta, {
    split,
    ...(flagString(a, 'data') !== undefined ? { dir: flagString(a, 'data')! } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  const bar = new ProgressBar({ total: data.labels.length, label: 'verify', unit: 'img' });
  const t0 = performance.now();
  const report = await evaluate(
    verifiable(mod, params, evalOptions(meta)),
    data,
    {
      eps: epsList,
      methods: methods ?? meta.verify.methods,
      lines: lines ?? [meta.verify.lines],
      batch,
      pgd: { steps: pgd.steps, restarts: pgd.restarts, seed },
      pgdStep: (e) => pgd.stepSize[epsList.indexOf(e)]!,
      certificates: certificates !== undefined,
    },
    (done) => bar.update(done),
  );
  bar.done();
  return reportVerify(report, {
    specPath,
    weightsPath,
    meta,
    split,
    source: data.source,
    eps: epsList,
    pgd,
    json,
    seconds: (performance.now() - t0) / 1000,
    ...(certificates !== undefined ? { certificates } : {}),
  });
}

export const verifyCommand: CommandSpec = {
  args: ['<spec>'],
  description: [
    'Evaluates a network on a data split: clean error, PGD error (L∞, random restarts) and verified',
    'error per ε, bound method and line strategy. A sample is verified iff every margin lower bound',
    'is > 0 (NaN/Inf never verifies). Exit 3 if a verified sample is broken by PGD (a soundness bug).',
  ].join('\n'),
  options: FLAGS,
  examples: [
    'verify specs/fmnist-mlp.vnet --weights runs/fmnist-mlp-quick/best.safetensors --eps 0.05,0.1 --methods ibp,crown-ibp',
  ],
  run,
};
