/**
 * What `add` (with a constant), `sub`, `mul` and `div` share: the constant argument (a number,
 * or a list with one value per channel of a map / feature of a vector), its shape check, and the
 * op's lowering to the per-channel affine map x·scale + shift (float64 reference: a diagonal
 * matrix; runtime: BatchNorm's channel-affine primitives with constant tensors, so IBP is exact
 * and LBP / CROWN run a diagonal dense map or 1x1 convolution).
 */
import type { Layer, Op } from '../ir/ir.js';
import { numel } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import { argSpec } from '../semantics/args.js';
import { anyNumber, describeExpr, type Reader } from '../semantics/values.js';
import { channelVector, formatShape, numText } from './common.js';
import { windowCfg } from './conv2d.js';
import type { LayerInput, OpDef, OpEmit, RefOp } from './op.js';

export type ConstKind = 'add' | 'sub' | 'mul' | 'div';

/** A number or a non-empty list of numbers; `nonzero` for divisors. */
const constantReader =
  (nonzero: boolean): Reader<number[]> =>
  (e, what, bag) => {
    const items = e.kind === 'ListExpr' ? e.items : e.kind === 'NumberLit' ? [e] : undefined;
    if (items === undefined || items.length === 0) {
      bag.report(Diag.WrongType, e.span, [
        what,
        'a number or a list of numbers like [0.5, 0.2]',
        describeExpr(e),
      ]);
      return undefined;
    }
    const out: number[] = [];
    for (const it of items) {
      const v = anyNumber(it, what, bag);
      if (v === undefined) return undefined;
      if (nonzero && v === 0) {
        bag.report(Diag.OutOfRange, it.span, [what, 'non-zero (a divisor)', describeExpr(it)], {
          help: ['division by zero is undefined; remove the channel or use another constant'],
        });
        return undefined;
      }
      out.push(v);
    }
    return out;
  };

/** The constant argument of an elementwise op. */
export const constantArg = (kind: ConstKind, optional: boolean) =>
  argSpec<number[]>('value', constantReader(kind === 'div'), {
    ...(optional ? { defaultText: 'none (two inputs)' } : {}),
    doc: 'a number, or one per channel (map) or feature (vector)',
  });

/** Checks the length of a constant against its input; the op, or undefined (reported). */
export function constOp(
  kind: ConstKind,
  value: readonly number[],
  input: LayerInput,
  at: Span,
  bag: DiagnosticBag,
): { op: Op; outShape: readonly number[] } | undefined {
  const c = input.shape[0]!;
  if (value.length !== 1 && value.length !== c) {
    bag.report(Diag.ConstantLength, at, [kind, value.length, input.from, formatShape(input.shape), c], {
      help: [`for example: ${kind}(${kind === 'div' || kind === 'mul' ? 2 : 0.5}) or a list of ${c} values`],
    });
    return undefined;
  }
  return { op: { kind, value: [...value] }, outShape: input.shape };
}

/** The constant of a constant op. */
const valueOf = (op: Op): readonly number[] => {
  if (op.kind === 'add' || op.kind === 'sub' || op.kind === 'mul' || op.kind === 'div') {
    if (op.value !== undefined) return op.value;
  }
  throw new Error(`internal: ${op.kind} is not a constant op`);
};

/** Spec text of the constant: `0.5` or `[0.1, 0.2]`. */
export const constText = (op: Op): string => {
  const v = valueOf(op);
  return v.length === 1 ? numText(v[0]!) : `[${v.map(numText).join(', ')}]`;
};

/** `sub([0.1, 0.2])` for generated comments (numbers only: checked values). */
export const constDescribe = (op: Op): string => `${op.kind}(${constText(op)})`;

/** Scale and shift per channel (length C of the input's first dimension). */
function scaleShift(op: Op, C: number): { scale: number[]; shift: number[] } {
  const v = valueOf(op);
  const at = (c: number): number => (v.length === 1 ? v[0]! : v[c]!);
  const scale: number[] = [];
  const shift: number[] = [];
  for (let c = 0; c < C; c++) {
    const x = at(c);
    switch (op.kind) {
      case 'add':
        scale.push(1);
        shift.push(x);
        break;
      case 'sub':
        scale.push(1);
        shift.push(-x);
        break;
      case 'mul':
        scale.push(x);
        shift.push(0);
        break;
      default:
        scale.push(1 / x);
        shift.push(0);
    }
  }
  return { scale, shift };
}

/** The runtime config of a constant op (rt.ConstAffineCfg). */
export function constConfig(l: Layer): { readonly type: string; readonly value: unknown } {
  const C = l.inShape[0]!;
  const conv =
    l.inShape.length === 3
      ? windowCfg(l, { kernel: [1, 1], stride: [1, 1], padding: [0, 0, 0, 0] }).value
      : null;
  return { type: 'rt.ConstAffineCfg', value: { ...scaleShift(l.op, C), conv } };
}

/** Float64 semantics: diag(scale)·x + shift, in torch C,H,W order. */
export function constRef(l: Layer): RefOp {
  const n = numel(l.inShape);
  const { scale, shift } = scaleShift(l.op, l.inShape[0]!);
  const s = channelVector(Float64Array.from(scale), n);
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) W[i * n + i] = s[i]!;
  return { kind: 'linear', W: [W], b: channelVector(Float64Array.from(shift), n) };
}

/** The runtime calls of a constant op. */
export const constEmit: OpEmit = {
  forward: (e) => `rt.channelAffine(${e.inputs[0]}, rt.constAffine(${e.cfg}))`,
  ibp: (e) => `rt.ibpChannel(${e.inputs[0]}, rt.constAffine(${e.cfg}))`,
  lbp: (e) => `rt.lbpChannel(${e.inputs[0]}, rt.constAffine(${e.cfg}), ${e.cfg}.conv)`,
  back: (e, f) => [`rt.backChannel(${f}, rt.constAffine(${e.cfg}), ${e.cfg}.conv)`],
};

/**
 * The whole OpDef of `sub`, `mul` or `div` by a constant (one rule each, no parameters):
 * everything but the name, the example and the doc line is shared.
 */
export function constOpDef(kind: Exclude<ConstKind, 'add'>, example: string, doc: string): OpDef {
  return {
    kind,
    rules: [
      {
        name: kind,
        kind,
        args: [constantArg(kind, false)],
        arity: 1,
        example,
        doc,
        infer: (a, [input], at, bag) => constOp(kind, a.values.get('value') as number[], input!, at, bag),
        params: () => [],
      },
    ],
    text: (op) => ({ name: kind, args: [constText(op)] }),
    describe: constDescribe,
    config: constConfig,
    ref: constRef,
    emit: constEmit,
  };
}
