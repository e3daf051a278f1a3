/**
 * Reusable blocks of layers (docs/language.md, "Blocks"): a top-level
 *
 *     block basic {
 *       params { out = 16  stride = 1 }
 *       c1  = conv2d(in, out, kernel: 3, stride: stride, padding: 1)
 *       ...
 *       sum = add(bn2, in)
 *     }
 *
 * defines a block once; `b1 = basic(r0, out: 32)` in a `layers` block uses it. Blocks are expanded
 * here, on the AST, before the network is checked: each instance becomes the block's layers, each
 * named `<instance>_<name>` (unnamed ones `<instance>_<kind><n>`), except the last, which takes the
 * instance's name, so later layers read `b1`. Inside the body, `in` is the instance's input (its one
 * leading bare-name argument), the block's layers are referred to by their short names, and a
 * bare name that is a parameter stands for the instance's value of it. The first layer reads `in`
 * unless it names its inputs. Blocks may use other blocks (not themselves). Spans stay those of the
 * block's body, so a diagnostic points at the line in the block; its message names the expanded
 * layer (`b1_c1`), which names the instance.
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Arg, Assignment, Block, Call, Entry, Expr, Ident, NestedBlock } from '../syntax/ast.js';
import { LAYER_RULES } from './layers.js';
import { didYouMean } from './values.js';

/** A checked block definition. */
export interface BlockDef {
  readonly name: Ident;
  /** Parameters with their default values (undefined: required). */
  readonly params: ReadonlyMap<string, { readonly span: Span; readonly dflt: Expr | undefined }>;
  readonly body: readonly Entry[];
  /** Its definition had an error (reported): its uses expand to nothing, without more reports. */
  readonly broken: boolean;
}

/** The name the body uses for the instance's input. */
export const BLOCK_INPUT = 'in';
/** Nesting limit of blocks using blocks (a guard; cycles are reported separately). */
const MAX_DEPTH = 16;

/** Reads the top-level `block NAME { ... }` definitions (reporting bad ones). */
export function collectBlocks(blocks: readonly Block[], bag: DiagnosticBag): Map<string, BlockDef> {
  const out = new Map<string, BlockDef>();
  for (const b of blocks) {
    if (b.name === undefined) {
      bag.report(Diag.BlockWithoutName, b.keyword.span, [], { help: ['write `block basic { ... }`'] });
      continue;
    }
    const name = b.name;
    if (LAYER_RULES.has(name.text)) {
      bag.report(Diag.BlockNameIsLayer, name.span, [name.text], { help: [`try '${name.text}_block'`] });
      continue;
    }
    const first = out.get(name.text);
    if (first !== undefined) {
      bag.report(Diag.DuplicateBlockDef, name.span, [name.text], {
        related: [{ message: `'${name.text}' is first defined`, span: first.name.span }],
        help: ['rename one of the blocks'],
      });
      continue;
    }
    const params = new Map<string, { span: Span; dflt: Expr | undefined }>();
    const body: Entry[] = [];
    let broken = false;
    for (const e of b.entries) {
      if (e.kind === 'NestedBlock' && e.key.text === 'params') broken = !readParams(e, params, bag) || broken;
      else body.push(e);
    }
    if (body.length === 0) {
      bag.report(Diag.BlockWithoutLayers, name.span, [name.text], {
        help: ['add layers, for example: `c1 = conv2d(in, 16, kernel: 3)`'],
      });
      continue;
    }
    out.set(name.text, { name, params, body, broken });
  }
  return out;
}

/** `params { out  stride = 1 }`: each a default value (any value; its use checks it); false after an error. */
function readParams(
  e: NestedBlock,
  params: Map<string, { span: Span; dflt: Expr | undefined }>,
  bag: DiagnosticBag,
): boolean {
  let ok = true;
  for (const p of e.entries) {
    // `name = default`, or a bare `name`: a parameter every use must give
    const key =
      p.kind === 'Assignment'
        ? p.key
        : p.kind === 'Statement' && p.expr.kind === 'Ident'
          ? p.expr
          : undefined;
    if (key === undefined) {
      bag.report(Diag.BadBlockParam, p.span, [], {
        help: ['write `params { out  stride = 1 }`: a name, with `= default` unless every use gives it'],
      });
      ok = false;
      continue;
    }
    if (params.has(key.text)) {
      bag.report(Diag.DuplicateBlockParam, key.span, [key.text]);
      ok = false;
      continue;
    }
    params.set(key.text, { span: key.span, dflt: p.kind === 'Assignment' ? p.value : undefined });
  }
  return ok;
}

