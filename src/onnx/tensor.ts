/**
 * A small float64 tensor algebra for constant folding and for folding constants into weights:
 * numpy-style broadcasting of binary ops, transpose, and index helpers. Pure functions on
 * `Tensor` (row-major data, dims).
 */
import type { Tensor } from './proto.js';
import { DataType } from './proto.js';

export const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

export const tensor = (
  dims: readonly number[],
  data: ArrayLike<number>,
  dataType: number = DataType.FLOAT,
): Tensor => ({
  dims: [...dims],
  data: Float64Array.from(data),
  dataType,
});

/** The broadcast shape of two shapes (numpy rules), or undefined when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

const stridesOf = (dims: readonly number[]): number[] => {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
};

/** The values of `t` broadcast to `dims` (which must be a broadcast of t's shape). */
export function broadcastTo(t: Tensor, dims: readonly number[]): Float64Array {
  const r = dims.length;
  const td = [...new Array<number>(r - t.dims.length).fill(1), ...t.dims];
  const ts = stridesOf(td).map((s, i) => (td[i] === 1 ? 0 : s));
  const n = numel(dims);
  const out = new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < n; k++) {
    let off = 0;
    for (let i = 0; i < r; i++) off += idx[i]! * ts[i]!;
    out[k] = t.data[off]!;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i]! < dims[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** Elementwise binary op with broadcasting; undefined when the shapes do not broadcast. */
export function binary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor | undefined {
  const dims = broadcastShape(a.dims, b.dims);
  if (dims === undefined) return undefined;
  const x = broadcastTo(a, dims);
  const y = broadcastTo(b, dims);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!, y[i]!);
  return { dims, data: out, dataType: a.dataType };
}

/** Axis permutation (ONNX Transpose; default perm reverses the axes). */
export function transpose(t: Tensor, perm?: readonly number[]): Tensor {
  const r = t.dims.length;
  const p = perm ?? [...Array(r).keys()].reverse();
  const dims = p.map((i) => t.dims[i]!);
  const src = stridesOf(t.dims);
  const n = numel(dims);
  const out = new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < n; k++) {
    let off = 0;
    for (let i = 0; i < r; i++) off += idx[i]! * src[p[i]!]!;
    out[k] = t.data[off]!;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i]! < dims[i]!) break;
      idx[i] = 0;
    }
  }
  return { dims, data: out, dataType: t.dataType };
}

export const reshape = (t: Tensor, dims: readonly number[]): Tensor => ({
  dims: [...dims],
  data: t.data,
  dataType: t.dataType,
});

/** Concatenation along `axis` (shapes equal elsewhere; checked by the caller). */
export function concat(ts: readonly Tensor[], axis: number): Tensor {
  const d0 = ts[0]!.dims;
  const outer = numel(d0.slice(0, axis));
  const dims = [...d0];
  dims[axis] = ts.reduce((s, t) => s + t.dims[axis]!, 0);
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const t of ts) {
      const inner = numel(t.dims.slice(axis));
      for (let i = 0; i < inner; i++) out.push(t.data[o * inner + i]!);
    }
  return { dims, data: Float64Array.from(out), dataType: ts[0]!.dataType };
}

/** Resolves an ONNX Reshape target (0 copies the input dim unless allowzero, −1 is inferred). */
export function reshapeTarget(
  input: readonly number[],
  target: readonly number[],
  allowZero: boolean,
): number[] | undefined {
  const dims = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (dims.some((d) => d === undefined)) return undefined;
  const known = (dims as number[]).filter((d) => d !== -1);
  const free = dims.length - known.length;
  if (free > 1) return undefined;
  const total = numel(input);
  if (free === 1) {
    const k = numel(known);
    if (k === 0 || total % k !== 0) return undefined;
    return (dims as number[]).map((d) => (d === -1 ? total / k : d));
  }
  return numel(known) === total ? (dims as number[]) : undefined;
}

/** Normalises a possibly negative axis for a rank. */
export const axisOf = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);
