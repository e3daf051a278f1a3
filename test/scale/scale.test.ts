/**
 * Scale-out of `vnet verify` end to end on a real spec (fmnist-mlp, fresh weights, the bundled
 * Fashion-MNIST subset): 2 worker threads give the same JSON and certificates as 1; four shards
 * merged by `vnet merge` give the same results as one process; a shard whose results file was cut
 * short (killed) resumes and ends with the same file; merge refuses gaps, duplicates and files of
 * another run. Plus the shard partition and the job-engine environment variables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpecModule } from '../../src/codegen/load.js';
import { saveParams } from '../../src/runtime/io/safetensors.js';
import { initBackend } from '../../src/runtime/backend.js';
import { parseShard, shardBatches, shardFromEnv } from '../../src/scale/shard.js';
import { UserError } from '../../src/base/errors.js';
import { loadJob, type VerifyJob } from '../../src/scale/job.js';
import { runJob } from '../../src/scale/run.js';
import type { BatchOutcome } from '../../src/verify/evaluate.js';
import { cli } from '../cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-scale-'));
const SPEC = 'specs/fmnist-mlp.vnet';
const weights = join(dir, 'w.safetensors');
const other = join(dir, 'w2.safetensors');
const p = (f: string): string => join(dir, f);

beforeAll(async () => {
  await initBackend('cpu');
  const mod = await loadSpecModule(SPEC);
  saveParams(weights, mod.meta, mod.initParams(7));
  saveParams(other, mod.meta, mod.initParams(8));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 10 samples in batches of 3: 4 batches, the last one short
const base = (w = weights): string[] => [
  'verify',
  SPEC,
  '--weights',
  w,
  '--data',
  'data/fashion-mnist-subset',
  '--limit',
  '10',
  '--batch',
  '3',
  '--eps',
  '0.002,0.01',
  '--methods',
  'ibp,crown-ibp',
  '--lines',
  'tight,adaptive',
  '--pgd-steps',
  '5',
  '--pgd-restarts',
  '1',
  '--backend',
  'cpu',
  '--json',
];

/** The JSON output without the timings (which differ from run to run). */
function results(out: string): unknown {
  const j = JSON.parse(out) as { seconds?: number; rows: { seconds?: number }[] };
  delete j.seconds;
  for (const r of j.rows) delete r.seconds;
  return j;
}
/** A results file without the timings. */
const resultsFile = (path: string): unknown[] => resultsText(readFileSync(path, 'utf8'));
function resultsText(text: string): unknown[] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => {
      const o = JSON.parse(l) as { seconds?: number; rows?: { seconds?: number }[] };
      delete o.seconds;
      for (const r of o.rows ?? []) delete r.seconds;
      return o;
    });
}

