/**
 * Linear bounds of a ReLU network (SeqNet) over an input box, in float64 with plain loops:
 * IBP, CROWN (back-substitution with the triangle relaxation; lower slope α = 1 where u > −l,
 * else 0) for the intermediate bounds, and for an objective row the α-β-CROWN bound with its
 * gradient in α and β, which `optimizeRows` raises by projected Adam.
 *
 * Notation: layer j maps a_{j−1} (a_{−1} = x) to z_j = W_j a_{j−1} + b_j, a_j = relu(z_j) for
 * j < L−1; z_{L−1} = y. For an objective λ·z_m, back-substitution keeps λ_j (coefficients on z_j)
 * and ν_j = λ_j W_j (on a_{j−1}). At ReLU j an unstable neuron (l < 0 < u) takes the lower line
 * α z when ν ≥ 0 and the upper line s(z − l), s = u/(u − l), when ν < 0; a split neuron is exact
 * (a = z for z ≥ 0, a = 0 for z ≤ 0) and its constraint enters with a Lagrange multiplier
 * β ≥ 0 (β-CROWN, Wang et al. 2021, Eq. 5): min f ≥ min [f − Σ β·σ·z] over the box for
 * σ = +1 (z ≥ 0) or −1 (z ≤ 0), since the added term is ≤ 0 where the constraints hold. The bound
 * is  Σ_j λ_j·b_j − Σ_{unstable, ν<0} ν s l + Σ_i min(ν_{0,i} lo_i, ν_{0,i} hi_i),  a concave
 * function of nothing and a piecewise-linear function of (α, β) whose (sub)gradient the reverse
 * pass below computes exactly; every (α ∈ [0,1], β ≥ 0) gives a sound bound, so optimising can
 * only tighten it (Xu et al. 2021, α-CROWN).
 */
import type { SeqNet } from './onnx-net.js';
import { matvec, vecmatAdd } from './sparse.js';

export interface Box {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}

/** Pre-activation bounds of ReLU j (the output of layer j), j = 0 … L−2. */
export interface LayerBounds {
  readonly lo: Float64Array[];
  readonly hi: Float64Array[];
}

/** Split decisions per ReLU layer: +1 (z ≥ 0), −1 (z ≤ 0), 0 (none). */
export type Splits = Int8Array[];

export const reluCount = (net: SeqNet): number => net.layers.length - 1;

/** Plain forward pass; `pre` receives every ReLU layer's pre-activation when given. */
export function forward(net: SeqNet, x: ArrayLike<number>, pre?: Float64Array[]): Float64Array {
  let a: ArrayLike<number> = x;
  const L = net.layers.length;
  for (let j = 0; j < L; j++) {
    const { W, b } = net.layers[j]!;
    const z = matvec(W, a);
    for (let i = 0; i < z.length; i++) z[i]! += b[i]!;
    if (j === L - 1) return z;
    if (pre) pre[j] = z.slice();
    for (let i = 0; i < z.length; i++) if (z[i]! < 0) z[i] = 0;
    a = z;
  }
  throw new Error('forward: empty network');
}

/** Interval bounds of every ReLU layer (and the output) over a box. */
export function ibp(net: SeqNet, box: Box): LayerBounds & { outLo: Float64Array; outHi: Float64Array } {
  let lo: Float64Array = box.lo;
  let hi: Float64Array = box.hi;
  const los: Float64Array[] = [];
  const his: Float64Array[] = [];
  const L = net.layers.length;
  for (let j = 0; j < L; j++) {
    const zl = new Float64Array(net.layers[j]!.W.rows);
    const zh = new Float64Array(zl.length);
    intervalAffine(net, j, lo, hi, zl, zh);
    if (j === L - 1) return { lo: los, hi: his, outLo: zl, outHi: zh };
    los.push(zl);
    his.push(zh);
    lo = zl.map((v) => Math.max(v, 0));
    hi = zh.map((v) => Math.max(v, 0));
  }
  throw new Error('ibp: empty network');
}

/** Parameters of one objective row's bound: α per ReLU layer (used at unstable neurons), β per split. */
export interface RowParams {
  alpha: Float64Array[];
  beta: Float64Array[];
}

