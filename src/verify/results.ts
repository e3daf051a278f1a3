/**
 * The results of `vnet verify`: the JSON document (also what `vnet report --verify` reads), the
 * readable table with warnings and the soundness banner, and the certificates file.
 */
import type { ResultsHeader } from '../scale/results.js';
import { shardName, type Shard } from '../scale/shard.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import type { EvalReport, ResultRow, SoundnessViolation } from './evaluate.js';
import { certificateLines, formatVerifyTable, formatViolations } from './format.js';
import type { EvalSplit } from './model.js';

/** Exit code for a detected soundness bug (verified but broken by PGD). */
export const EXIT_SOUNDNESS = 3;

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
