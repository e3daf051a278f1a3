/**
 * Renders diagnostics for people (tsc's clickable header plus rustc's gutter, carets and help
 * lines) and for tools (JSON, one object per diagnostic). Rendering is pure; colour is opt-in.
 *
 * ```
 * specs/mlp.vnet:12:11 - error VN2101: unknown layer kind 'dens'
 *
 *   12 |     fc1 = dens(100)
 *      |           ^^^^
 *      = help: did you mean 'dense'?
 * ```
 * Control characters of the spec (escape sequences included) never reach the terminal: they are
 * shown as `\uXXXX` in messages and as `�` in source lines. A tab shows as one space, so the
 * carets stay aligned with UTF-16 columns. A long source line is shown as a window of at most
 * `MAX_LINE_WIDTH` columns around the caret, cut ends marked `…`, so a 10 MB line of junk gives a
 * diagnostic of a few hundred bytes.
 */
import type { Diagnostic } from './diagnostic.js';
import { codeText } from './messages.js';
import { lineText } from './source.js';

export interface RenderOptions {
  /** ANSI colours (only for a TTY without NO_COLOR; tests never set it). */
  readonly color?: boolean;
}

/** Whether to colour output written to `stream`: a TTY, and NO_COLOR unset. */
export function shouldColor(
  stream: { readonly isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] === undefined || env['NO_COLOR'] === '');
}