export interface RowBound {
  readonly lb: number;
  /** ν_0 = λ_0 W_0, the input coefficients (the minimising corner is lo where ν ≥ 0, else hi). */
  readonly nu0: Float64Array;
  /** ν_{j+1} per ReLU layer j: the coefficients on a_j (branching scores use them). */
  readonly nuAct: Float64Array[];
  readonly gAlpha?: Float64Array[];
  readonly gBeta?: Float64Array[];
}

/** The default lower slope: 1 where u > −l (the relaxation of smaller area), else 0. */
export function defaultAlpha(lo: Float64Array, hi: Float64Array): Float64Array {
  const a = new Float64Array(lo.length);
  for (let i = 0; i < lo.length; i++) a[i] = hi[i]! > -lo[i]! ? 1 : 0;
  return a;
}

/**
 * The lower bound of λ·z_m over the box, with the relaxations of ReLUs 0 … m−1 given by `bounds`,
 * `splits` and `params` (α defaults to `defaultAlpha`, β to 0), and optionally its gradient.
 */
export function rowBound(
  net: SeqNet,
  m: number,
  lambda: Float64Array,
  bounds: LayerBounds,
  box: Box,
  splits: Splits | undefined,
  params: RowParams | undefined,
  grad: boolean,
): RowBound {
  const nus: Float64Array[] = new Array<Float64Array>(m + 1);
  const lams: Float64Array[] = new Array<Float64Array>(m + 1);
  let lam = lambda;
  let cst = 0;
  for (let j = m; j >= 0; j--) {
    const { W, b } = net.layers[j]!;
    lams[j] = lam;
    for (let i = 0; i < W.rows; i++) cst += lam[i]! * b[i]!;
    const nu = new Float64Array(W.cols);
    vecmatAdd(lam, W, nu);
    nus[j] = nu;
    if (j === 0) break;
    const r = j - 1;
    const l = bounds.lo[r]!;
    const u = bounds.hi[r]!;
    const sp = splits?.[r];
    const al = params?.alpha[r];
    const be = params?.beta[r];
    const next = new Float64Array(nu.length);
    for (let i = 0; i < nu.length; i++) {
      const s = sp ? sp[i]! : 0;
      const v = nu[i]!;
      if (v !== 0) {
        if (s === 1 || l[i]! >= 0) next[i] = v;
        else if (s === -1 || u[i]! <= 0) next[i] = 0;
        else if (v >= 0) next[i] = v * (al ? al[i]! : u[i]! > -l[i]! ? 1 : 0);
        else {
          const sl = u[i]! / (u[i]! - l[i]!);
          next[i] = v * sl;
          cst -= v * sl * l[i]!;
        }
      }
      if (s !== 0 && be) next[i]! -= be[i]! * s;
    }
    lam = next;
  }
  const nu0 = nus[0]!;
  let lb = cst;
  for (let i = 0; i < nu0.length; i++) lb += nu0[i]! >= 0 ? nu0[i]! * box.lo[i]! : nu0[i]! * box.hi[i]!;
  const nuAct = nus.slice(1);
  if (!grad) return { lb, nu0, nuAct };

  // reverse pass: g = ∂lb/∂ν_0, then up through the layers
  const gAlpha: Float64Array[] = [];
  const gBeta: Float64Array[] = [];
  let gnu = new Float64Array(nu0.length);
  for (let i = 0; i < nu0.length; i++) gnu[i] = nu0[i]! >= 0 ? box.lo[i]! : box.hi[i]!;
  for (let j = 0; j < m; j++) {
    const { W, b } = net.layers[j]!;
    const glam = matvec(W, gnu);
    for (let i = 0; i < glam.length; i++) glam[i]! += b[i]!;
    const nu = nus[j + 1]!;
    const l = bounds.lo[j]!;
    const u = bounds.hi[j]!;
    const sp = splits?.[j];
    const al = params?.alpha[j];
    const ga = new Float64Array(nu.length);
    const gb = new Float64Array(nu.length);
    const gnext = new Float64Array(nu.length);
    for (let i = 0; i < nu.length; i++) {
      const s = sp ? sp[i]! : 0;
      const v = nu[i]!;
      const g = glam[i]!;
      if (s !== 0) gb[i] = -s * g;
      if (s === 1 || l[i]! >= 0) gnext[i] = g;
      else if (s === -1 || u[i]! <= 0) gnext[i] = 0;
      else if (v >= 0) {
        const a = al ? al[i]! : u[i]! > -l[i]! ? 1 : 0;
        gnext[i] = g * a;
        ga[i] = g * v;
      } else {
        const sl = u[i]! / (u[i]! - l[i]!);
        gnext[i] = g * sl - sl * l[i]!;
      }
    }
    gAlpha.push(ga);
    gBeta.push(gb);
    gnu = gnext;
  }
  return { lb, nu0, nuAct, gAlpha, gBeta };
}

