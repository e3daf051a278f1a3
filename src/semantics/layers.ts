/**
 * The layer kinds of the language, one rule each: arguments (positional order, defaults), shape
 * inference with its diagnostics, and the parameters the layer owns (PyTorch layout and fan-in).
 * Adding a layer kind means adding an `Op` to `src/ir/ir.ts` and one rule here; the grammar does
 * not change (layer kinds are plain names).
 */
import type { Op, OpKind, Padding4, ParamRole, Shape } from '../ir/ir.js';
import { numel } from '../ir/ir.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Expr } from '../syntax/ast.js';
import { argSpec, type ArgSpec, type BoundArgs } from './args.js';
import {
  bool,
  describeExpr,
  describeRule,
  num,
  oneOf,
  satisfies,
  SIZE,
  SLOPE,
  type NumRule,
  type Reader,
} from './values.js';

/** `32x7x7`, `100` */
const formatShape = (s: Shape): string => s.join('x');

/** The input of a layer, for shape inference and its messages. */
export interface LayerInput {
  readonly shape: Shape;
  /** "the network input" or "its input 'conv2'". */
  readonly from: string;
}

/** A parameter a layer owns, before naming. */
export interface ParamShape {
  /** Suffix of the PyTorch name (`weight`, `bias`, `r`). */
  readonly param: 'weight' | 'bias' | 'r';
  readonly role: ParamRole;
  readonly torchShape: Shape;
  readonly fanIn: number;
}

export interface LayerRule {
  readonly kind: OpKind;
  readonly args: readonly ArgSpec[];
  /** A correct call, for help lines. */
  readonly example: string;
  readonly doc: string;
  /** Builds the op for this input and infers the output shape; undefined after a reported error. */
  infer(
    args: BoundArgs,
    input: LayerInput,
    at: Span,
    bag: DiagnosticBag,
  ): { op: Op; outShape: Shape } | undefined;
  /** The parameters of `op` applied to `inShape`. */
  params(op: Op, inShape: Shape): readonly ParamShape[];
}

type Pair = readonly [number, number];
type PaddingArg = Padding4 | 'same' | 'valid';

/** A size for both spatial dims: `4`, `4x3` or `[4, 3]` (height, width). */
const pair =
  (rule: NumRule): Reader<Pair> =>
  (e, what, bag) => {
    const items: Expr[] | undefined =
      e.kind === 'NumberLit'
        ? [e, e]
        : e.kind === 'ListExpr' && e.items.length === 2
          ? [...e.items]
          : undefined;
    if (e.kind === 'ShapeLit' && e.dims.length === 2) {
      if (e.dims.every((d) => satisfies(d, rule))) return [e.dims[0]!, e.dims[1]!];
      bag.report(Diag.OutOfRange, e.span, [what, `${describeRule(rule)} in each dimension`, e.text]);
      return undefined;
    }
    if (items === undefined) {
      bag.report(Diag.WrongType, e.span, [what, `${describeRule(rule)} or a pair like 3x3`, describeExpr(e)]);
      return undefined;
    }
    const a = num(rule)(items[0]!, what, bag);
    const b = e.kind === 'NumberLit' ? a : num(rule)(items[1]!, what, bag);
    return a === undefined || b === undefined ? undefined : [a, b];
  };

const PAD: NumRule = { integer: true, min: 0, max: SIZE.max };

/** `1`, `[1, 2]` (height, width), `[top, bottom, left, right]`, `same` or `valid`. */
const padding: Reader<PaddingArg> = (e, what, bag) => {
  if (e.kind === 'Ident' || e.kind === 'StringLit')
    return oneOf(['same', 'valid'] as const, 'padding')(e, what, bag);
  if (e.kind === 'NumberLit') {
    const p = num(PAD)(e, what, bag);
    return p === undefined ? undefined : [p, p, p, p];
  }
  if (e.kind === 'ListExpr' && (e.items.length === 2 || e.items.length === 4)) {
    const v = e.items.map((it) => num(PAD)(it, what, bag));
    if (v.some((x) => x === undefined)) return undefined;
    const n = v as number[];
    return n.length === 2 ? [n[0]!, n[0]!, n[1]!, n[1]!] : [n[0]!, n[1]!, n[2]!, n[3]!];
  }
  bag.report(Diag.WrongType, e.span, [
    what,
    'a number, [height, width], [top, bottom, left, right], same or valid',
    describeExpr(e),
  ]);
  return undefined;
};