describe('vnet verify over workers and shards', () => {
  let single: unknown;
  it('2 worker threads give the same verdicts, bounds and certificates as 1', async () => {
    const one = await cli(
      ...base(),
      '--workers',
      '1',
      '--results',
      p('one.jsonl'),
      '--certificates',
      p('c1.jsonl'),
    );
    expect(one.err).toBe('');
    expect(one.code).toBe(0);
    single = results(one.out);
    const two = await cli(...base(), '--workers', '2', '--certificates', p('c2.jsonl'));
    expect(two.code).toBe(0);
    expect(results(two.out)).toEqual(single);
    const c1 = readFileSync(p('c1.jsonl'), 'utf8');
    expect(c1.trimEnd().split('\n')).toHaveLength(10 * 2 * 2 * 2);
    expect(readFileSync(p('c2.jsonl'), 'utf8')).toBe(c1);
    const rows = (single as { rows: { verified: number; unconfirmed: number; n: number }[] }).rows;
    expect(rows.every((r) => r.n === 10 && r.unconfirmed === 0)).toBe(true);
  }, 300_000);

  it('four shards merged give the results of one process; merge refuses gaps, duplicates and other runs', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await cli(
        ...base(),
        '--workers',
        '1',
        '--shard',
        `${i}/4`,
        '--results',
        p(`s-${i}.jsonl`),
        '--certificates',
        p(`cs-${i}.jsonl`),
      );
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).n).toBe(i === 3 ? 1 : 3); // batch i of 3, 3, 3, 1 samples
    }
    const shards = [0, 1, 2, 3].map((i) => p(`s-${i}.jsonl`));
    const m = await cli('merge', ...shards, '--out', p('all.jsonl'), '--json');
    expect(m.code).toBe(0);
    expect(results(m.out)).toEqual(single);
    expect(resultsFile(p('all.jsonl'))).toEqual(resultsFile(p('one.jsonl')));
    const csv = await cli('merge', ...shards, '--out', p('all.csv'));
    expect(csv.code).toBe(0);
    const lines = readFileSync(p('all.csv'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toMatch(/^eps,method,lines,n,misclassified,pgdBroken,verified,unconfirmed,/);
    expect(lines).toHaveLength(1 + 8);

    const gap = await cli('merge', ...shards.slice(0, 3));
    expect(gap.code).toBe(1);
    expect(gap.err).toMatch(/batches 3 of 4 are in none of the files/);
    const dup = await cli('merge', ...shards, shards[1]!);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/batch 1 is in .*s-1\.jsonl and .*s-1\.jsonl/);
    const o = await cli(...base(other), '--workers', '1', '--shard', '3/4', '--results', p('o-3.jsonl'));
    expect(o.code).toBe(0);
    const mixed = await cli('merge', ...shards.slice(0, 3), p('o-3.jsonl'));
    expect(mixed.code).toBe(1);
    expect(mixed.err).toMatch(/o-3\.jsonl is of another run .*different weightsHash/);
  }, 300_000);

  it('a shard killed mid-run resumes from its results file and ends with the same file', async () => {
    const full = p('r.jsonl');
    const r = await cli(...base(), '--workers', '1', '--shard', '0/2', '--results', full);
    expect(r.code).toBe(0);
    const done = readFileSync(full, 'utf8').trimEnd().split('\n'); // header, batch 0, batch 2
    expect(done).toHaveLength(3);
    // as if killed while writing batch 2: header and batch 0 complete, a torn line after them
    writeFileSync(full, done.slice(0, 2).join('\n') + '\n');
    appendFileSync(full, done[2]!.slice(0, 40));
    const again = await cli(...base(), '--workers', '1', '--shard', '0/2', '--results', full);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/resumed 1 finished batches/);
    expect(results(again.out)).toEqual(results(r.out));
    expect(resultsFile(full)).toEqual(resultsText(done.join('\n')));
    // another shard or another run is refused, and the file is left alone
    const wrong = await cli(...base(), '--workers', '1', '--shard', '1/2', '--results', full);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/holds shard 0\/2, this run is shard 1\/2/);
    const otherRun = await cli(...base(other), '--workers', '1', '--shard', '0/2', '--results', full);
    expect(otherRun.code).toBe(1);
    expect(otherRun.err).toMatch(/holds results of another run \(different weightsHash\)/);
    expect(readFileSync(full, 'utf8').trimEnd().split('\n')).toHaveLength(3);
  }, 300_000);
});

describe('the worker pool', () => {
  it('pool threads alone (2 of them) give the outcomes of this thread alone', async () => {
    const job: VerifyJob = {
      specPath: SPEC,
      weightsPath: weights,
      backend: 'cpu',
      data: { split: 'test', dir: 'data/fashion-mnist-subset', limit: 7 },
      settings: {
        eps: [0.002, 0.01],
        methods: ['ibp', 'crown-ibp'],
        lines: ['tight'],
        batch: 2,
        pgd: { steps: 5, restarts: 1, seed: 1 },
        pgdStep: [0.001, 0.002],
        certificates: true,
      },
    };
    const loaded = await loadJob(job);
    const untimed = (os: readonly BatchOutcome[]): unknown =>
      [...os]
        .sort((a, b) => a.batch - b.batch)
        .map((o) => ({ ...o, seconds: 0, rows: o.rows.map((r) => ({ ...r, seconds: 0 })) }));
    const one = await runJob(job, loaded, { workers: 1 });
    expect(one.poolBatches).toBe(0);
    const pool = await runJob(job, loaded, { workers: 3, mainThread: false });
    expect(pool.poolBatches).toBe(4);
    expect(untimed(pool.outcomes)).toEqual(untimed(one.outcomes));
    expect(one.outcomes.flatMap((o) => o.certificates)).toHaveLength(7 * 2 * 2);
  }, 300_000);
});

describe('shards', () => {
  it('partition the batches exactly once, balanced', () => {
    for (const n of [1, 2, 3, 7]) {
      const all = Array.from({ length: n }, (_, i) => shardBatches(10, { index: i, count: n })).flat();
      expect(all.sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    }
    expect(shardBatches(10, parseShard('1/4'))).toEqual([1, 5, 9]);
    expect(() => parseShard('4/4')).toThrow(UserError);
    expect(() => parseShard('1-4')).toThrow(/expected a shard i\/n/);
  });

  it('come from SLURM array and Kubernetes Indexed Job variables', () => {
    expect(shardFromEnv({})).toBeUndefined();
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({
      index: 2,
      count: 4,
    });
    expect(
      shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' }),
    ).toEqual({ index: 3, count: 4 });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(
      /contiguous/,
    );
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '0', VNET_SHARD_COUNT: '3' })).toEqual({
      index: 0,
      count: 3,
    });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '0' })).toThrow(/VNET_SHARD_COUNT=unset/);
  });
});
