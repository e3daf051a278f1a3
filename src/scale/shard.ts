/**
 * Shards: a deterministic partition of a job's batches over n processes. Shard i of n holds the
 * batches b with b mod n = i, so every shard gets a balanced share and the batches (and with them
 * the PGD seeds, which depend only on a batch's position) are those of one sequential run. Where
 * `--shard` is omitted, the shard comes from the job engine's environment: a SLURM job array
 * (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed
 * Job (JOB_COMPLETION_INDEX of VNET_SHARD_COUNT, which the job sets to its `completions`).
 */
import { UserError } from '../base/errors.js';

export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** The whole job in one process. */
export const WHOLE: Shard = { index: 0, count: 1 };

const intOf = (s: string | undefined): number | undefined =>
  s !== undefined && /^\s*\d+\s*$/.test(s) ? Number(s) : undefined;

function checked(index: number | undefined, count: number | undefined, what: string): Shard {
  if (index === undefined || count === undefined || !(count >= 1) || !(index < count))
    throw new UserError(`${what}: expected a shard i/n with 0 ≤ i < n`);
  return { index, count };
}

/** Parses `i/n` (0-based i). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  return checked(intOf(m?.[1]), intOf(m?.[2]), `--shard '${text}'`);
}

/** The shard the environment names (SLURM array task, Kubernetes Indexed Job), or undefined. */
export function shardFromEnv(env: Readonly<Record<string, string | undefined>>): Shard | undefined {
  const slurmId = env['SLURM_ARRAY_TASK_ID'];
  if (slurmId !== undefined) {
    const id = intOf(slurmId);
    const min = intOf(env['SLURM_ARRAY_TASK_MIN'] ?? '0');
    const count = intOf(env['SLURM_ARRAY_TASK_COUNT']);
    return checked(
      id !== undefined && min !== undefined ? id - min : undefined,
      count,
      `SLURM_ARRAY_TASK_ID=${slurmId} (min ${env['SLURM_ARRAY_TASK_MIN'] ?? 'unset'}, count ${env['SLURM_ARRAY_TASK_COUNT'] ?? 'unset'}; arrays must be contiguous, e.g. --array=0-3)`,
    );
  }
  const k8s = env['JOB_COMPLETION_INDEX'];
  if (k8s !== undefined) {
    return checked(
      intOf(k8s),
      intOf(env['VNET_SHARD_COUNT']),
      `JOB_COMPLETION_INDEX=${k8s} with VNET_SHARD_COUNT=${env['VNET_SHARD_COUNT'] ?? 'unset'} (set it to the job's completions)`,
    );
  }
  return undefined;
}

/** The batches of `shard` among `batches` (ascending). */
export function shardBatches(batches: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let b = shard.index; b < batches; b += shard.count) out.push(b);
  return out;
}

export const shardName = (s: Shard): string => `${s.index}/${s.count}`;
