/** Token kinds and images of the .vnet lexer, and its lexical diagnostics. */
import { describe, expect, it } from 'vitest';
import { createLexer, vnetLexer } from '../../grammar/tokens.js';
import { DiagnosticBag } from '../../src/diagnostics/diagnostic.js';
import { makeSource } from '../../src/diagnostics/source.js';
import { tokenize } from '../../src/syntax/lexer.js';

const kinds = (text: string) => vnetLexer.tokenize(text).tokens.map((t) => `${t.tokenType.name}:${t.image}`);

function lex(text: string) {
  const bag = new DiagnosticBag(makeSource('t.vnet', text));
  const r = tokenize(text, bag);
  return { ...r, diags: bag.all };
}

describe('lexer', () => {
  it('builds with validations and the first-character optimisation on', () => {
    expect(() => createLexer(true)).not.toThrow();
  });

  it('lexes shapes before numbers and arrows before minus', () => {
    expect(kinds('input = 1x28x28')).toEqual(['Identifier:input', 'Equals:=', 'Shape:1x28x28']);
    expect(kinds('0.01 -> -1')).toEqual(['Number:0.01', 'Arrow:->', 'Minus:-', 'Number:1']);
    expect(kinds('a->b')).toEqual(['Identifier:a', 'Arrow:->', 'Identifier:b']);
  });

  it('reads numbers with exponents, fractions and division', () => {
    expect(kinds('1e-3 .5 2. 8/255')).toEqual([
      'Number:1e-3',
      'Number:.5',
      'Number:2.',
      'Number:8',
      'Slash:/',
      'Number:255',
    ]);
  });

  it('keeps dashes inside identifiers but not at their ends', () => {
    expect(kinds('crown-ibp fashion-mnist cifar-10 x-')).toEqual([
      'Identifier:crown-ibp',
      'Identifier:fashion-mnist',
      'Identifier:cifar-10',
      'Identifier:x',
      'Minus:-',
    ]);
  });

  it('skips comments and whitespace', () => {
    expect(kinds('a // c\n/* b\n */ b')).toEqual(['Identifier:a', 'Identifier:b']);
  });

  it('reports runs of stray characters once, with a hint for semicolons', () => {
    const r = lex('a = 1;;\nb = 2 @');
    expect(r.diags.map((d) => [d.code, d.message, d.line, d.col])).toEqual([
      [1004, "unexpected characters ';;'", 1, 6],
      [1004, "unexpected character '@'", 2, 7],
    ]);
    expect(r.diags[0]!.help[0]).toMatch(/semicolons/);
    expect(r.tokens.map((t) => t.image)).toEqual(['a', '=', '1', 'b', '=', '2']);
  });

  it('reports an unterminated comment and string and marks the stream truncated', () => {
    const c = lex('a = 1 /* open\n b');
    expect(c.diags.map((d) => d.code)).toEqual([1005]);
    expect(c.truncated).toBe(true);
    const s = lex('a = "open\nb = 2');
    expect(s.diags.map((d) => d.code)).toEqual([1006]);
    expect(s.tokens.map((t) => t.image)).toEqual(['a', '=', 'b', '=', '2']);
  });

  it('reports an empty file and a file with only comments', () => {
    expect(lex('').diags.map((d) => d.code)).toEqual([1003]);
    const only = lex('// nothing here\n');
    expect(only.diags.map((d) => d.code)).toEqual([1003]);
    expect(only.diags[0]!.help[0]).toMatch(/only comments/);
  });
});
