/** `conv2d(out, kernel, stride, padding)`: 2-D convolution (torch.nn.Conv2d), weight [out, in, kh, kw]. */
import type { Layer } from '../ir/ir.js';
import { internalActShape } from '../runtime/layout.js';
import { argSpec } from '../semantics/args.js';
import { num, SIZE } from '../semantics/values.js';
import { Diag } from '../diagnostics/messages.js';
import {
  biasArg,
  channelVector,
  formatShape,
  pair,
  padding,
  paddingText,
  pairText,
  required,
  resolvePadding,
  strideArg,
  windowMatrix,
  windowOutput,
  type Pair,
  type PaddingArg,
} from './common.js';
import { opOf, type OpDef, type ParamShape } from './op.js';

/** The runtime's Conv2dCfg of a windowed node (conv, pooling, padding): internal [H, W, C] shapes. */
export function windowCfg(
  l: Layer,
  g: { readonly kernel: Pair; readonly stride: Pair; readonly padding: readonly number[] },
): { readonly type: string; readonly value: unknown } {
  return {
    type: 'rt.Conv2dCfg',
    value: {
      kernel: g.kernel,
      stride: g.stride,
      padding: g.padding,
      inShape: internalActShape(l.inShape),
      outShape: internalActShape(l.outShape),
    },
  };
}

export const conv2d: OpDef = {
  kind: 'conv2d',
  rules: [
    {
      name: 'conv2d',
      kind: 'conv2d',
      args: [
        argSpec('out', num(SIZE), { doc: 'output channels' }),
        argSpec('kernel', pair(SIZE), { doc: 'kernel size: k, kxk or [kh, kw]' }),
        strideArg,
        argSpec<PaddingArg>('padding', padding(true), {
          default: [0, 0, 0, 0],
          defaultText: '0',
          doc: 'zero padding: p, [ph, pw], [top, bottom, left, right], same (TF-style) or valid',
        }),
        biasArg,
      ],
      arity: 1,
      example: 'conv2d(16, kernel: 4, stride: 2, padding: 1)',
      doc: '2-D convolution (torch.nn.Conv2d)',
      infer(a, [input], at, bag) {
        if (input!.shape.length !== 3) {
          bag.report(Diag.ConvNeedsImage, at, [input!.from, formatShape(input!.shape)]);
          return undefined;
        }
        const [, h, w] = input!.shape as [number, number, number];
        const out = a.values.get('out') as number;
        const kernel = a.values.get('kernel') as Pair;
        const stride = a.values.get('stride') as Pair;
        const pad = resolvePadding(a.values.get('padding') as PaddingArg, h, w, kernel, stride);
        const o = windowOutput(input!, kernel, stride, pad, a.spans.get('kernel') ?? at, bag);
        if (o === undefined) return undefined;
        return {
          op: {
            kind: 'conv2d',
            out,
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
            padding: pad,
            bias: a.values.get('bias') as boolean,
          },
          outShape: [out, o[0], o[1]],
        };
      },
      params(op, [inShape]) {
        const c = opOf(op, 'conv2d');
        const fanIn = inShape![0]! * c.kernel[0] * c.kernel[1];
        const w: ParamShape = {
          param: 'weight',
          role: 'conv.weight',
          torchShape: [c.out, inShape![0]!, c.kernel[0], c.kernel[1]],
          fanIn,
        };
        return c.bias ? [w, { param: 'bias', role: 'bias', torchShape: [c.out], fanIn }] : [w];
      },
    },
  ],
  text(op) {
    const c = opOf(op, 'conv2d');
    const pad = paddingText(c.padding);
    return {
      name: 'conv2d',
      args: [
        `${c.out}`,
        `kernel: ${pairText(c.kernel)}`,
        ...(c.stride[0] === 1 && c.stride[1] === 1 ? [] : [`stride: ${pairText(c.stride)}`]),
        ...(pad === '0' ? [] : [`padding: ${pad}`]),
        ...(c.bias ? [] : ['bias: false']),
      ],
    };
  },
  describe(op) {
    const c = opOf(op, 'conv2d');
    const [t, b, lft, r] = c.padding;
    const pad = t === b && b === lft && lft === r ? `${t}` : `[${c.padding.join(', ')}]`;
    const st = c.stride[0] === c.stride[1] ? `${c.stride[0]}` : c.stride.join('x');
    return `conv2d(${c.out}, kernel ${c.kernel.join('x')}, stride ${st}, padding ${pad})`;
  },
  config: (l) => windowCfg(l, opOf(l.op, 'conv2d')),
  ref(l, param) {
    const c = opOf(l.op, 'conv2d');
    const w = required(param('conv.weight'), `${l.name}.weight`);
    const ci = l.inShape[0]!;
    const [kh, kw] = c.kernel;
    const W = windowMatrix(
      { inShape: l.inShape, outShape: l.outShape, kernel: c.kernel, stride: c.stride, padding: c.padding },
      (o, ch, dy, dx) => w[((o * ci + ch) * kh + dy) * kw + dx]!,
    );
    const n = l.outShape.reduce((a, b) => a * b, 1);
    return { kind: 'linear', W: [W], b: channelVector(param('bias'), n) };
  },
  emit: {
    forward: (e) =>
      `rt.conv2d(${e.inputs[0]}, ${e.param('conv.weight')}, ${e.param('bias') ?? 'undefined'}, ${e.cfg})`,
    ibp: (e) =>
      `rt.ibpConv2d(${e.inputs[0]}, ${e.param('conv.weight')}, ${e.param('bias') ?? 'undefined'}, ${e.cfg})`,
    lbp: (e) =>
      `rt.lbpConv2d(${e.inputs[0]}, ${e.param('conv.weight')}, ${e.param('bias') ?? 'undefined'}, ${e.cfg})`,
    back: (e, f) => [
      `rt.backConv2d(${f}, ${e.param('conv.weight')}, ${e.param('bias') ?? 'undefined'}, ${e.cfg})`,
    ],
  },
};
