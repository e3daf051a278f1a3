/**
 * `vnet train` user errors: each is one clear message naming the flag or file, exit code 1, no
 * stack trace. (The data loaders' own defects are tested in test/io/datasets.test.ts; here only
 * that they reach the user through `vnet train`.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { encodeIdx } from '../../src/runtime/io/idx.js';
import { writeSpec } from './tiny.js';
import { TINY_SPEC } from './tiny.js';

const spec = writeSpec(TINY_SPEC);

async function vnet(...argv: string[]): Promise<{ code: number; err: string }> {
  const lines: string[] = [];
  const spy = vi
    .spyOn(console, 'error')
    .mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const out = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await main(argv), err: lines.join('\n') };
  } finally {
    spy.mockRestore();
    out.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('vnet train: user errors', () => {
  it('needs exactly one spec', async () => {
    expect(await vnet('train')).toEqual({
      code: 1,
      err: expect.stringMatching(/error: missing required argument 'spec'/),
    });
    expect((await vnet('train', spec, spec)).err).toMatch(/error: too many arguments for 'train'/);
  });

  it('checks its numeric flags', async () => {
    const r = await vnet('train', spec, '--limit-train', '0');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/'--limit-train' needs a positive integer/);
    expect((await vnet('train', spec, '--epochs', '-3', '--backend', 'cpu')).err).toMatch(/'--epochs'/);
  });

  it('names a bad data file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnet-bad-data-'));
    const images = encodeIdx([10, 28, 28], new Uint8Array(10 * 784), false);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), images.subarray(0, images.length - 100)); // truncated
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), encodeIdx([10], new Uint8Array(10), false));
    const r = await vnet('train', spec, '--data', dir, '--backend', 'cpu', '--out', join(dir, 'run'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/train-images-idx3-ubyte: truncated/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('refuses --resume where there is no run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnet-no-run-'));
    const data = mkdtempSync(join(tmpdir(), 'vnet-data-'));
    writeFileSync(
      join(data, 'train-images-idx3-ubyte'),
      encodeIdx([10, 28, 28], new Uint8Array(10 * 784), false),
    );
    writeFileSync(join(data, 'train-labels-idx1-ubyte'), encodeIdx([10], new Uint8Array(10), false));
    const r = await vnet('train', spec, '--data', data, '--backend', 'cpu', '--resume', '--out', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--resume: .* holds no run to resume/);
  });
});
