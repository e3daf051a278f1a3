/**
 * CST → AST. One function per grammar rule, typed by `grammar/cst.d.ts`. Every CST child is
 * treated as possibly missing (parser recovery drops or invents tokens; invented ones have NaN
 * offsets), so this never throws: a missing value becomes an `ErrorExpr`, a missing name an
 * `Ident` with empty text. Numbers are evaluated here (`8/255`), but their problems (`8/0`)
 * are only recorded on the node, for the checker to report where the number is used.
 */
import type { CstNode, IToken } from 'chevrotain';
import type {
  ArgCstNode,
  ArgsCstNode,
  AtomCstNode,
  BlockCstNode,
  BodyCstNode,
  EntryCstNode,
  ListCstNode,
  NumberCstNode,
  SpecCstNode,
  ValueCstNode,
} from '../../grammar/cst.js';
import type { Arg, Block, Call, Entry, Expr, Ident, NumberLit, Program, Span } from './ast.js';

const finite = (n: number | undefined, fallback: number): number =>
  n !== undefined && Number.isFinite(n) ? n : fallback;

/** The span of a token; invented tokens (NaN offsets) get the zero-width span at `fallback`. */
function tokenSpan(t: IToken, fallback = 0): Span {
  const start = finite(t.startOffset, fallback);
  return { start, end: Math.max(start, finite(t.endOffset, start - 1) + 1) };
}

/** The span of a CST node (chevrotain's end offset is inclusive). */
function nodeSpan(n: CstNode): Span {
  const start = finite(n.location?.startOffset, 0);
  return { start, end: Math.max(start, finite(n.location?.endOffset, start - 1) + 1) };
}

const ident = (t: IToken | undefined, at: Span): Ident =>
  t === undefined || !Number.isFinite(t.startOffset)
    ? { kind: 'Ident', span: { start: at.start, end: at.start }, text: '' }
    : { kind: 'Ident', span: tokenSpan(t), text: t.image };

const errorExpr = (at: Span): Expr => ({ kind: 'ErrorExpr', span: at });

/** The AST of a whole spec (`cst` is the result of the `spec` rule). */
export function toAst(cst: CstNode, textLength: number): Program {
  const spec = cst as SpecCstNode;
  return {
    kind: 'Program',
    span: { start: 0, end: textLength },
    blocks: (spec.children.block ?? []).map(block),
  };
}

function block(n: BlockCstNode): Block {
  const span = nodeSpan(n);
  const c = n.children;
  const name = c.name?.[0];
  return {
    kind: 'Block',
    span,
    keyword: ident(c.kind?.[0], span),
    name: name === undefined ? undefined : ident(name, span),
    entries: body(c.body?.[0]),
  };
}

const body = (n: BodyCstNode | undefined): Entry[] => (n?.children.entry ?? []).map(entry);

function entry(n: EntryCstNode): Entry {
  const span = nodeSpan(n);
  const c = n.children;
  const key = ident(c.key?.[0], span);
  if (c.Equals !== undefined) {
    const v = c.value?.[0];
    return {
      kind: 'Assignment',
      span,
      key,
      value: v ? value(v) : errorExpr({ start: span.end, end: span.end }),
    };
  }
  if (c.body !== undefined) return { kind: 'NestedBlock', span, key, entries: body(c.body[0]) };
  if (c.args !== undefined) return { kind: 'Statement', span, expr: call(key, c.args[0]!, span) };
  return { kind: 'Statement', span, expr: key };
}

const call = (callee: Ident, n: ArgsCstNode, span: Span): Call => ({
  kind: 'Call',
  span,
  callee,
  args: (n.children.arg ?? []).map(arg),
});

function arg(n: ArgCstNode): Arg {
  const span = nodeSpan(n);
  const c = n.children;
  const v = c.value?.[0];
  return {
    kind: 'Arg',
    span,
    name: c.name === undefined ? undefined : ident(c.name[0], span),
    value: v ? value(v) : errorExpr(span),
  };
}

function value(n: ValueCstNode): Expr {
  const span = nodeSpan(n);
  const c = n.children;
  const from = c.from?.[0] ? atom(c.from[0]) : errorExpr(span);
  if (c.Arrow === undefined) return from;
  return {
    kind: 'RangeExpr',
    span,
    from,
    to: c.to?.[0] ? atom(c.to[0]) : errorExpr({ start: span.end, end: span.end }),
  };
}

function atom(n: AtomCstNode): Expr {
  const span = nodeSpan(n);
  const c = n.children;
  if (c.number?.[0]) return number(c.number[0]);
  if (c.Shape?.[0]) {
    const text = c.Shape[0].image;
    return { kind: 'ShapeLit', span, text, dims: text.split('x').map(Number) };
  }
  if (c.String?.[0]) return { kind: 'StringLit', span, value: unquote(c.String[0].image) };
  if (c.list?.[0]) return list(c.list[0]);
  if (c.Identifier?.[0]) {
    const name = ident(c.Identifier[0], span);
    return c.args?.[0] ? call(name, c.args[0], span) : name;
  }
  return errorExpr(span);
}

function number(n: NumberCstNode): Expr {
  const span = nodeSpan(n);
  const c = n.children;
  const num = c.numerator?.[0];
  if (num === undefined || !Number.isFinite(num.startOffset)) return errorExpr(span);
  const sign = c.sign ? '-' : '';
  let text = `${sign}${num.image}`;
  let value = Number(num.image) * (sign ? -1 : 1);
  let problem: NumberLit['problem'];
  const den = c.denominator?.[0];
  if (c.Slash !== undefined) {
    if (den === undefined || !Number.isFinite(den.startOffset)) return errorExpr(span);
    const dsign = c.denominatorSign ? '-' : '';
    text += `/${dsign}${den.image}`;
    const d = Number(den.image) * (dsign ? -1 : 1);
    if (d === 0) problem = 'division by zero';
    value /= d;
  }
  if (problem === undefined && !Number.isFinite(value)) problem = 'not a finite number';
  return { kind: 'NumberLit', span, value, text, problem };
}

const list = (n: ListCstNode): Expr => ({
  kind: 'ListExpr',
  span: nodeSpan(n),
  items: (n.children.value ?? []).map(value),
});

/** The value of a string token: quotes removed, `\n` and `\t` decoded, `\x` → `x` otherwise. */
function unquote(image: string): string {
  const inner = image.slice(1, -1);
  return inner.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch === 't' ? '\t' : ch));
}
