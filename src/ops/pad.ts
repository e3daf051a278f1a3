/**
 * `pad(p)`: zero padding of a map (torch.nn.ZeroPad2d / ONNX Pad with zeros): p, [ph, pw] or
 * [top, bottom, left, right]. Linear; LBP and CROWN run it as a 1x1 identity convolution with
 * that padding, so every conv fast path applies.
 */
import { argSpec } from '../semantics/args.js';
import { needsMap, padding, paddingText, windowMatrix, type PaddingArg } from './common.js';
import { windowCfg } from './conv2d.js';
import { opOf, type OpDef } from './op.js';

const identity = (e: { l: { inShape: readonly number[] } }): string =>
  `rt.identityKernel(${e.l.inShape[0]!})`;

export const pad: OpDef = {
  kind: 'pad',
  rules: [
    {
      name: 'pad',
      kind: 'pad',
      args: [
        argSpec<PaddingArg>('padding', padding(false), { doc: 'p, [ph, pw] or [top, bottom, left, right]' }),
      ],
      arity: 1,
      example: 'pad(1)',
      doc: 'zero padding of a map',
      infer(a, [input], at, bag) {
        if (!needsMap('pad', input!, at, bag)) return undefined;
        const p = a.values.get('padding') as readonly [number, number, number, number];
        const [c, h, w] = input!.shape as [number, number, number];
        return { op: { kind: 'pad', padding: p }, outShape: [c, h + p[0] + p[1], w + p[2] + p[3]] };
      },
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'pad', args: [paddingText(opOf(op, 'pad').padding)] }),
  describe: (op) => `pad([${opOf(op, 'pad').padding.join(', ')}])`,
  config: (l) => windowCfg(l, { kernel: [1, 1], stride: [1, 1], padding: opOf(l.op, 'pad').padding }),
  ref(l) {
    const W = windowMatrix(
      {
        inShape: l.inShape,
        outShape: l.outShape,
        kernel: [1, 1],
        stride: [1, 1],
        padding: opOf(l.op, 'pad').padding,
      },
      (o, c) => (o === c ? 1 : 0),
    );
    return { kind: 'linear', W: [W], b: new Float64Array(l.outShape.reduce((a, b) => a * b, 1)) };
  },
  emit: {
    forward: (e) => `rt.padMap(${e.inputs[0]}, ${e.cfg})`,
    ibp: (e) => `rt.ibpPositive(${e.inputs[0]}, (t) => rt.padMap(t, ${e.cfg}))`,
    lbp: (e) => `rt.lbpConv2d(${e.inputs[0]}, ${identity(e)}, undefined, ${e.cfg})`,
    back: (e, f) => [`rt.backConv2d(${f}, ${identity(e)}, undefined, ${e.cfg})`],
  },
};
