/**
 * The `network NAME { ... }` block → the network part of the IR: input (shape, domain,
 * normalisation), classes, and the layers with their names, inferred shapes and parameters.
 *
 * Layer names: a written name, else `<kind><n>` where n counts the layers of that kind from 1
 * (named ones included, so naming one layer never renames another). Shape inference stops at the
 * first layer whose shape cannot be inferred, so one mistake gives one diagnostic, not a cascade.
 */
import type { InputIR, Layer, ParamSpec, Shape } from '../ir/ir.js';
import { isActivation, numel } from '../ir/ir.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import { positionOf, type Span } from '../diagnostics/source.js';
import type { Block, Entry, Expr } from '../syntax/ast.js';
import { readArgs, type BoundArgs } from './args.js';
import { expandLayers, usesBlocks, type BlockDef } from './blocks.js';
import { LAYER_RULES, unknownKindHelp, type LayerRule } from './layers.js';
import { nameProblem, paramIdent, suggestIdentifier } from './names.js';
import { readOptions, valueOption, type Option } from './schema.js';
import {
  anyNumber,
  describeExpr,
  didYouMean,
  listOf,
  num,
  POSITIVE,
  SIZE,
  satisfies,
  describeRule,
  MAX_SIZE,
  type Reader,
} from './values.js';

/** A layer as written, before naming and shape inference. */
interface LayerDecl {
  readonly rule: LayerRule;
  readonly name: { readonly text: string; readonly span: Span } | undefined;
  /** Undefined when an argument was wrong (already reported). */
  readonly args: BoundArgs | undefined;
  /** Inputs named explicitly (leading bare names: `add(conv2, shortcut)`); empty = the previous layer. */
  readonly inputs: readonly { readonly text: string; readonly span: Span }[];
  readonly span: Span;
}

/** `1x28x28` (C x H x W) or `784`. */
const inputShape: Reader<Shape> = (e, what, bag) => {
  if (e.kind === 'NumberLit') {
    const n = num(SIZE)(e, what, bag);
    return n === undefined ? undefined : [n];
  }
  if (e.kind !== 'ShapeLit') {
    bag.report(Diag.WrongType, e.span, [what, 'a shape like 1x28x28 or a size like 784', describeExpr(e)]);
    return undefined;
  }
  if (e.dims.length !== 3) {
    bag.report(Diag.BadInputShape, e.span, [e.text], {
      help: [e.dims.length === 2 ? `add the channel count: 1x${e.text}` : 'write CxHxW (PyTorch order) or N'],
    });
    return undefined;
  }
  if (!e.dims.every((d) => satisfies(d, SIZE))) {
    bag.report(Diag.OutOfRange, e.span, [what, `${describeRule(SIZE)} in each dimension`, e.text]);
    return undefined;
  }
  return e.dims;
};

/** `[low, high]` with low < high, or `unbounded` (the whole real line: [-∞, ∞]). */
const domain: Reader<[number, number]> = (e, what, bag) => {
  if (e.kind === 'Ident' && e.text === 'unbounded') return [-Infinity, Infinity];
  const v = listOf(anyNumber, 0, '[0, 1]')(e, what, bag);
  if (v === undefined) return undefined;
  if (v.length !== 2 || !(v[0]! < v[1]!)) {
    bag.report(Diag.OutOfRange, e.span, [what, '[low, high] with low < high', `[${v.join(', ')}]`]);
    return undefined;
  }
  return [v[0]!, v[1]!];
};

/** The `layers { ... }` option: the layer declarations, unchecked against shapes. */
const layersOption: Option<LayerDecl[]> = {
  form: 'block',
  read: (entry, bag) => {
    if (entry.kind !== 'NestedBlock') return undefined;
    if (entry.entries.length === 0) {
      bag.report(Diag.NoLayers, entry.key.span, [], { help: ['add layers, for example: dense(10)'] });
      return undefined;
    }
    const decls = entry.entries.map((e) => layerDecl(e, bag));
    return decls.every((d) => d !== undefined) ? decls : undefined;
  },
  default: undefined,
  optional: false,
  defaultText: 'required',
  doc: 'the layers, in order: `name = kind(args)`, `kind(args)` or `kind`',
};

