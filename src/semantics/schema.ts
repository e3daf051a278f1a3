/**
 * Schema-driven reading of a block's entries (`key = value` and nested `key { ... }`): unknown
 * keys (VN2006, with did-you-mean), keys set twice (VN2007), missing required keys (VN2008) and
 * entries of the wrong form (VN2009) are reported here, once, for every block of the language.
 * Every option carries its default and a one-line description: `docs/language.md`'s option table
 * is checked against these schemas by a test.
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Entry } from '../syntax/ast.js';
import { didYouMean, type Reader } from './values.js';

/** One option of a block. */
export interface Option<T> {
  readonly form: 'value' | 'block';
  /** Reads the entry (already known to have the right form). */
  readonly read: (entry: Entry, bag: DiagnosticBag) => T | undefined;
  /** Value when absent; undefined: required, unless `optional`. */
  readonly default: T | undefined;
  /** May be absent without a default (the caller decides what absence means). */
  readonly optional: boolean;
  /** Documentation: the default as written in the table, and what the option means. */
  readonly defaultText: string;
  readonly doc: string;
  /** For a nested block: its own schema (for the documentation test). */
  readonly schema?: Schema;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Schema = Readonly<Record<string, Option<any>>>;

/** The values of a schema's options: read value, else default, else undefined. */
export type Values<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends Option<infer T> ? T | undefined : never;
};

interface Doc<T> {
  /** Default value; omit for a required option. */
  readonly default?: T;
  /** Absent means "not set" (no default, not required). */
  readonly optional?: boolean;
  /** How the default is written in the docs (defaults to the value as vnet syntax). */
  readonly defaultText?: string;
  readonly doc: string;
}

const defaultText = <T>(d: Doc<T>): string =>
  d.defaultText ?? (d.default !== undefined ? formatValue(d.default) : d.optional ? 'not set' : 'required');

/** A value as it would be written in a spec (for the documentation of defaults). */
export function formatValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  return String(v);
}

/** A `key = value` option read with `reader`. */
export function valueOption<T>(key: string, reader: Reader<T>, d: Doc<T>): Option<T> {
  return {
    form: 'value',
    read: (entry, bag) => (entry.kind === 'Assignment' ? reader(entry.value, key, bag) : undefined),
    default: d.default,
    optional: d.optional ?? false,
    defaultText: defaultText(d),
    doc: d.doc,
  };
}

/**
 * A nested `key { ... }` block read with `schema`, then combined by `build`. Unless `optional`,
 * an absent block means "all defaults" (every option of `schema` must then have one).
 */
export function blockOption<S extends Schema, T>(
  key: string,
  schema: S,
  build: (v: Values<S>) => T,
  d: Pick<Doc<T>, 'optional' | 'doc' | 'defaultText'>,
): Option<T> {
  const opts = Object.entries(schema);
  const defaults = Object.fromEntries(opts.map(([k, o]) => [k, o.default])) as Values<S>;
  const dflt = d.optional ? undefined : build(defaults);
  return {
    form: 'block',
    read: (entry, bag) => {
      if (entry.kind !== 'NestedBlock') return undefined;
      const r = readOptions(entry.entries, schema, `'${key}'`, entry.key.span, bag);
      return r.ok ? build(r.values) : undefined;
    },
    default: dflt,
    optional: d.optional ?? false,
    defaultText: d.defaultText ?? `{ ${opts.map(([k, o]) => `${k} = ${o.defaultText}`).join('  ')} }`,
    doc: d.doc,
    schema,
  };
}

/** The key of an entry (a bare call's callee). */
function entryKey(e: Entry): { readonly text: string; readonly span: Span } {
  return e.kind === 'Statement' ? (e.expr.kind === 'Call' ? e.expr.callee : e.expr) : e.key;
}

export interface ReadResult<S extends Schema> {
  readonly values: Values<S>;
  /** No error was reported for this block. */
  readonly ok: boolean;
  /** Where each present key was set (for later diagnostics). */
  readonly spans: Readonly<Partial<Record<keyof S, Span>>>;
  /** Where each present key's value is (the key itself for blocks). */
  readonly valueSpans: Readonly<Partial<Record<keyof S, Span>>>;
}

/**
 * Reads `entries` against `schema`. `where` names the block in messages ("the train block");
 * `anchor` is where a missing required option is reported. `unknownHelp` may add advice for an
 * unknown key (e.g. "layers go inside layers { ... }").
 */
export function readOptions<S extends Schema>(
  entries: readonly Entry[],
  schema: S,
  where: string,
  anchor: Span,
  bag: DiagnosticBag,
  unknownHelp?: (key: string) => string | undefined,
): ReadResult<S> {
  const errorsBefore = bag.all.filter((d) => d.severity === 'error').length;
  const keys = Object.keys(schema);
  const seen = new Map<string, Span>();
  const values: Record<string, unknown> = {};
  const valueSpans: Record<string, Span> = {};
  for (const entry of entries) {
    const key = entryKey(entry);
    const opt = schema[key.text];
    if (opt === undefined) {
      const suggestion = unknownHelp?.(key.text) ?? didYouMean(key.text, keys);
      bag.report(Diag.UnknownOption, key.span, [key.text, where], {
        help: [suggestion ?? `options of ${where}: ${keys.join(', ')}`],
      });
      continue;
    }
    const first = seen.get(key.text);
    if (first !== undefined) {
      bag.report(Diag.DuplicateOption, key.span, [key.text], {
        related: [{ message: `'${key.text}' is first set`, span: first }],
      });
      continue;
    }
    seen.set(key.text, key.span);
    const wanted = opt.form === 'block' ? 'NestedBlock' : 'Assignment';
    if (entry.kind !== wanted) {
      const form = opt.form === 'block' ? `'${key.text} { ... }'` : `'${key.text} = ...'`;
      bag.report(Diag.WrongEntryForm, entry.span, [key.text, form]);
      continue;
    }
    const v = opt.read(entry, bag);
    if (v !== undefined) values[key.text] = v;
    valueSpans[key.text] = entry.kind === 'Assignment' ? entry.value.span : key.span;
  }
  for (const k of keys) {
    const opt = schema[k]!;
    if (seen.has(k)) continue;
    if (opt.default !== undefined) values[k] = opt.default;
    else if (!opt.optional)
      bag.report(Diag.MissingOption, anchor, [k, where], { help: [missingHelp(k, opt)] });
  }
  const ok = bag.all.filter((d) => d.severity === 'error').length === errorsBefore;
  const spans = Object.fromEntries(seen) as Partial<Record<keyof S, Span>>;
  return { values: values as Values<S>, ok, spans, valueSpans: valueSpans as Partial<Record<keyof S, Span>> };
}

function missingHelp(key: string, opt: Option<unknown>): string {
  return opt.form === 'block' ? `add '${key} { ... }': ${opt.doc}` : `add '${key} = ...': ${opt.doc}`;
}
