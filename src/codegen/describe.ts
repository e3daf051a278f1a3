/**
 * Text that generated code shows to a reader: layer descriptions for comments, compact JSON for
 * constant tables, and a safe number formatter. Nothing here ever copies raw spec text: every
 * string is rebuilt from checked IR values (validated identifiers and numbers), and strings that
 * come from outside (paths) only ever appear through `codeString` / `commentText`, which keep
 * printable ASCII only.
 */
import type { Layer, Shape } from '../ir/ir.js';
import { opDef } from '../ops/index.js';

export { num } from './literal.js';

/**
 * A string as a TypeScript string literal made of printable ASCII only: JSON.stringify escapes
 * quotes, backslashes and control characters, and every other character outside U+0020–U+007E
 * (U+2028/U+2029 line separators, bidi controls, any non-ASCII letter) becomes a \uXXXX escape, so
 * no user text (a path, a name) can end a comment, a string or a line in generated code.
 */
export function codeString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Text for a `//` comment: verbatim when it is plain (letters, digits, `_ . / -`), else `codeString`. */
export const commentText = (s: string): string => (/^[\w./-]+$/.test(s) ? s : codeString(s));

export const shapeText = (s: Shape): string => (s.length === 0 ? 'scalar' : s.join('x'));

/** One-line description of a layer, rebuilt from the IR (e.g. `conv2d(16, kernel 4x4, stride 2, pad 1)`). */
export function describeLayer(l: Layer): string {
  return opDef(l.op.kind).describe(l.op);
}

/**
 * JSON with short arrays of primitives kept on one line, for readable constant tables in
 * generated code. Keys are quoted only when they are not plain identifiers.
 */
/** A number as a TypeScript literal: JSON's form, and `Infinity` / `-Infinity` (an unbounded domain). */
function jsonNumber(v: number): string {
  if (Number.isNaN(v)) throw new Error('internal: NaN in codegen');
  return Number.isFinite(v) ? JSON.stringify(v) : v > 0 ? 'Infinity' : '-Infinity';
}

export function compactJson(value: unknown, indent = 0): string {
  const pad = '  '.repeat(indent);
  const inner = '  '.repeat(indent + 1);
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return codeString(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return jsonNumber(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => compactJson(v)).join(', ')}]`;
      if (flat.length <= 100) return flat;
    }
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + compactJson(v, indent + 1)).join(',\n')},\n${pad}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const oneLine = `{ ${entries.map(([k, v]) => `${key(k)}: ${compactJson(v, 0)}`).join(', ')} }`;
  if (oneLine.length <= 100 && !oneLine.includes('\n')) return oneLine;
  return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${compactJson(v, indent + 1)}`).join(',\n')},\n${pad}}`;
}

const key = (k: string): string => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : codeString(k));
