/** `div(c)`: x / c: divides by a non-zero constant (a number, or one per channel / feature); normalisation layers inside imported networks. */
import { constOpDef } from './elementwise.js';
import type { OpDef } from './op.js';

export const div: OpDef = constOpDef(
  'div',
  'div([0.229, 0.224, 0.225])',
  'x / c: divides by a non-zero constant (a number, or one per channel / feature)',
);
