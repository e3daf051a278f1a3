/**
 * Runs the singleton parser over a token stream and turns chevrotain's recognition exceptions
 * into VN11xx diagnostics. Before parsing, a depth guard rejects input nested more than
 * `MAX_NESTING` levels deep (the parser is recursive descent, so 10,000 nested brackets would
 * otherwise overflow the stack). Errors on the EOF token or on tokens invented by recovery have no
 * position: they are anchored just after the previous real token.
 */
import type { CstNode, IRecognitionException, IToken } from 'chevrotain';
import { parseTokens, vnetParser } from '../../grammar/parser.js';
import { CLOSERS, OPENERS } from '../../grammar/tokens.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';

/** Deepest nesting of `{`, `[` and `(` accepted (real specs use 4 or 5). */
export const MAX_NESTING = 64;

/**
 * Parses `tokens`; returns undefined (with VN1104 reported) when they nest too deeply.
 * `truncated`: the lexer already reported that the file ends inside a comment or string, so
 * errors about the end of the file are left out.
 */
export function parse(tokens: IToken[], bag: DiagnosticBag, truncated: boolean): CstNode | undefined {
  const tooDeep = firstTooDeep(tokens);
  if (tooDeep !== undefined) {
    bag.report(Diag.NestingTooDeep, { start: tooDeep.startOffset, end: tooDeep.startOffset + 1 }, [
      MAX_NESTING,
    ]);
    return undefined;
  }
  const cst = parseTokens(tokens);
  for (const e of vnetParser.errors) {
    const span = errorSpan(e);
    if (truncated && span === undefined) continue;
    const at = span ?? afterPrevious(e);
    const topLevel = e.name === 'NotAllInputParsedException' || e.context.ruleStack.length <= 1;
    const def = topLevel
      ? Diag.UnexpectedTopLevel
      : e.name === 'MismatchedTokenException'
        ? Diag.ExpectedToken
        : Diag.ExpectedAlternative;
    bag.report(def, at, [e.message]);
  }
  return cst;
}

function firstTooDeep(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (OPENERS.has(t.tokenType)) {
      depth++;
      if (depth > MAX_NESTING) return t;
    } else if (CLOSERS.has(t.tokenType)) depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** The span of the offending token, or undefined for EOF / invented tokens. */
function errorSpan(e: IRecognitionException): Span | undefined {
  const t = e.token;
  if (!Number.isFinite(t.startOffset) || t.tokenType.name === 'EOF') return undefined;
  return { start: t.startOffset, end: Number.isFinite(t.endOffset) ? t.endOffset! + 1 : t.startOffset + 1 };
}

/** Zero-width span just after the previous real token (or at the start of the file). */
function afterPrevious(e: IRecognitionException): Span {
  const prev = (e as IRecognitionException & { previousToken?: IToken }).previousToken;
  const end = prev && Number.isFinite(prev.endOffset) ? prev.endOffset! + 1 : 0;
  return { start: end, end };
}
