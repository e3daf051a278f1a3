/**
 * `vnet verify <spec> --weights W`: clean error, PGD error and verified error of a trained network
 * per ε, bound method and line strategy (paper-notes §7), as a table or JSON, with optional
 * per-sample certificates (JSON lines). A sample that a method verifies while PGD breaks it is a
 * soundness bug: it is reported loudly and the command exits 3.
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from '../command.js';
import {
  flagBool,
  flagList,
  flagNumber,
  flagString,
  parseArgs,
  requireFlag,
  usage,
  type FlagSpec,
  type ParsedArgs,
} from '../args.js';
import { fileError, UserError } from '../errors.js';
import { ProgressBar } from '../progress.js';
import { closest } from '../../util/suggest.js';
import type { BoundMethod, LineStrategy } from '../../ir/ir.js';
import { BACKEND_NAMES, initBackend, type BackendName } from '../../runtime/backend.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import {
  batchCount,
  type EvalReport,
  type ResultRow,
  type SoundnessViolation,
} from '../../verify/evaluate.js';
import { certificateLines, formatVerifyTable, formatViolations } from '../../verify/format.js';
import { loadNetwork, type EvalSplit } from '../../verify/model.js';
import { pgdStepSize } from '../../verify/pgd.js';
import { loadJob, type VerifyJob } from '../../scale/job.js';
import type { ResultsHeader } from '../../scale/results.js';
import { defaultWorkers, runJob } from '../../scale/run.js';
import { parseShard, shardFromEnv, shardName, WHOLE, type Shard } from '../../scale/shard.js';

export const BOUND_METHODS: readonly BoundMethod[] = ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'];
export const LINE_STRATEGIES: readonly LineStrategy[] = ['tight', 'adaptive', 'constant'];

/** Exit code for a detected soundness bug (verified but broken by PGD). */
export const EXIT_SOUNDNESS = 3;

/** The `--backend` flag shared by the commands that compute. */
export const BACKEND_FLAG: FlagSpec = {
  name: 'backend',
  type: 'string',
  help: `tfjs backend: ${BACKEND_NAMES.join('|')}`,
  default: 'auto',
};

/** Starts the backend named by `--backend` (initBackend validates the name). */
export async function startBackend(a: ParsedArgs): Promise<void> {
  await initBackend((flagString(a, 'backend') ?? 'auto') as BackendName);
}

/** `--workers`, `--shard`, `--results`: shared by the commands that run verification jobs. */
export const SCALE_FLAGS: readonly FlagSpec[] = [
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
    help: 'results file (JSON lines, one per finished batch): rerunning resumes from it; vnet merge joins shards',
  },
];

const FLAGS: readonly FlagSpec[] = [
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
  { name: 'json', type: 'bool', help: 'print the results as JSON instead of a table' },
  BACKEND_FLAG,
  ...SCALE_FLAGS,
];

/** Parses a radius: a number or a fraction `a/b` (as in specs). */
export function parseEps(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  const v = m ? Number(m[1]) / (m[2] !== undefined ? Number(m[2]) : 1) : NaN;
  if (!Number.isFinite(v) || v < 0) throw new UserError(`--eps: '${text}' is not a radius ≥ 0`);
  return v;
}

