/**
 * `transpose([a, b, c])`: a permutation of the axes of a map (torch.permute(0, 1 + a, 1 + b,
 * 1 + c) of a batch): output dimension i is input dimension perm[i]. A permutation of the values:
 * the float64 reference is a permutation matrix, the runtime gathers (runtime/linear-ops.ts).
 */
import { numel } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import { argSpec } from '../semantics/args.js';
import { describeExpr, type Reader } from '../semantics/values.js';
import { formatShape } from './common.js';
import { opOf, type OpDef } from './op.js';

type Perm = readonly [number, number, number];

const permutation: Reader<Perm> = (e, what, bag) => {
  const items = e.kind === 'ListExpr' ? e.items : undefined;
  if (items === undefined) {
    bag.report(Diag.WrongType, e.span, [what, 'a permutation like [0, 2, 1]', describeExpr(e)]);
    return undefined;
  }
  const v = items.map((it) => (it.kind === 'NumberLit' ? it.value : NaN));
  if (v.length !== 3 || [...v].sort().join() !== '0,1,2') {
    const found = v.every((x) => Number.isFinite(x)) ? `[${v.join(', ')}]` : describeExpr(e);
    bag.report(Diag.BadPermutation, e.span, [found], {
      help: ['each axis once: [0, 2, 1] swaps height and width, [0, 1, 2] changes nothing'],
    });
    return undefined;
  }
  return [v[0]!, v[1]!, v[2]!];
};

export const transpose: OpDef = {
  kind: 'transpose',
  rules: [
    {
      name: 'transpose',
      kind: 'transpose',
      args: [
        argSpec('perm', permutation, { doc: 'output axis i is input axis perm[i] (0 = C, 1 = H, 2 = W)' }),
      ],
      arity: 1,
      example: 'transpose([0, 2, 1])',
      doc: 'a permutation of the C, H, W axes of a map (torch.permute)',
      infer(a, [input], at, bag) {
        if (input!.shape.length !== 3) {
          bag.report(
            Diag.WrongRank,
            at,
            ['transpose', 'a CxHxW input', input!.from, formatShape(input!.shape)],
            { help: ['a vector has one axis: remove the transpose, or reshape it into a map first'] },
          );
          return undefined;
        }
        const perm = a.values.get('perm') as Perm;
        return { op: { kind: 'transpose', perm }, outShape: perm.map((p) => input!.shape[p]!) };
      },
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'transpose', args: [`[${opOf(op, 'transpose').perm.join(', ')}]`] }),
  describe: (op) => `transpose([${opOf(op, 'transpose').perm.join(', ')}])`,
  config: (l) => ({
    type: 'rt.PermuteCfg',
    value: { inShape: l.inShape, outShape: l.outShape, perm: opOf(l.op, 'transpose').perm },
  }),
  ref(l) {
    const perm = opOf(l.op, 'transpose').perm;
    const ins = l.inShape;
    const out = l.outShape;
    const n = numel(ins);
    const stride = ins.map((_, i) => numel(ins.slice(i + 1)));
    const W = new Float64Array(n * n);
    for (let t = 0; t < n; t++) {
      let rest = t;
      let src = 0;
      for (let a = 2; a >= 0; a--) {
        src += (rest % out[a]!) * stride[perm[a]!]!;
        rest = Math.floor(rest / out[a]!);
      }
      W[t * n + src] = 1;
    }
    return { kind: 'linear', W: [W], b: new Float64Array(n) };
  },
  emit: {
    forward: (e) => `rt.permute(${e.inputs[0]}, ${e.cfg})`,
    ibp: (e) => `rt.ibpPermute(${e.inputs[0]}, ${e.cfg})`,
    lbp: (e) => `rt.lbpPermute(${e.inputs[0]}, ${e.cfg})`,
    back: (e, f) => [`rt.backPermute(${f}, ${e.cfg})`],
  },
};
