/**
 * The compiler front end's public entry: `.vnet` text → checked `ModelIR` plus diagnostics.
 * Phases: size limit (VN1007) → lex (VN10xx) → size limits (syntax/limits.ts), depth guard and
 * parse with recovery (VN11xx) → AST → check (VN2xxx, VN4xxx). Semantic checks run only on a file without syntax errors. Pure apart from
 * `checkFile`'s read, and never throws on user input: an unexpected exception becomes a VN9001
 * diagnostic.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { ModelIR } from '../ir/ir.js';
import {
  DiagnosticBag,
  finalizeDiagnostics,
  makeDiagnostic,
  type Diagnostic,
} from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import { makeSource } from '../diagnostics/source.js';
import { tokenize } from '../syntax/lexer.js';
import { MAX_SPEC_CHARS, checkTextSize, checkTokenLimits } from '../syntax/limits.js';
import { parse } from '../syntax/parse.js';
import { toAst } from '../syntax/to-ast.js';
import { check } from './check.js';

export interface CheckResult {
  /** The checked model; undefined when any error was reported. */
  readonly model: ModelIR | undefined;
  /** Every diagnostic, sorted by position (warnings may accompany a model). */
  readonly diagnostics: readonly Diagnostic[];
}

/** `specs/fmnist-mlp.vnet` → `fmnist-mlp`. */
export const moduleNameOf = (path: string): string => basename(path).replace(/\.vnet$/, '');

/**
 * Checks the text of a spec. `path` is used as given in diagnostics and `ModelIR.sourcePath`,
 * and names the module (`moduleNameOf`).
 */
export function checkSource(path: string, text: string, fileBytes?: number): CheckResult {
  const src = makeSource(path, text);
  const bag = new DiagnosticBag(src);
  let model: ModelIR | undefined;
  try {
    if (!checkTextSize(text, bag, fileBytes)) return { model, diagnostics: finalizeDiagnostics(bag.all) };
    const lexed = tokenize(text, bag);
    const cst =
      lexed.tokens.length > 0 && checkTokenLimits(lexed.tokens, bag)
        ? parse(lexed.tokens, bag, lexed.truncated)
        : undefined;
    if (cst !== undefined && !bag.hasErrors) {
      const specHash = createHash('sha256').update(text, 'utf8').digest('hex');
      model = check(
        toAst(cst, text.length),
        { moduleName: moduleNameOf(path), sourcePath: path, specHash },
        bag,
      );
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    bag.report(Diag.InternalError, { start: 0, end: 0 }, [message], {
      help: ['this is a bug in vnet; please report it with the spec that triggered it'],
    });
    model = undefined;
  }
  return { model, diagnostics: finalizeDiagnostics(bag.all) };
}

/** Checks the spec at `path`; a file that cannot be read gives a VN1001/VN1002 diagnostic. */
export function checkFile(path: string): CheckResult {
  const read = readSpec(path);
  return 'text' in read
    ? checkSource(path, read.text, read.bytes)
    : { model: undefined, diagnostics: [read] };
}

/** Bytes read of a file longer than the limit: enough for MAX_SPEC_CHARS characters and one more. */
const READ_LIMIT = 4 * (MAX_SPEC_CHARS + 1);

/**
 * The text of the file, or the diagnostic saying why it cannot be had. Of a file larger than
 * READ_LIMIT bytes only the start is read (checkSource then reports VN1007 on it).
 */
function readSpec(path: string): { text: string; bytes: number } | Diagnostic {
  const at = { start: 0, end: 0 };
  const src = makeSource(path, '');
  let bytes: Buffer;
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) return makeDiagnostic(src, Diag.CannotReadFile, at, [path, 'it is a directory']);
    size = st.size;
    bytes = size > READ_LIMIT ? readStart(path, READ_LIMIT) : readFileSync(path);
  } catch (e) {
    return makeDiagnostic(src, Diag.CannotReadFile, at, [path, ioReason(e)]);
  }
  try {
    // stream: a cut in the middle of a character at the end of a partial read is not an error
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: bytes.length < size });
    return { text, bytes: size };
  } catch {
    return makeDiagnostic(src, Diag.InvalidEncoding, at, [path], {
      help: ['a spec is a text file; save it as UTF-8'],
    });
  }
}

function readStart(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}