/** The callee of a layer entry's expression, if it is a name or a call. */
const calleeOf = (x: Expr): Ident | undefined =>
  x.kind === 'Call' ? x.callee : x.kind === 'Ident' ? x : undefined;

/** Whether any entry uses a block (the cheap test before expanding). */
export function usesBlocks(entries: readonly Entry[], blocks: ReadonlyMap<string, BlockDef>): boolean {
  return entries.some((e) => {
    const x = e.kind === 'Assignment' ? e.value : e.kind === 'Statement' ? e.expr : undefined;
    const c = x && calleeOf(x);
    return c !== undefined && blocks.has(c.text);
  });
}

/**
 * The entries of a `layers` block with every block instance expanded. `ok` is false after a
 * reported error; the instances that could not be expanded are then left out.
 */
export function expandLayers(
  entries: readonly Entry[],
  blocks: ReadonlyMap<string, BlockDef>,
  bag: DiagnosticBag,
): { readonly entries: Entry[]; readonly ok: boolean } {
  const failed = { any: false };
  const out = expandList(entries, blocks, bag, [], new Map(), failed);
  return { entries: out, ok: !failed.any };
}

function expandList(
  entries: readonly Entry[],
  blocks: ReadonlyMap<string, BlockDef>,
  bag: DiagnosticBag,
  stack: readonly string[],
  counts: Map<string, number>,
  failed: { any: boolean },
): Entry[] {
  const out: Entry[] = [];
  for (const e of entries) {
    const x = e.kind === 'Assignment' ? e.value : e.kind === 'Statement' ? e.expr : undefined;
    const callee = x && calleeOf(x);
    const def = callee && blocks.get(callee.text);
    if (def === undefined || x === undefined || callee === undefined) {
      out.push(e);
      continue;
    }
    if (stack.includes(def.name.text)) {
      bag.report(Diag.BlockCycle, callee.span, [[...stack, def.name.text].join(' → ')], {
        help: ['a block cannot use itself, directly or through another block'],
      });
      failed.any = true;
      continue;
    }
    if (stack.length >= MAX_DEPTH) {
      bag.report(Diag.BlockCycle, callee.span, [`${stack.join(' → ')} (more than ${MAX_DEPTH} levels)`]);
      failed.any = true;
      continue;
    }
    const n = (counts.get(def.name.text) ?? 0) + 1;
    counts.set(def.name.text, n);
    const inst: Ident =
      e.kind === 'Assignment' ? e.key : { kind: 'Ident', text: `${def.name.text}${n}`, span: callee.span };
    const got = instantiate(def, inst, x as Call | Ident, blocks, bag, stack, failed);
    if (got === undefined) failed.any = true;
    else out.push(...got);
  }
  return out;
}

