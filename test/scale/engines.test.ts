/**
 * The job engines of examples/: a one-node SLURM cluster started from Debian's packages
 * (test/scale/slurm.ts) runs examples/slurm/verify.sbatch as a 4-task job array, each task a
 * `vnet verify` shard that finds its shard in SLURM_ARRAY_TASK_ID/COUNT; `vnet merge` of the four
 * results files gives the results file, table and certificates of one process. Where SLURM
 * cannot start (not root, no packages, not Linux) that test is skipped with the reason. The
 * Kubernetes Indexed Job of examples/k8s/verify-job.yaml is emulated: its command with
 * JOB_COMPLETION_INDEX = 0…completions−1 and its VNET_SHARD_COUNT, merged, against one process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli } from '../cli-run.js';
import { startSlurm, type Slurm } from './slurm.js';

const ROOT = resolve('.');
const dir = mkdtempSync(join(tmpdir(), 'vnet-engines-'));
const p = (f: string): string => join(dir, f);
const SPEC = 'specs/fmnist-mlp.vnet';
const WEIGHTS = 'models/fmnist-mlp.safetensors';
const DATA = 'data/fashion-mnist-subset';
// 12 samples in batches of 3: one batch per shard of 4; a few seconds of verification per shard
const SETTINGS = [
  '--limit',
  '12',
  '--batch',
  '3',
  '--eps',
  '0.05',
  '--methods',
  'ibp,crown-ibp',
  '--lines',
  'tight',
  '--pgd-steps',
  '5',
  '--pgd-restarts',
  '1',
  '--backend',
  'cpu',
];

/** JSON output or a results file without the timings (which differ from run to run). */
const untimed = (text: string): unknown[] =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => {
      const o = JSON.parse(l) as { seconds?: number; rows?: { seconds?: number }[] };
      delete o.seconds;
      for (const r of o.rows ?? []) delete r.seconds;
      return o;
    });
const untimedJson = (out: string): unknown => untimed(JSON.stringify(JSON.parse(out)))[0];

let single: { json: unknown; results: unknown[]; certs: string } | undefined;
/** The single-process run everything is compared with (run once). */
async function singleRun(): Promise<NonNullable<typeof single>> {
  if (!single) {
    const r = await cli(
      'verify',
      SPEC,
      '--weights',
      WEIGHTS,
      '--data',
      DATA,
      ...SETTINGS,
      '--workers',
      '1',
      '--results',
      p('single.jsonl'),
      '--certificates',
      p('single-certs.jsonl'),
      '--json',
    );
    expect(r.code).toBe(0);
    single = {
      json: untimedJson(r.out),
      results: untimed(readFileSync(p('single.jsonl'), 'utf8')),
      certs: readFileSync(p('single-certs.jsonl'), 'utf8'),
    };
  }
  return single;
}

/** Merges shard results files and compares with one process. */
async function expectSameAsOneProcess(files: readonly string[], tag: string): Promise<void> {
  const one = await singleRun();
  const m = await cli(
    'merge',
    ...files,
    '--out',
    p(`${tag}-all.jsonl`),
    '--certificates',
    p(`${tag}-certs.jsonl`),
    '--json',
  );
  expect(m.err).toBe('');
  expect(m.code).toBe(0);
  expect(untimedJson(m.out)).toEqual(one.json);
  expect(untimed(readFileSync(p(`${tag}-all.jsonl`), 'utf8'))).toEqual(one.results);
  expect(readFileSync(p(`${tag}-certs.jsonl`), 'utf8')).toBe(one.certs);
}

