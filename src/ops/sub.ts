/** `sub(c)`: x − c: subtracts a constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
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

export const sub: OpDef = {
  kind: 'sub',
  rules: [
    {
      name: 'sub',
      kind: 'sub',
      args: [constantArg('sub', false)],
      arity: 1,
      example: 'sub([0.485, 0.456, 0.406])',
      doc: 'x − c: subtracts a constant (a number, or one per channel / feature)',
      infer: (a, [input], at, bag) => constOp('sub', a.values.get('value') as number[], input!, at, bag),
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'sub', args: [constText(op)] }),
  describe: constDescribe,
  config: constConfig,
  ref: constRef,
  emit: constEmit,
};
