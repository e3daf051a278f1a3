/**
 * The operator registry: every op kind, one file each. Adding an operator: write
 * `src/ops/<kind>.ts` (an `OpDef`), add its `Op` data to src/ir/ir.ts, list it here, add its
 * tests and one line in docs/language.md.
 */
import type { OpKind } from '../ir/ir.js';
import { add } from './add.js';
import { avgpool } from './avgpool.js';
import { batchnorm } from './batchnorm.js';
import { concat } from './concat.js';
import { conv2d } from './conv2d.js';
import { div } from './div.js';
import { dense } from './dense.js';
import { flatten } from './flatten.js';
import { leakyRelu } from './leaky_relu.js';
import { mul } from './mul.js';
import { maxpool } from './maxpool.js';
import type { OpDef, OpRule } from './op.js';
import { pad } from './pad.js';
import { paramramp } from './paramramp.js';
import { relu } from './relu.js';
import { reshape } from './reshape.js';
import { sub } from './sub.js';
import { transpose } from './transpose.js';
import { sigmoid } from './sigmoid.js';
import { tanh } from './tanh.js';

export const OPS: readonly OpDef[] = [
  dense,
  conv2d,
  flatten,
  relu,
  leakyRelu,
  paramramp,
  batchnorm,
  add,
  avgpool,
  pad,
  sub,
  mul,
  div,
  concat,
  reshape,
  transpose,
  sigmoid,
  tanh,
  maxpool,
];

const byKind = new Map<OpKind, OpDef>(OPS.map((d) => [d.kind, d]));

/** The definition of an op kind. */
export function opDef(kind: OpKind): OpDef {
  const d = byKind.get(kind);
  if (!d) throw new Error(`internal: no operator definition for '${kind}'`);
  return d;
}

/** Every checker rule by the name written in specs. */
export const OP_RULES: ReadonlyMap<string, OpRule> = new Map(
  OPS.flatMap((d) => d.rules.map((r) => [r.name, r])),
);

export type { OpDef, OpRule } from './op.js';
