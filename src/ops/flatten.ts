/** `flatten`: CxHxW → C·H·W in C, H, W order (torch.flatten); the identity on C,H,W vectors. */
import { numel } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import { internalActShape } from '../runtime/layout.js';
import { formatShape } from './common.js';
import type { OpDef } from './op.js';

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
  describe: () => 'flatten',
  ref: () => ({ kind: 'alias' }),
  emit: {
    forward: (e) => `rt.flatten(${e.inputs[0]})`,
    ibp: (e) => `rt.ibpFlatten(${e.inputs[0]})`,
    lbp: (e) => `rt.lbpFlatten(${e.inputs[0]})`,
    back: (e, f) => [`rt.backFlatten(${f}, [${internalActShape(e.l.inShape).join(', ')}])`],
  },
};
