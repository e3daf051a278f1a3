/**
 * `concat(a, b, ...)`: two or more nodes joined along channels (maps [C, H, W] with equal H, W)
 * or features (vectors): torch.cat(dim=1). In torch's C,H,W order that is the concatenation of
 * the flattened values; in the runtime's NHWC layout, of the last axis. CROWN splits the
 * coefficients of the output over the inputs (runtime/linear-ops.ts).
 */
import { numel } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import { internalActShape } from '../runtime/layout.js';
import { formatShape } from './common.js';
import type { OpDef } from './op.js';

export const concat: OpDef = {
  kind: 'concat',
  rules: [
    {
      name: 'concat',
      kind: 'concat',
      args: [],
      arity: [2, Infinity],
      example: 'concat(branch1, branch2)',
      doc: 'two or more nodes joined along channels (maps) or features (vectors), torch.cat(dim=1)',
      infer(_, inputs, at, bag) {
        const first = inputs[0]!;
        for (const x of inputs.slice(1)) {
          if (x.shape.length !== first.shape.length) {
            bag.report(
              Diag.WrongRank,
              at,
              [
                'concat',
                first.shape.length === 3 ? 'maps CxHxW like its first input' : 'vectors like its first input',
                x.from,
                formatShape(x.shape),
              ],
              { help: ['flatten the maps first to join vectors, or keep both maps'] },
            );
            return undefined;
          }
          if (x.shape.slice(1).join('x') !== first.shape.slice(1).join('x')) {
            bag.report(
              Diag.ConcatShapeMismatch,
              at,
              [first.from, formatShape(first.shape), x.from, formatShape(x.shape)],
              { help: ['bring both to the same height and width first (a strided conv, pooling or pad)'] },
            );
            return undefined;
          }
        }
        const c = inputs.reduce((s, x) => s + x.shape[0]!, 0);
        return { op: { kind: 'concat' }, outShape: [c, ...first.shape.slice(1)] };
      },
      params: () => [],
    },
  ],
  text: () => ({ name: 'concat', args: [] }),
  describe: () => 'concat',
  config: (l) => ({ type: 'rt.ConcatCfg', value: { shapes: l.inShapes.map(internalActShape) } }),
  ref(l) {
    const n = numel(l.outShape);
    let off = 0;
    const W = l.inShapes.map((s) => {
      const k = numel(s);
      const M = new Float64Array(n * k);
      for (let i = 0; i < k; i++) M[(off + i) * k + i] = 1;
      off += k;
      return M;
    });
    return { kind: 'linear', W, b: new Float64Array(n) };
  },
  emit: {
    forward: (e) => `rt.concatValues([${e.inputs.join(', ')}])`,
    ibp: (e) => `rt.ibpConcat([${e.inputs.join(', ')}])`,
    lbp: (e) => `rt.lbpConcat([${e.inputs.join(', ')}], ${e.cfg})`,
    // one state per input, spread into the back-step's list (concat is never in a chain)
    back: (e, f) => [`...rt.backConcat(${f}, ${e.cfg})`],
  },
};
