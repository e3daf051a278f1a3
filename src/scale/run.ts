/**
 * Runs a verification job (or one shard of it) over a pool of worker threads, resuming from its
 * results file. Each batch is evaluated exactly as in one sequential process (`evaluateBatch`:
 * the same samples, the same PGD seeds), so the outcomes, combined in batch order, give the same
 * verdicts, bounds, counterexamples and certificates for any number of workers, shards or
 * restarts. One worker runs in this thread; more use piscina (maintained, with a task queue and
 * worker lifecycle handled), each thread with its own tfjs backend.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import {
  batchCount,
  combineBatches,
  evaluateBatch,
  type BatchOutcome,
  type EvalReport,
  type ProgressFn,
} from '../verify/evaluate.js';
import type { LoadedJob, VerifyJob } from './job.js';
import { createHash } from 'node:crypto';
import type { LoadedSplit } from '../verify/data.js';
import { dataHash, ResultsWriter, RESULTS_KIND, type ResultsHeader, type RunHeader } from './results.js';
import { shardBatches, WHOLE, type Shard } from './shard.js';
import type { BatchTask } from './worker-task.js';

/** Default worker count: the cores this process may use. */
export const defaultWorkers = (): number => availableParallelism();

export interface RunJobOptions {
  readonly workers: number;
  readonly shard?: Shard;
  /** Results file: appended per batch, resumed from when it exists. */
  readonly results?: string;
  /** Batches done (resumed ones included) out of this shard's batches. */
  readonly onProgress?: ProgressFn;
}

export interface RunJobResult {
  /** The report of this shard's samples (all samples for the whole job). */
  readonly report: EvalReport;
  readonly outcomes: readonly BatchOutcome[];
  /** Batches taken from the results file instead of being evaluated. */
  readonly resumed: number;
  readonly header: ResultsHeader;
}

/** The header of a job's results file. */
export function runHeader(job: VerifyJob, j: LoadedJob): RunHeader {
  return {
    specPath: job.specPath,
    weightsPath: job.weightsPath,
    specHash: j.meta.specHash,
    weightsHash: j.weightsHash,
    dataHash: dataHash(j.data),
    network: j.meta.name,
    dataset: j.meta.train!.dataset,
    evalEta: j.meta.evalEta ?? null,
    split: job.data.split,
    source: j.data.source,
    n: j.data.labels.length,
    settings: job.settings,
  };
}

/**
 * sha256 of one sample as loaded (its float32 bytes in the runtime's internal layout), which a
 * certificate carries so that `vnet check-certificates` checks the very input it was made for.
 */
export function sampleHash(d: LoadedSplit, position: number): string {
  const per = d.x.length / d.labels.length;
  const x = d.x.subarray(position * per, (position + 1) * per);
  return createHash('sha256')
    .update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    .digest('hex');
}

/** Adds the split and the sample's hash to every certificate of an outcome. */
function withSamples(o: BatchOutcome, job: VerifyJob, d: LoadedSplit, at: Map<number, number>): BatchOutcome {
  if (o.certificates.length === 0) return o;
  const hashes = new Map<number, string>();
  const hashOf = (index: number): string => {
    let h = hashes.get(index);
    if (h === undefined) hashes.set(index, (h = sampleHash(d, at.get(index)!)));
    return h;
  };
  return {
    ...o,
    certificates: o.certificates.map((c) => ({ ...c, split: job.data.split, sampleHash: hashOf(c.index) })),
  };
}

/** Runs the batches of `opts.shard` of `job` (`loaded`: the job loaded in this thread). */
export async function runJob(job: VerifyJob, loaded: LoadedJob, opts: RunJobOptions): Promise<RunJobResult> {
  const shard = opts.shard ?? WHOLE;
  const N = loaded.data.labels.length;
  const mine = shardBatches(batchCount(N, job.settings.batch), shard);
  const header: ResultsHeader = { kind: RESULTS_KIND, version: 1, run: runHeader(job, loaded), shard };
  const writer = opts.results !== undefined ? ResultsWriter.open(opts.results, header, mine) : undefined;
  const outcomes: BatchOutcome[] = [...(writer?.resumed ?? [])];
  const done = new Set(outcomes.map((o) => o.batch));
  const todo = mine.filter((b) => !done.has(b));
  const at = new Map<number, number>();
  loaded.data.indices.forEach((index, position) => at.set(index, position));
  const finished = (raw: BatchOutcome): void => {
    const o = withSamples(raw, job, loaded.data, at);
    writer?.append(o);
    outcomes.push(o);
    opts.onProgress?.(outcomes.length, mine.length);
  };
  opts.onProgress?.(outcomes.length, mine.length);
  const threads = Math.min(opts.workers, todo.length);
  if (threads <= 1) {
    for (const b of todo) finished(await evaluateBatch(loaded.net, loaded.data, loaded.settings, b));
  } else {
    const pool = new Piscina<BatchTask, BatchOutcome>({
      filename: new URL('./worker.mjs', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 1000,
    });
    try {
      await Promise.all(todo.map(async (batch) => finished(await pool.run({ job, batch }))));
    } finally {
      await pool.destroy();
    }
  }
  writer?.finish(outcomes);
  const n = outcomes.reduce((t, o) => t + o.n, 0);
  return {
    report: combineBatches(n, loaded.settings, outcomes),
    outcomes,
    resumed: mine.length - todo.length,
    header,
  };
}
