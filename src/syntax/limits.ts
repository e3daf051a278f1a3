/**
 * Size limits of a spec, checked before parsing so that a huge input is refused at once with a
 * diagnostic instead of costing seconds and gigabytes (a `test_eps` list of 1.7 million numbers
 * took 34 s and 3.3 GB to parse and check). Real specs are far below every limit: the shipped
 * ones are under 2 KB and about 300 tokens, their longest list has 4 items.
 *
 * - the text: at most MAX_SPEC_CHARS characters (checkSource stops there; checkFile reads no more);
 * - the tokens: at most MAX_TOKENS;
 * - one list `[...]` or call `(...)`: at most MAX_LIST_ITEMS items;
 * - one token: a number at most MAX_NUMBER_CHARS characters, a name or shape MAX_NAME_CHARS, a
 *   string MAX_STRING_CHARS.
 */
import type { IToken, TokenType } from 'chevrotain';
import {
  CLOSERS,
  Comma,
  Identifier,
  LBracket,
  LParen,
  NumberLit,
  OPENERS,
  Shape,
  StringLit,
} from '../../grammar/tokens.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';

/** Longest spec text read, in characters (256 KiB). */
export const MAX_SPEC_CHARS = 1 << 18;
/** Most tokens in one spec. */
export const MAX_TOKENS = 50_000;
/** Most items in one list or arguments in one call. */
export const MAX_LIST_ITEMS = 10_000;
/** Longest number literal (an exact binary64 value needs at most about 770 significant digits; 100 is plenty). */
export const MAX_NUMBER_CHARS = 100;
/** Longest name (identifier) or shape literal. */
export const MAX_NAME_CHARS = 256;
/** Longest string literal, quotes included. */
export const MAX_STRING_CHARS = 4096;

const fmt = (n: number): string => n.toLocaleString('en-US');

const SHIPPED = 'the shipped specs are under 2 KB';

/**
 * Reports VN1007 and returns false when `text` is longer than MAX_SPEC_CHARS; the caret is on
 * the first character past the limit. `bytes`: the file's size, when known, for the message.
 */
export function checkTextSize(text: string, bag: DiagnosticBag, bytes?: number): boolean {
  if (text.length <= MAX_SPEC_CHARS) return true;
  bag.report(
    Diag.SpecTooLarge,
    { start: MAX_SPEC_CHARS, end: MAX_SPEC_CHARS + 1 },
    [fmt(MAX_SPEC_CHARS), bytes === undefined ? '' : ` (the file has ${fmt(bytes)} bytes)`],
    {
      help: [
        `vnet stops reading here; ${SHIPPED}: a spec describes a network, the data and weights live in their own files`,
      ],
    },
  );
  return false;
}

function tokenLimit(t: TokenType): { what: string; max: number } | undefined {
  if (t === NumberLit) return { what: 'number', max: MAX_NUMBER_CHARS };
  if (t === Identifier) return { what: 'name', max: MAX_NAME_CHARS };
  if (t === Shape) return { what: 'shape', max: MAX_NAME_CHARS };
  if (t === StringLit) return { what: 'string', max: MAX_STRING_CHARS };
  return undefined;
}

/**
 * Checks the token limits (count, token lengths, list lengths) in one pass; reports each kind of
 * breach once, at the first token that breaks it, and returns false if any limit is broken (the
 * caller then does not parse).
 */
export function checkTokenLimits(tokens: readonly IToken[], bag: DiagnosticBag): boolean {
  let ok = true;
  const span = (t: IToken): { start: number; end: number } => ({
    start: t.startOffset,
    end: t.startOffset + Math.max(1, t.image.length),
  });
  if (tokens.length > MAX_TOKENS) {
    const t = tokens[MAX_TOKENS]!;
    bag.report(Diag.TooManyTokens, span(t), [fmt(MAX_TOKENS)], {
      help: [`${SHIPPED} (about 300 tokens); vnet stops here`],
    });
    ok = false;
  }
  let longReported = false;
  let listReported = false;
  // One entry per open bracket: whether it is a list or call, and its items so far.
  const open: { kind: 'list' | 'call' | 'block'; items: number; empty: boolean }[] = [];
  const n = Math.min(tokens.length, MAX_TOKENS);
  for (let i = 0; i < n; i++) {
    const t = tokens[i]!;
    const type = t.tokenType;
    if (!longReported) {
      const lim = tokenLimit(type);
      if (lim && t.image.length > lim.max) {
        bag.report(Diag.TokenTooLong, span(t), [lim.what, fmt(t.image.length), fmt(lim.max)], {
          help: [lim.what === 'number' ? 'write the number with fewer digits' : `shorten the ${lim.what}`],
        });
        longReported = true;
        ok = false;
      }
    }
    if (CLOSERS.has(type)) {
      open.pop();
      continue;
    }
    const top = open[open.length - 1];
    if (top && top.kind !== 'block') {
      if (type === Comma) top.empty = true;
      else if (top.empty) {
        // the first token of an item
        top.empty = false;
        top.items++;
        if (top.items > MAX_LIST_ITEMS && !listReported) {
          const list = top.kind === 'list';
          bag.report(Diag.ListTooLong, span(t), [list ? 'list' : 'call', fmt(MAX_LIST_ITEMS)], {
            help: [
              list
                ? `the lists of a spec (test_eps, lr_milestones, mean, std, ...) are short; this is item ${fmt(MAX_LIST_ITEMS + 1)}`
                : `this is argument ${fmt(MAX_LIST_ITEMS + 1)}`,
            ],
          });
          listReported = true;
          ok = false;
        }
      }
    }
    if (OPENERS.has(type))
      open.push({
        kind: type === LBracket ? 'list' : type === LParen ? 'call' : 'block',
        items: 0,
        empty: true,
      });
  }
  return ok;
}
