/**
 * Typed readers for option and argument values. Each reader takes an AST expression and a
 * description of where it appears (`what`, e.g. "epochs" or "conv2d argument 'kernel'"), and
 * returns the value or undefined after reporting why not: a wrong type (VN2010), a bad number
 * (VN2011), a value out of range (VN2012) or an unknown name (VN2013, with did-you-mean).
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Expr } from '../syntax/ast.js';
import { closest } from '../util/suggest.js';

/** Reads one value; `what` names it in messages. */
export type Reader<T> = (e: Expr, what: string, bag: DiagnosticBag) => T | undefined;

/** How an expression is named in "found ..." messages. */
export function describeExpr(e: Expr): string {
  switch (e.kind) {
    case 'NumberLit':
      return `the number ${e.text}`;
    case 'ShapeLit':
      return `the shape ${e.text}`;
    case 'StringLit':
      return `the string ${JSON.stringify(e.value)}`;
    case 'ListExpr':
      return 'a list';
    case 'Ident':
      return `the name '${e.text}'`;
    case 'Call':
      return `a call to '${e.callee.text}'`;
    case 'RangeExpr':
      return 'a range';
    case 'ErrorExpr':
      return 'nothing';
  }
}

/** Bounds and integrality of a number. */
export interface NumRule {
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** The bound itself is excluded. */
  readonly minOpen?: boolean;
  readonly maxOpen?: boolean;
}

/** Largest size (channels, units, pixels) accepted anywhere. */
export const MAX_SIZE = 1_000_000;

export const SIZE: NumRule = { integer: true, min: 1, max: MAX_SIZE };
export const EPOCH: NumRule = { integer: true, min: 0, max: MAX_SIZE };
export const NON_NEGATIVE: NumRule = { min: 0 };
export const POSITIVE: NumRule = { min: 0, minOpen: true };
export const UNIT: NumRule = { min: 0, max: 1 };
/** A slope η: monotone (≥ 0) and below the identity's slope. */
export const SLOPE: NumRule = { min: 0, max: 1, maxOpen: true };

/**
 * "a positive integer", "a number in [0, 1)", ... A `max` of MAX_SIZE or more is a sanity
 * limit, left out of the text (a value above it is reported as "at most ...").
 */
export function describeRule(r: NumRule): string {
  const noun = r.integer ? 'integer' : 'number';
  const a = r.integer ? 'an' : 'a';
  const lo = r.min;
  const hi = r.max !== undefined && r.max < MAX_SIZE ? r.max : undefined;
  if (lo !== undefined && hi !== undefined)
    return `${a} ${noun} in ${r.minOpen ? '(' : '['}${lo}, ${hi}${r.maxOpen ? ')' : ']'}`;
  if (lo === 0 && r.minOpen) return `a positive ${noun}`;
  if (lo === 1 && r.integer && !r.minOpen) return 'a positive integer';
  if (lo === 0) return `a non-negative ${noun}`;
  if (lo !== undefined) return `${a} ${noun} ${r.minOpen ? 'above' : 'at least'} ${lo}`;
  if (hi !== undefined) return `${a} ${noun} ${r.maxOpen ? 'below' : 'at most'} ${hi}`;
  return `${a} ${noun}`;
}

/** The rule a value breaks, worded for that value (a too-large value hears about the maximum). */
function brokenRule(v: number, r: NumRule): string {
  if (r.max !== undefined && r.max >= MAX_SIZE && v > r.max) return `at most ${r.max}`;
  return describeRule(r);
}

export function satisfies(v: number, r: NumRule): boolean {
  if (r.integer && !Number.isInteger(v)) return false;
  if (r.min !== undefined && (r.minOpen ? v <= r.min : v < r.min)) return false;
  if (r.max !== undefined && (r.maxOpen ? v >= r.max : v > r.max)) return false;
  return true;
}

/** A finite number literal, without range checks (reports VN2010 / VN2011). */
export const anyNumber: Reader<number> = (e, what, bag) => {
  if (e.kind !== 'NumberLit') {
    bag.report(Diag.WrongType, e.span, [what, 'a number', describeExpr(e)]);
    return undefined;
  }
  if (e.problem !== undefined) {
    bag.report(Diag.InvalidNumber, e.span, [e.text, e.problem]);
    return undefined;
  }
  return e.value;
};

