/**
 * Call arguments (`conv2d(16, kernel: 4)`, `adam(lr: 1e-3)`): binds positional and named
 * arguments to a callee's parameter list and reads each with its typed reader. Reports too many
 * arguments (VN2103), unknown names (VN2102, did-you-mean), an argument given twice (VN2105) and a
 * missing required one (VN2104).
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Arg, Expr } from '../syntax/ast.js';
import { formatValue } from './schema.js';
import { didYouMean, type Reader } from './values.js';

/** One parameter of a callee, in positional order. */
export interface ArgSpec<T = unknown> {
  readonly name: string;
  readonly read: Reader<T>;
  /** Undefined: required. */
  readonly default: T | undefined;
  readonly defaultText: string;
  readonly doc: string;
  /** No default, yet not required: the rule derives the value when absent (avgpool's stride). */
  readonly optional?: boolean;
}

export function argSpec<T>(
  name: string,
  read: Reader<T>,
  d: { readonly default?: T; readonly defaultText?: string; readonly doc: string },
): ArgSpec<T> {
  return {
    name,
    read,
    default: d.default,
    defaultText: d.defaultText ?? (d.default === undefined ? 'required' : formatValue(d.default)),
    doc: d.doc,
  };
}

/** Argument values by parameter name (defaults filled in), plus where each was written. */
export interface BoundArgs {
  readonly values: ReadonlyMap<string, unknown>;
  readonly spans: ReadonlyMap<string, Span>;
}

/**
 * Binds and reads `args` (empty for a bare name like `relu`) against `params`. `callee` names the
 * callee in messages; `at` is the span of the whole call. Undefined after any reported error.
 */
export function readArgs(
  callee: string,
  params: readonly ArgSpec[],
  args: readonly Arg[],
  at: Span,
  bag: DiagnosticBag,
  example: string,
): BoundArgs | undefined {
  const bound = new Map<string, Expr>();
  let ok = true;
  /** After a misspelt argument name, "missing argument" would only repeat the same mistake. */
  let misspelt = false;
  let position = 0;
  for (const a of args) {
    let spec: ArgSpec | undefined;
    if (a.name === undefined) {
      spec = params[position++];
      if (spec === undefined) {
        bag.report(Diag.TooManyArguments, a.span, [callee, params.length]);
        ok = false;
        continue;
      }
    } else {
      const name = a.name.text;
      spec = params.find((p) => p.name === name);
      if (spec === undefined) {
        const names = params.map((p) => p.name);
        bag.report(Diag.UnknownArgument, a.name.span, [callee, name], {
          help: [
            didYouMean(name, names),
            names.length > 0 ? `${callee} takes: ${names.join(', ')}` : undefined,
          ],
        });
        ok = false;
        misspelt = true;
        continue;
      }
    }
    if (bound.has(spec.name)) {
      bag.report(Diag.DuplicateArgument, a.span, [callee, spec.name]);
      ok = false;
      continue;
    }
    bound.set(spec.name, a.value);
  }
  const values = new Map<string, unknown>();
  const spans = new Map<string, Span>();
  for (const p of params) {
    const e = bound.get(p.name);
    if (e === undefined) {
      if (p.default === undefined && p.optional) continue;
      if (p.default === undefined) {
        if (!misspelt)
          bag.report(Diag.MissingArgument, at, [callee, p.name], { help: [`for example: ${example}`] });
        ok = false;
      } else values.set(p.name, p.default);
      continue;
    }
    const v = p.read(e, `${callee} argument '${p.name}'`, bag);
    if (v === undefined) ok = false;
    else {
      values.set(p.name, v);
      spans.set(p.name, e.span);
    }
  }
  return ok ? { values, spans } : undefined;
}
