/** CST → AST on small snippets: entry forms, values, numbers, and tolerance of recovered parses. */
import { describe, expect, it } from 'vitest';
import { parseTokens } from '../../grammar/parser.js';
import { vnetLexer } from '../../grammar/tokens.js';
import type { Program } from '../../src/syntax/ast.js';
import { toAst } from '../../src/syntax/to-ast.js';

function ast(text: string): Program {
  return toAst(parseTokens(vnetLexer.tokenize(text).tokens), text.length);
}

/** The value of the first entry of the first block. */
function firstValue(text: string) {
  const e = ast(`b { k = ${text} }`).blocks[0]!.entries[0]!;
  if (e.kind !== 'Assignment') throw new Error(`not an assignment: ${e.kind}`);
  return e.value;
}

describe('toAst', () => {
  it('builds blocks with optional names and the four entry forms', () => {
    const p = ast('network mlp {\n  a = 1\n  n { b = 2 }\n  relu\n  dense(10)\n}\ntrain { }');
    expect(p.blocks.map((b) => [b.keyword.text, b.name?.text])).toEqual([
      ['network', 'mlp'],
      ['train', undefined],
    ]);
    expect(p.blocks[0]!.entries.map((e) => e.kind)).toEqual([
      'Assignment',
      'NestedBlock',
      'Statement',
      'Statement',
    ]);
    expect(p.blocks[0]!.entries[3]).toMatchObject({
      kind: 'Statement',
      expr: {
        kind: 'Call',
        callee: { text: 'dense' },
        args: [{ name: undefined, value: { kind: 'NumberLit', value: 10 } }],
      },
    });
  });

  it('evaluates numbers, keeping the text and flagging problems', () => {
    expect(firstValue('8/255')).toMatchObject({
      kind: 'NumberLit',
      value: 8 / 255,
      text: '8/255',
      problem: undefined,
    });
    expect(firstValue('-2')).toMatchObject({ value: -2, text: '-2' });
    expect(firstValue('1/-4')).toMatchObject({ value: -0.25, text: '1/-4' });
    expect(firstValue('1e-3')).toMatchObject({ value: 1e-3 });
    expect(firstValue('8/0')).toMatchObject({ problem: 'division by zero' });
    expect(firstValue('1e999')).toMatchObject({ problem: 'not a finite number' });
  });

  it('reads shapes, strings, lists, ranges and named arguments', () => {
    expect(firstValue('3x32x32')).toMatchObject({ kind: 'ShapeLit', dims: [3, 32, 32] });
    expect(firstValue('"a\\"b\\n"')).toMatchObject({ kind: 'StringLit', value: 'a"b\n' });
    expect(firstValue('[ibp, crown-ibp,]')).toMatchObject({
      kind: 'ListExpr',
      items: [
        { kind: 'Ident', text: 'ibp' },
        { kind: 'Ident', text: 'crown-ibp' },
      ],
    });
    expect(firstValue('0.01 -> 0')).toMatchObject({
      kind: 'RangeExpr',
      from: { value: 0.01 },
      to: { value: 0 },
    });
    expect(firstValue('adam(lr: 1e-3, weight_decay: 0)')).toMatchObject({
      kind: 'Call',
      args: [
        { name: { text: 'lr' }, value: { value: 1e-3 } },
        { name: { text: 'weight_decay' }, value: { value: 0 } },
      ],
    });
  });

  it('records spans as source offsets', () => {
    const text = 'b { key = dense(10) }';
    const e = ast(text).blocks[0]!.entries[0]!;
    expect(text.slice(e.span.start, e.span.end)).toBe('key = dense(10)');
    if (e.kind !== 'Assignment') throw new Error('expected an assignment');
    expect(text.slice(e.value.span.start, e.value.span.end)).toBe('dense(10)');
  });

  it('never throws on recovered parses; missing values become ErrorExpr', () => {
    for (const text of [
      'b { k = }',
      'b { k = [1, }',
      'b { k = f(a: ) }',
      'b k',
      '{ }',
      'b { k = 1 -> }',
      'b { x = 8/ }',
    ]) {
      expect(() => ast(text)).not.toThrow();
    }
    const e = ast('b { k = 1 -> }').blocks[0]!.entries[0]!;
    expect(e).toMatchObject({ kind: 'Assignment', value: { kind: 'RangeExpr', to: { kind: 'ErrorExpr' } } });
  });
});
