/**
 * `avgpool(kernel, stride, padding)` and `global_avgpool`: average pooling over windows of a map
 * (torch.nn.AvgPool2d with count_include_pad, PyTorch's default: padded zeros count), and over the
 * whole map (AdaptiveAvgPool2d(1): output Cx1x1). A linear map with non-negative weights: IBP is
 * exact on it; LBP and CROWN run it as a convolution with a fixed per-channel kernel 1/(kh·kw).
 */
import { argSpec } from '../semantics/args.js';
import { SIZE } from '../semantics/values.js';
import {
  needsMap,
  pair,
  padding,
  paddingText,
  pairText,
  strideArg,
  windowMatrix,
  windowOutput,
  type Pair,
  type PaddingArg,
} from './common.js';
import { windowCfg } from './conv2d.js';
import { opOf, type OpDef } from './op.js';

const kernelOf = (e: { l: { op: import('../ir/ir.js').Op; inShape: readonly number[] } }): string => {
  const p = opOf(e.l.op, 'avgpool');
  return `rt.poolKernel(${e.l.inShape[0]!}, ${p.kernel[0]}, ${p.kernel[1]})`;
};

export const avgpool: OpDef = {
  kind: 'avgpool',
  rules: [
    {
      name: 'avgpool',
      kind: 'avgpool',
      args: [
        argSpec('kernel', pair(SIZE), { doc: 'window size: k, kxk or [kh, kw]' }),
        { ...strideArg, default: undefined, defaultText: 'the kernel size', optional: true },
        argSpec<PaddingArg>('padding', padding(false), {
          default: [0, 0, 0, 0],
          defaultText: '0',
          doc: 'zero padding: p, [ph, pw] or [top, bottom, left, right] (padded zeros count)',
        }),
      ],
      arity: 1,
      example: 'avgpool(2)',
      doc: 'average pooling (torch.nn.AvgPool2d, count_include_pad)',
      infer(a, [input], at, bag) {
        if (!needsMap('avgpool', input!, at, bag)) return undefined;
        const kernel = a.values.get('kernel') as Pair;
        const stride = (a.values.get('stride') as Pair | undefined) ?? kernel;
        const pad = a.values.get('padding') as readonly [number, number, number, number];
        const o = windowOutput(input!, kernel, stride, pad, a.spans.get('kernel') ?? at, bag);
        if (o === undefined) return undefined;
        return {
          op: {
            kind: 'avgpool',
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
            padding: pad,
          },
          outShape: [input!.shape[0]!, o[0], o[1]],
        };
      },
      params: () => [],
    },
    {
      name: 'global_avgpool',
      kind: 'avgpool',
      args: [],
      arity: 1,
      example: 'global_avgpool',
      doc: 'average over the whole map: CxHxW → Cx1x1 (AdaptiveAvgPool2d(1))',
      infer(_, [input], at, bag) {
        if (!needsMap('global_avgpool', input!, at, bag)) return undefined;
        const [c, h, w] = input!.shape as [number, number, number];
        return {
          op: { kind: 'avgpool', kernel: [h, w], stride: [1, 1], padding: [0, 0, 0, 0] },
          outShape: [c, 1, 1],
        };
      },
      params: () => [],
    },
  ],
  text(op) {
    const p = opOf(op, 'avgpool');
    const pad = paddingText(p.padding);
    return {
      name: 'avgpool',
      args: [
        pairText(p.kernel),
        ...(p.stride[0] === p.kernel[0] && p.stride[1] === p.kernel[1]
          ? []
          : [`stride: ${pairText(p.stride)}`]),
        ...(pad === '0' ? [] : [`padding: ${pad}`]),
      ],
    };
  },
  describe(op) {
    const p = opOf(op, 'avgpool');
    return `avgpool(kernel ${p.kernel.join('x')}, stride ${p.stride.join('x')}, padding [${p.padding.join(', ')}])`;
  },
  config: (l) => windowCfg(l, opOf(l.op, 'avgpool')),
  ref(l) {
    const p = opOf(l.op, 'avgpool');
    const w = 1 / (p.kernel[0] * p.kernel[1]);
    const W = windowMatrix({ inShape: l.inShape, outShape: l.outShape, ...p }, (o, c) => (o === c ? w : 0));
    return { kind: 'linear', W: [W], b: new Float64Array(l.outShape.reduce((a, b) => a * b, 1)) };
  },
  emit: {
    forward: (e) => `rt.avgPool(${e.inputs[0]}, ${e.cfg})`,
    ibp: (e) => `rt.ibpPositive(${e.inputs[0]}, (t) => rt.avgPool(t, ${e.cfg}))`,
    lbp: (e) => `rt.lbpConv2d(${e.inputs[0]}, ${kernelOf(e)}, undefined, ${e.cfg})`,
    back: (e, f) => [`rt.backConv2d(${f}, ${kernelOf(e)}, undefined, ${e.cfg})`],
  },
};
