/** `leaky_relu(slope)`: z for z ≥ 0, η·z below (η from the η schedule when the recipe has one). */
import { num as lit } from '../codegen/literal.js';
import { argSpec } from '../semantics/args.js';
import { num, SLOPE } from '../semantics/values.js';
import { numText } from './common.js';
import { opOf, type OpDef } from './op.js';

export const leakyRelu: OpDef = {
  kind: 'leaky_relu',
  rules: [
    {
      name: 'leaky_relu',
      kind: 'leaky_relu',
      args: [argSpec('slope', num(SLOPE), { default: 0.01, doc: 'slope η for z < 0' })],
      arity: 1,
      example: 'leaky_relu(0.01)',
      doc: 'z for z ≥ 0, η·z below',
      infer: (a, [input]) => ({
        op: { kind: 'leaky_relu', slope: a.values.get('slope') as number },
        outShape: input!.shape,
      }),
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'leaky_relu', args: [numText(opOf(op, 'leaky_relu').slope)] }),
  describe: (op) => `leaky_relu(${lit(opOf(op, 'leaky_relu').slope)})`,
  ref: (l, _, o) => ({
    kind: 'act',
    act: { kind: 'leaky_relu', slope: o.eta ?? opOf(l.op, 'leaky_relu').slope },
  }),
  activation: {
    spec: (e) => `rt.leakyRelu(${lit(opOf(e.l.op, 'leaky_relu').slope)}, o)`,
    usesOptions: true,
    usesParams: false,
  },
};
