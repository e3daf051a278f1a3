/**
 * Fuzzing the front end: seeded random mutations of every shipped spec (deleted, duplicated,
 * swapped and replaced tokens, random bytes, truncation) and pathological inputs (very long, 10k
 * deep brackets and blocks, binary noise). checkSource must return, never throw or hang, and every
 * diagnostic must point inside the file. Reproducible: the PRNG is seeded.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { vnetLexer } from '../../grammar/tokens.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { renderPretty, toJson } from '../../src/diagnostics/render.js';
import { lineText } from '../../src/diagnostics/source.js';
import { checkSource } from '../../src/semantics/index.js';

const SPECS_DIR = new URL('../../specs/', import.meta.url);
const specs = readdirSync(SPECS_DIR)
  .filter((f) => f.endsWith('.vnet'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(new URL(f, SPECS_DIR), 'utf8') }));

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VOCAB = [
  '{',
  '}',
  '[',
  ']',
  '(',
  ')',
  ',',
  ':',
  '=',
  '->',
  '-',
  '/',
  '1x28x28',
  '0',
  '8/0',
  '1e999',
  'dense',
  'relu',
  'x',
  '"s',
  '"s"',
  '/*',
  '//',
  'network',
  'layers',
  '\n',
  ';',
  '@',
  '\u0000',
  '\u001b[31m',
  'é',
  '😀',
  '\t',
  '9'.repeat(30),
];

function mutate(text: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const toks = vnetLexer.tokenize(text).tokens;
  const spans = toks.map((t) => [t.startOffset, t.startOffset + t.image.length] as const);
  const rounds = 1 + Math.floor(rnd() * 4);
  let out = text;
  for (let r = 0; r < rounds; r++) {
    const op = Math.floor(rnd() * 7);
    const [s, e] =
      spans.length > 0 && out === text
        ? pick(spans)
        : [Math.floor(rnd() * out.length), Math.floor(rnd() * out.length)];
    const a = Math.min(s, e);
    const b = Math.max(s, e);
    switch (op) {
      case 0: // delete a token (or a range)
        out = out.slice(0, a) + out.slice(b);
        break;
      case 1: // duplicate it
        out = out.slice(0, b) + out.slice(a, b) + out.slice(b);
        break;
      case 2: {
        // swap two tokens
        const [s2, e2] = spans.length > 0 && out === text ? pick(spans) : [a, b];
        if (s2 >= b)
          out = out.slice(0, a) + out.slice(s2, e2) + out.slice(b, s2) + out.slice(a, b) + out.slice(e2);
        break;
      }
      case 3: // replace with a vocabulary item
        out = out.slice(0, a) + pick(VOCAB) + out.slice(b);
        break;
      case 4: {
        // insert random bytes
        const n = 1 + Math.floor(rnd() * 8);
        const bytes = Array.from({ length: n }, () => String.fromCharCode(Math.floor(rnd() * 0x250)));
        out = out.slice(0, a) + bytes.join('') + out.slice(a);
        break;
      }
      case 5: // truncate
        out = out.slice(0, a);
        break;
      default: // insert a vocabulary item
        out = out.slice(0, a) + pick(VOCAB) + ' ' + out.slice(a);
    }
  }
  return out;
}

/** Every diagnostic points inside the text; model and errors are exclusive; rendering works. */
function expectWellFormed(text: string, path = 'fuzz.vnet'): readonly Diagnostic[] {
  const { model, diagnostics } = checkSource(path, text);
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const d of diagnostics) {
    const where = `${d.code} at ${d.line}:${d.col}`;
    expect(Number.isInteger(d.line) && d.line >= 1 && d.line <= lines, where).toBe(true);
    expect(d.col >= 1 && d.col <= lineText(d.file, d.line - 1).length + 1, where).toBe(true);
    expect(d.endLine > d.line || (d.endLine === d.line && d.endCol >= d.col), where).toBe(true);
    expect(d.span.start >= 0 && d.span.end <= text.length && d.span.start <= d.span.end, where).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
  }
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  expect(model === undefined).toBe(errors > 0);
  expect(typeof renderPretty(diagnostics)).toBe('string');
  expect(diagnostics.map(toJson)).toHaveLength(diagnostics.length);
  return diagnostics;
}

const CASES_PER_SPEC = Math.ceil(2000 / specs.length);

describe('fuzz: random mutations of the shipped specs', () => {
  it('has specs to mutate', () => {
    expect(specs.length).toBeGreaterThanOrEqual(8);
  });

  for (const [i, spec] of specs.entries()) {
    it(`${spec.name}: ${CASES_PER_SPEC} mutations`, () => {
      const rnd = prng(0x5eed + i);
      let withErrors = 0;
      for (let c = 0; c < CASES_PER_SPEC; c++) {
        const ds = expectWellFormed(mutate(spec.text, rnd));
        if (ds.some((d) => d.severity === 'error')) withErrors++;
      }
      // Most mutations break the spec: the fuzzer really exercises the error paths.
      expect(withErrors).toBeGreaterThan(CASES_PER_SPEC / 2);
    });
  }
});

describe('fuzz: pathological inputs', () => {
  const big = specs[0]!.text;

  it('nesting 10,000 deep: brackets, parentheses and blocks', () => {
    for (const text of [
      `train { x = ${'['.repeat(10_000)}${']'.repeat(10_000)} }`,
      `train { x = f${'('.repeat(10_000)}`,
      `${'a { '.repeat(10_000)}${'} '.repeat(10_000)}`,
      '{'.repeat(10_000),
      ']'.repeat(10_000),
    ]) {
      const ds = expectWellFormed(text);
      expect(ds.length).toBeGreaterThan(0);
    }
  });

  it('very long inputs: a 2,000-layer network and a 400 KB file', () => {
    const layers = Array.from({ length: 2000 }, (_, i) => (i % 2 ? 'relu' : 'dense(16)')).join('\n');
    const net = `network deep {\n input = 16\n classes = 16\n layers {\n${layers}\n dense(16)\n }\n}\nthreat { train_eps = 0.1 }\ntrain { dataset = mnist }\n`;
    expectWellFormed(net);
    expectWellFormed(big.repeat(Math.ceil(400_000 / big.length)));
  });

  it('binary noise and odd characters', () => {
    const rnd = prng(7);
    const noise = Array.from({ length: 50_000 }, () => String.fromCharCode(Math.floor(rnd() * 0x10000))).join(
      '',
    );
    expect(expectWellFormed(noise).length).toBeLessThanOrEqual(101);
    expectWellFormed('\u0000\u0001\u001b[2J\r\r\n\t');
    expectWellFormed('\ufeffnetwork n { }');
    expectWellFormed(' \n\t\n');
  });
});