/**
 * Lower slopes of unstable ReLUs in CROWN's intermediate back-substitutions: `adaptive` (1 where
 * u > −l, else 0: `defaultAlpha`), or `both` (adaptive and 0, the better bound per neuron — the
 * maximum of two sound lower bounds is one; twice the work).
 */
export type IntermediateSlopes = 'adaptive' | 'both';

/**
 * CROWN pre-activation bounds of every ReLU layer (default slopes), intersected with IBP; only
 * neurons IBP leaves unstable are back-substituted. `splits` clamp split neurons' bounds (z ≥ 0:
 * l = max(l, 0); z ≤ 0: u = min(u, 0)) before later layers use them.
 */
export function crownBounds(
  net: SeqNet,
  box: Box,
  splits?: Splits,
  deadline = Infinity,
  slopes: IntermediateSlopes = 'adaptive',
): LayerBounds {
  const iv = ibp(net, box);
  const lo: Float64Array[] = [];
  const hi: Float64Array[] = [];
  const R = reluCount(net);
  for (let m = 0; m < R; m++) {
    const l = iv.lo[m]!.slice();
    const u = iv.hi[m]!.slice();
    if (m > 0) {
      const cur = { lo, hi };
      const zero: RowParams | undefined =
        slopes === 'both'
          ? {
              alpha: lo.map((v) => new Float64Array(v.length)),
              beta: lo.map((v) => new Float64Array(v.length)),
            }
          : undefined;
      const bound = (e: Float64Array): number => {
        const a = rowBound(net, m, e, cur, box, splits, undefined, false).lb;
        return zero ? Math.max(a, rowBound(net, m, e, cur, box, splits, zero, false).lb) : a;
      };
      const e = new Float64Array(l.length);
      for (let i = 0; i < l.length; i++) {
        if (l[i]! >= 0 || u[i]! <= 0) continue;
        if (Date.now() > deadline) break;
        e[i] = 1;
        l[i] = Math.max(l[i]!, bound(e));
        e[i] = -1;
        u[i] = Math.min(u[i]!, -bound(e));
        e[i] = 0;
      }
    }
    const sp = splits?.[m];
    if (sp)
      for (let i = 0; i < l.length; i++) {
        if (sp[i] === 1) l[i] = Math.max(l[i]!, 0);
        else if (sp[i] === -1) u[i] = Math.min(u[i]!, 0);
      }
    lo.push(l);
    hi.push(u);
    // later layers' IBP can use the tighter bounds
    if (m + 1 < R) refreshIbp(net, m, l, u, iv);
  }
  return { lo, hi };
}

/** Interval image of layer j's affine map on [lo, hi] (the ReLU of ReLU j−1's bounds applied by the caller). */
function intervalAffine(
  net: SeqNet,
  j: number,
  lo: ArrayLike<number>,
  hi: ArrayLike<number>,
  zl: Float64Array,
  zh: Float64Array,
): void {
  const { W, b } = net.layers[j]!;
  for (let r = 0; r < W.rows; r++) {
    let sl = b[r]!;
    let sh = b[r]!;
    for (let p = W.ptr[r]!; p < W.ptr[r + 1]!; p++) {
      const w = W.val[p]!;
      const k = W.idx[p]!;
      if (w >= 0) {
        sl += w * lo[k]!;
        sh += w * hi[k]!;
      } else {
        sl += w * hi[k]!;
        sh += w * lo[k]!;
      }
    }
    zl[r] = sl;
    zh[r] = sh;
  }
}

/** Recomputes IBP bounds of ReLU m+1 from ReLU m's bounds (tightening only). */
function refreshIbp(net: SeqNet, m: number, l: Float64Array, u: Float64Array, iv: LayerBounds): void {
  const nl = iv.lo[m + 1]!;
  const nh = iv.hi[m + 1]!;
  const sl = new Float64Array(nl.length);
  const sh = new Float64Array(nl.length);
  intervalAffine(
    net,
    m + 1,
    l.map((v) => Math.max(v, 0)),
    u.map((v) => Math.max(v, 0)),
    sl,
    sh,
  );
  for (let r = 0; r < nl.length; r++) {
    nl[r] = Math.max(nl[r]!, sl[r]!);
    nh[r] = Math.min(nh[r]!, sh[r]!);
  }
}

