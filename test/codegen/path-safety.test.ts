/**
 * No user text reaches generated code unescaped (issue 17, defects 1 and 2). A fuzz over spec path
 * names (line and paragraph separators, comment closers, quotes, backslashes, control characters,
 * bidi controls, lone surrogates, astral characters) checks that every emitted module parses to the
 * same statements as the module of a plain path, that its `meta.sourcePath` reads back the exact
 * name, and that no line terminator other than `\n` and no raw character of the name outside
 * printable ASCII appears. Spec files with `\`, `?`, `*`, U+2028 in their names compile and load
 * through the module cache.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFile } from '../../src/semantics/index.js';
import { emitModule } from '../../src/codegen/emit-module.js';
import { codeString, commentText } from '../../src/codegen/describe.js';
import { cacheFileFor, loadSpecModule, runtimeImportFrom, VNET_ROOT } from '../../src/codegen/load.js';
import type { ModelIR } from '../../src/ir/ir.js';

const SPEC = join(VNET_ROOT, 'specs', 'fmnist-mlp.vnet');
const base = checkFile(SPEC).model!;
const opts = { runtimeImport: runtimeImportFrom(join(VNET_ROOT, 'generated')) };

const emitWithPath = (path: string): string =>
  emitModule({ ...base, sourcePath: path, moduleName: path.replace(/^.*\//, '') } as ModelIR, opts);

function parse(text: string): ts.SourceFile {
  return ts.createSourceFile('m.ts', text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

const parseErrors = (sf: ts.SourceFile): number =>
  (sf as unknown as { parseDiagnostics: readonly unknown[] }).parseDiagnostics.length;

/** The string value of `meta.<key>` in an emitted module. */
function metaString(sf: ts.SourceFile, key: string): string | undefined {
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const d = st.declarationList.declarations[0]!;
    if (d.name.getText(sf) !== 'meta' || !d.initializer || !ts.isObjectLiteralExpression(d.initializer))
      continue;
    for (const p of d.initializer.properties)
      if (ts.isPropertyAssignment(p) && p.name.getText(sf) === key && ts.isStringLiteral(p.initializer))
        return p.initializer.text;
  }
  return undefined;
}

/** A small seeded PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = [
  '\u2028',
  '\u2029',
  '\n',
  '\r',
  '\u0085',
  '\u0000',
  '\u001b',
  '\u007f',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '😀',
  '*/',
  '/*',
  '//',
  '"',
  "'",
  '`',
  '${',
  '\\',
  '?',
  '*',
  ' ',
  '<',
  '>',
  'é',
  'a',
  'x.vnet',
  '/',
];

function fuzzName(r: () => number): string {
  const n = 1 + Math.floor(r() * 8);
  let s = '';
  for (let i = 0; i < n; i++)
    s += r() < 0.8 ? NASTY[Math.floor(r() * NASTY.length)]! : String.fromCharCode(Math.floor(r() * 0x10000)); // any UTF-16 unit
  return `specs/${s}.vnet`;
}

const LINE_BREAKS = new Set(['\r', '\u0085', '\u2028', '\u2029', '\u000b', '\u000c']);

describe('paths never reach generated code raw', () => {
  const plain = parse(emitWithPath('specs/fmnist-mlp.vnet'));
  const plainKinds = plain.statements.map((s) => s.kind);
  const plainChars = new Set([...plain.text].filter((c) => c > '\x7e'));

  it('codeString keeps printable ASCII only and round-trips', () => {
    for (const s of ['a\u2028b', '*/\n', '\ud800', '😀', '"\\', 'plain']) {
      const lit = codeString(s);
      expect(lit).toMatch(/^[\x20-\x7e]*$/);
      expect(JSON.parse(lit)).toBe(s);
    }
    expect(commentText('specs/a-b_c.vnet')).toBe('specs/a-b_c.vnet');
    expect(commentText('specs/a\u2028b.vnet')).toBe('"specs/a\\u2028b.vnet"');
  });

  it('the U+2028 path of the report: a comment that stays a comment', () => {
    const name = 'specs/x\u2028export const pwned = 1;//.vnet';
    const text = emitWithPath(name);
    expect(text).not.toContain('\u2028');
    const sf = parse(text);
    expect(parseErrors(sf)).toBe(0);
    expect(sf.statements.map((s) => s.kind)).toEqual(plainKinds);
    expect(text).not.toMatch(/^export const pwned/m);
    expect(metaString(sf, 'sourcePath')).toBe(name);
  });

  it('fuzz: 300 random path names', async () => {
    const r = rng(17);
    for (let i = 0; i < 300; i++) {
      // let the worker answer vitest between names (a 300-name loop is a long synchronous stretch)
      if (i % 20 === 0) await new Promise((res) => setTimeout(res, 0));
      const name = fuzzName(r);
      const text = emitWithPath(name);
      const where = `name ${JSON.stringify(name)}`;
      expect(
        [...text].some((c) => LINE_BREAKS.has(c)),
        where,
      ).toBe(false);
      const extra = [...text].filter((c) => c > '\x7e' && !plainChars.has(c));
      expect(extra, where).toEqual([]);
      expect(
        [...text].filter((c) => c < ' ' && c !== '\n'),
        where,
      ).toEqual([]);
      const sf = parse(text);
      expect(parseErrors(sf), where).toBe(0);
      expect(
        sf.statements.map((s) => s.kind),
        where,
      ).toEqual(plainKinds);
      expect(metaString(sf, 'sourcePath'), where).toBe(name);
      expect(metaString(sf, 'moduleName'), where).toBe(name.replace(/^.*\//, ''));
    }
  }, 300_000);
});

describe('spec file names with characters legal in POSIX names compile and load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnet-names-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the cache file name depends only on the module text', () => {
    const f = cacheFileFor('some text', false, '/c');
    expect(f).toMatch(/^\/c\/m-[0-9a-f]{24}\.ts$/);
    expect(cacheFileFor('some text', true, '/c')).toMatch(/\.mjs$/);
  });

  it("names with '\\', '?', '*', '#', '%', U+2028 and a space", async () => {
    for (const n of ['a\\b', 'what?', 'st*r', 'h#sh', 'per%20cent', 'line\u2028sep', 'two words']) {
      const path = join(dir, `${n}.vnet`);
      copyFileSync(SPEC, path);
      const mod = await loadSpecModule(path);
      expect(mod.meta.sourcePath).toBe(path);
      expect(mod.meta.name).toBe(base.name);
      expect(typeof mod.initParams).toBe('function');
    }
  }, 120_000);
});
