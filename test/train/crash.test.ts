/**
 * `vnet train` killed with SIGKILL in the middle of a run: every file in the run directory is
 * still whole (JSON parses, safetensors decode), and `--resume` finishes with exactly the numbers
 * of an uninterrupted run (computed in-process on the same files and backend).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpecModule } from '../../src/codegen/load.js';
import { loadDataset } from '../../src/runtime/io/datasets.js';
import { encodeIdx } from '../../src/runtime/io/idx.js';
import { readSafetensors } from '../../src/runtime/io/safetensors.js';
import { RunDir } from '../../src/runtime/train/rundir.js';
import { TrainSession } from '../../src/runtime/train/run.js';
import { useCpu } from './helpers.js';
import { TINY_SPEC, syntheticData, writeSpec } from './tiny.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const EPOCHS = 4;
const spec = writeSpec(TINY_SPEC.replace('epochs     = 3', `epochs     = ${EPOCHS}`), 'tiny-crash');
const dataDir = mkdtempSync(join(tmpdir(), 'vnet-crash-data-'));

/** Writes a synthetic data set as Fashion-MNIST IDX files. */
function writeIdx(prefix: string, n: number, seed: number): void {
  const ds = syntheticData(n, seed);
  const bytes = Uint8Array.from(ds.x, (v) => Math.round(v * 255));
  writeFileSync(join(dataDir, `${prefix}-images-idx3-ubyte.gz`), encodeIdx([n, 28, 28], bytes, true));
  writeFileSync(join(dataDir, `${prefix}-labels-idx1-ubyte.gz`), encodeIdx([n], Uint8Array.from(ds.y), true));
}

/** Runs `vnet train` in a child process; `kill` decides when to SIGKILL it. Resolves with the exit code or signal. */
function vnetTrain(
  args: readonly string[],
  kill?: (child: ReturnType<typeof spawn>) => void,
): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'train', spec, '--data', dataDir, '--backend', 'cpu', ...args],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  kill?.(child);
  return new Promise((res) =>
    child.on('exit', (code, sig) => res(sig ?? `exit ${code}${code ? `: ${err}` : ''}`)),
  );
}

/** Every file of the run directory decodes; no partial file exists. */
function expectWholeFiles(dir: string): void {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f.endsWith('.tmp')) continue; // a temporary file of an interrupted atomic write
    if (f.endsWith('.json')) expect(() => JSON.parse(readFileSync(p, 'utf8')), f).not.toThrow();
    else if (f.endsWith('.jsonl')) expect(() => new RunDir(dir).readMetrics(), f).not.toThrow();
    else if (f.endsWith('.safetensors')) expect(() => readSafetensors(p), f).not.toThrow();
  }
}

beforeAll(async () => {
  writeIdx('train', 80, 1);
  writeIdx('t10k', 20, 2);
  await useCpu();
});

describe('vnet train under kill -9', () => {
  it('leaves whole files and resumes to the uninterrupted result', async () => {
    const mod = await loadSpecModule(spec);
    const data = await loadDataset('fashion-mnist', {
      dir: dataDir,
      split: 'train',
      expectShape: [1, 28, 28],
    });
    const ref = mkdtempSync(join(tmpdir(), 'vnet-crash-ref-'));
    const s = TrainSession.open({
      module: mod,
      recipe: mod.recipe!,
      data,
      outDir: ref,
      stream: { write: () => true },
    });
    await mod.train!(s);
    s.dispose();

    const out = mkdtempSync(join(tmpdir(), 'vnet-crash-run-'));
    const metrics = join(out, 'metrics.jsonl');
    const killed = await vnetTrain(['--out', out], (child) => {
      // Once an epoch is done, kill at a random moment of the following ones.
      const poll = setInterval(() => {
        if (existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 1) {
          clearInterval(poll);
          setTimeout(() => child.kill('SIGKILL'), Math.random() * 150);
        }
      }, 5);
      child.on('exit', () => clearInterval(poll));
    });
    expect(killed).toBe('SIGKILL');
    expectWholeFiles(out);
    const done = new RunDir(out).readMetrics().length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(EPOCHS);

    expect(await vnetTrain(['--out', out, '--resume'])).toBe('exit 0');
    expectWholeFiles(out);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const a = readSafetensors(join(ref, 'state.safetensors'));
    const b = readSafetensors(join(out, 'state.safetensors'));
    for (const [name, t] of a.tensors)
      expect(Array.from(b.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
    expect(
      readFileSync(join(out, 'best.safetensors')).equals(readFileSync(join(ref, 'best.safetensors'))),
    ).toBe(true);
    const strip = (d: string): unknown[] => new RunDir(d).readMetrics().map(({ seconds: _s, ...m }) => m);
    expect(strip(out)).toEqual(strip(ref));
    const test = JSON.parse(readFileSync(join(out, 'test.json'), 'utf8')) as {
      images: number;
      ibpVerifiedErr: number;
    };
    expect(test.images).toBe(20);
    expect(test.ibpVerifiedErr).toBeGreaterThanOrEqual(0);
  }, 600_000);
});
