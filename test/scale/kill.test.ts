/**
 * A killed run loses only its unfinished batches: `vnet verify --workers 2 --results FILE` in a
 * child process is killed (SIGKILL, the process and its worker threads at once) after some
 * batches are in its results file; the same command run again resumes (evaluates only the
 * missing batches) and ends with the results file and table of one uninterrupted process.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-kill-'));
const p = (f: string): string => join(dir, f);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 16 samples in batches of 2: 8 batches
const ARGS = [
  'verify',
  'specs/fmnist-mlp.vnet',
  '--weights',
  'models/fmnist-mlp.safetensors',
  '--data',
  'data/fashion-mnist-subset',
  '--limit',
  '16',
  '--batch',
  '2',
  '--eps',
  '0.05',
  '--methods',
  'ibp,crown-ibp',
  '--lines',
  'tight',
  '--pgd-steps',
  '20',
  '--pgd-restarts',
  '1',
  '--backend',
  'cpu',
  '--json',
];

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
const lineCount = (f: string): number => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').length - 1 : 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a killed run', () => {
  it('resumes when the same command runs again, and ends as one uninterrupted run', async () => {
    const one = await cli(...ARGS, '--workers', '1', '--results', p('one.jsonl'));
    expect(one.code).toBe(0);

    const file = p('killed.jsonl');
    const child = spawn(process.execPath, ['bin/vnet.js', ...ARGS, '--workers', '2', '--results', file], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let alive = true;
    void exited.then(() => (alive = false));
    // kill it once 2 of the 8 batches are in the file (header + 2 lines)
    while (alive && lineCount(file) < 3) await sleep(20);
    expect(alive, 'the run finished before it could be killed').toBe(true);
    child.kill('SIGKILL');
    await exited;
    const kept = lineCount(file) - 1;
    expect(kept).toBeGreaterThanOrEqual(2);
    expect(kept).toBeLessThan(8);

    const again = await cli(...ARGS, '--workers', '2', '--results', file);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(new RegExp(`resumed ${kept} finished batches`));
    const table = (out: string): unknown => untimed(JSON.stringify(JSON.parse(out)))[0];
    expect(table(again.out)).toEqual(table(one.out));
    expect(untimed(readFileSync(file, 'utf8'))).toEqual(untimed(readFileSync(p('one.jsonl'), 'utf8')));
  }, 300_000);
});