/** A number satisfying `rule`. */
export const num =
  (rule: NumRule): Reader<number> =>
  (e, what, bag) => {
    if (e.kind !== 'NumberLit') {
      bag.report(Diag.WrongType, e.span, [what, describeRule(rule), describeExpr(e)]);
      return undefined;
    }
    const v = anyNumber(e, what, bag);
    if (v === undefined) return undefined;
    if (!satisfies(v, rule)) {
      bag.report(Diag.OutOfRange, e.span, [what, brokenRule(v, rule), e.text]);
      return undefined;
    }
    return v;
  };

/** The text of a name-like value (identifier or string). */
function nameText(e: Expr): string | undefined {
  return e.kind === 'Ident' ? e.text : e.kind === 'StringLit' ? e.value : undefined;
}

/** "did you mean 'x'?" for `word` among `choices`, if one is close. */
export function didYouMean(word: string, choices: readonly string[]): string | undefined {
  const s = closest(word, choices);
  return s === undefined ? undefined : `did you mean '${s}'?`;
}

/**
 * One of `choices`, written as a name (`crown-ibp`) or a string (`"crown-ibp"`). An unknown
 * dataset is VN4003, any other unknown name VN2013; both suggest the closest choice.
 */
export const oneOf =
  <T extends string>(choices: readonly T[], noun: string): Reader<T> =>
  (e, what, bag) => {
    const text = nameText(e);
    if (text === undefined) {
      bag.report(Diag.WrongType, e.span, [what, `one of ${choices.join(', ')}`, describeExpr(e)]);
      return undefined;
    }
    if ((choices as readonly string[]).includes(text)) return text as T;
    const help = [didYouMean(text, choices), `expected one of: ${choices.join(', ')}`];
    if (noun === 'dataset') bag.report(Diag.UnknownDataset, e.span, [text], { help });
    else bag.report(Diag.UnknownValue, e.span, [noun, text], { help });
    return undefined;
  };

/** `true` or `false`. */
export const bool: Reader<boolean> = (e, what, bag) => {
  if (e.kind === 'Ident' && (e.text === 'true' || e.text === 'false')) return e.text === 'true';
  bag.report(Diag.WrongType, e.span, [what, 'true or false', describeExpr(e)]);
  return undefined;
};

/** A list whose items all read with `item`; `minLength` items at least. */
export const listOf =
  <T>(item: Reader<T>, minLength = 0, example = '[1, 2]'): Reader<T[]> =>
  (e, what, bag) => {
    if (e.kind !== 'ListExpr') {
      bag.report(Diag.WrongType, e.span, [what, `a list like ${example}`, describeExpr(e)]);
      return undefined;
    }
    const out: T[] = [];
    let ok = true;
    for (const it of e.items) {
      const v = item(it, `each item of ${what}`, bag);
      if (v === undefined) ok = false;
      else out.push(v);
    }
    if (!ok) return undefined;
    if (out.length < minLength) {
      bag.report(Diag.OutOfRange, e.span, [
        what,
        `a list of at least ${minLength} item${minLength === 1 ? '' : 's'}`,
        '[]',
      ]);
      return undefined;
    }
    return out;
  };

/** `a -> b` with both ends satisfying `rule`; a single number `a` means `a -> a`. */
export const rangeOf =
  (rule: NumRule): Reader<[number, number]> =>
  (e, what, bag) => {
    if (e.kind === 'NumberLit') {
      const v = num(rule)(e, what, bag);
      return v === undefined ? undefined : [v, v];
    }
    if (e.kind !== 'RangeExpr') {
      bag.report(Diag.WrongType, e.span, [what, 'a range like 1 -> 0', describeExpr(e)]);
      return undefined;
    }
    const a = num(rule)(e.from, `the start of ${what}`, bag);
    const b = num(rule)(e.to, `the end of ${what}`, bag);
    return a === undefined || b === undefined ? undefined : [a, b];
  };
