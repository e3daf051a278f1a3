/** `sub(c)`: x − c: subtracts a constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
import { constOpDef } from './elementwise.js';
import type { OpDef } from './op.js';

export const sub: OpDef = constOpDef(
  'sub',
  'sub([0.485, 0.456, 0.406])',
  'x − c: subtracts a constant (a number, or one per channel / feature)',
);