/** One instance `inst = def(input, k: v, ...)` → its layers (nested blocks expanded). */
function instantiate(
  def: BlockDef,
  inst: Ident,
  call: Call | Ident,
  blocks: ReadonlyMap<string, BlockDef>,
  bag: DiagnosticBag,
  stack: readonly string[],
  failed: { any: boolean },
): Entry[] | undefined {
  if (def.broken) return undefined;
  const args = call.kind === 'Call' ? call.args : [];
  const inputs = args.filter((a) => a.name === undefined && a.value.kind === 'Ident');
  const rest = args.filter((a) => !inputs.includes(a));
  const blockName = def.name.text;
  if (inputs.length !== 1 || args.indexOf(inputs[0]!) !== 0) {
    bag.report(Diag.BlockInput, call.span, [blockName, inputs.length], {
      help: [`name the input first, for example: ${inst.text} = ${blockName}(r0)`],
    });
    return undefined;
  }
  const input = inputs[0]!.value as Ident;
  const values = new Map<string, Expr>();
  let ok = true;
  for (const a of rest) {
    if (a.name === undefined) {
      bag.report(Diag.BlockPositional, a.span, [blockName], {
        help: [
          `give parameters by name: ${[...def.params.keys()].map((k) => `${k}: ...`).join(', ') || '(none)'}`,
        ],
      });
      ok = false;
      continue;
    }
    if (!def.params.has(a.name.text)) {
      const names = [...def.params.keys()];
      bag.report(Diag.UnknownBlockParam, a.name.span, [blockName, a.name.text], {
        help: [
          didYouMean(a.name.text, names),
          names.length ? `${blockName} takes: ${names.join(', ')}` : undefined,
        ],
        related: [{ message: `block '${blockName}' is defined`, span: def.name.span }],
      });
      ok = false;
      continue;
    }
    values.set(a.name.text, a.value);
  }
  for (const [k, p] of def.params) {
    if (values.has(k)) continue;
    if (p.dflt === undefined) {
      bag.report(Diag.MissingBlockParam, call.span, [blockName, k]);
      ok = false;
    } else values.set(k, p.dflt);
  }
  if (!ok) return undefined;

  // local names: written ones, then `<kind><n>` for unnamed layers; the last is the instance
  const local = new Map<string, string>();
  const kindCounts = new Map<string, number>();
  const named = def.body.map((e, i) => {
    const last = i === def.body.length - 1;
    if (e.kind === 'Assignment') {
      const full = last ? inst.text : `${inst.text}_${e.key.text}`;
      local.set(e.key.text, full);
      return { key: { ...e.key, text: full }, value: e.value, span: e.span };
    }
    const x = e.kind === 'Statement' ? e.expr : undefined;
    const c = x ? calleeOf(x) : undefined;
    const kind = c?.text ?? 'layer';
    const k = (kindCounts.get(kind) ?? 0) + 1;
    kindCounts.set(kind, k);
    const full = last ? inst.text : `${inst.text}_${kind}${k}`;
    const key: Ident = { kind: 'Ident', text: full, span: c?.span ?? e.span };
    return { key, value: x, span: e.span, original: e };
  });

  const rename = (id: Ident): Ident => {
    if (id.text === BLOCK_INPUT) return { ...id, text: input.text };
    const full = local.get(id.text);
    return full === undefined ? id : { ...id, text: full };
  };
  const substitute = (v: Expr): Expr => {
    if (v.kind === 'Ident' && values.has(v.text)) return values.get(v.text)!;
    if (v.kind === 'RangeExpr') return { ...v, from: substitute(v.from), to: substitute(v.to) };
    if (v.kind === 'ListExpr') return { ...v, items: v.items.map(substitute) };
    return v;
  };

  const body: Entry[] = [];
  named.forEach((n, i) => {
    if (n.value === undefined) {
      body.push((n as { original: Entry }).original); // not a layer: the network check reports it
      return;
    }
    let expr = n.value;
    if (expr.kind === 'Ident' || expr.kind === 'Call') {
      const callee = expr.kind === 'Call' ? expr.callee : expr;
      const old = expr.kind === 'Call' ? expr.args : [];
      let k = 0;
      while (k < old.length && old[k]!.name === undefined && old[k]!.value.kind === 'Ident') k++;
      // leading bare names are inputs (renamed), unless a parameter (substituted) sits there
      const lead: Arg[] = old.slice(0, k).map((a) => {
        const id = a.value as Ident;
        return values.has(id.text) && !local.has(id.text) && id.text !== BLOCK_INPUT
          ? { ...a, value: substitute(id) }
          : { ...a, value: rename(id) };
      });
      const tail: Arg[] = old.slice(k).map((a) => ({ ...a, value: substitute(a.value) }));
      const explicit = lead.some((a) => a.value.kind === 'Ident');
      const first: Arg[] =
        i === 0 && !explicit
          ? [{ kind: 'Arg', name: undefined, value: { ...input, span: callee.span }, span: callee.span }]
          : [];
      expr = { kind: 'Call', callee, args: [...first, ...lead, ...tail], span: expr.span };
    }
    const a: Assignment = { kind: 'Assignment', key: n.key, value: expr, span: n.span };
    body.push(a);
  });
  return expandList(body, blocks, bag, [...stack, def.name.text], new Map(), failed);
}
