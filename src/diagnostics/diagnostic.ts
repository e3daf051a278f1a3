/**
 * The Diagnostic record every phase produces, and the collector (`DiagnosticBag`) phases report
 * into. A diagnostic carries its source file and precomputed 1-based positions, so renderers and
 * callers never redo offset arithmetic. Phases never throw for user errors: they report here.
 */
import { Diag, type MessageDef, type Severity } from './messages.js';
import { positionOf, type SourceFile, type Span } from './source.js';

export type { Severity, SourceFile, Span };

/** A secondary location ("first defined here"). */
export interface Related {
  readonly message: string;
  readonly span: Span;
  readonly line: number;
  readonly col: number;
}

export interface Diagnostic {
  /** Numeric code (`VN2101` is 2101). */
  readonly code: number;
  readonly severity: Severity;
  readonly message: string;
  readonly file: SourceFile;
  /** Offsets into `file.text`; zero width for a missing token or the end of the file. */
  readonly span: Span;
  /** 1-based start and end positions of `span`. */
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
  /** Fixes and suggestions, printed as `help:` lines. */
  readonly help: readonly string[];
  readonly related: readonly Related[];
}

/** Extra parts of a report. */
export interface ReportExtras {
  readonly help?: readonly (string | undefined)[];
  readonly related?: readonly { readonly message: string; readonly span: Span }[];
}

/** Builds a diagnostic from a table entry, clamping the span into the text. */
export function makeDiagnostic<A extends readonly unknown[]>(
  file: SourceFile,
  def: MessageDef<A>,
  span: Span,
  args: A,
  extras: ReportExtras = {},
): Diagnostic {
  const len = file.text.length;
  const start = clampOffset(span.start, len);
  const end = Math.max(start, clampOffset(span.end, len));
  const s = positionOf(file, start);
  const e = positionOf(file, end);
  return {
    code: def.code,
    severity: def.severity,
    message: def.format(...args),
    file,
    span: { start, end },
    line: s.line,
    col: s.col,
    endLine: e.line,
    endCol: e.col,
    help: (extras.help ?? []).filter((h): h is string => h !== undefined),
    related: (extras.related ?? []).map((r) => {
      const p = positionOf(file, clampOffset(r.span.start, len));
      return { message: r.message, span: r.span, line: p.line, col: p.col };
    }),
  };
}

const clampOffset = (o: number, len: number): number =>
  Number.isFinite(o) ? Math.max(0, Math.min(o, len)) : len;

/** Collects the diagnostics of one file. */
export class DiagnosticBag {
  private readonly items: Diagnostic[] = [];

  constructor(readonly file: SourceFile) {}

  report<A extends readonly unknown[]>(def: MessageDef<A>, span: Span, args: A, extras?: ReportExtras): void {
    this.items.push(makeDiagnostic(this.file, def, span, args, extras));
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  get all(): readonly Diagnostic[] {
    return this.items;
  }
}

/** The largest number of diagnostics reported for one file; the rest are summarised in a note. */
export const MAX_DIAGNOSTICS = 100;

/**
 * Sorts by position (stable), removes exact duplicates (same code, span and message) and caps
 * the list at `MAX_DIAGNOSTICS`, adding a VN1105 note when it cuts.
 */
export function finalizeDiagnostics(ds: readonly Diagnostic[]): readonly Diagnostic[] {
  const seen = new Set<string>();
  const unique = ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => a.d.span.start - b.d.span.start || a.i - b.i)
    .map(({ d }) => d)
    .filter((d) => {
      const key = `${d.code}:${d.span.start}:${d.span.end}:${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  if (unique.length <= MAX_DIAGNOSTICS) return unique;
  const kept = unique.slice(0, MAX_DIAGNOSTICS);
  const last = kept[kept.length - 1]!;
  return [...kept, makeDiagnostic(last.file, Diag.TooManyErrors, last.span, [MAX_DIAGNOSTICS])];
}