/** TF-style `same` padding of one dim: output ceil(n / s), the odd pixel at the end. */
function samePadding(n: number, k: number, s: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

const biasArg = argSpec('bias', bool, { default: true, doc: 'learn a bias' });

const passThrough = (op: Op) => (_: BoundArgs, input: LayerInput) => ({ op, outShape: input.shape });

const dense: LayerRule = {
  kind: 'dense',
  args: [argSpec('out', num(SIZE), { doc: 'output units' }), biasArg],
  example: 'dense(100)',
  doc: 'fully connected layer (torch.nn.Linear)',
  infer(a, input, at, bag) {
    if (input.shape.length !== 1) {
      bag.report(Diag.DenseNeedsVector, at, [input.from, formatShape(input.shape)], {
        help: ['add `flatten` before this layer'],
      });
      return undefined;
    }
    const out = a.values.get('out') as number;
    return { op: { kind: 'dense', out, bias: a.values.get('bias') as boolean }, outShape: [out] };
  },
  params(op, inShape) {
    if (op.kind !== 'dense') return [];
    const n = inShape[0]!;
    const w: ParamShape = { param: 'weight', role: 'dense.weight', torchShape: [op.out, n], fanIn: n };
    return op.bias ? [w, { param: 'bias', role: 'bias', torchShape: [op.out], fanIn: n }] : [w];
  },
};

const conv2d: LayerRule = {
  kind: 'conv2d',
  args: [
    argSpec('out', num(SIZE), { doc: 'output channels' }),
    argSpec('kernel', pair(SIZE), { doc: 'kernel size: k, kxk or [kh, kw]' }),
    argSpec<Pair>('stride', pair(SIZE), {
      default: [1, 1],
      defaultText: '1',
      doc: 'stride: s, sxs or [sh, sw]',
    }),
    argSpec<PaddingArg>('padding', padding, {
      default: [0, 0, 0, 0],
      defaultText: '0',
      doc: 'zero padding: p, [ph, pw], [top, bottom, left, right], same (TF-style) or valid',
    }),
    biasArg,
  ],
  example: 'conv2d(16, kernel: 4, stride: 2, padding: 1)',
  doc: '2-D convolution (torch.nn.Conv2d)',
  infer(a, input, at, bag) {
    if (input.shape.length !== 3) {
      bag.report(Diag.ConvNeedsImage, at, [input.from, formatShape(input.shape)]);
      return undefined;
    }
    const [, h, w] = input.shape as [number, number, number];
    const out = a.values.get('out') as number;
    const kernel = a.values.get('kernel') as Pair;
    const stride = a.values.get('stride') as Pair;
    const p = a.values.get('padding') as PaddingArg;
    const pad: Padding4 =
      p === 'valid'
        ? [0, 0, 0, 0]
        : p === 'same'
          ? [...samePadding(h, kernel[0], stride[0]), ...samePadding(w, kernel[1], stride[1])]
          : p;
    const ph = h + pad[0] + pad[1];
    const pw = w + pad[2] + pad[3];
    if (kernel[0] > ph || kernel[1] > pw) {
      bag.report(Diag.KernelTooLarge, a.spans.get('kernel') ?? at, [formatShape(kernel), `${ph}x${pw}`], {
        help: [`${input.from} is ${formatShape(input.shape)}; use a smaller kernel or more padding`],
      });
      return undefined;
    }
    const oh = Math.floor((ph - kernel[0]) / stride[0]) + 1;
    const ow = Math.floor((pw - kernel[1]) / stride[1]) + 1;
    return {
      op: {
        kind: 'conv2d',
        out,
        kernel: [kernel[0], kernel[1]],
        stride: [stride[0], stride[1]],
        padding: pad,
        bias: a.values.get('bias') as boolean,
      },
      outShape: [out, oh, ow],
    };
  },
  params(op, inShape) {
    if (op.kind !== 'conv2d') return [];
    const fanIn = inShape[0]! * op.kernel[0] * op.kernel[1];
    const w: ParamShape = {
      param: 'weight',
      role: 'conv.weight',
      torchShape: [op.out, inShape[0]!, op.kernel[0], op.kernel[1]],
      fanIn,
    };
    return op.bias ? [w, { param: 'bias', role: 'bias', torchShape: [op.out], fanIn }] : [w];
  },
};

const flatten: LayerRule = {
  kind: 'flatten',
  args: [],
  example: 'flatten',
  doc: 'CxHxW → C·H·W in C, H, W order (torch.flatten)',
  infer(_, input, at, bag) {
    if (input.shape.length !== 3) {
      bag.report(Diag.FlattenNeedsImage, at, [input.from, formatShape(input.shape)], {
        help: ['remove this flatten'],
      });
      return undefined;
    }
    return { op: { kind: 'flatten' }, outShape: [numel(input.shape)] };
  },
  params: () => [],
};

const relu: LayerRule = {
  kind: 'relu',
  args: [],
  example: 'relu',
  doc: 'max(z, 0)',
  infer: passThrough({ kind: 'relu' }),
  params: () => [],
};

const leakyRelu: LayerRule = {
  kind: 'leaky_relu',
  args: [argSpec('slope', num(SLOPE), { default: 0.01, doc: 'slope η for z < 0' })],
  example: 'leaky_relu(0.01)',
  doc: 'z for z ≥ 0, η·z below',
  infer: (a, input) => ({
    op: { kind: 'leaky_relu', slope: a.values.get('slope') as number },
    outShape: input.shape,
  }),
  params: () => [],
};

const paramramp: LayerRule = {
  kind: 'paramramp',
  args: [argSpec('eta', num(SLOPE), { default: 0, doc: 'outer slope η' })],
  example: 'paramramp(0.01)',
  doc: 'ParamRamp: η·z below 0, z on [0, r], η·z + (1 − η)·r above r; r learned per neuron',
  infer: (a, input) => ({
    op: { kind: 'paramramp', eta: a.values.get('eta') as number },
    outShape: input.shape,
  }),
  // r is initialised to ones, so its fan-in is unused; 1 keeps U(±1/√fanIn) finite.
  params: (_, inShape) => [{ param: 'r', role: 'ramp.r', torchShape: inShape, fanIn: 1 }],
};

/** Every layer kind, by name. */
export const LAYER_RULES: ReadonlyMap<string, LayerRule> = new Map(
  [dense, conv2d, flatten, relu, leakyRelu, paramramp].map((r) => [r.kind, r]),
);

/** Names users coming from PyTorch or Keras may try, with the vnet kind to suggest. */
const ALIASES: Readonly<Record<string, string>> = {
  linear: 'dense',
  fc: 'dense',
  conv: 'conv2d',
  ramp: 'paramramp',
  leakyrelu: 'leaky_relu',
};

/** Operators vnet v1 does not have (help says so instead of suggesting a near name). */
const UNSUPPORTED = new Set([
  'batchnorm',
  'batch_norm',
  'batchnorm2d',
  'maxpool',
  'max_pool',
  'maxpool2d',
  'avgpool',
  'avg_pool',
  'avgpool2d',
  'add',
  'dropout',
  'softmax',
  'sigmoid',
  'tanh',
]);

/** Help for an unknown layer kind. */
export function unknownKindHelp(kind: string): string | undefined {
  const k = kind.toLowerCase();
  if (UNSUPPORTED.has(k)) return `'${kind}' is not supported in vnet v1`;
  const alias = ALIASES[k];
  return alias === undefined ? undefined : `did you mean '${alias}'?`;
}