let slurm: Slurm | string = 'not started';
beforeAll(async () => {
  slurm = await startSlurm(p('cluster'));
  if (typeof slurm === 'string') console.warn(`SLURM job-array test skipped: ${slurm}`);
}, 60_000);
afterAll(async () => {
  if (typeof slurm !== 'string') await slurm.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('job engines', () => {
  it('a 4-task SLURM job array of examples/slurm/verify.sbatch, merged, equals one process', async (ctx) => {
    if (typeof slurm === 'string') return ctx.skip(`SLURM could not start: ${slurm}`);
    const cluster = slurm;
    const out = p('slurm-out');
    const logs = p('slurm-logs');
    mkdirSync(logs);
    // asynchronously: sbatch --wait takes a while, and the test worker must keep answering vitest
    const r = await new Promise<{ status: number | null; output: string }>((done) => {
      const child = spawn(
        'sbatch',
        [
          '--wait',
          '--array=0-3',
          '--cpus-per-task=1',
          `--chdir=${ROOT}`,
          `--output=${logs}/task-%a.txt`,
          'examples/slurm/verify.sbatch',
        ],
        {
          env: {
            ...cluster.env,
            VNET: `${process.execPath} ${join(ROOT, 'bin', 'vnet.js')}`,
            SPEC,
            WEIGHTS,
            DATA,
            OUT: out,
            VNET_ARGS: SETTINGS.join(' '),
          },
          timeout: 300_000,
        },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', (e) => done({ status: null, output: output + e.message }));
      child.on('close', (status) => done({ status, output }));
    });
    const taskLogs = [0, 1, 2, 3]
      .map((i) => `${logs}/task-${i}.txt`)
      .map((f) => (existsSync(f) ? `${f}:\n${readFileSync(f, 'utf8')}` : `${f}: none`))
      .join('\n');
    expect(r.status, `sbatch: ${r.output}\n${taskLogs}`).toBe(0);
    const files = [0, 1, 2, 3].map((i) => join(out, `results-${i}.jsonl`));
    // no --shard was given: each task took its shard from SLURM_ARRAY_TASK_ID/COUNT
    files.forEach((f, i) => {
      const header = JSON.parse(readFileSync(f, 'utf8').split('\n')[0]!) as { shard: unknown };
      expect(header.shard).toEqual({ index: i, count: 4 });
    });
    await expectSameAsOneProcess(files, 'slurm');
  }, 400_000);

  it('the Kubernetes Indexed Job of examples/k8s/verify-job.yaml, emulated, merged, equals one process', async () => {
    const yaml = readFileSync('examples/k8s/verify-job.yaml', 'utf8');
    expect(yaml).toMatch(/completionMode: Indexed/);
    const completions = Number(/\n\s+completions: (\d+)/.exec(yaml)?.[1]);
    const count = Number(/name: VNET_SHARD_COUNT\s+value: '(\d+)'/.exec(yaml)?.[1]);
    expect(count).toBe(completions);
    expect(yaml).toMatch(/--results \/results\/results-\$JOB_COMPLETION_INDEX\.jsonl/);
    // the shard comes from the environment: no --shard in the container's command
    expect(yaml.slice(yaml.indexOf('args:'))).not.toMatch(/--shard/);
    const files: string[] = [];
    const saved = { ...process.env };
    try {
      for (let i = 0; i < completions; i++) {
        process.env['JOB_COMPLETION_INDEX'] = String(i);
        process.env['VNET_SHARD_COUNT'] = String(count);
        const f = p(`k8s-results-${i}.jsonl`);
        const r = await cli(
          'verify',
          SPEC,
          '--weights',
          WEIGHTS,
          '--data',
          DATA,
          ...SETTINGS,
          '--workers',
          '1',
          '--results',
          f,
          '--certificates',
          p(`k8s-certs-${i}.jsonl`),
          '--json',
        );
        expect(r.code).toBe(0);
        files.push(f);
      }
    } finally {
      delete process.env['JOB_COMPLETION_INDEX'];
      delete process.env['VNET_SHARD_COUNT'];
      Object.assign(process.env, saved);
    }
    await expectSameAsOneProcess(files, 'k8s');
  }, 300_000);
});