/** The options of the network block. */
export const networkSchema = {
  input: valueOption('input', inputShape, {
    doc: 'input shape: CxHxW (PyTorch order, e.g. 1x28x28) or a size N',
  }),
  domain: valueOption('domain', domain, {
    default: [0, 1] as [number, number],
    doc: 'range of raw input values, `[lo, hi]` or `unbounded`; the L∞ ball is clipped to it',
  }),
  mean: valueOption('mean', listOf(anyNumber, 1, '[0.5]'), {
    default: [0],
    doc: 'per-channel mean subtracted inside the network (length C or 1)',
  }),
  std: valueOption('std', listOf(num(POSITIVE), 1, '[0.25]'), {
    default: [1],
    doc: 'per-channel std dividing inside the network (length C or 1, each > 0)',
  }),
  classes: valueOption('classes', num({ integer: true, min: 1, max: MAX_SIZE }), {
    doc: 'number of classes K (the last layer is a dense with K outputs)',
  }),
  layers: layersOption,
};

function layerDecl(e: Entry, bag: DiagnosticBag): LayerDecl | undefined {
  let name: LayerDecl['name'];
  let expr: Expr;
  if (e.kind === 'Assignment') {
    name = e.key;
    expr = e.value;
  } else if (e.kind === 'Statement') expr = e.expr;
  else {
    bag.report(Diag.NotALayer, e.span, [`the block '${e.key.text} { ... }'`]);
    return undefined;
  }
  if (expr.kind !== 'Ident' && expr.kind !== 'Call') {
    bag.report(Diag.NotALayer, expr.span, [describeExpr(expr)]);
    return undefined;
  }
  const kind = expr.kind === 'Call' ? expr.callee : expr;
  const rule = LAYER_RULES.get(kind.text);
  if (rule === undefined) {
    const kinds = [...LAYER_RULES.keys()];
    bag.report(Diag.UnknownLayerKind, kind.span, [kind.text], {
      help: [unknownKindHelp(kind.text) ?? didYouMean(kind.text, kinds), `layer kinds: ${kinds.join(', ')}`],
    });
    return undefined;
  }
  // leading positional bare names are the node's inputs; the rest are the op's arguments
  const all = expr.kind === 'Call' ? expr.args : [];
  let k = 0;
  while (k < all.length && all[k]!.name === undefined && all[k]!.value.kind === 'Ident') k++;
  const inputs = all
    .slice(0, k)
    .map((a) => ({ text: (a.value as { text: string }).text, span: a.value.span }));
  const args = readArgs(rule.name, rule.args, all.slice(k), expr.span, bag, rule.example);
  return { rule, name, args, inputs, span: e.span };
}

export interface NetworkPart {
  readonly name: string;
  readonly input: InputIR;
  readonly classes: number;
  readonly layers: readonly Layer[];
  readonly params: readonly ParamSpec[];
}

/** What the other blocks are checked against: whatever of the network could be read. */
export interface NetworkFacts {
  /** The whole network, when it has no errors. */
  readonly network: NetworkPart | undefined;
  readonly input: Shape | undefined;
  readonly inputSpan: Span | undefined;
  readonly domain: readonly [number, number] | undefined;
  readonly classes: number | undefined;
  /** Slopes of the leaky_relu and paramramp layers by name (when the layers check out). */
  readonly slopes: ReadonlyMap<string, number> | undefined;
}

