/** The pretty and JSON renderers: carets, gutters, multi-line spans, sanitising, colour, summaries. */
import { describe, expect, it } from 'vitest';
import { finalizeDiagnostics, makeDiagnostic, MAX_DIAGNOSTICS } from '../../src/diagnostics/diagnostic.js';
import { Diag } from '../../src/diagnostics/messages.js';
import {
  renderDiagnostic,
  renderJson,
  renderPretty,
  renderSummary,
  shouldColor,
} from '../../src/diagnostics/render.js';
import { makeSource, positionOf } from '../../src/diagnostics/source.js';

const src = makeSource('a.vnet', 'line one\n\tx = 1\r\nthird line\rfourth\nfifth\nsixth\nseventh\n');

describe('source positions', () => {
  it('counts lines across \\n, \\r\\n and lone \\r, columns in UTF-16 units', () => {
    expect(positionOf(src, 0)).toEqual({ line: 1, col: 1 });
    expect(positionOf(src, 10)).toEqual({ line: 2, col: 2 });
    expect(positionOf(src, src.text.indexOf('third'))).toEqual({ line: 3, col: 1 });
    expect(positionOf(src, src.text.indexOf('fourth'))).toEqual({ line: 4, col: 1 });
    expect(positionOf(src, 10_000)).toEqual({ line: 8, col: 1 });
  });
});

describe('pretty renderer', () => {
  it('prints the header, the line with a gutter, carets under the span and help lines', () => {
    const at = src.text.indexOf('x');
    const d = makeDiagnostic(src, Diag.UnknownOption, { start: at, end: at + 1 }, ['x', 'the train block'], {
      help: ["did you mean 'y'?", undefined],
    });
    expect(renderDiagnostic(d)).toBe(
      [
        "a.vnet:2:2 - error VN2006: unknown option 'x' in the train block",
        '',
        '2 |  x = 1',
        '  |  ^',
        "  = help: did you mean 'y'?",
      ].join('\n'),
    );
  });

  it('gives a zero-width span one caret, and clamps spans into the text', () => {
    const d = makeDiagnostic(src, Diag.EmptyFile, { start: 4, end: 4 }, []);
    expect(renderDiagnostic(d).split('\n').slice(2)).toEqual(['1 | line one', '  |     ^']);
    const far = makeDiagnostic(src, Diag.EmptyFile, { start: NaN, end: 99_999 }, []);
    expect([far.span.start, far.span.end, far.line]).toEqual([src.text.length, src.text.length, 8]);
  });

  it('shows a multi-line span as its first two and last two lines', () => {
    const start = src.text.indexOf('one');
    const end = src.text.indexOf('seventh') + 3;
    const lines = renderDiagnostic(makeDiagnostic(src, Diag.NoLayers, { start, end }, []))
      .split('\n')
      .slice(2);
    expect(lines).toEqual([
      '1 | line one',
      '  |      ^^^',
      '2 |  x = 1',
      '  |  ^^^^^',
      '. |',
      '6 | sixth',
      '  | ^^^^^',
      '7 | seventh',
      '  | ^^^',
    ]);
  });

  it('never writes control characters from the spec to the terminal', () => {
    const evil = makeSource('e.vnet', 'a \u001b[2J b');
    const d = makeDiagnostic(evil, Diag.UnexpectedCharacter, { start: 2, end: 3 }, ['\u001b']);
    const text = renderDiagnostic(d);
    expect(text).not.toContain('\u001b');
    expect(text).toContain("unexpected character '\\u001b'");
  });

  it('colours only on request, and only for a TTY without NO_COLOR', () => {
    const d = makeDiagnostic(src, Diag.EmptyFile, { start: 0, end: 1 }, []);
    expect(renderDiagnostic(d, { color: true })).toContain('\u001b[1;31merror\u001b[0m');
    expect(renderDiagnostic(d)).not.toContain('\u001b');
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor({ isTTY: false }, {})).toBe(false);
  });

  it('summarises errors and warnings per file', () => {
    const e = makeDiagnostic(src, Diag.EmptyFile, { start: 0, end: 0 }, []);
    const w = makeDiagnostic(src, Diag.ScheduleExceedsEpochs, { start: 0, end: 0 }, ['eps schedule', 60, 20]);
    expect(renderSummary([e, e, w])).toBe('Found 2 errors and 1 warning in a.vnet.');
    expect(renderSummary([w])).toBe('Found 1 warning in a.vnet.');
    expect(renderSummary([])).toBe('');
    expect(renderPretty([])).toBe('\n');
  });
});

