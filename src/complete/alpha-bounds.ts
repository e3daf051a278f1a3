/**
 * α-CROWN bounds of given output rows λ·y over an input box (`--method alpha-crown` of `vnet
 * bounds`): CROWN intermediate bounds, then per row (and per negated row for the upper bound) the
 * lower slopes optimised by projected Adam from CROWN's, keeping the best bound seen — never
 * looser than CROWN. All in float64 on the SeqNet.
 */
import { DEFAULT_BAB } from './bab.js';
import { crownBounds, initParams, optimizeRow, type Box, type OptimizeOptions } from './crown.js';
import type { SeqNet } from './onnx-net.js';

export const DEFAULT_ALPHA: OptimizeOptions = {
  iterations: DEFAULT_BAB.rootIterations,
  lrAlpha: DEFAULT_BAB.lrAlpha,
  lrBeta: DEFAULT_BAB.lrBeta,
};

export function alphaCrownRows(
  net: SeqNet,
  box: Box,
  rows: readonly Float64Array[],
  o: OptimizeOptions = DEFAULT_ALPHA,
): { lower: number[]; upper: number[] } {
  const cb = crownBounds(net, box);
  const start = initParams(cb);
  const lb = (l: Float64Array): number => optimizeRow(net, l, cb, box, undefined, start, o).lb;
  return {
    lower: rows.map(lb),
    upper: rows.map((l) => -lb(l.map((v) => -v))),
  };
}
