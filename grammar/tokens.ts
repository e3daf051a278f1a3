/**
 * The tokens of the `.vnet` language and the singleton lexer built from them.
 *
 * The language has no keywords: block names (`network`, `train`), option keys, layer kinds
 * (`dense`, `relu`) and enum values (`crown-ibp`, `same`) are all `Identifier`s, resolved by the
 * checker, which can then suggest a fix for a typo instead of failing with a parse error.
 *
 * ORDER MATTERS: chevrotain tries the patterns in the order of `allTokens` and takes the first
 * match (not the longest), so
 * - comments come before `Slash`, and each terminated form before its unterminated twin
 *   (the unterminated forms run to the end of the line / file and land in the `errors` group,
 *   as does a `#` comment, so that a stray `#` costs one diagnostic, not one per word after it);
 * - `Arrow` (`->`) comes before `Minus`;
 * - `Shape` (`1x28x28`) comes before `Number`, which would otherwise take its first digits.
 * An identifier may contain `-` between parts (`crown-ibp`, `fashion-mnist`), but never at its
 * start or end, so `a->b` and `-2` lex as expected.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';

/** Token group (see `ILexingResult.groups`) holding the unterminated comment and string tokens. */
export const ERROR_GROUP = 'errors';

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n\f\v\ufeff]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const LineComment = createToken({
  name: 'LineComment',
  pattern: /\/\/[^\n\r]*/,
  group: Lexer.SKIPPED,
});
export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
/** `/*` without a closing `*\/`: swallows the rest of the file; reported as VN1004. */
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  group: ERROR_GROUP,
  line_breaks: true,
});
/** A `#` comment (shell/Python habit): reported as a stray character, skipped to the end of the line. */
export const HashComment = createToken({ name: 'HashComment', pattern: /#[^\n\r]*/, group: ERROR_GROUP });
export const StringLit = createToken({
  name: 'String',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/,
  label: 'a string',
});
/** `"` without a closing quote on the same line; reported as VN1005. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/,
  group: ERROR_GROUP,
});
export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
export const Shape = createToken({ name: 'Shape', pattern: /\d+(?:x\d+)+/, label: 'a shape' });
export const NumberLit = createToken({
  name: 'Number',
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
export const Identifier = createToken({
  name: 'Identifier',
  pattern: /[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*/,
  label: 'a name',
});
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });

/** Every token type, in matching order (see the note at the top of this file). */
export const allTokens: readonly TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedComment,
  HashComment,
  StringLit,
  UnterminatedString,
  Arrow,
  Shape,
  NumberLit,
  Identifier,
  LCurly,
  RCurly,
  LBracket,
  RBracket,
  LParen,
  RParen,
  Comma,
  Colon,
  Equals,
  Minus,
  Slash,
];

/** Brackets that open / close a nesting level (used by the depth guard before parsing). */
export const OPENERS: ReadonlySet<TokenType> = new Set([LCurly, LBracket, LParen]);
export const CLOSERS: ReadonlySet<TokenType> = new Set([RCurly, RBracket, RParen]);

/**
 * Builds a lexer over `allTokens`. Validations are skipped unless `validate` is set (tests do).
 * Full position tracking gives tokens their end offsets, which the parser's node locations need.
 */
export function createLexer(validate: boolean): Lexer {
  return new Lexer([...allTokens], {
    positionTracking: 'full',
    ensureOptimizations: validate,
    skipValidations: !validate,
  });
}

/** The process-wide lexer (built once; chevrotain lexers are stateless between calls). */
export const vnetLexer: Lexer = createLexer(false);