describe('JSON renderer', () => {
  it('has file, positions, code, severity, message, help and related notes', () => {
    const d = makeDiagnostic(src, Diag.DuplicateOption, { start: 9, end: 11 }, ['x'], {
      related: [{ message: "'x' is first set", span: { start: 0, end: 4 } }],
      help: ['remove one'],
    });
    expect(JSON.parse(renderJson([d]))).toEqual([
      {
        file: 'a.vnet',
        line: 2,
        col: 1,
        endLine: 2,
        endCol: 3,
        code: 'VN2007',
        severity: 'error',
        message: "'x' is set more than once",
        help: ['remove one'],
        related: [{ message: "'x' is first set", line: 1, col: 1 }],
      },
    ]);
  });
});

describe('finalizeDiagnostics', () => {
  it('sorts by position, drops exact duplicates and caps the list with a note', () => {
    const at = (o: number) => makeDiagnostic(src, Diag.EmptyFile, { start: o, end: o }, []);
    expect(finalizeDiagnostics([at(5), at(1), at(5)]).map((d) => d.span.start)).toEqual([1, 5]);
    const long = makeSource('b.vnet', 'x'.repeat(200));
    const many = finalizeDiagnostics(
      Array.from({ length: 150 }, (_, i) => makeDiagnostic(long, Diag.EmptyFile, { start: i, end: i }, [])),
    );
    expect(many).toHaveLength(MAX_DIAGNOSTICS + 1);
    expect(many[MAX_DIAGNOSTICS]!).toMatchObject({ code: 1105, severity: 'note' });
  });
});

describe('long lines (issue 17: a 10 MB line of junk)', () => {
  it('shows a window of the line around the caret and a clipped token, not the whole line', async () => {
    const { checkSource } = await import('../../src/semantics/index.js');
    const { renderPretty } = await import('../../src/diagnostics/render.js');
    // a 10 MB line is now refused at the size limit (VN1007), shown as a window as well
    const huge = checkSource('junk.vnet', `network n ${'x'.repeat(10_000_000)} {\n}\n`).diagnostics;
    expect(huge.map((d) => d.code)).toEqual([1007]);
    expect(renderPretty(huge).length).toBeLessThan(4000);
    // a 200 KB line (under the limit) with a 250-character junk name in it
    const junk = 'x'.repeat(250);
    const { diagnostics } = checkSource('junk.vnet', `network n ${' '.repeat(200_000)}${junk} {\n}\n`);
    expect(diagnostics.length).toBeGreaterThan(0);
    const text = renderPretty(diagnostics);
    expect(text.length).toBeLessThan(4000);
    expect(text).toContain('...');
    expect(text).not.toContain("after ''");
  });

  it('keeps the caret under the offending column inside the window', async () => {
    const { lineWindow, MAX_LINE_WIDTH } = await import('../../src/diagnostics/render.js');
    const line = 'a'.repeat(5000) + 'B' + 'c'.repeat(5000);
    const w = lineWindow(line, 5000, 5001);
    expect(w.text.length).toBeLessThanOrEqual(MAX_LINE_WIDTH);
    expect(w.text[w.from]).toBe('B');
    expect(w.text.startsWith('…') && w.text.endsWith('…')).toBe(true);
    expect(lineWindow('short', 1, 2)).toEqual({ text: 'short', from: 1, to: 2 });
  });
});
