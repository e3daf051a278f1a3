/** `mul(c)`: x·c: multiplies by a constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
import { constOpDef } from './elementwise.js';
import type { OpDef } from './op.js';

export const mul: OpDef = constOpDef(
  'mul',
  'mul(0.5)',
  'x·c: multiplies by a constant (a number, or one per channel / feature)',
);