/** Checks a network block, with the spec's reusable blocks expanded in its layers. */
export function checkNetwork(
  written: Block,
  bag: DiagnosticBag,
  defs: ReadonlyMap<string, BlockDef> = new Map(),
): NetworkFacts {
  const errorsBefore = countErrors(bag);
  const { block, expanded } = withExpandedLayers(written, defs, bag);
  const name = block.name;
  if (name === undefined)
    bag.report(Diag.MissingNetworkName, block.keyword.span, [], { help: ['write `network my_net { ... }`'] });
  else checkName(name.text, name.span, bag);
  const r = readOptions(block.entries, networkSchema, 'the network block', block.keyword.span, bag, (key) =>
    LAYER_RULES.has(key) ? 'layers go inside `layers { ... }`' : undefined,
  );
  const v = r.values;
  if (v.input !== undefined) {
    const channels = v.input[0]!;
    for (const which of ['mean', 'std'] as const) {
      const list = v[which];
      if (list !== undefined && list.length !== 1 && list.length !== channels)
        bag.report(Diag.NormalisationLength, r.valueSpans[which]!, [which, list.length, channels], {
          help: [`give ${channels} values (one per channel) or 1 (for all)`],
        });
    }
  }
  const layers =
    expanded && v.layers && v.input && v.classes ? checkLayers(v.layers, v.input, v.classes, bag) : undefined;
  const ok = countErrors(bag) === errorsBefore && name !== undefined && layers !== undefined;
  return {
    network: ok
      ? {
          name: name.text,
          input: { shape: v.input!, domain: v.domain!, mean: v.mean!, std: v.std! },
          classes: v.classes!,
          layers,
          params: layers.flatMap((l) => l.params),
        }
      : undefined,
    input: v.input,
    inputSpan: r.valueSpans.input,
    domain: v.domain,
    classes: v.classes,
    slopes: layers === undefined ? undefined : slopesOf(layers),
  };
}

/**
 * The network block with every block instance in its `layers` expanded (unchanged without any);
 * `expanded` is false when an instance could not be (reported; the layers are then not checked).
 */
function withExpandedLayers(
  block: Block,
  defs: ReadonlyMap<string, BlockDef>,
  bag: DiagnosticBag,
): { readonly block: Block; readonly expanded: boolean } {
  if (defs.size === 0) return { block, expanded: true };
  let expanded = true;
  const entries = block.entries.map((e): Entry => {
    if (e.kind !== 'NestedBlock' || e.key.text !== 'layers' || !usesBlocks(e.entries, defs)) return e;
    const r = expandLayers(e.entries, defs, bag);
    expanded &&= r.ok;
    return { ...e, entries: r.entries };
  });
  return { block: { ...block, entries }, expanded };
}

function slopesOf(layers: readonly Layer[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of layers) {
    if (l.op.kind === 'leaky_relu') m.set(l.name, l.op.slope);
    else if (l.op.kind === 'paramramp') m.set(l.name, l.op.eta);
  }
  return m;
}

const countErrors = (bag: DiagnosticBag): number => bag.all.filter((d) => d.severity === 'error').length;

/** Reports an invalid or reserved name; true if the name is usable. */
function checkName(text: string, span: Span, bag: DiagnosticBag): boolean {
  const problem = nameProblem(text);
  if (problem === 'invalid')
    bag.report(Diag.InvalidName, span, [text], {
      help: [
        `names are letters, digits and '_', not starting with a digit: try '${suggestIdentifier(text)}'`,
      ],
    });
  else if (problem === 'reserved') bag.report(Diag.ReservedName, span, [text], { help: [`try '${text}1'`] });
  return problem === undefined;
}

/**
 * Names every node, resolves its inputs (explicit names, else the previous node; `input` is the
 * network input), infers shapes, derives parameters; undefined after a reported error. Inputs
 * must be defined earlier in the block, so the graph is acyclic by construction and the layer
 * order is a topological order.
 */
