/**
 * Results files: what a (shard of a) verification run has finished, as JSON lines. Line 1 is the
 * header (the run: spec, weight and data hashes, settings; and the shard); every further line is
 * one batch's outcome (evaluate.ts `BatchOutcome`). A running process appends one line per
 * finished batch and fsyncs it, so a killed run loses only its unfinished batches: the same
 * command reads the file back, drops a torn last line, and runs only what is missing. When the
 * shard is complete the file is rewritten atomically in batch order, so the file does not depend
 * on which worker finished first. `vnet merge` reads these files.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileError } from '../base/errors.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import type { BatchOutcome, EvalData } from '../verify/evaluate.js';
import type { EvalSplit } from '../verify/data.js';
import type { JobSettings } from './job.js';
import { shardName, type Shard } from './shard.js';

export const RESULTS_KIND = 'vnet-verify-results';

/** The run a results file belongs to. Paths are informative; the hashes identify the run. */
export interface RunHeader {
  readonly specPath: string;
  readonly weightsPath: string;
  readonly specHash: string;
  readonly weightsHash: string;
  /** sha256 of the samples (inputs and labels) in evaluation order. */
  readonly dataHash: string;
  readonly network: string;
  readonly dataset: string;
  readonly evalEta: number | null;
  readonly split: EvalSplit;
  readonly source: string;
  readonly n: number;
  readonly settings: JobSettings;
}

export interface ResultsHeader {
  readonly kind: typeof RESULTS_KIND;
  readonly version: 1;
  readonly run: RunHeader;
  readonly shard: Shard;
}

export interface ResultsFile {
  readonly header: ResultsHeader;
  readonly outcomes: readonly BatchOutcome[];
  /** Length in bytes of the complete lines (a torn last line is not counted). */
  readonly validBytes: number;
}

/** sha256 of a sample set: inputs, labels and dataset indices. */
export function dataHash(d: EvalData): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(d.x.buffer, d.x.byteOffset, d.x.byteLength));
  h.update(JSON.stringify(Array.from(d.labels)));
  if (d.indices) h.update(JSON.stringify(Array.from(d.indices)));
  return h.digest('hex');
}

/** What must agree between two files of the same run (everything but the paths and the source text). */
export function runIdentity(r: RunHeader): string {
  const { specPath: _s, weightsPath: _w, source: _src, ...id } = r;
  return JSON.stringify(id);
}

/** The fields of two runs that differ (for error messages). */
export function runDifferences(a: RunHeader, b: RunHeader): string[] {
  const keys = Object.keys(a) as (keyof RunHeader)[];
  return keys
    .filter((k) => !['specPath', 'weightsPath', 'source'].includes(k))
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a results file; a torn last line (no newline: the writer was killed) is ignored. */
export function readResults(path: string): ResultsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fileError(path, `cannot read (${(e as Error).message})`);
  }
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n').slice(0, -1);
  if (lines.length === 0) throw fileError(path, 'is empty or has no complete header line');
  const parse = (l: string, i: number): unknown => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      throw fileError(`${path}:${i + 1}`, 'is not valid JSON');
    }
  };
  const header = parse(lines[0]!, 0);
  if (!isObj(header) || header['kind'] !== RESULTS_KIND || header['version'] !== 1 || !isObj(header['run']))
    throw fileError(path, `is not a vnet results file (line 1 has no "kind": "${RESULTS_KIND}", version 1)`);
  const outcomes = lines.slice(1).map((l, i) => {
    const o = parse(l, i + 1);
    if (!isObj(o) || !Number.isSafeInteger(o['batch']) || !Array.isArray(o['rows']))
      throw fileError(`${path}:${i + 2}`, 'is not a batch outcome');
    return o as unknown as BatchOutcome;
  });
  return {
    header: header as unknown as ResultsHeader,
    outcomes,
    validBytes: Buffer.byteLength(text.slice(0, end)),
  };
}

const line = (v: unknown): string => JSON.stringify(v) + '\n';

/** Appends finished batches to a results file, one fsynced line each. */
export class ResultsWriter {
  private constructor(
    readonly path: string,
    readonly header: ResultsHeader,
    /** Outcomes already in the file when it was opened (a resumed run). */
    readonly resumed: readonly BatchOutcome[],
  ) {}

  /**
   * Opens `path` for `header`: a new file, or an existing one of the same run and shard, whose
   * finished batches are returned in `resumed` (a torn last line is cut off). A file of another
   * run or shard is an error: nothing is overwritten.
   */
  static open(path: string, header: ResultsHeader, batches: readonly number[]): ResultsWriter {
    if (!existsSync(path)) {
      writeFileAtomic(path, line(header));
      return new ResultsWriter(path, header, []);
    }
    const old = readResults(path);
    const diff = runDifferences(old.header.run, header.run);
    if (diff.length > 0)
      throw fileError(path, `holds results of another run (different ${diff.join(', ')})`, [
        'delete it to start over, or choose another --results file',
      ]);
    if (shardName(old.header.shard) !== shardName(header.shard))
      throw fileError(
        path,
        `holds shard ${shardName(old.header.shard)}, this run is shard ${shardName(header.shard)}`,
      );
    const mine = new Set(batches);
    const seen = new Map<number, BatchOutcome>();
    for (const o of old.outcomes) {
      if (!mine.has(o.batch)) throw fileError(path, `holds batch ${o.batch}, which is not in this shard`);
      seen.set(o.batch, o);
    }
    truncateSync(path, old.validBytes);
    return new ResultsWriter(path, header, [...seen.values()]);
  }

  /** Appends one finished batch (fsynced before returning). */
  append(o: BatchOutcome): void {
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, line(o));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Rewrites the file atomically with all outcomes in batch order. */
  finish(outcomes: readonly BatchOutcome[]): void {
    writeResults(this.path, this.header, outcomes);
  }
}

/** Writes a complete results file atomically, outcomes in batch order. */
export function writeResults(path: string, header: ResultsHeader, outcomes: readonly BatchOutcome[]): void {
  const sorted = [...outcomes].sort((a, b) => a.batch - b.batch);
  writeFileAtomic(path, line(header) + sorted.map(line).join(''));
}