const ansi = (on: boolean) => (code: string, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

/** C0 and C1 control characters (ANSI escape sequences start with one). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Escapes control characters in text that quotes the spec. */
function sanitizeMessage(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const sanitizeLine = (s: string): string => s.replace(/\t/g, ' ').replace(CONTROL, '\ufffd');

/** At most this many source lines are shown for one span (first two, `...`, last two). */
const MAX_SPAN_LINES = 4;

/** Widest source excerpt shown for one line (columns, the `…` marks included). */
export const MAX_LINE_WIDTH = 120;
/** Columns kept before the caret when a long line is cut. */
const LEAD = 40;

/** One diagnostic: header, source excerpt with carets, help and note lines. */
export function renderDiagnostic(d: Diagnostic, opts: RenderOptions = {}): string {
  const c = ansi(opts.color === true);
  const sevColor = d.severity === 'error' ? '1;31' : d.severity === 'warning' ? '1;33' : '1;36';
  const out = [
    `${c('36', d.file.path)}:${c('33', String(d.line))}:${c('33', String(d.col))} - ` +
      `${c(sevColor, d.severity)} ${c('90', codeText(d.code))}: ${c('1', sanitizeMessage(d.message))}`,
  ];
  const excerpt = d.file.text.length > 0 ? excerptLines(d) : [];
  const width = String(d.endLine).length;
  const gutter = (label: string) => c('34', `${label.padStart(width)} |`);
  if (excerpt.length > 0) out.push('');
  for (const ex of excerpt) {
    if (ex === undefined) {
      out.push(c('34', `${'.'.repeat(width)} |`));
      continue;
    }
    out.push(`${gutter(String(ex.line))} ${ex.text}`.trimEnd());
    out.push(`${gutter('')} ${' '.repeat(ex.from)}${c(sevColor, '^'.repeat(Math.max(1, ex.to - ex.from)))}`);
  }
  const pad = ' '.repeat(excerpt.length > 0 ? width + 1 : 0);
  for (const h of d.help) out.push(`${pad}= ${c('1;32', 'help')}: ${sanitizeMessage(h)}`);
  for (const r of d.related)
    out.push(
      `${pad}= ${c('1;36', 'note')}: ${sanitizeMessage(r.message)} at ${d.file.path}:${r.line}:${r.col}`,
    );
  return out.join('\n');
}

interface ExcerptLine {
  readonly line: number;
  readonly text: string;
  /** 0-based caret range on this line. */
  readonly from: number;
  readonly to: number;
}

/** The lines a span covers (undefined marks elided lines), with the caret range on each. */
function excerptLines(d: Diagnostic): (ExcerptLine | undefined)[] {
  const lines: number[] = [];
  for (let l = d.line; l <= d.endLine; l++) lines.push(l);
  // A span that ends at column 1 of a later line covers nothing there.
  if (lines.length > 1 && d.endCol === 1) lines.pop();
  const shown: (number | undefined)[] =
    lines.length > MAX_SPAN_LINES ? [...lines.slice(0, 2), undefined, ...lines.slice(-2)] : lines;
  return shown.map((l) => {
    if (l === undefined) return undefined;
    const raw = lineText(d.file, l - 1);
    const from = l === d.line ? d.col - 1 : leadingSpaces(raw);
    const to = l === d.endLine ? d.endCol - 1 : raw.length;
    return { line: l, ...lineWindow(raw, from, Math.max(to, from + 1)) };
  });
}

/**
 * The part of a source line shown for the caret range [from, to): the whole line when it fits in
 * MAX_LINE_WIDTH columns, else a window starting up to LEAD columns before the caret, cut ends
 * marked `…` and the caret range clipped to the window. Only the window is sanitized.
 */
export function lineWindow(
  line: string,
  from: number,
  to: number,
): { text: string; from: number; to: number } {
  if (line.length <= MAX_LINE_WIDTH) return { text: sanitizeLine(line), from, to };
  const start = Math.max(0, Math.min(from - LEAD, line.length - (MAX_LINE_WIDTH - 1)));
  const head = start > 0 ? '…' : '';
  const room = MAX_LINE_WIDTH - head.length;
  const end = start + room >= line.length ? line.length : start + room - 1;
  const tail = end < line.length ? '…' : '';
  const text = head + sanitizeLine(line.slice(start, end)) + tail;
  const shift = head.length - start;
  const f = Math.min(from + shift, text.length - tail.length);
  return { text, from: f, to: Math.max(f + 1, Math.min(to + shift, head.length + end - start)) };
}

const leadingSpaces = (s: string): number => s.length - s.trimStart().length;

/** `Found 2 errors and 1 warning in specs/a.vnet.`; empty when there is nothing to report. */
export function renderSummary(ds: readonly Diagnostic[]): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.filter((d) => d.severity === 'warning').length;
  if (errors + warnings === 0) return '';
  const parts = [
    errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}` : undefined,
    warnings > 0 ? `${warnings} warning${warnings === 1 ? '' : 's'}` : undefined,
  ].filter((p) => p !== undefined);
  const files = [...new Set(ds.map((d) => d.file.path))];
  const where = files.length === 1 ? ` in ${files[0]}` : ` in ${files.length} files`;
  return `Found ${parts.join(' and ')}${where}.`;
}

/** All diagnostics, a blank line between each, then the summary. */
export function renderPretty(ds: readonly Diagnostic[], opts: RenderOptions = {}): string {
  const summary = renderSummary(ds);
  return [...ds.map((d) => renderDiagnostic(d, opts)), ...(summary ? [summary] : [])].join('\n\n') + '\n';
}

/** The JSON form of one diagnostic (for editors and CI annotations). */
export interface DiagnosticJson {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  readonly help: readonly string[];
  readonly related: readonly { readonly message: string; readonly line: number; readonly col: number }[];
}

export function toJson(d: Diagnostic): DiagnosticJson {
  return {
    file: d.file.path,
    line: d.line,
    col: d.col,
    endLine: d.endLine,
    endCol: d.endCol,
    code: codeText(d.code),
    severity: d.severity,
    message: d.message,
    help: d.help,
    related: d.related.map((r) => ({ message: r.message, line: r.line, col: r.col })),
  };
}

/** A JSON array of every diagnostic, pretty-printed. */
export function renderJson(ds: readonly Diagnostic[]): string {
  return JSON.stringify(ds.map(toJson), null, 2) + '\n';
}