/** Validates a list flag against the allowed values, with did-you-mean. */
export function pickList<T extends string>(
  flag: string,
  given: readonly string[],
  allowed: readonly T[],
): T[] {
  if (given.length === 0) throw new UserError(`--${flag} needs at least one value`);
  return given.map((g) => {
    if ((allowed as readonly string[]).includes(g)) return g as T;
    const s = closest(g, allowed);
    throw new UserError(
      `--${flag}: unknown value '${g}' (expected one of ${allowed.join(', ')})`,
      s ? [`did you mean '${s}'?`] : [],
    );
  });
}

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** An integer flag ≥ `min`, or undefined when absent. */
export function intFlag(a: ParsedArgs, name: string, min: number): number | undefined {
  const v = flagNumber(a, name);
  if (v !== undefined && !(Number.isInteger(v) && v >= min))
    throw new UserError(`--${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Everything `vnet verify --json` prints (also what `vnet report --verify` reads). */
export interface VerifyJson {
  readonly kind: 'vnet-verify';
  readonly spec: string;
  readonly network: string;
  readonly specHash: string;
  readonly weights: string;
  readonly dataset: string;
  readonly split: EvalSplit;
  readonly source: string;
  readonly n: number;
  /** η used for ParamRamp/LeakyReLU slopes at evaluation (null: the layers' own). */
  readonly eta: number | null;
  readonly eps: readonly number[];
  readonly pgd: {
    readonly steps: number;
    readonly restarts: number;
    readonly seed: number;
    readonly stepSize: readonly number[];
  };
  readonly rows: readonly ResultRow[];
  readonly violations: readonly SoundnessViolation[];
  readonly warnings: readonly string[];
  readonly seconds: number;
}

/** Context of a finished evaluation needed to print and save it. */
export interface VerifyContext {
  readonly specPath: string;
  readonly weightsPath: string;
  readonly meta: {
    readonly name: string;
    readonly specHash: string;
    readonly evalEta: number | undefined;
    readonly dataset: string;
  };
  readonly split: EvalSplit;
  readonly source: string;
  readonly eps: readonly number[];
  readonly pgd: VerifyJson['pgd'];
  readonly json: boolean;
  readonly certificates?: string;
  /** sha256 of the weight file (certificates carry it). */
  readonly weightsHash: string;
  readonly seconds: number;
  /** Set when the report covers one shard only. */
  readonly shard?: Shard;
}

/** Output sinks (process streams by default; tests pass collectors). */
export interface VerifyIo {
  out(s: string): void;
  err(s: string): void;
}

const processIo: VerifyIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** The JSON document of an evaluation. */
export function verifyJson(r: EvalReport, c: VerifyContext): VerifyJson {
  return {
    kind: 'vnet-verify',
    spec: c.specPath,
    network: c.meta.name,
    specHash: c.meta.specHash,
    weights: c.weightsPath,
    dataset: c.meta.dataset,
    split: c.split,
    source: c.source,
    n: r.n,
    eta: c.meta.evalEta ?? null,
    eps: c.eps,
    pgd: c.pgd,
    rows: r.rows,
    violations: r.violations,
    warnings: r.warnings,
    seconds: c.seconds,
  };
}

/**
 * Prints the results (table or JSON), the warnings, and the soundness banner; writes the
 * certificates atomically. Returns the exit code: 3 on a soundness violation, else 0.
 */
export function reportVerify(r: EvalReport, c: VerifyContext, io: VerifyIo = processIo): number {
  if (c.certificates !== undefined) {
    const hashes = { specHash: c.meta.specHash, weightsHash: c.weightsHash };
    writeFileAtomic(c.certificates, certificateLines(r.certificates.map((x) => ({ ...hashes, ...x }))));
  }
  const shown = r.warnings.slice(0, 20);
  for (const w of shown) io.err(`warning: ${w}\n`);
  if (r.warnings.length > shown.length)
    io.err(`warning: ... and ${r.warnings.length - shown.length} more warnings\n`);
  if (c.json) io.out(JSON.stringify(verifyJson(r, c), null, 2) + '\n');
  else {
    const eta = c.meta.evalEta !== undefined ? `, η = ${c.meta.evalEta}` : '';
    const pgdText =
      c.pgd.restarts > 0
        ? `PGD ${c.pgd.steps} steps × ${c.pgd.restarts} restarts, step ${c.pgd.stepSize.join('/')}`
        : 'PGD off';
    io.out(
      `${c.meta.name}: ${r.n} ${c.meta.dataset} ${c.split} samples${c.shard ? ` (shard ${shardName(c.shard)})` : ''}, ${pgdText}${eta} (${c.seconds.toFixed(1)} s)\n`,
    );
    io.out(formatVerifyTable(r.rows) + '\n');
    for (const row of r.rows.filter((x) => x.refused !== undefined))
      io.out(`${row.method} (${row.lines}, ε=${row.eps}) refused: ${row.refused}\n`);
    if (c.certificates !== undefined)
      io.out(`certificates: ${c.certificates} (${r.certificates.length} lines)\n`);
  }
  if (r.violations.length > 0) {
    io.err(formatViolations(r.violations) + '\n');
    return EXIT_SOUNDNESS;
  }
  return 0;
}

/** `--workers`, `--shard` (or the job engine's environment) and `--results` of a run. */
export function scaleFlags(a: ParsedArgs): { workers: number; shard: Shard; results?: string } {
  const workers = intFlag(a, 'workers', 1) ?? defaultWorkers();
  const shardFlag = flagString(a, 'shard');
  const shard = shardFlag !== undefined ? parseShard(shardFlag) : (shardFromEnv(process.env) ?? WHOLE);
  const results = flagString(a, 'results');
  if (shard.count > 1 && results === undefined)
    throw new UserError(`shard ${shardName(shard)} needs --results FILE (merge the shards with vnet merge)`);
  if (results !== undefined && existsSync(results) && statSync(results).isDirectory())
    throw fileError(results, 'is a directory (--results needs a file name)');
  return { workers, shard, ...(results !== undefined ? { results } : {}) };
}

async function run(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv, FLAGS);
  if (a.positionals.length !== 1)
    throw new UserError('expected exactly one spec file', [
      'usage: vnet verify <spec.vnet> --weights W.safetensors',
    ]);
  const specPath = a.positionals[0]!;
  const weightsPath = requireFlag(flagString(a, 'weights'), 'weights');
  const split = flagString(a, 'split') ?? 'test';
  if (split !== 'test' && split !== 'val')
    throw new UserError(`--split must be 'test' or 'val', got '${split}'`);
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
  const eps = epsFlag && distinct(epsFlag.map(parseEps));
  const methods = methodsFlag && distinct(pickList('methods', methodsFlag, BOUND_METHODS));
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
  const epsList = eps ?? meta.threat.testEps;
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
      pgdStep: epsList.map((e) => pgdStepSize(stepFlag ?? meta.verify.pgd.stepSize, e, meta.train.dataset)),
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

/** The output context of a run from its results header. */
export function verifyContext(h: ResultsHeader, json: boolean, seconds: number): VerifyContext {
  const r = h.run;
  return {
    specPath: r.specPath,
    weightsPath: r.weightsPath,
    meta: { name: r.network, specHash: r.specHash, evalEta: r.evalEta ?? undefined, dataset: r.dataset },
    split: r.split,
    source: r.source,
    eps: r.settings.eps,
    pgd: { ...r.settings.pgd, stepSize: r.settings.pgdStep },
    json,
    seconds,
    weightsHash: r.weightsHash,
    ...(h.shard.count > 1 ? { shard: h.shard } : {}),
  };
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'clean, PGD and verified error of a trained network (IBP, LBP, CROWN family)',
  help: usage(
    'verify',
    '<spec.vnet> --weights W.safetensors [--eps E,...] [--methods M,...] [--lines L,...] [--json]',
    [
      'Evaluates a network on a data split: clean error, PGD error (L∞, random restarts) and verified',
      'error per ε, bound method and line strategy. A sample is verified iff every margin lower bound',
      'is > 0 (NaN/Inf never verifies) and a rigorous binary64 check with outward rounding confirms',
      'it (samples it does not confirm are counted as unconfirmed and not verified). Exit 3 if a',
      'verified sample is broken by PGD (a soundness bug).',
    ].join('\n'),
    FLAGS,
  ),
  run,
};
