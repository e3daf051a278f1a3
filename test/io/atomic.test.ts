import { describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../src/runtime/io/atomic.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnet-atomic-'));

describe('writeFileAtomic', () => {
  test('writes, overwrites, creates parent directories and leaves no temp file', () => {
    const p = join(tmp, 'a', 'b', 'x.bin');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    writeFileAtomic(p, 'hello');
    expect(readFileSync(p, 'utf8')).toBe('hello');
    expect(readdirSync(join(tmp, 'a', 'b'))).toEqual(['x.bin']);
  });

  test('writeJsonAtomic pretty-prints with a trailing newline', () => {
    const p = join(tmp, 'j.json');
    writeJsonAtomic(p, { a: [1] });
    expect(readFileSync(p, 'utf8')).toBe('{\n  "a": [\n    1\n  ]\n}\n');
  });

  test('a failed write keeps the old target and removes its temp file', () => {
    const dir = join(tmp, 'fail');
    mkdirSync(join(dir, 'target'), { recursive: true });
    writeFileSync(join(dir, 'target', 'keep'), 'old');
    // Renaming a file over a non-empty directory fails.
    expect(() => writeFileAtomic(join(dir, 'target'), 'new')).toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readFileSync(join(dir, 'target', 'keep'), 'utf8')).toBe('old');
  });

  test('kill -9 during repeated writes never leaves a partial file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnet-kill-'));
    const target = join(dir, 'ckpt.bin');
    const size = 4 << 20;
    writeFileSync(target, Buffer.alloc(size, 0x61));
    const atomic = resolve(import.meta.dirname, '../../src/runtime/io/atomic.ts');
    const script = `
      const { writeFileAtomic } = await import(${JSON.stringify(atomic)});
      const bufs = [Buffer.alloc(${size}, 0x62), Buffer.alloc(${size}, 0x63)];
      process.stdout.write('go\\n');
      for (let i = 0; ; i++) writeFileAtomic(${JSON.stringify(target)}, bufs[i % 2]);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((res) => child.stdout.once('data', () => res()));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const got = readFileSync(target);
    expect(got.length).toBe(size);
    const first = got[0]!;
    expect([0x62, 0x63]).toContain(first); // the child did write
    expect(got.every((b) => b === first)).toBe(true);
  });
});
