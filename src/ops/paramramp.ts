/**
 * `paramramp(eta)`: ParamRamp (paper-notes §1): η·z below 0, z on [0, r], η·z + (1 − η)·r above
 * r, with r learned per neuron (initialised to ones; re-initialised to the mean activation when
 * certified training starts, see emit-train.ts). Lines and its six cases in src/runtime/lines.ts.
 */
import { num as lit } from '../codegen/literal.js';
import { R_MIN } from '../runtime/lines.js';
import { argSpec } from '../semantics/args.js';
import { num, SLOPE } from '../semantics/values.js';
import { numText, required } from './common.js';
import { opOf, type OpDef } from './op.js';

export const paramramp: OpDef = {
  kind: 'paramramp',
  rules: [
    {
      name: 'paramramp',
      kind: 'paramramp',
      args: [argSpec('eta', num(SLOPE), { default: 0, doc: 'outer slope η' })],
      arity: 1,
      example: 'paramramp(0.01)',
      doc: 'ParamRamp: η·z below 0, z on [0, r], η·z + (1 − η)·r above r; r learned per neuron',
      infer: (a, [input]) => ({
        op: { kind: 'paramramp', eta: a.values.get('eta') as number },
        outShape: input!.shape,
      }),
      // r is initialised to ones, so its fan-in is unused; 1 keeps U(±1/√fanIn) finite.
      params: (_, [inShape]) => [{ param: 'r', role: 'ramp.r', torchShape: inShape!, fanIn: 1 }],
    },
  ],
  text: (op) => ({ name: 'paramramp', args: [numText(opOf(op, 'paramramp').eta)] }),
  describe: (op) => `paramramp(eta ${lit(opOf(op, 'paramramp').eta)})`,
  ref(l, param, o) {
    const eta = o.eta ?? opOf(l.op, 'paramramp').eta;
    if (o.rampAsLeaky) return { kind: 'act', act: { kind: 'leaky_relu', slope: eta } };
    const r = required(param('ramp.r'), `${l.name}.r`);
    return { kind: 'act', act: { kind: 'paramramp', eta, r: r.map((v) => Math.max(v, R_MIN)) } };
  },
  activation: {
    spec: (e, ordinal) =>
      `rt.paramRamp(${e.param('ramp.r')!}, ${lit(opOf(e.l.op, 'paramramp').eta)}, o, ${ordinal})`,
    usesOptions: true,
    usesParams: true,
  },
};
