/**
 * `maxpool(kernel, stride)`: max pooling over windows of a map (torch.nn.MaxPool2d with padding 0,
 * dilation 1, ceil_mode false); the stride defaults to the kernel size. IBP is exact
 * ([maxpool(l), maxpool(u)]). LBP and CROWN use the linear relaxation of
 * src/runtime/maxpool-lines.ts (CROWN's: the input with the largest lower bound below; above, that
 * input when it dominates the window, else the largest upper bound), made from the bounds of the
 * node's input like an activation's lines.
 */
import { argSpec } from '../semantics/args.js';
import { SIZE } from '../semantics/values.js';
import { needsMap, pair, pairText, strideArg, windowOutput, type Pair } from './common.js';
import { opOf, type OpDef } from './op.js';
import { internalActShape } from '../runtime/layout.js';

export const maxpool: OpDef = {
  kind: 'maxpool',
  rules: [
    {
      name: 'maxpool',
      kind: 'maxpool',
      args: [
        argSpec('kernel', pair(SIZE), { doc: 'window size: k, kxk or [kh, kw]' }),
        { ...strideArg, default: undefined, defaultText: 'the kernel size', optional: true },
      ],
      arity: 1,
      example: 'maxpool(2)',
      doc: 'max pooling (torch.nn.MaxPool2d, no padding)',
      infer(a, [input], at, bag) {
        if (!needsMap('maxpool', input!, at, bag)) return undefined;
        const kernel = a.values.get('kernel') as Pair;
        const stride = (a.values.get('stride') as Pair | undefined) ?? kernel;
        const o = windowOutput(input!, kernel, stride, [0, 0, 0, 0], a.spans.get('kernel') ?? at, bag, false);
        if (o === undefined) return undefined;
        return {
          op: { kind: 'maxpool', kernel: [kernel[0], kernel[1]], stride: [stride[0], stride[1]] },
          outShape: [input!.shape[0]!, o[0], o[1]],
        };
      },
      params: () => [],
    },
  ],
  text(op) {
    const p = opOf(op, 'maxpool');
    return {
      name: 'maxpool',
      args: [
        pairText(p.kernel),
        ...(p.stride[0] === p.kernel[0] && p.stride[1] === p.kernel[1]
          ? []
          : [`stride: ${pairText(p.stride)}`]),
      ],
    };
  },
  describe(op) {
    const p = opOf(op, 'maxpool');
    return `maxpool(kernel ${p.kernel.join('x')}, stride ${p.stride.join('x')})`;
  },
  config(l) {
    const p = opOf(l.op, 'maxpool');
    return {
      type: 'rt.MaxPoolCfg',
      value: {
        kernel: p.kernel,
        stride: p.stride,
        inShape: internalActShape(l.inShape),
        outShape: internalActShape(l.outShape),
      },
    };
  },
  ref(l) {
    const p = opOf(l.op, 'maxpool');
    const [, hi, wi] = l.inShape as [number, number, number];
    const [co, ho, wo] = l.outShape as [number, number, number];
    const [kh, kw] = p.kernel;
    const K = kh * kw;
    const cells = new Int32Array(co * ho * wo * K);
    for (let c = 0; c < co; c++)
      for (let y = 0; y < ho; y++)
        for (let x = 0; x < wo; x++)
          for (let dy = 0; dy < kh; dy++)
            for (let dx = 0; dx < kw; dx++)
              cells[((c * ho + y) * wo + x) * K + dy * kw + dx] =
                (c * hi + y * p.stride[0] + dy) * wi + x * p.stride[1] + dx;
    return { kind: 'maxpool', cells, K };
  },
  emit: {
    forward: (e) => `rt.maxPool(${e.inputs[0]}, ${e.cfg})`,
    ibp: (e) => `rt.ibpMaxPool(${e.inputs[0]}, ${e.cfg})`,
    lbp: () => {
      throw new Error('internal: maxpool LBP goes through its relaxation');
    },
    back: () => {
      throw new Error('internal: the maxpool CROWN step goes through its relaxation');
    },
  },
  relaxed: {
    type: 'rt.PoolRelaxation',
    make: (e, l, u) => `rt.maxPoolRelax(${l}, ${u}, ${e.cfg}, lines)`,
    lbp: (e, rel) => `rt.lbpMaxPool(${e.inputs[0]}, ${rel}, ${e.cfg})`,
    back: (e, f, rel) => `rt.backMaxPool(${f}, ${rel}, ${e.cfg})`,
  },
};