export interface OptimizeOptions {
  readonly iterations: number;
  /** Adam step sizes for α and β. */
  readonly lrAlpha: number;
  readonly lrBeta: number;
  /** Stop a row early once its bound exceeds this (a proof needs no more). */
  readonly target?: number;
  readonly deadline?: number;
}

export const DEFAULT_OPTIMIZE: OptimizeOptions = { iterations: 20, lrAlpha: 0.1, lrBeta: 0.05, target: 0 };

export interface OptimizedRow {
  lb: number;
  params: RowParams;
  nu0: Float64Array;
  nuAct: Float64Array[];
}

const cloneParams = (p: RowParams): RowParams => ({
  alpha: p.alpha.map((a) => a.slice()),
  beta: p.beta.map((b) => b.slice()),
});

/** Fresh parameters: CROWN's slopes, β = 0. */
export function initParams(bounds: LayerBounds): RowParams {
  return {
    alpha: bounds.lo.map((l, j) => defaultAlpha(l, bounds.hi[j]!)),
    beta: bounds.lo.map((l) => new Float64Array(l.length)),
  };
}

/**
 * α-(β-)CROWN on one output objective λ·y: starts from `start` (CROWN's slopes when fresh),
 * projected Adam ascent on the bound, and returns the best bound seen with its parameters — so
 * the result is never below the starting bound.
 */
export function optimizeRow(
  net: SeqNet,
  lambda: Float64Array,
  bounds: LayerBounds,
  box: Box,
  splits: Splits | undefined,
  start: RowParams,
  o: OptimizeOptions = DEFAULT_OPTIMIZE,
): OptimizedRow {
  const m = net.layers.length - 1;
  const p = cloneParams(start);
  let r = rowBound(net, m, lambda, bounds, box, splits, p, o.iterations > 0);
  let best: OptimizedRow = { lb: r.lb, params: cloneParams(p), nu0: r.nu0, nuAct: r.nuAct };
  const mA = p.alpha.map((a) => new Float64Array(a.length));
  const vA = p.alpha.map((a) => new Float64Array(a.length));
  const mB = p.beta.map((a) => new Float64Array(a.length));
  const vB = p.beta.map((a) => new Float64Array(a.length));
  const b1 = 0.9;
  const b2 = 0.999;
  for (let t = 1; t <= o.iterations; t++) {
    if (o.target !== undefined && best.lb > o.target) break;
    if (o.deadline !== undefined && Date.now() > o.deadline) break;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (let j = 0; j < p.alpha.length; j++) {
      adam(p.alpha[j]!, r.gAlpha![j]!, mA[j]!, vA[j]!, o.lrAlpha, c1, c2, 0, 1);
      adam(p.beta[j]!, r.gBeta![j]!, mB[j]!, vB[j]!, o.lrBeta, c1, c2, 0, Infinity);
    }
    r = rowBound(net, m, lambda, bounds, box, splits, p, true);
    if (r.lb > best.lb) best = { lb: r.lb, params: cloneParams(p), nu0: r.nu0, nuAct: r.nuAct };
  }
  return best;
}

/** One projected Adam ascent step on x with gradient g, clipped to [lo, hi]. */
function adam(
  x: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  lr: number,
  c1: number,
  c2: number,
  lo: number,
  hi: number,
): void {
  for (let i = 0; i < x.length; i++) {
    const gi = g[i]!;
    if (gi === 0 && m[i] === 0) continue;
    m[i] = 0.9 * m[i]! + 0.1 * gi;
    v[i] = 0.999 * v[i]! + 0.001 * gi * gi;
    const step = (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
    x[i] = Math.min(hi, Math.max(lo, x[i]! + step));
  }
}

/** The box corner that minimises the linear lower bound with input coefficients ν_0. */
export function minimisingCorner(nu0: Float64Array, box: Box): Float64Array {
  const x = new Float64Array(nu0.length);
  for (let i = 0; i < x.length; i++) x[i] = nu0[i]! >= 0 ? box.lo[i]! : box.hi[i]!;
  return x;
}
