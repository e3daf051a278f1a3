/**
 * Tokenizes a spec with the singleton lexer and reports lexical problems: stray characters
 * (VN1004, one diagnostic per run of them), unterminated comments and strings (VN1005, VN1006),
 * and a file without any token (VN1003). Returns the tokens for the parser either way: the lexer
 * drops what it cannot match, so parsing can still report the file's syntax errors.
 */
import type { IToken } from 'chevrotain';
import { ERROR_GROUP, HashComment, UnterminatedComment, vnetLexer } from '../../grammar/tokens.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';

export interface LexResult {
  readonly tokens: IToken[];
  /** An unterminated comment or string hid the end of the file (the parser's EOF errors are noise). */
  readonly truncated: boolean;
}

export function tokenize(text: string, bag: DiagnosticBag): LexResult {
  const result = vnetLexer.tokenize(text);
  for (const e of result.errors) {
    const chars = text.slice(e.offset, e.offset + e.length);
    bag.report(Diag.UnexpectedCharacter, { start: e.offset, end: e.offset + e.length }, [chars], {
      help: [strayHelp(chars)],
    });
  }
  const errorTokens = result.groups[ERROR_GROUP] ?? [];
  for (const t of errorTokens) {
    const span = { start: t.startOffset, end: t.startOffset + (t.tokenType === UnterminatedComment ? 2 : 1) };
    if (t.tokenType === HashComment)
      bag.report(Diag.UnexpectedCharacter, span, ['#'], { help: [strayHelp('#')] });
    else if (t.tokenType === UnterminatedComment)
      bag.report(Diag.UnterminatedComment, span, [], { help: ["close the comment with '*/'"] });
    else
      bag.report(Diag.UnterminatedString, span, [], {
        help: ["close the string with '\"' on the same line"],
      });
  }
  const unterminated = errorTokens.filter((t) => t.tokenType !== HashComment);
  if (result.tokens.length === 0 && result.errors.length === 0 && errorTokens.length === 0) {
    const onlyComments = text.trim().length > 0;
    bag.report(Diag.EmptyFile, { start: 0, end: 0 }, [], {
      help: [
        onlyComments ? 'the file has only comments' : undefined,
        'a spec needs at least a `network NAME { ... }` block; see specs/fmnist-mlp.vnet',
      ],
    });
  }
  return { tokens: result.tokens, truncated: unterminated.length > 0 };
}

/** A hint for the usual stray characters. */
function strayHelp(chars: string): string | undefined {
  if (chars.startsWith(';')) return 'vnet needs no semicolons: entries are separated by spaces or new lines';
  if (chars.startsWith('#')) return "comments start with '//' or are enclosed in '/* */'";
  if (chars.startsWith("'")) return 'strings use double quotes: "text"';
  return undefined;
}
