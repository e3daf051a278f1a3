/**
 * Rigorous margin lower bounds in binary64: numbers that are provably ≤ the exact (real
 * arithmetic) minimum of z_y − z_j over the L∞ ball ∩ domain, for the network of `net.ts`.
 * docs/soundness.md gives the argument; in short:
 *
 * - Intervals (IBP) with every sum and product rounded outward (`round.ts`).
 * - The CROWN family in its dual form: for any row vectors g_k (one per activation input, here
 *   CROWN's own coefficients computed in plain float64, used only as hints),
 *     a·σ(v) ≥ g·v + Σᵢ min_{y ∈ [lᵢ, uᵢ]} (aᵢ σ(y) − gᵢ y),
 *   and each 1-D minimum of a piecewise-linear function is attained at an end point or a kink,
 *   evaluated with outward rounding. The products a·W of the backward pass are computed in plain
 *   round-to-nearest; their error is bounded a priori (|fl(Σ) − Σ| ≤ γ_n Σ|terms| + n·η) and
 *   charged against the bound through interval magnitudes of the layer inputs.
 * - Intermediate bounds are rigorous too: IBP, and for `crown` CROWN's own backward pass on the
 *   neurons whose interval straddles a kink (the others' relaxation is exact whatever the bounds).
 *
 * Any NaN or ±∞ (input, ε, weights, any bound) yields −∞: never verified.
 */
import type { LineStrategy } from '../../ir/ir.js';
import { boundLines, type Lines } from '../../runtime/lines.js';
import { f64Num } from '../../runtime/num.js';
import type { PiecewiseAct, RigorousAct, RigorousNet, SparseAffine } from './net.js';
import { down, ETA, gamma, PHI, up } from './round.js';

/** The rigorous methods: IBP, CROWN with IBP intermediate bounds, CROWN with CROWN intermediate bounds. */
export type RigorousMethod = 'ibp' | 'crown-ibp' | 'crown';

/** A rigorous enclosure [lo, hi] per coordinate. */
export interface Box {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}

const finite = (a: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
};

/**
 * The normalised input set of one raw sample: ([x − ε, x + ε] ∩ domain − mean) / std, rounded
 * outward; undefined when the set is empty or anything is non-finite.
 */
export function inputBox(net: RigorousNet, x: ArrayLike<number>, eps: number): Box | undefined {
  if (!(Number.isFinite(eps) && eps >= 0) || !finite(x)) return undefined;
  const { shape, mean, std, domain } = net.input;
  const plane = shape.length === 3 ? shape[1]! * shape[2]! : 1;
  const n = x.length;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = Math.max(down(x[i]! - eps), domain[0]);
    const b = Math.min(up(x[i]! + eps), domain[1]);
    if (!(a <= b)) return undefined;
    const c = mean.length === 1 ? 0 : Math.floor(i / plane);
    lo[i] = down(down(a - mean[c]!) / std[c]!);
    hi[i] = up(up(b - mean[c]!) / std[c]!);
  }
  return finite(lo) && finite(hi) ? { lo, hi } : undefined;
}

/** The points where a piecewise-linear activation's slope changes. */
function kinks(a: PiecewiseAct, i: number): readonly number[] {
  return a.kind === 'paramramp' ? [0, a.r[i]!] : [0];
}

/** [lo, hi] ∋ σ(y) for neuron i, outward rounded (σ of lines.ts in real arithmetic). */
function sigma(a: PiecewiseAct, i: number, y: number): [number, number] {
  if (y >= 0 && (a.kind !== 'paramramp' || y <= a.r[i]!)) return [y, y];
  if (a.kind === 'relu') return [0, 0];
  const s = a.kind === 'leaky_relu' ? a.slope : a.eta;
  if (y < 0) {
    const p = s * y;
    return [down(p), up(p)];
  }
  // ParamRamp right of r: r + η(y − r)
  const r = (a as { r: Float64Array }).r[i]!;
  const dlo = down(y - r);
  const dhi = up(y - r);
  return [down(r + down(s * dlo)), up(r + up(s * dhi))];
}

/** Rigorous range of σ over [l, u] (min/max over the end points and kinks). */
function actRange(s: RigorousAct, iv: Box): Box {
  const n = s.n;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const l = iv.lo[i]!;
    const u = iv.hi[i]!;
    let [mn, mx] = sigma(s.act, i, l);
    const at = sigma(s.act, i, u);
    mn = Math.min(mn, at[0]);
    mx = Math.max(mx, at[1]);
    for (const k of kinks(s.act, i)) {
      if (!(k > l && k < u)) continue;
      const v = sigma(s.act, i, k);
      mn = Math.min(mn, v[0]);
      mx = Math.max(mx, v[1]);
    }
    lo[i] = Number.isNaN(l + u) ? NaN : mn;
    hi[i] = Number.isNaN(l + u) ? NaN : mx;
  }
  return { lo, hi };
}

