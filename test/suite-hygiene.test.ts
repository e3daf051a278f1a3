/**
 * The suite stays responsive to vitest (see vitest.config.ts): no test runs a child process
 * synchronously (spawnSync/execFileSync/execSync block the worker's event loop for the child's
 * whole run, and vitest's RPC times out after 60 s); children go through test/child.ts. The one
 * exception is a `tar` of a few files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const TEST = import.meta.dirname;
const ALLOWED: Readonly<Record<string, RegExp>> = { 'io/datasets.test.ts': /execFileSync\('tar'/ };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('test suite hygiene', () => {
  it('no synchronous child processes in tests', () => {
    const bad: string[] = [];
    for (const f of files(TEST)) {
      const rel = relative(TEST, f);
      if (rel === 'suite-hygiene.test.ts') continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\b(spawnSync|execFileSync|execSync)\(/.test(line) && !ALLOWED[rel]?.test(line))
            bad.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(bad).toEqual([]);
    expect(files(TEST).length).toBeGreaterThan(50);
  });
});
