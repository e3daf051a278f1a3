/** `add(a, b)`: the sum of two nodes of the same shape (residual connections). */
import { Diag } from '../diagnostics/messages.js';
import { formatShape } from './common.js';
import type { OpDef } from './op.js';

export const add: OpDef = {
  kind: 'add',
  rules: [
    {
      name: 'add',
      kind: 'add',
      args: [],
      arity: 2,
      example: 'add(conv2, shortcut)',
      doc: 'sum of two nodes of the same shape (a residual connection)',
      infer(_, inputs, at, bag) {
        const [a, b] = inputs as [(typeof inputs)[0], (typeof inputs)[0]];
        if (a.shape.join('x') !== b.shape.join('x')) {
          bag.report(Diag.InputShapeMismatch, at, [
            'add',
            a.from,
            formatShape(a.shape),
            b.from,
            formatShape(b.shape),
          ]);
          return undefined;
        }
        return { op: { kind: 'add' }, outShape: a.shape };
      },
      params: () => [],
    },
  ],
  text: () => ({ name: 'add', args: [] }),
  describe: () => 'add',
  ref(l) {
    const n = l.outShape.reduce((a, b) => a * b, 1);
    const I = new Float64Array(n * n);
    for (let i = 0; i < n; i++) I[i * n + i] = 1;
    return { kind: 'linear', W: [I, I], b: new Float64Array(n) };
  },
  emit: {
    forward: (e) => `tf.add(${e.inputs[0]}, ${e.inputs[1]})`,
    ibp: (e) => `rt.ibpAdd(${e.inputs[0]}, ${e.inputs[1]})`,
    lbp: (e) => `rt.lbpAdd(${e.inputs[0]}, ${e.inputs[1]})`,
    // the constant term goes back along the first input only
    back: (_, f) => [f, `rt.backNoConstant(${f})`],
  },
};
