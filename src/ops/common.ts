/**
 * Pieces several ops share: argument readers for spatial sizes and padding, TF-style `same`
 * padding, output sizes of windowed ops, and the float64 matrix of a windowed linear map (conv,
 * average pooling, padding) in C,H,W order for the reference interpreter.
 */
import type { Padding4, Shape } from '../ir/ir.js';
import { Diag } from '../diagnostics/messages.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import type { Expr } from '../syntax/ast.js';
import { argSpec } from '../semantics/args.js';
import {
  bool,
  describeExpr,
  describeRule,
  num,
  oneOf,
  satisfies,
  SIZE,
  type NumRule,
  type Reader,
} from '../semantics/values.js';
import type { LayerInput } from './op.js';

/** `32x7x7`, `100` */
export const formatShape = (s: Shape): string => s.join('x');

/** A float64 number as spec text that reads back to the same value. */
export function numText(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`internal: non-finite number ${v} in a spec`);
  return Object.is(v, -0) ? '0' : String(v);
}

/** A pair as spec text: `k` when both are equal, else `[a, b]`. */
export const pairText = (p: readonly [number, number]): string =>
  p[0] === p[1] ? `${p[0]}` : `[${p[0]}, ${p[1]}]`;

/** Padding [top, bottom, left, right] as the shortest spec text: `p`, `[ph, pw]` or all four. */
export function paddingText(p: readonly number[]): string {
  const [t, b, l, r] = p as [number, number, number, number];
  return t === b && b === l && l === r
    ? `${t}`
    : t === b && l === r
      ? `[${t}, ${l}]`
      : `[${t}, ${b}, ${l}, ${r}]`;
}

export type Pair = readonly [number, number];
export type PaddingArg = Padding4 | 'same' | 'valid';

/** A size for both spatial dims: `4`, `4x3` or `[4, 3]` (height, width). */
export const pair =
  (rule: NumRule): Reader<Pair> =>
  (e, what, bag) => {
    const items: Expr[] | undefined =
      e.kind === 'NumberLit'
        ? [e, e]
        : e.kind === 'ListExpr' && e.items.length === 2
          ? [...e.items]
          : undefined;
    if (e.kind === 'ShapeLit' && e.dims.length === 2) {
      if (e.dims.every((d) => satisfies(d, rule))) return [e.dims[0]!, e.dims[1]!];
      bag.report(Diag.OutOfRange, e.span, [what, `${describeRule(rule)} in each dimension`, e.text]);
      return undefined;
    }
    if (items === undefined) {
      bag.report(Diag.WrongType, e.span, [what, `${describeRule(rule)} or a pair like 3x3`, describeExpr(e)]);
      return undefined;
    }
    const a = num(rule)(items[0]!, what, bag);
    const b = e.kind === 'NumberLit' ? a : num(rule)(items[1]!, what, bag);
    return a === undefined || b === undefined ? undefined : [a, b];
  };

const PAD: NumRule = { integer: true, min: 0, max: SIZE.max };

/** `1`, `[1, 2]` (height, width), `[top, bottom, left, right]`, and with `named` also `same`/`valid`. */
export const padding =
  (named: boolean): Reader<PaddingArg> =>
  (e, what, bag) => {
    if (named && (e.kind === 'Ident' || e.kind === 'StringLit'))
      return oneOf(['same', 'valid'] as const, 'padding')(e, what, bag);
    if (e.kind === 'NumberLit') {
      const p = num(PAD)(e, what, bag);
      return p === undefined ? undefined : [p, p, p, p];
    }
    if (e.kind === 'ListExpr' && (e.items.length === 2 || e.items.length === 4)) {
      const v = e.items.map((it) => num(PAD)(it, what, bag));
      if (v.some((x) => x === undefined)) return undefined;
      const n = v as number[];
      return n.length === 2 ? [n[0]!, n[0]!, n[1]!, n[1]!] : [n[0]!, n[1]!, n[2]!, n[3]!];
    }
    bag.report(Diag.WrongType, e.span, [
      what,
      `a number, [height, width], [top, bottom, left, right]${named ? ', same or valid' : ''}`,
      describeExpr(e),
    ]);
    return undefined;
  };

