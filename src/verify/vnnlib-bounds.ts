/**
 * One-shot bounds of a spec network on a VNN-LIB property (`vnet bounds --vnnlib`): per case the
 * input box (X_i in the spec's raw input, flattened C,H,W; not clipped to the domain, since the
 * property names the set), normalised like any input, and the specification matrix C stacking
 * every row A_r of every conjunction, so the method bounds A_r·y directly (folded into the last
 * layer). A conjunction is refuted when one row's lower bound of A_r·y − b_r is > 0; these are
 * the generated module's float32 bounds, a report, not a decision: `vnet run-instance` decides
 * in float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../base/errors.js';
import { alphaCrownRows } from '../complete/alpha-bounds.js';
import type { SeqNet } from '../complete/onnx-net.js';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import type { GeneratedModule, ParamSet } from '../runtime/module.js';
import { normalize } from '../runtime/input.js';
import { chwToHwc } from '../runtime/layout.js';
import type { VnnlibCase, VnnlibProperty } from '../vnnlib/parse.js';
import { evalOptions, tidyResult } from './model.js';

export interface ConjunctionBounds {
  /** Per row r: bounds of A_r·y − b_r over the case's box. */
  readonly lower: number[];
  readonly upper: number[];
  readonly refuted: boolean;
}

export interface VnnlibBoundsJson {
  readonly method: BoundMethod | 'alpha-crown';
  readonly lines: LineStrategy;
  readonly vnnlib: string;
  readonly cases: { readonly conjunctions: ConjunctionBounds[]; readonly refuted: boolean }[];
  /** Every conjunction of every case refuted (by float32 bounds). */
  readonly refuted: boolean;
}

/** Checks that a property fits a spec network (inputs = the flattened input, outputs = classes). */
export function checkPropertyFits(prop: VnnlibProperty, path: string, width: number, classes: number): void {
  if (prop.nX !== width)
    throw new UserError(
      `${path}: the property has ${prop.nX} inputs X_i but the network's input has ${width}`,
    );
  if (prop.nY !== classes)
    throw new UserError(
      `${path}: the property has ${prop.nY} outputs Y_i but the network has ${classes} classes`,
    );
}

/** The rows of every conjunction of a case stacked: [m, K] row-major, and m. */
export function stackedRows(c: VnnlibCase, K: number): { C: Float64Array; m: number } {
  const m = c.unsafe.reduce((s, cj) => s + cj.rows, 0);
  const C = new Float64Array(m * K);
  let off = 0;
  for (const cj of c.unsafe) {
    C.set(cj.A, off);
    off += cj.A.length;
  }
  return { C, m };
}

/** A case's per-conjunction results from the bounds of its stacked rows (A_r·y, before − b_r). */
export function caseBounds(
  c: VnnlibCase,
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
): VnnlibBoundsJson['cases'][number] {
  let off = 0;
  const conjunctions = c.unsafe.map((cj) => {
    const lo = Array.from({ length: cj.rows }, (_, r) => lower[off + r]! - cj.b[r]!);
    const hi = Array.from({ length: cj.rows }, (_, r) => upper[off + r]! - cj.b[r]!);
    off += cj.rows;
    return { lower: lo, upper: hi, refuted: lo.some((v) => v > 0) };
  });
  return { conjunctions, refuted: conjunctions.every((q) => q.refuted) };
}

export async function vnnlibBounds(
  mod: GeneratedModule,
  params: ParamSet,
  prop: VnnlibProperty,
  path: string,
  method: BoundMethod,
  lines: LineStrategy,
): Promise<VnnlibBoundsJson> {
  const meta = mod.meta;
  const shape = meta.input.shape;
  const width = shape.reduce((p, q) => p * q, 1);
  const K = meta.classes;
  checkPropertyFits(prop, path, width, K);
  const internal = (v: Float64Array): Float32Array => {
    const f = Float32Array.from(v);
    return shape.length === 3 ? chwToHwc(f, shape[0]!, shape[1]!, shape[2]!) : f;
  };
  const cases: VnnlibBoundsJson['cases'][number][] = [];
  for (const c of prop.cases) {
    const { C: C64, m } = stackedRows(c, K);
    let lower: Float32Array = new Float32Array(0);
    let upper: Float32Array = new Float32Array(0);
    if (m > 0) {
      const C = Float32Array.from(C64);
      const res = tidyResult(() => {
        const dims = [1, ...meta.inputCfg.shape];
        const mid = c.lo.map((l, i) => (l + c.hi[i]!) / 2);
        const box = {
          x: normalize(tf.tensor(internal(mid), dims), meta.inputCfg),
          lo: normalize(tf.tensor(internal(c.lo), dims), meta.inputCfg),
          hi: normalize(tf.tensor(internal(c.hi), dims), meta.inputCfg),
        };
        return mod.bounds(params, box, method, {
          ...evalOptions(meta),
          lines,
          C: tf.tensor3d(C, [1, m, K]),
          noLogits: true,
        });
      });
      try {
        lower = (await res.lower.data()) as Float32Array;
        upper = (await res.upper.data()) as Float32Array;
      } finally {
        tf.dispose(res as unknown as tf.TensorContainer);
      }
    }
    cases.push(caseBounds(c, lower, upper));
  }
  return { method, lines, vnnlib: path, cases, refuted: cases.every((c) => c.refuted) };
}

/** The readable form: one line per conjunction with its best row. */
export function formatVnnlibBounds(r: VnnlibBoundsJson, network: string): string {
  const out = [`network ${network}: ${r.method} bounds, ${r.lines} lines, on ${r.vnnlib} (A·y − b per row)`];
  r.cases.forEach((c, i) => {
    out.push('', `case ${i}  ${c.refuted ? 'REFUTED' : 'not refuted'}`);
    c.conjunctions.forEach((q, k) => {
      const best = q.lower.length ? Math.max(...q.lower) : -Infinity;
      out.push(
        `  conjunction ${k}: ${q.lower.length} row${q.lower.length === 1 ? '' : 's'}, best lower bound ${best.toPrecision(5)}${q.refuted ? ' > 0: refuted' : ''}`,
      );
    });
  });
  out.push(
    '',
    r.refuted
      ? 'every unsafe conjunction is refuted by these float32 bounds (vnet run-instance decides in float64)'
      : 'not every unsafe conjunction is refuted',
  );
  return out.join('\n');
}

/** alpha-crown on a VNN-LIB property: every stacked row of every case. */
export function alphaVnnlib(
  net: SeqNet,
  prop: VnnlibProperty,
  path: string,
  K: number,
  lines: LineStrategy,
): VnnlibBoundsJson {
  checkPropertyFits(prop, path, net.nIn, K);
  const cases = prop.cases.map((c) => {
    const { C, m } = stackedRows(c, K);
    const rows = Array.from({ length: m }, (_, r) => C.slice(r * K, (r + 1) * K));
    const { lower, upper } = alphaCrownRows(net, { lo: c.lo, hi: c.hi }, rows);
    return caseBounds(c, lower, upper);
  });
  return { method: 'alpha-crown', lines, vnnlib: path, cases, refuted: cases.every((c) => c.refuted) };
}
