/** `div(c)`: x / c: divides by a non-zero constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
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

export const div: OpDef = {
  kind: 'div',
  rules: [
    {
      name: 'div',
      kind: 'div',
      args: [constantArg('div', false)],
      arity: 1,
      example: 'div([0.229, 0.224, 0.225])',
      doc: 'x / c: divides by a non-zero constant (a number, or one per channel / feature)',
      infer: (a, [input], at, bag) => constOp('div', a.values.get('value') as number[], input!, at, bag),
      params: () => [],
    },
  ],
  text: (op) => ({ name: 'div', args: [constText(op)] }),
  describe: constDescribe,
  config: constConfig,
  ref: constRef,
  emit: constEmit,
};