/** TF-style `same` padding of one dim: output ceil(n / s), the odd pixel at the end. */
function samePadding(n: number, k: number, s: number): [number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Explicit padding of a windowed op on an h×w map. */
export function resolvePadding(p: PaddingArg, h: number, w: number, kernel: Pair, stride: Pair): Padding4 {
  if (p === 'valid') return [0, 0, 0, 0];
  if (p === 'same') return [...samePadding(h, kernel[0], stride[0]), ...samePadding(w, kernel[1], stride[1])];
  return p;
}

export const biasArg = argSpec('bias', bool, { default: true, doc: 'learn a bias' });
export const strideArg = argSpec<Pair>('stride', pair(SIZE), {
  default: [1, 1],
  defaultText: '1',
  doc: 'stride: s, sxs or [sh, sw]',
});

/** Reports a non-map input (ops on [C, H, W] maps); true if it is a map. */
export function needsMap(op: string, input: LayerInput, at: Span, bag: DiagnosticBag): boolean {
  if (input.shape.length === 3) return true;
  bag.report(Diag.NeedsImage, at, [op, input.from, formatShape(input.shape)]);
  return false;
}

/**
 * Output size of a window of `kernel` moved by `stride` over an h×w map padded by `pad`;
 * undefined (reported) when the window does not fit (`padded`: the op takes padding, so the help
 * may suggest more).
 */
export function windowOutput(
  input: LayerInput,
  kernel: Pair,
  stride: Pair,
  pad: Padding4,
  at: Span,
  bag: DiagnosticBag,
  padded = true,
): Pair | undefined {
  const [, h, w] = input.shape as [number, number, number];
  const ph = h + pad[0] + pad[1];
  const pw = w + pad[2] + pad[3];
  if (kernel[0] > ph || kernel[1] > pw) {
    bag.report(Diag.KernelTooLarge, at, [formatShape(kernel), `${ph}x${pw}`], {
      help: [
        `${input.from} is ${formatShape(input.shape)}; use a smaller kernel${padded ? ' or more padding' : ''}`,
      ],
    });
    return undefined;
  }
  return [Math.floor((ph - kernel[0]) / stride[0]) + 1, Math.floor((pw - kernel[1]) / stride[1]) + 1];
}

/** A windowed linear map's geometry, PyTorch shapes. */
export interface WindowGeom {
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Padding4;
}

/**
 * The full matrix [out, in] (C,H,W order, row-major) of a windowed linear map with explicit zero
 * padding: output (o, y, x) = Σ_{c, dy, dx} tap(o, c, dy, dx) · input(c, y·s − p + dy, x·s − p + dx).
 * `tap` returns 0 to skip (e.g. off-diagonal channels of a pooling window).
 */
export function windowMatrix(
  g: WindowGeom,
  tap: (o: number, c: number, dy: number, dx: number) => number,
): Float64Array {
  const [ci, hi, wi] = g.inShape as [number, number, number];
  const [co, ho, wo] = g.outShape as [number, number, number];
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, , pl] = g.padding;
  const nIn = ci * hi * wi;
  const M = new Float64Array(co * ho * wo * nIn);
  for (let o = 0; o < co; o++)
    for (let y = 0; y < ho; y++)
      for (let x = 0; x < wo; x++) {
        const row = ((o * ho + y) * wo + x) * nIn;
        for (let c = 0; c < ci; c++)
          for (let dy = 0; dy < kh; dy++) {
            const iy = y * sh - pt + dy;
            if (iy < 0 || iy >= hi) continue;
            for (let dx = 0; dx < kw; dx++) {
              const ix = x * sw - pl + dx;
              if (ix < 0 || ix >= wi) continue;
              const t = tap(o, c, dy, dx);
              if (t !== 0) M[row + (c * hi + iy) * wi + ix]! += t;
            }
          }
      }
  return M;
}

/** A per-channel bias broadcast over the H·W positions of each channel (or per feature). */
export function channelVector(v: Float64Array | undefined, n: number): Float64Array {
  const out = new Float64Array(n);
  if (!v) return out;
  const per = n / v.length;
  for (let i = 0; i < n; i++) out[i] = v[Math.floor(i / per)]!;
  return out;
}

/** The reference's parameter accessor that must find a parameter. */
export function required(v: Float64Array | undefined, what: string): Float64Array {
  if (!v) throw new Error(`reference: missing parameter ${what}`);
  return v;
}
