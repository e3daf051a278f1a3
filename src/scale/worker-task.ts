/**
 * What one worker thread of the pool does: load the job once (its own tfjs backend, network,
 * rigorous view and samples, cached for the next tasks) and evaluate the batches it is given.
 */
import { evaluateBatch, type BatchOutcome } from '../verify/evaluate.js';
import { loadJob, type LoadedJob, type VerifyJob } from './job.js';

export interface BatchTask {
  readonly job: VerifyJob;
  /** The batch to evaluate; undefined only loads the job (a thread's warm-up). */
  readonly batch?: number;
}

let loaded: { readonly key: string; readonly job: Promise<LoadedJob> } | undefined;

export async function runBatch(t: BatchTask): Promise<BatchOutcome | null> {
  const key = JSON.stringify(t.job);
  if (loaded?.key !== key) loaded = { key, job: loadJob(t.job) };
  const j = await loaded.job;
  return t.batch === undefined ? null : evaluateBatch(j.net, j.data, j.settings, t.batch);
}