function checkLayers(
  decls: readonly LayerDecl[],
  inShape: Shape,
  classes: number,
  bag: DiagnosticBag,
): Layer[] | undefined {
  const names = nameLayers(decls, bag);
  const layers: Layer[] = [];
  const byName = new Map<string, Layer>();
  const declared = new Set(names);
  const used = new Set<string>();
  /** For each node: the [C, H, W] map it flattens, while only activations follow the flatten. */
  const flatFrom = new Map<string, Shape>();
  /** The flatten each entry of flatFrom comes from. */
  const flatOrigin = new Map<string, string>();
  for (const [i, d] of decls.entries()) {
    const name = names[i]!;
    const inputNames =
      d.inputs.length > 0 ? d.inputs.map((x) => x.text) : [i === 0 ? 'input' : names[i - 1]!];
    let ok = true;
    d.inputs.forEach((x) => {
      if (x.text === 'input' || byName.has(x.text)) return;
      ok = false;
      if (declared.has(x.text)) bag.report(Diag.ForwardInput, x.span, [x.text, name]);
      else
        bag.report(Diag.UnknownInput, x.span, [x.text, name], {
          help: [didYouMean(x.text, ['input', ...byName.keys()])],
        });
    });
    if (!ok || d.args === undefined) return undefined;
    const [minIn, maxIn] = typeof d.rule.arity === 'number' ? [d.rule.arity, d.rule.arity] : d.rule.arity;
    if (inputNames.length < minIn || inputNames.length > maxIn) {
      const count =
        minIn === maxIn ? minIn : maxIn === Infinity ? `${minIn} or more` : `${minIn} to ${maxIn}`;
      bag.report(Diag.InputCount, d.span, [d.rule.name, count, inputNames.length], {
        help: [`for example: ${d.rule.example}`],
      });
      return undefined;
    }
    inputNames.forEach((n) => used.add(n));
    const inputs = inputNames.map((n) => ({
      shape: n === 'input' ? inShape : byName.get(n)!.outShape,
      from: n === 'input' ? 'the network input' : `its input '${n}'`,
    }));
    const inferred = d.rule.infer(d.args, inputs, d.span, bag);
    if (inferred === undefined) return undefined;
    const { op, outShape } = inferred;
    const inShapes = inputs.map((x) => x.shape);
    const flattenedFrom = inputNames.length === 1 ? flatFrom.get(inputNames[0]!) : undefined;
    const params: ParamSpec[] = d.rule.params(op, inShapes).map((p) => ({
      name: `${name}.${p.param}`,
      ident: paramIdent(name, p.param),
      role: p.role,
      torchShape: p.torchShape,
      fanIn: p.fanIn,
      ...(flattenedFrom !== undefined && (p.role === 'dense.weight' || p.role === 'ramp.r')
        ? { flattenedFrom }
        : {}),
    }));
    if (op.kind === 'flatten') {
      flatFrom.set(name, inShapes[0]!);
      flatOrigin.set(name, name);
    } else if (flattenedFrom !== undefined && isActivation(op)) {
      flatFrom.set(name, flattenedFrom);
      flatOrigin.set(name, flatOrigin.get(inputNames[0]!)!);
    }
    const pos = positionOf(bag.file, d.span.start);
    const layer: Layer = {
      index: i,
      name,
      ident: name,
      op,
      inputs: inputNames,
      inShapes,
      inShape: inShapes[0]!,
      outShape,
      params,
      origin: { line: pos.line, col: pos.col, start: d.span.start, end: d.span.end },
    };
    layers.push(layer);
    byName.set(name, layer);
  }
  const checked = permuteFlattens(layers, flatOrigin);
  layers.splice(0, layers.length, ...checked);
  decls.forEach((d, i) => {
    if (i < decls.length - 1 && !used.has(names[i]!))
      bag.report(Diag.UnusedLayer, d.name?.span ?? d.span, [names[i]!], {
        help: ['use it as an input of a later layer, or remove it'],
      });
  });
  if (!checkOutput(decls, layers, classes, bag) || !checkCollisions(decls, layers, bag)) return undefined;
  return layers;
}

/**
 * A flatten's vector stays in the runtime's H,W,C order when only activations and dense layers
 * read it (the dense weight is permuted at load time: `flattenedFrom`). Where anything else reads
 * it (add, concat, batchnorm, a constant op, reshape, ...) the flatten becomes `permute` (the
 * runtime gathers C,H,W order) and no parameter below it is permuted. Maps with one channel or one
 * position have the same order both ways and are left alone.
 */
