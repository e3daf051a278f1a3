/**
 * Runs a verification job (or one shard of it) over a pool of worker threads, resuming from its
 * results file. Each batch is evaluated exactly as in one sequential process (`evaluateBatch`:
 * the same samples, the same PGD seeds), so the outcomes, combined in batch order, give the same
 * verdicts, bounds, counterexamples and certificates for any number of workers, shards or
 * restarts. `workers` N: this thread and N − 1 piscina threads (maintained, with a task queue and
 * worker lifecycle handled), each thread with its own tfjs backend, take the batches in order.
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

const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

/** Default worker count: the cores this process may use. */
export const defaultWorkers = (): number => availableParallelism();

export interface RunJobOptions {
  readonly workers: number;
  readonly shard?: Shard;
  /** Results file: appended per batch, resumed from when it exists. */
  readonly results?: string;
  /** Batches done (resumed ones included) out of this shard's batches. */
  readonly onProgress?: ProgressFn;
  /**
   * With workers > 1, whether this thread evaluates batches too (default true); false leaves
   * them all to workers − 1 pool threads (tests use it to exercise the pool deterministically).
   */
  readonly mainThread?: boolean;
}

export interface RunJobResult {
  /** The report of this shard's samples (all samples for the whole job). */
  readonly report: EvalReport;
  readonly outcomes: readonly BatchOutcome[];
  /** Batches taken from the results file instead of being evaluated. */
  readonly resumed: number;
  /** Batches evaluated by pool threads (the rest of the evaluated ones ran in this thread). */
  readonly poolBatches: number;
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
  const mainThread = opts.mainThread ?? true;
  const threads = Math.min(opts.workers, todo.length + (mainThread ? 0 : 1));
  let poolBatches = 0;
  // this thread evaluates batches too (its job is loaded already) while the pool's threads start;
  // each pool thread loads the job first and only then takes batches, so no batch waits for a
  // thread that is still starting
  let next = 0;
  const take = (): number | undefined => (next < todo.length ? todo[next++] : undefined);
  const here = async (): Promise<void> => {
    for (let b = take(); b !== undefined; b = take())
      finished(await evaluateBatch(loaded.net, loaded.data, loaded.settings, b));
  };
  if (threads <= 1) await here();
  else {
    const pool = new Piscina<BatchTask, BatchOutcome | null>({
      filename: new URL('./worker.mjs', import.meta.url).href,
      minThreads: threads - 1,
      maxThreads: threads - 1,
      idleTimeout: 1000,
    });
    // a batch a pool thread is evaluating; once this thread finds no batch left, only these are
    // waited for (a thread still starting then is not needed)
    const inflight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const lane = async (): Promise<void> => {
      await pool.run({ job });
      for (let b = take(); b !== undefined; b = take()) {
        const run = pool.run({ job, batch: b }).then((o) => {
          poolBatches++;
          finished(o!);
        });
        inflight.add(run);
        await run;
        inflight.delete(run);
      }
    };
    for (let i = 0; i < threads - 1; i++) void lane().catch((error: unknown) => (failure ??= { error }));
    try {
      if (mainThread) await here();
      else
        while (!failure && (next < todo.length || inflight.size > 0))
          await Promise.race([...inflight, pause()]);
      await Promise.all([...inflight]);
      if (failure) throw failure.error;
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
    poolBatches,
    header,
  };
}