/** Interval image of an affine map, every product and sum rounded outward. */
function affineRange(s: SparseAffine, iv: Box): Box {
  const lo = new Float64Array(s.nOut);
  const hi = new Float64Array(s.nOut);
  const { rowPtr, col, val, b } = s;
  const L = iv.lo;
  const H = iv.hi;
  for (let o = 0; o < s.nOut; o++) {
    let a = b[o]!;
    let c = a;
    const end = rowPtr[o + 1]!;
    for (let k = rowPtr[o]!; k < end; k++) {
      const w = val[k]!;
      const j = col[k]!;
      const pl = w >= 0 ? w * L[j]! : w * H[j]!;
      const pu = w >= 0 ? w * H[j]! : w * L[j]!;
      // a = down(a + down(pl)), c = up(c + up(pu)), inlined (round.ts)
      const dl = pl - (PHI * Math.abs(pl) + ETA);
      const su = pu + (PHI * Math.abs(pu) + ETA);
      const ta = a + dl;
      const tc = c + su;
      a = ta - (PHI * Math.abs(ta) + ETA);
      c = tc + (PHI * Math.abs(tc) + ETA);
    }
    lo[o] = a;
    hi[o] = c;
  }
  return { lo, hi };
}

/** max(|lo|, |hi|) per coordinate. */
function magnitude(iv: Box): Float64Array {
  return iv.lo.map((l, i) => Math.max(Math.abs(l), Math.abs(iv.hi[i]!)));
}

/** An upper bound of |W|·m (every term and sum rounded up). */
function absMatVecUp(s: SparseAffine, m: Float64Array): Float64Array {
  const out = new Float64Array(s.nOut);
  for (let o = 0; o < s.nOut; o++) {
    let acc = 0;
    for (let k = s.rowPtr[o]!; k < s.rowPtr[o + 1]!; k++)
      acc = up(acc + up(Math.abs(s.val[k]!) * m[s.col[k]!]!));
    out[o] = acc;
  }
  return out;
}

/** An upper bound of Σ m. */
function sumUp(m: Float64Array): number {
  let acc = 0;
  for (const v of m) acc = up(acc + v);
  return acc;
}

/**
 * Rigorous lower bounds of rows·v_p + c0 (rows [m, n_p], row-major) over the input set, where v_p
 * is the value entering step p, by a backward pass to step `stop` (0: the input box) using the
 * rigorous intervals `iv[s]` of every v_s (s < p) and, at each activation, the slope hints of
 * `hints` (lower line for a coefficient ≥ 0, upper line otherwise; any slopes give a valid bound).
 */
function backward(
  net: RigorousNet,
  p: number,
  rows: Float64Array,
  c0: Float64Array,
  iv: readonly Box[],
  hints: (k: number) => Lines<Float64Array>,
  stop = 0,
): Float64Array {
  const m = c0.length;
  let A = rows;
  const c = c0.slice();
  for (let k = p - 1; k >= stop; k--) {
    const s = net.steps[k]!;
    if (s.kind === 'affine') {
      const n = s.nOut;
      // c += A·b (outward), then the plain product A·W and the charge for its rounding error.
      const mag = magnitude(iv[k]!);
      const q = absMatVecUp(s, mag);
      const g = gamma(s.maxColTerms);
      const under = up(up(s.maxColTerms * ETA) * sumUp(mag));
      const nA = new Float64Array(m * s.nIn);
      const { rowPtr, col, val } = s;
      for (let j = 0; j < m; j++) {
        let acc = c[j]!;
        let absQ = 0;
        for (let o = 0; o < n; o++) {
          const a = A[j * n + o]!;
          if (a === 0) continue;
          acc = down(acc + down(a * s.b[o]!));
          absQ = up(absQ + up(Math.abs(a) * q[o]!));
          const base = j * s.nIn;
          const start = rowPtr[o]!;
          const end = rowPtr[o + 1]!;
          if (end - start === s.nIn) for (let t = start, i = base; t < end; t++, i++) nA[i]! += a * val[t]!;
          else for (let t = start; t < end; t++) nA[base + col[t]!]! += a * val[t]!;
        }
        c[j] = down(acc - up(up(g * absQ) + under));
      }
      A = nA;
      continue;
    }
    const n = s.n;
    const ln = hints(k);
    const box = iv[k]!;
    for (let j = 0; j < m; j++) {
      let acc = c[j]!;
      for (let i = 0; i < n; i++) {
        const a = A[j * n + i]!;
        if (a === 0) continue;
        let gi = a * (a >= 0 ? ln.sL[i]! : ln.sU[i]!);
        if (!Number.isFinite(gi)) gi = 0; // any coefficient is valid
        acc = down(acc + termMin(s, i, a, gi, box.lo[i]!, box.hi[i]!));
        A[j * n + i] = gi;
      }
      c[j] = acc;
    }
  }
  // concretize over iv[stop]
  const box = iv[stop]!;
  const n = box.lo.length;
  const out = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let acc = c[j]!;
    for (let i = 0; i < n; i++) {
      const a = A[j * n + i]!;
      if (a !== 0) acc = down(acc + down(a * (a >= 0 ? box.lo[i]! : box.hi[i]!)));
    }
    out[j] = Number.isNaN(acc) ? -Infinity : acc;
  }
  return out;
}

