/**
 * `reshape(shape)`: the same values in torch's C,H,W row-major order, another shape: a map
 * CxHxW or a vector N (torch.reshape of the non-batch dimensions). The float64 reference is the
 * identity on C,H,W vectors; the runtime gathers the NHWC layout (runtime/linear-ops.ts), so CROWN
 * permutes the coefficient columns back.
 */
import { numel, type Shape } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import { argSpec } from '../semantics/args.js';
import { describeExpr, satisfies, SIZE, type Reader } from '../semantics/values.js';
import { formatShape } from './common.js';
import { opOf, type OpDef } from './op.js';

/** A target shape: `CxHxW` or `N` (rank 1 or 3). */
const targetShape: Reader<Shape> = (e, what, bag) => {
  const dims = e.kind === 'NumberLit' ? [e.value] : e.kind === 'ShapeLit' ? e.dims : undefined;
  if (dims === undefined) {
    bag.report(Diag.WrongType, e.span, [what, 'a shape like 4x7x7 or a size like 196', describeExpr(e)]);
    return undefined;
  }
  if (dims.length !== 1 && dims.length !== 3) {
    bag.report(
      Diag.WrongRank,
      e.span,
      ['reshape', 'a target CxHxW or N', 'the target', e.kind === 'ShapeLit' ? e.text : String(dims[0])],
      { help: [dims.length === 2 ? `add the channel count: 1x${dims.join('x')}` : 'write CxHxW or N'] },
    );
    return undefined;
  }
  if (!dims.every((d) => satisfies(d, SIZE))) {
    bag.report(Diag.OutOfRange, e.span, [
      what,
      'a positive integer in each dimension',
      e.kind === 'ShapeLit' ? e.text : String(dims[0]),
    ]);
    return undefined;
  }
  return dims;
};

export const reshape: OpDef = {
  kind: 'reshape',
  rules: [
    {
      name: 'reshape',
      kind: 'reshape',
      args: [argSpec('shape', targetShape, { doc: 'the new shape: CxHxW or N, with as many values' })],
      arity: 1,
      example: 'reshape(4x7x7)',
      doc: 'the same values (C,H,W order) in another shape CxHxW or N (torch.reshape)',
      infer(a, [input], at, bag) {
        const shape = a.values.get('shape') as Shape;
        if (numel(shape) !== numel(input!.shape)) {
          bag.report(
            Diag.ReshapeSize,
            a.spans.get('shape') ?? at,
            [formatShape(shape), numel(shape), input!.from, formatShape(input!.shape), numel(input!.shape)],
            {
              help: [`use a target with ${numel(input!.shape)} values, e.g. reshape(${numel(input!.shape)})`],
            },
          );
          return undefined;
        }
        return { op: { kind: 'reshape', shape: [...shape] }, outShape: [...shape] };
      },
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'reshape', args: [formatShape(opOf(op, 'reshape').shape)] }),
  describe: (op) => `reshape(${formatShape(opOf(op, 'reshape').shape)})`,
  config: (l) => ({
    type: 'rt.PermuteCfg',
    value: { inShape: l.inShape, outShape: l.outShape, perm: null },
  }),
  ref: () => ({ kind: 'alias' }),
  emit: {
    forward: (e) => `rt.permute(${e.inputs[0]}, ${e.cfg})`,
    ibp: (e) => `rt.ibpPermute(${e.inputs[0]}, ${e.cfg})`,
    lbp: (e) => `rt.lbpPermute(${e.inputs[0]}, ${e.cfg})`,
    back: (e, f) => [`rt.backPermute(${f}, ${e.cfg})`],
  },
};