function permuteFlattens(layers: readonly Layer[], flatOrigin: ReadonlyMap<string, string>): Layer[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const permute = new Set<string>();
  for (const l of layers)
    for (const n of l.inputs) {
      const origin = flatOrigin.get(n);
      if (origin === undefined || l.op.kind === 'dense' || isActivation(l.op)) continue;
      const [c, h, w] = byName.get(origin)!.inShape as [number, number, number];
      if (c > 1 && h * w > 1) permute.add(origin);
    }
  if (permute.size === 0) return [...layers];
  return layers.map((l) => {
    if (permute.has(l.name)) return { ...l, op: { kind: 'flatten', permute: true } };
    const origin = flatOrigin.get(l.inputs[0]!);
    if (l.inputs.length !== 1 || origin === undefined || !permute.has(origin)) return l;
    return {
      ...l,
      params: l.params.map((p) => {
        if (p.flattenedFrom === undefined) return p;
        // eslint-disable-next-line @typescript-eslint/no-unused-vars
        const { flattenedFrom, ...rest } = p;
        return rest;
      }),
    };
  });
}

/** Default names, name validity and duplicates. */
function nameLayers(decls: readonly LayerDecl[], bag: DiagnosticBag): string[] {
  const counts = new Map<string, number>();
  const firstAt = new Map<string, { span: Span; isDefault: boolean }>();
  return decls.map((d) => {
    const n = (counts.get(d.rule.kind) ?? 0) + 1;
    counts.set(d.rule.kind, n);
    const name = d.name?.text ?? `${d.rule.kind}${n}`;
    const span = d.name?.span ?? d.span;
    if (d.name !== undefined && !checkName(name, span, bag)) return name;
    const first = firstAt.get(name);
    if (first === undefined) firstAt.set(name, { span, isDefault: d.name === undefined });
    else
      bag.report(Diag.DuplicateLayerName, span, [name], {
        related: [
          {
            message: `'${name}' is first ${first.isDefault ? 'the default name of a layer' : 'defined'}`,
            span: first.span,
          },
        ],
        help: [
          first.isDefault || d.name === undefined
            ? `unnamed layers are called <kind><n>; give this layer another name`
            : 'rename one of the layers',
        ],
      });
    return name;
  });
}

/** The last layer must be a dense with `classes` outputs. */
function checkOutput(
  decls: readonly LayerDecl[],
  layers: readonly Layer[],
  classes: number,
  bag: DiagnosticBag,
): boolean {
  const last = layers[layers.length - 1]!;
  const decl = decls[decls.length - 1]!;
  if (last.op.kind !== 'dense') {
    bag.report(Diag.LastLayerNotDense, decl.span, [last.name, last.op.kind], {
      help: [`end the network with 'dense(${classes})'`],
    });
    return false;
  }
  if (last.op.out !== classes) {
    bag.report(
      Diag.ClassCountMismatch,
      decl.args?.spans.get('out') ?? decl.span,
      [last.name, last.op.out, classes],
      {
        help: [`write dense(${classes}), or set classes = ${last.op.out}`],
      },
    );
    return false;
  }
  return true;
}

/** Layer identifiers and parameter identifiers share one namespace in generated code. */
function checkCollisions(decls: readonly LayerDecl[], layers: readonly Layer[], bag: DiagnosticBag): boolean {
  const owners = new Map<string, string>();
  for (const l of layers)
    for (const p of l.params) owners.set(p.ident, `the parameter '${p.name}' of layer '${l.name}'`);
  let ok = true;
  for (const l of layers) {
    const owner = owners.get(l.ident);
    if (owner === undefined) continue;
    const d = decls[l.index]!;
    bag.report(Diag.NameCollision, d.name?.span ?? d.span, [l.ident, owner], { help: ['rename this layer'] });
    ok = false;
  }
  return ok;
}

/** Total number of scalar parameters. */
export const countParams = (params: readonly ParamSpec[]): number =>
  params.reduce((n, p) => n + numel(p.torchShape), 0);
