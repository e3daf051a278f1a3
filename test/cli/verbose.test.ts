/**
 * The backend choice is a detail: without --verbose a command prints no backend line (the old
 * "tensorflow not available" line of every command is gone); with --verbose it names the backend
 * and why it was chosen; --quiet silences it again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-verbose-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--verbose shows the backend choice, nothing else does', () => {
  it('vnet init with and without --verbose', async () => {
    const plain = await cli(
      'init',
      'specs/fmnist-mlp.vnet',
      '-o',
      join(dir, 'a.safetensors'),
      '--backend',
      'auto',
    );
    expect(plain.code).toBe(0);
    expect(plain.err).not.toMatch(/backend|tensorflow/i);
    const loud = await cli(
      'init',
      'specs/fmnist-mlp.vnet',
      '-o',
      join(dir, 'b.safetensors'),
      '--backend',
      'auto',
      '--verbose',
    );
    expect(loud.code).toBe(0);
    expect(loud.err).toMatch(/^backend: /m);
    const quiet = await cli(
      'init',
      'specs/fmnist-mlp.vnet',
      '-o',
      join(dir, 'c.safetensors'),
      '--verbose',
      '--quiet',
    );
    expect(quiet.err).not.toMatch(/^backend: /m);
  });
});