/** A lower bound of a·σ(y) − g·y at one point. */
function termAt(s: RigorousAct, i: number, a: number, g: number, y: number): number {
  const [lo, hi] = sigma(s.act, i, y);
  return down(down(a * (a >= 0 ? lo : hi)) + down(-g * y));
}

/** A lower bound of min over y ∈ [l, u] of (a·σ(y) − g·y): at the end points and the kinks inside. */
function termMin(s: RigorousAct, i: number, a: number, g: number, l: number, u: number): number {
  let mn = Math.min(termAt(s, i, a, g, l), termAt(s, i, a, g, u));
  if (l < 0 && u > 0) mn = Math.min(mn, termAt(s, i, a, g, 0));
  if (s.act.kind === 'paramramp') {
    const r = s.act.r[i]!;
    if (l < r && u > r) mn = Math.min(mn, termAt(s, i, a, g, r));
  }
  return Number.isNaN(mn) || Number.isNaN(l + u) ? -Infinity : mn;
}

/** Rows e_y − e_j (j ≠ y ascending) as a dense [K−1, K] matrix. */
function marginRows(K: number, label: number): Float64Array {
  const A = new Float64Array((K - 1) * K);
  let r = 0;
  for (let j = 0; j < K; j++) {
    if (j === label) continue;
    A[r * K + label] = 1;
    A[r * K + j] = -1;
    r++;
  }
  return A;
}

/** Options of one rigorous bound. */
export interface RigorousOptions {
  /** Lines whose slopes serve as hints (default tight). */
  readonly lines?: LineStrategy;
  /**
   * `crown`: intersect CROWN's intermediate bounds with the interval ones (default false: CROWN's
   * own bounds, as the plain reference computes them). Tighter bounds give tighter tight lines,
   * but not always tighter adaptive ones.
   */
  readonly intersect?: boolean;
}

/**
 * Rigorous lower bounds of the margins z_label − z_j (j ≠ label ascending) of one raw sample `x`
 * (PyTorch layout, flattened) over its ε-ball ∩ domain. −∞ where nothing can be claimed.
 */
export function rigorousMargins(
  net: RigorousNet,
  x: ArrayLike<number>,
  eps: number,
  label: number,
  method: RigorousMethod,
  o: RigorousOptions = {},
): Float64Array {
  const K = net.classes;
  const fail = new Float64Array(K - 1).fill(-Infinity);
  if (net.defect !== undefined || !(Number.isInteger(label) && label >= 0 && label < K)) return fail;
  const box = inputBox(net, x, eps);
  if (!box) return fail;
  const lines = o.lines ?? 'tight';
  const steps = net.steps;
  const iv: Box[] = [box];
  const hintCache = new Map<number, Lines<Float64Array>>();
  const hints = (k: number): Lines<Float64Array> => {
    let h = hintCache.get(k);
    if (!h) {
      const s = steps[k] as RigorousAct;
      h = boundLines(f64Num, s.act, iv[k]!.lo, iv[k]!.hi, lines);
      hintCache.set(k, h);
    }
    return h;
  };
  for (let k = 0; k < steps.length - 1; k++) {
    const s = steps[k]!;
    if (s.kind === 'act' && method === 'crown' && k > 0)
      iv[k] = refine(net, k, iv, hints, o.intersect ?? false);
    if (!finite(iv[k]!.lo) || !finite(iv[k]!.hi)) return fail;
    iv.push(s.kind === 'affine' ? affineRange(s, iv[k]!) : actRange(s, iv[k]!));
  }
  const last = steps.length - 1;
  if (!finite(iv[last]!.lo) || !finite(iv[last]!.hi)) return fail;
  const out = backward(
    net,
    steps.length,
    marginRows(K, label),
    new Float64Array(K - 1),
    iv,
    hints,
    method === 'ibp' ? last : 0,
  );
  return finite(out) ? out : fail;
}

/**
 * CROWN's own bounds on the input of activation step k for the neurons whose interval straddles a
 * kink (both sides: the upper bound as −(lower bound of −v)), intersected with the interval.
 */
function refine(
  net: RigorousNet,
  k: number,
  iv: readonly Box[],
  hints: (k: number) => Lines<Float64Array>,
  intersect: boolean,
): Box {
  const s = net.steps[k] as RigorousAct;
  const cur = iv[k]!;
  const open: number[] = [];
  for (let i = 0; i < s.n; i++)
    if (kinks(s.act, i).some((z) => z > cur.lo[i]! && z < cur.hi[i]!)) open.push(i);
  if (open.length === 0) return cur;
  const m = 2 * open.length;
  const rows = new Float64Array(m * s.n);
  open.forEach((i, r) => {
    rows[r * s.n + i] = 1;
    rows[(open.length + r) * s.n + i] = -1;
  });
  const b = backward(net, k, rows, new Float64Array(m), iv, hints);
  const lo = cur.lo.slice();
  const hi = cur.hi.slice();
  open.forEach((i, r) => {
    lo[i] = intersect ? Math.max(lo[i]!, b[r]!) : b[r]!;
    hi[i] = intersect ? Math.min(hi[i]!, -b[open.length + r]!) : -b[open.length + r]!;
  });
  return { lo, hi };
}
