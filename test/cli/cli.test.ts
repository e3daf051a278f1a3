/**
 * The CLI as a user runs it (`node bin/vnet.js`, i.e. from dist/): commander's conventions, the
 * checks of flag values, and that the fast commands do not load TensorFlow.js or ts-morph.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { commanderMessage } from '../../src/cli/main.js';
import { node, type ChildResult } from '../child.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `node bin/vnet.js ARGS` in a child process (async: the test worker stays responsive). */
const vnet = (...args: string[]): Promise<ChildResult> => node(['bin/vnet.js', ...args]);

describe('commander conventions', () => {
  test('--help, -h, --version, help <command>', async () => {
    const top = await vnet('--help');
    expect(top.code).toBe(0);
    for (const c of ['check', 'compile', 'train', 'verify', 'inspect', 'report', 'init', 'bounds'])
      expect(top.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect((await vnet('-h')).out).toBe(top.out);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect((await vnet('--version')).out.trim()).toBe(pkg.version);
    const help = await vnet('help', 'train');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: vnet train \[options\] <spec>/);
    expect(help.out).toMatch(/-o, --out <DIR>/);
    expect(help.out).toMatch(/-q, --quiet/);
    expect((await vnet('train', '--help')).out).toBe(help.out);
  });

  test('unknown commands and options get suggestions; exit 1, no stack trace', async () => {
    const c = await vnet('chek', 'x.vnet');
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/error: unknown command 'chek'\nhelp: did you mean 'check'\?/);
    const o = await vnet('check', '--jsn', 'specs/fmnist-mlp.vnet');
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/error: unknown option '--jsn'\nhelp: did you mean '--json'\?/);
    expect(o.err).not.toMatch(/at .*\.js:\d+/);
  });

  test('short flags and --flag=value', async () => {
    const a = join(tmp, 'a');
    const b = join(tmp, 'b');
    expect((await vnet('compile', 'specs/fmnist-mlp.vnet', '-o', a)).code).toBe(0);
    expect((await vnet('compile', 'specs/fmnist-mlp.vnet', `--out=${b}`)).code).toBe(0);
    expect(readFileSync(join(a, 'fmnist-mlp.ts'), 'utf8')).toBe(
      readFileSync(join(b, 'fmnist-mlp.ts'), 'utf8'),
    );
  });

  test('flag values are validated: numbers, empty list items, a value that is the next option', async () => {
    const spec = 'specs/fmnist-mlp.vnet';
    const n = await vnet('verify', spec, '--weights', 'w.safetensors', '--batch', 'ten');
    expect(n.code).toBe(1);
    expect(n.err).toMatch(/--batch <N>' argument 'ten' is invalid. not a number/);
    const l = await vnet('verify', spec, '--weights', 'w.safetensors', '--methods', 'ibp,,crown-ibp');
    expect(l.code).toBe(1);
    expect(l.err).toMatch(/'ibp,,crown-ibp' has an empty item/);
    const h = await vnet('bounds', spec, '--weights', '--help');
    expect(h.code).toBe(1);
    expect(h.err).toMatch(/option '--weights' needs a value, but the next argument is the option '--help'/);
    expect(h.err).toMatch(/--weights=--help/);
  });

  test('commander messages in vnet form', () => {
    expect(commanderMessage("error: unknown option '--x'\n(Did you mean --y?)\n")).toBe(
      "error: unknown option '--x'\nhelp: did you mean '--y'?",
    );
    expect(commanderMessage("error: unknown command 'a'\n(Did you mean one of b, c?)")).toBe(
      "error: unknown command 'a'\nhelp: did you mean 'b' or 'c'?",
    );
  });
});

describe('bounds on the shipped example input', () => {
  test('docs/examples/bounds-input.json: --json has method, lines, backend, batch and time; ε beyond the domain warns', async () => {
    const w = join(tmp, 'init.safetensors');
    expect((await vnet('init', 'specs/fmnist-mlp.vnet', '-o', w, '--backend', 'cpu')).code).toBe(0);
    const args = [
      'bounds',
      'specs/fmnist-mlp.vnet',
      '--weights',
      w,
      '--input',
      'docs/examples/bounds-input.json',
    ];
    const r = await vnet(
      ...args,
      '--eps',
      '0.01',
      '--method',
      'crown-ibp',
      '--batch',
      '1',
      '--backend',
      'cpu',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(j).toMatchObject({ method: 'crown-ibp', lines: 'tight', eps: 0.01, batch: 1, spec: 'margin' });
    expect(j['backend']).toMatch(/^cpu/);
    expect(j['seconds']).toBeGreaterThan(0);
    expect((j['lower'] as unknown[]).length).toBe(2);
    const far = await vnet(...args, '--eps', '1e9', '--method', 'ibp', '--backend', 'cpu', '--json');
    expect(far.code).toBe(0);
    expect(far.err).toMatch(/warning: ε = 1000000000 is not smaller than the width 1 of the input domain/);
    expect(() => JSON.parse(far.out) as unknown).not.toThrow();
    expect((await vnet(...args, '--eps', '8', '--method', 'ibp', '--backend', 'cpu')).err).toMatch(
      /did you mean 8\/255\?/,
    );
  }, 300_000);
});

/** Static (non-type, non-dynamic) imports of a source file, resolved. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)';/gms)) out.push(m[1]!);
  for (const m of text.matchAll(/^export\s+(?!type\s)[^;]*?from\s+'([^']+)';/gms)) out.push(m[1]!);
  return out.map((s) => (s.startsWith('.') ? resolve(dirname(file), s).replace(/\.js$/, '.ts') : s));
}

/** Every package reached from `entry` through static imports. */
function packagesReached(entry: string): Set<string> {
  const seen = new Set<string>();
  const pkgs = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const s of staticImports(f)) {
      if (s.startsWith('/')) todo.push(s);
      else if (!s.startsWith('node:')) pkgs.add(s);
    }
  }
  return pkgs;
}

describe('start-up: the fast paths load neither TensorFlow.js nor ts-morph', () => {
  test.each(['src/cli/main.ts', 'src/cli/commands/compile.ts'])('%s', (entry) => {
    const heavy = [...packagesReached(entry)].filter((p) => /^@tensorflow\/|^ts-morph/.test(p));
    expect(heavy).toEqual([]);
    expect(packagesReached(entry).has('commander') || entry.includes('compile')).toBe(true);
  });
});
