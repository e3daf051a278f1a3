/**
 * Size limits (src/syntax/limits.ts): a huge spec is refused with one diagnostic per limit
 * (file:line:col, caret, help) before it is parsed, and a spec at each limit still checks. No
 * timing is asserted (speed is measured by hand; see the README); what is tested is that the
 * rejection is a diagnostic and comes before parsing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderPretty } from '../../src/diagnostics/render.js';
import { checkFile, checkSource } from '../../src/semantics/index.js';
import {
  MAX_LIST_ITEMS,
  MAX_NAME_CHARS,
  MAX_NUMBER_CHARS,
  MAX_SPEC_CHARS,
  MAX_STRING_CHARS,
  MAX_TOKENS,
} from '../../src/syntax/limits.js';

/** A valid spec whose threat block holds `testEps` as the test_eps value (line 13). */
const spec = (testEps: string, extra = ''): string =>
  [
    'network n {',
    '  input   = 1x28x28',
    '  domain  = [0, 1]',
    '  classes = 10',
    '  layers {',
    '    flatten',
    '    fc1 = dense(5)',
    '    relu',
    '    fc2 = dense(10)',
    '  }',
    '}',
    'threat {',
    `  test_eps = ${testEps}`,
    '  train_eps = 0.1',
    '}',
    `train { dataset = fashion-mnist${extra} }`,
    '',
  ].join('\n');

const list = (n: number, item = '0.1'): string => `[${Array.from({ length: n }, () => item).join(', ')}]`;

const codes = (text: string): string[] => checkSource('big.vnet', text).diagnostics.map((d) => `VN${d.code}`);

describe('spec size limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnet-limits-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the base spec checks (so each failure below is the limit)', () => {
    const r = checkSource('ok.vnet', spec('[0.1]'));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.model).toBeDefined();
  });

  it('a test_eps list of 1.7 million entries: one VN1007 at the limit, with the file size, caret and help', () => {
    const text = spec(list(1_700_000));
    const file = join(dir, 'huge.vnet');
    writeFileSync(file, text);
    const r = checkFile(file);
    expect(r.model).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual([1007]);
    const d = r.diagnostics[0]!;
    // the caret is on the first character past the limit (line 13 holds the list)
    const lineStart = text.lastIndexOf('\n', MAX_SPEC_CHARS) + 1;
    expect([d.line, d.col]).toEqual([13, MAX_SPEC_CHARS - lineStart + 1]);
    expect(d.message).toBe(
      `the spec is longer than ${MAX_SPEC_CHARS.toLocaleString('en-US')} characters (the file has ${Buffer.byteLength(text).toLocaleString('en-US')} bytes)`,
    );
    const out = renderPretty(r.diagnostics);
    expect(out).toContain(`${file}:13:${d.col} - error VN1007`);
    expect(out).toMatch(/\n +\| +\^/);
    expect(out).toContain('= help: vnet stops reading here');
    // the shown line is a window, not the 8 MB line
    expect(out.length).toBeLessThan(2000);
  });

  it('checkSource refuses text over the limit without lexing it (no other diagnostic)', () => {
    // past the limit the text is junk that would give lexer errors
    const text = spec('[0.1]') + '//' + 'x'.repeat(MAX_SPEC_CHARS) + '\n' + '$'.repeat(1000);
    expect(codes(text)).toEqual(['VN1007']);
    expect(
      codes(spec('[0.1]') + '/*' + 'x'.repeat(MAX_SPEC_CHARS - spec('[0.1]').length - 4) + '*/'),
    ).toEqual([]);
  });

  it(`a list of ${MAX_LIST_ITEMS} items checks; one more item is VN1106 on that item`, () => {
    const atLimit = checkSource('ok.vnet', spec(list(MAX_LIST_ITEMS)));
    expect(atLimit.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(atLimit.model?.threat?.testEps).toHaveLength(MAX_LIST_ITEMS);
    const text = spec(list(MAX_LIST_ITEMS, '0.1').replace(/\]$/, ', 0.25]'));
    const r = checkSource('big.vnet', text);
    expect(r.diagnostics.map((d) => d.code)).toEqual([1106]);
    const d = r.diagnostics[0]!;
    expect(text.slice(d.span.start, d.span.end)).toBe('0.25');
    expect(d.line).toBe(13);
    expect(d.message).toBe(`this list has more than ${MAX_LIST_ITEMS.toLocaleString('en-US')} items`);
    expect(d.help.join(' ')).toContain(`item ${(MAX_LIST_ITEMS + 1).toLocaleString('en-US')}`);
  });

  it('items are counted per list: nested lists and calls count as one item of the outer list', () => {
    // 10,000 items, each a list of 2 and a call with 2 arguments: 40,000 numbers, no limit broken
    const nested = `[${Array.from({ length: MAX_LIST_ITEMS / 2 }, () => '[1, 2], f(1, 2)').join(', ')}]`;
    expect(codes(spec(nested))).not.toContain('VN1106');
    expect(codes(spec(`[${nested}, 3]`))).not.toContain('VN1106');
    const wide = `[f(${Array.from({ length: MAX_LIST_ITEMS + 1 }, () => '1').join(', ')})]`;
    const r = checkSource('big.vnet', spec(wide));
    expect(r.diagnostics.map((d) => d.message)).toContain(
      `this call has more than ${MAX_LIST_ITEMS.toLocaleString('en-US')} arguments`,
    );
  });

  it(`more than ${MAX_TOKENS} tokens is VN1107 at the first token past the limit`, () => {
    // options in a block: no list, each `k = 1` three tokens
    const entries = Array.from({ length: Math.ceil(MAX_TOKENS / 3) + 1 }, (_, i) => `k${i} = 1`).join('\n');
    const text = spec('[0.1]', `\n${entries}\n`);
    const r = checkSource('big.vnet', text);
    expect(r.diagnostics.map((d) => d.code)).toEqual([1107]);
    expect(r.diagnostics[0]!.help.join(' ')).toContain('vnet stops here');
  });

  it('an over-long number, name, shape or string is VN1008; at the limit it is not', () => {
    const n = (len: number): string => '0.' + '1'.repeat(len - 2);
    expect(codes(spec(`[${n(MAX_NUMBER_CHARS)}]`))).toEqual([]);
    const r = checkSource('big.vnet', spec(`[${n(MAX_NUMBER_CHARS + 1)}]`));
    expect(r.diagnostics.map((d) => d.code)).toEqual([1008]);
    expect(r.diagnostics[0]!.message).toBe(
      `this number is ${MAX_NUMBER_CHARS + 1} characters long (at most ${MAX_NUMBER_CHARS})`,
    );
    expect(codes(spec('[0.1]').replace('fc1', 'f'.repeat(MAX_NAME_CHARS + 1)))).toEqual(['VN1008']);
    expect(codes(spec('[0.1]').replace('1x28x28', `1x28x${'4'.repeat(MAX_NAME_CHARS)}`))).toEqual(['VN1008']);
    expect(
      codes(spec('[0.1]').replace('dataset = fashion-mnist', `dataset = "${'a'.repeat(MAX_STRING_CHARS)}"`)),
    ).toEqual(['VN1008']);
  });
});
