/**
 * A spec's text with its path and line table: the one place that turns 0-based offsets into
 * 1-based line/column positions (columns count UTF-16 code units, as tsc does).
 */

/** A half-open range [start, end) of 0-based offsets into `SourceFile.text`. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** 1-based line and column. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface SourceFile {
  /** The path as the user gave it (never made absolute). */
  readonly path: string;
  readonly text: string;
  /** Offset of the first character of each line. */
  readonly lineStarts: readonly number[];
}

/** Builds a `SourceFile`, splitting lines at `\n`, `\r\n` and lone `\r`. */
export function makeSource(path: string, text: string): SourceFile {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) lineStarts.push(i + 1);
  }
  return { path, text, lineStarts };
}

/** 0-based index of the line holding `offset` (offsets past the end map to the last line). */
function lineIndexOf(src: SourceFile, offset: number): number {
  const starts = src.lineStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The 1-based position of `offset`, clamped into the text. */
export function positionOf(src: SourceFile, offset: number): Position {
  const o = Math.max(0, Math.min(offset, src.text.length));
  const line = lineIndexOf(src, o);
  return { line: line + 1, col: o - src.lineStarts[line]! + 1 };
}

/** The text of 0-based line `index`, without its line terminator. */
export function lineText(src: SourceFile, index: number): string {
  const start = src.lineStarts[index] ?? src.text.length;
  const next = src.lineStarts[index + 1] ?? src.text.length;
  return src.text.slice(start, next).replace(/\r?\n$|\r$/, '');
}
