/**
 * `tanh`: the hyperbolic tangent. IBP is exact (increasing); LBP and CROWN use CROWN's
 * tangent/secant lines (src/runtime/sigmoid-lines.ts) for `tight` and `adaptive` lines alike;
 * `constant` lines are IBP's.
 */
import type { OpDef } from './op.js';

export const tanh: OpDef = {
  kind: 'tanh',
  rules: [
    {
      name: 'tanh',
      kind: 'tanh',
      args: [],
      arity: 1,
      example: 'tanh',
      doc: 'tanh(z)',
      infer: (_, [input]) => ({ op: { kind: 'tanh' }, outShape: input!.shape }),
      params: () => [],
    },
  ],
  text: () => ({ name: 'tanh', args: [] }),
  describe: () => 'tanh',
  ref: () => ({ kind: 'act', act: { kind: 'tanh' } }),
  activation: { spec: () => 'rt.tanhAct()', usesOptions: false, usesParams: false },
};
