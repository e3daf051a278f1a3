/**
 * `add(a, b)`: the sum of two nodes of the same shape (residual connections); `add(c)` or
 * `add(x, c)`: a node plus a constant per channel / feature (a bias; see elementwise.ts).
 */
import { Diag } from '../diagnostics/messages.js';
import { formatShape } from './common.js';
import {
  constantArg,
  constConfig,
  constDescribe,
  constEmit,
  constOp,
  constRef,
  constText,
} from './elementwise.js';
import type { OpDef } from './op.js';

const isConst = (op: { kind: string; value?: readonly number[] }): boolean =>
  op.kind === 'add' && op.value !== undefined;

export const add: OpDef = {
  kind: 'add',
  rules: [
    {
      name: 'add',
      kind: 'add',
      args: [{ ...constantArg('add', true), optional: true }],
      arity: [1, 2],
      example: 'add(conv2, shortcut)',
      doc: 'sum of two nodes of the same shape (a residual connection), or of a node and a constant',
      infer(a, inputs, at, bag) {
        const value = a.values.get('value') as number[] | undefined;
        if (value !== undefined) {
          if (inputs.length !== 1) {
            bag.report(Diag.InputCount, at, ['add with a constant', 1, inputs.length], {
              help: ['for example: add(x, [0.1, 0.2]) or add(0.5)'],
            });
            return undefined;
          }
          return constOp('add', value, inputs[0]!, at, bag);
        }
        if (inputs.length !== 2) {
          bag.report(Diag.InputCount, at, ['add', 2, inputs.length], {
            help: ['for example: add(conv2, shortcut), or add(0.5) for a constant'],
          });
          return undefined;
        }
        const [x, y] = inputs as [(typeof inputs)[0], (typeof inputs)[0]];
        if (x.shape.join('x') !== y.shape.join('x')) {
          bag.report(Diag.InputShapeMismatch, at, [
            'add',
            x.from,
            formatShape(x.shape),
            y.from,
            formatShape(y.shape),
          ]);
          return undefined;
        }
        return { op: { kind: 'add' }, outShape: x.shape };
      },
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'add', args: isConst(op) ? [constText(op)] : [] }),
  describe: (op) => (isConst(op) ? constDescribe(op) : 'add'),
  config: (l) => (isConst(l.op) ? constConfig(l) : undefined),
  ref(l) {
    if (isConst(l.op)) return constRef(l);
    const n = l.outShape.reduce((a, b) => a * b, 1);
    const I = new Float64Array(n * n);
    for (let i = 0; i < n; i++) I[i * n + i] = 1;
    return { kind: 'linear', W: [I, I], b: new Float64Array(n) };
  },
  emit: {
    forward: (e) => (isConst(e.l.op) ? constEmit.forward(e) : `tf.add(${e.inputs[0]}, ${e.inputs[1]})`),
    ibp: (e) => (isConst(e.l.op) ? constEmit.ibp(e) : `rt.ibpAdd(${e.inputs[0]}, ${e.inputs[1]})`),
    lbp: (e) => (isConst(e.l.op) ? constEmit.lbp(e) : `rt.lbpAdd(${e.inputs[0]}, ${e.inputs[1]})`),
    // the constant term goes back along the first input only
    back: (e, f) => (isConst(e.l.op) ? constEmit.back(e, f) : [f, `rt.backNoConstant(${f})`]),
  },
};
