/** `mul(c)`: x·c: multiplies by a constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
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

export const mul: OpDef = {
  kind: 'mul',
  rules: [
    {
      name: 'mul',
      kind: 'mul',
      args: [constantArg('mul', false)],
      arity: 1,
      example: 'mul(0.5)',
      doc: 'x·c: multiplies by a constant (a number, or one per channel / feature)',
      infer: (a, [input], at, bag) => constOp('mul', a.values.get('value') as number[], input!, at, bag),
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'mul', args: [constText(op)] }),
  describe: constDescribe,
  config: constConfig,
  ref: constRef,
  emit: constEmit,
};
