/** Grammar health (validations, generated CST types, EBNF drift) and parser error recovery. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cstDtsText } from '../../grammar/cst-dts.js';
import { VnetParser, vnetParser } from '../../grammar/parser.js';
import { checkSource } from '../../src/semantics/index.js';
import { MAX_NESTING } from '../../src/syntax/parse.js';

const codes = (text: string) => checkSource('t.vnet', text).diagnostics.map((d) => d.code);
const messages = (text: string) =>
  checkSource('t.vnet', text).diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`);

describe('grammar health', () => {
  it('self-analyses with grammar validations on (no ambiguities, no left recursion)', () => {
    expect(() => new VnetParser({ validate: true })).not.toThrow();
  });

  it('grammar/cst.d.ts is up to date (regenerate with npm run gen:cst)', () => {
    expect(readFileSync(new URL('../../grammar/cst.d.ts', import.meta.url), 'utf8')).toBe(cstDtsText());
  });

  it('every parser rule is a production of grammar/vnet.ebnf, and vice versa', () => {
    const ebnf = readFileSync(new URL('../../grammar/vnet.ebnf', import.meta.url), 'utf8');
    const productions = [...ebnf.matchAll(/^([a-z]\w*)\s*=/gm)].map((m) => m[1]);
    const rules = Object.keys(vnetParser.getGAstProductions());
    expect(rules.length).toBeGreaterThan(5);
    for (const r of rules) expect(productions, `rule '${r}' missing from vnet.ebnf`).toContain(r);
    const lexical = ['letter', 'digit', 'digits'];
    for (const p of productions) if (!lexical.includes(p!)) expect(rules).toContain(p);
  });
});

describe('recovery', () => {
  it('reports every syntax error of a file, and no semantic diagnostics', () => {
    const text = [
      'network n {',
      '  input = 1x28x28',
      '  classes 10', // missing '='
      '  layers { fc = dense(10,, ) }', // stray comma
      '}',
      'threat { train_eps = }', // missing value
    ].join('\n');
    const ds = checkSource('t.vnet', text).diagnostics;
    expect(ds.length).toBeGreaterThanOrEqual(3);
    expect(ds.every((d) => d.code >= 1000 && d.code < 2000)).toBe(true);
    expect(ds.map((d) => d.line)).toEqual(expect.arrayContaining([3, 4, 6]));
  });

  it("spots a missing '=' after a key", () => {
    expect(messages('train {\n  epochs 100\n}')).toEqual(["2:10 expected '=' between 'epochs' and '100'"]);
  });

  it('anchors an error at the end of the file after the last token', () => {
    const ds = checkSource('t.vnet', 'network n {\n  input = 1x28x28\n').diagnostics;
    expect(ds).toHaveLength(1);
    expect(ds[0]!.code).toBe(1101);
    expect(ds[0]!.message).toMatch(/found the end of the file/);
    expect([ds[0]!.line, ds[0]!.col]).toEqual([2, 18]);
  });

  it('reports a stray top-level token', () => {
    expect(codes('train { epochs = 1 } }')).toEqual([1103]);
  });

  it('leaves out end-of-file errors after an unterminated comment', () => {
    expect(codes('network n {\n  /* never closed')).toEqual([1005]);
  });

  it('rejects nesting deeper than the limit before parsing', () => {
    const nested = (n: number) => `train { x = ${'['.repeat(n - 1)}1${']'.repeat(n - 1)} }`;
    expect(codes(nested(MAX_NESTING + 1))).toEqual([1104]);
    expect(codes(nested(MAX_NESTING))).not.toContain(1104);
  });

  it('parses the same way on every call (the singleton parser carries no state)', () => {
    const bad = 'network n { input = }';
    const first = messages(bad);
    messages('train { epochs = 1 }');
    expect(messages(bad)).toEqual(first);
  });
});
