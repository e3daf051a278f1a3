/**
 * `sigmoid`: 1/(1 + e^(−z)). IBP is exact (increasing); LBP and CROWN use CROWN's tangent/secant
 * lines (src/runtime/sigmoid-lines.ts, shared by the runtime and the reference) for `tight` and
 * `adaptive` lines alike; `constant` lines are IBP's.
 */
import type { OpDef } from './op.js';

export const sigmoid: OpDef = {
  kind: 'sigmoid',
  rules: [
    {
      name: 'sigmoid',
      kind: 'sigmoid',
      args: [],
      arity: 1,
      example: 'sigmoid',
      doc: '1/(1 + e^(−z))',
      infer: (_, [input]) => ({ op: { kind: 'sigmoid' }, outShape: input!.shape }),
      params: () => [],
    },
  ],
  text: () => ({ name: 'sigmoid', args: [] }),
  describe: () => 'sigmoid',
  ref: () => ({ kind: 'act', act: { kind: 'sigmoid' } }),
  activation: { spec: () => 'rt.sigmoidAct()', usesOptions: false, usesParams: false },
};
