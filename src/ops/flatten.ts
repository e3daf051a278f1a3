/**
 * `flatten`: CxHxW → C·H·W in C, H, W order (torch.flatten); the identity on C,H,W vectors. The
 * runtime flattens its NHWC maps as they lie (H,W,C order) and permutes the weight of the dense
 * layer that reads the vector instead (at load time, `flattenedFrom`); where anything else reads
 * it (add, concat, batchnorm, a constant, ...) the checker marks the flatten `permute` and the
 * runtime gathers the values into C,H,W order (runtime/linear-ops.ts).
 */
import { numel } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import { internalActShape } from '../runtime/layout.js';
import { formatShape } from './common.js';
import type { OpDef } from './op.js';

const permuted = (e: { l: { op: { kind: string; permute?: true } } }): boolean =>
  e.l.op.kind === 'flatten' && e.l.op.permute === true;

export const flatten: OpDef = {
  kind: 'flatten',
  rules: [
    {
      name: 'flatten',
      kind: 'flatten',
      args: [],
      arity: 1,
      example: 'flatten',
      doc: 'CxHxW → C·H·W in C, H, W order (torch.flatten)',
      infer(_, [input], at, bag) {
        if (input!.shape.length !== 3) {
          bag.report(Diag.FlattenNeedsImage, at, [input!.from, formatShape(input!.shape)], {
            help: ['remove this flatten'],
          });
          return undefined;
        }
        return { op: { kind: 'flatten' }, outShape: [numel(input!.shape)] };
      },
      params: () => [],
    },
  ],
  text: () => ({ name: 'flatten', args: [] }),
  describe: (op) => (op.kind === 'flatten' && op.permute ? 'flatten (gathered into C,H,W order)' : 'flatten'),
  config: (l) =>
    l.op.kind === 'flatten' && l.op.permute
      ? { type: 'rt.PermuteCfg', value: { inShape: l.inShape, outShape: l.outShape, perm: null } }
      : undefined,
  ref: () => ({ kind: 'alias' }),
  emit: {
    forward: (e) => (permuted(e) ? `rt.permute(${e.inputs[0]}, ${e.cfg})` : `rt.flatten(${e.inputs[0]})`),
    ibp: (e) => (permuted(e) ? `rt.ibpPermute(${e.inputs[0]}, ${e.cfg})` : `rt.ibpFlatten(${e.inputs[0]})`),
    lbp: (e) => (permuted(e) ? `rt.lbpPermute(${e.inputs[0]}, ${e.cfg})` : `rt.lbpFlatten(${e.inputs[0]})`),
    back: (e, f) => [
      permuted(e)
        ? `rt.backPermute(${f}, ${e.cfg})`
        : `rt.backFlatten(${f}, [${internalActShape(e.l.inShape).join(', ')}])`,
    ],
  },
};
