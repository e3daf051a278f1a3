/**
 * Diagnostic baselines (TypeScript style): each `test/cases/errors/<name>.vnet` is checked with
 * `checkFile` and its diagnostics, rendered without colour, must equal
 * `test/baselines/<name>.errors.txt` (a few cases too large to commit are generated here). Accept changes with `npx vitest run test/diagnostics -u`
 * and review the diff. A meta-test makes sure every code of the message table has a baseline.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allCodes, codeText } from '../../src/diagnostics/messages.js';
import { renderPretty } from '../../src/diagnostics/render.js';
import { checkFile, checkSource } from '../../src/semantics/index.js';

const CASES = new URL('../cases/errors/', import.meta.url);
const BASELINES = new URL('../baselines/', import.meta.url);
/** VNN-LIB error baselines (test/vnnlib/parse.test.ts). */
const VNNLIB_BASELINES = new URL('../baselines/vnnlib/', import.meta.url);

/** Cases that are not files in the folder: the path does not exist. */
const ABSENT = ['missing-file.vnet'];

/** Cases too large to commit: their text is made here (the limits of src/syntax/limits.ts). */
const BASE = 'network n {\n  input = 1x28x28\n  classes = 10\n  layers { flatten fc = dense(10) }\n}\n';
const GENERATED: Readonly<Record<string, () => string>> = {
  'spec-too-large.vnet': () =>
    `${BASE}threat {\n  train_eps = 0.1\n  test_eps = [${'0.1, '.repeat(60_000)}0.1]\n}\n`,
  'list-too-long.vnet': () =>
    `${BASE}threat {\n  train_eps = 0.1\n  test_eps = [${'0.1, '.repeat(10_000)}0.2]\n}\n`,
  'too-many-tokens.vnet': () =>
    `${BASE}train {\n${Array.from({ length: 17_000 }, (_, i) => `  k${i} = 1\n`).join('')}}\n`,
};

/** Codes no spec can produce, with the reason. */
const UNREACHABLE: Readonly<Record<number, string>> = {
  9001: 'internal compiler error: only a bug in vnet produces it (checkSource turns exceptions into it)',
};

const names = [
  ...readdirSync(CASES).filter((f) => f.endsWith('.vnet')),
  ...ABSENT,
  ...Object.keys(GENERATED),
].sort();

/** The diagnostics of one case, rendered with the path as written from the repository root. */
function render(file: string): string {
  const canonical = `test/cases/errors/${file}`;
  const make = GENERATED[file];
  if (make) return renderPretty(checkSource(canonical, make()).diagnostics);
  const actual = relative(process.cwd(), fileURLToPath(new URL(file, CASES)));
  const { diagnostics } = checkFile(actual);
  expect(diagnostics.length, `${file} should produce diagnostics`).toBeGreaterThan(0);
  return renderPretty(diagnostics).split(actual).join(canonical);
}

describe('diagnostic baselines', () => {
  it('has at least 30 bad specs', () => {
    expect(names.length).toBeGreaterThanOrEqual(30);
  });

  for (const file of names) {
    const name = file.replace(/\.vnet$/, '');
    it(name, async () => {
      await expect(render(file)).toMatchFileSnapshot(fileURLToPath(new URL(`${name}.errors.txt`, BASELINES)));
    });
  }

  it('every code of the message table has a baseline, or is listed as unreachable', () => {
    const seen = new Set<string>();
    for (const dir of [BASELINES, VNNLIB_BASELINES])
      for (const f of readdirSync(dir).filter((b) => b.endsWith('.errors.txt')))
        for (const m of readFileSync(new URL(f, dir), 'utf8').matchAll(/\b(VN\d{4})\b/g)) seen.add(m[1]!);
    const missing = allCodes().filter((c) => !seen.has(codeText(c)) && !(c in UNREACHABLE));
    expect(missing.map(codeText)).toEqual([]);
    for (const c of Object.keys(UNREACHABLE)) expect(allCodes()).toContain(Number(c));
  });

  it('no baseline is left without its case', () => {
    for (const f of readdirSync(BASELINES).filter((b) => b.endsWith('.errors.txt')))
      expect(names, f).toContain(f.replace(/\.errors\.txt$/, '.vnet'));
    for (const f of [...ABSENT, ...Object.keys(GENERATED)]) expect(existsSync(new URL(f, CASES))).toBe(false);
  });
});
