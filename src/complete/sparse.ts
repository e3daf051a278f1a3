/**
 * Compressed sparse row matrices in float64: the affine maps of the complete verifier (dense
 * layers are CSR with full rows; convolutions keep only their kernel's non-zeros, so a back-step
 * through a convolution costs its number of weights, not the full matrix).
 */

export interface Csr {
  readonly rows: number;
  readonly cols: number;
  /** Row r's entries are idx/val[ptr[r] … ptr[r+1]). */
  readonly ptr: Int32Array;
  readonly idx: Int32Array;
  readonly val: Float64Array;
  /** Set when every entry is stored (ptr[r] = r·cols, idx in order): val is then row-major dense and the products take a contiguous path. */
  readonly dense?: boolean;
}

/** Marks a matrix whose rows are all full as dense (val is then row-major [rows, cols]). */
export function withDenseFlag(a: Csr): Csr {
  if (a.ptr[a.rows] !== a.rows * a.cols) return a;
  for (let r = 0; r < a.rows; r++) for (let j = 0; j < a.cols; j++) if (a.idx[r * a.cols + j] !== j) return a;
  return { ...a, dense: true };
}

/** Builds a CSR matrix row by row. */
export class CsrBuilder {
  private readonly ptr: number[] = [0];
  private idx: number[] = [];
  private val: number[] = [];
  constructor(readonly cols: number) {}
  /** Appends the next row from (column, value) pairs (zeros dropped, columns in any order). */
  row(cols: ArrayLike<number>, vals: ArrayLike<number>): void {
    for (let i = 0; i < cols.length; i++)
      if (vals[i] !== 0) {
        this.idx.push(cols[i]!);
        this.val.push(vals[i]!);
      }
    this.ptr.push(this.idx.length);
  }
  build(): Csr {
    return {
      rows: this.ptr.length - 1,
      cols: this.cols,
      ptr: Int32Array.from(this.ptr),
      idx: Int32Array.from(this.idx),
      val: Float64Array.from(this.val),
    };
  }
}

export function identity(n: number): Csr {
  const ptr = new Int32Array(n + 1);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ptr[i + 1] = i + 1;
    idx[i] = i;
  }
  return { rows: n, cols: n, ptr, idx, val: new Float64Array(n).fill(1) };
}

/** A row-major dense [rows, cols] matrix as CSR. */
export function fromDense(d: ArrayLike<number>, rows: number, cols: number): Csr {
  const b = new CsrBuilder(cols);
  const c: number[] = [];
  const v: number[] = [];
  for (let r = 0; r < rows; r++) {
    c.length = 0;
    v.length = 0;
    for (let j = 0; j < cols; j++) {
      const x = d[r * cols + j]!;
      if (x !== 0) {
        c.push(j);
        v.push(x);
      }
    }
    b.row(c, v);
  }
  return b.build();
}

/** A·B for CSR A [m, k] and B [k, n]. */
export function matmul(a: Csr, b: Csr): Csr {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`);
  const acc = new Float64Array(b.cols);
  const mark = new Int32Array(b.cols).fill(-1);
  const out = new CsrBuilder(b.cols);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < a.rows; r++) {
    cols.length = 0;
    for (let p = a.ptr[r]!; p < a.ptr[r + 1]!; p++) {
      const k = a.idx[p]!;
      const av = a.val[p]!;
      for (let q = b.ptr[k]!; q < b.ptr[k + 1]!; q++) {
        const j = b.idx[q]!;
        if (mark[j] !== r) {
          mark[j] = r;
          acc[j] = 0;
          cols.push(j);
        }
        acc[j]! += av * b.val[q]!;
      }
    }
    cols.sort((x, y) => x - y);
    vals.length = 0;
    for (const j of cols) vals.push(acc[j]!);
    out.row(cols, vals);
  }
  return out.build();
}

/** A·v. */
export function matvec(a: Csr, v: ArrayLike<number>, out = new Float64Array(a.rows)): Float64Array {
  if (a.dense) {
    const n = a.cols;
    const w = a.val;
    for (let r = 0; r < a.rows; r++) {
      let s = 0;
      const o = r * n;
      for (let j = 0; j < n; j++) s += w[o + j]! * v[j]!;
      out[r] = s;
    }
    return out;
  }
  for (let r = 0; r < a.rows; r++) {
    let s = 0;
    for (let p = a.ptr[r]!; p < a.ptr[r + 1]!; p++) s += a.val[p]! * v[a.idx[p]!]!;
    out[r] = s;
  }
  return out;
}

/** out += λ·A (λ a row vector over A's rows): out[j] += Σ_r λ_r A[r, j]. */
export function vecmatAdd(lambda: ArrayLike<number>, a: Csr, out: Float64Array, lOff = 0, oOff = 0): void {
  if (a.dense && oOff === 0) {
    const n = a.cols;
    const w = a.val;
    for (let r = 0; r < a.rows; r++) {
      const l = lambda[lOff + r]!;
      if (l === 0) continue;
      const o = r * n;
      for (let j = 0; j < n; j++) out[j]! += l * w[o + j]!;
    }
    return;
  }
  for (let r = 0; r < a.rows; r++) {
    const l = lambda[lOff + r]!;
    if (l === 0) continue;
    for (let p = a.ptr[r]!; p < a.ptr[r + 1]!; p++) out[oOff + a.idx[p]!]! += l * a.val[p]!;
  }
}

/** The number of stored entries. */
export const nnz = (a: Csr): number => a.ptr[a.rows]!;
