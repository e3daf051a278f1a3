/** `dense(out)`: fully connected layer (torch.nn.Linear), weight [out, in], optional bias. */
import { Diag } from '../diagnostics/messages.js';
import { argSpec } from '../semantics/args.js';
import { num, SIZE } from '../semantics/values.js';
import { biasArg, channelVector, formatShape, required } from './common.js';
import { opOf, type OpDef, type ParamShape } from './op.js';

export const dense: OpDef = {
  kind: 'dense',
  rules: [
    {
      name: 'dense',
      kind: 'dense',
      args: [argSpec('out', num(SIZE), { doc: 'output units' }), biasArg],
      arity: 1,
      example: 'dense(100)',
      doc: 'fully connected layer (torch.nn.Linear)',
      infer(a, [input], at, bag) {
        if (input!.shape.length !== 1) {
          bag.report(Diag.DenseNeedsVector, at, [input!.from, formatShape(input!.shape)], {
            help: ['add `flatten` before this layer'],
          });
          return undefined;
        }
        const out = a.values.get('out') as number;
        return { op: { kind: 'dense', out, bias: a.values.get('bias') as boolean }, outShape: [out] };
      },
      params(op, [inShape]) {
        const d = opOf(op, 'dense');
        const n = inShape![0]!;
        const w: ParamShape = { param: 'weight', role: 'dense.weight', torchShape: [d.out, n], fanIn: n };
        return d.bias ? [w, { param: 'bias', role: 'bias', torchShape: [d.out], fanIn: n }] : [w];
      },
    },
  ],
  text: (op) => {
    const d = opOf(op, 'dense');
    return { name: 'dense', args: [`${d.out}`, ...(d.bias ? [] : ['bias: false'])] };
  },
  describe: (op) => `dense(${opOf(op, 'dense').out})`,
  ref(l, param) {
    const W = required(param('dense.weight'), `${l.name}.weight`);
    return { kind: 'linear', W: [W], b: channelVector(param('bias'), opOf(l.op, 'dense').out) };
  },
  emit: {
    forward: (e) => `rt.dense(${e.inputs[0]}, ${e.param('dense.weight')}, ${e.param('bias') ?? 'undefined'})`,
    ibp: (e) => `rt.ibpDense(${e.inputs[0]}, ${e.param('dense.weight')}, ${e.param('bias') ?? 'undefined'})`,
    lbp: (e) => `rt.lbpDense(${e.inputs[0]}, ${e.param('dense.weight')}, ${e.param('bias') ?? 'undefined'})`,
    back: (e, f) => [`rt.backDense(${f}, ${e.param('dense.weight')}, ${e.param('bias') ?? 'undefined'})`],
  },
};
