/** `relu`: max(z, 0). Lines in src/runtime/lines.ts (shared by the runtime and the reference). */
import type { OpDef } from './op.js';

export const relu: OpDef = {
  kind: 'relu',
  rules: [
    {
      name: 'relu',
      kind: 'relu',
      args: [],
      arity: 1,
      example: 'relu',
      doc: 'max(z, 0)',
      infer: (_, [input]) => ({ op: { kind: 'relu' }, outShape: input!.shape }),
      params: () => [],
    },
  ],
  text: () => ({ name: 'relu', args: [] }),
  describe: () => 'relu',
  ref: () => ({ kind: 'act', act: { kind: 'relu' } }),
  activation: { spec: () => 'rt.relu()', usesOptions: false, usesParams: false },
};
