/**
 * Linear relaxation of max pooling, written once over `Num<T>` (shared by the tfjs runtime,
 * maxpool.ts, and the float64 reference). For one output y = max_k x_k over the K cells of its
 * window, with input bounds l_k ≤ x_k ≤ u_k, the lines are
 *   Σ_k aL_k·x_k + cL ≤ y ≤ Σ_k aU_k·x_k + cU,   aL_k, aU_k ≥ 0 (LBP needs that).
 * Let t = max_k l_k, U = max_k u_k, and i* the cell with the largest lower bound (among cells
 * within 1e-5·(1 + |t|) of t the one with the largest upper bound, then the first: float32 and
 * float64 order near-ties differently, and any cell gives a sound lower line). Strategies:
 * - `tight` (CROWN's / auto_LiRPA's and DeepPoly's choice): lower y ≥ x_{i*} (x_{i*} ≤ max);
 *   upper y ≤ x_{i*} when i* dominates (l_{i*} ≥ u_k for every other k: then y = x_{i*}
 *   exactly on the box), else the constant y ≤ U.
 * - `adaptive`: the same lower line; the upper line is the better at the box centre of the
 *   tight one and the relational plane y ≤ t + Σ_k λ_k (x_k − l_k), λ_k = (u_k − t)⁺/(u_k − l_k).
 *   The plane is sound: it is ≥ t everywhere, and where y = x_j > t it is
 *   ≥ t + λ_j (x_j − l_j) ≥ x_j (equal at x_j = u_j, ≥ at x_j = t, linear between). It equals
 *   x_{i*} when i* dominates; its centre value is t + ½ Σ_k (u_k − t)⁺, taken when below U by more
 *   than 1e-5·(1 + |U|).
 * - `constant`: IBP, t ≤ y ≤ U.
 * IBP itself is exact: [max_k l_k, max_k u_k].
 */
import type { LineStrategy } from '../ir/ir.js';
import type { Num } from './num.js';

/** The coefficients of every window cell (one array per cell, shaped like the output) and the constants. */
export interface PoolLines<T> {
  readonly aL: readonly T[];
  readonly aU: readonly T[];
  readonly cL: T;
  readonly cU: T;
}

/** Larger than any bound (a cell excluded from a maximum). */
const BIG = 1e30;
/** Relative width of a near-tie (of lower bounds; of the centre values of adaptive's two upper lines). */
const TIE = 1e-5;

/** Lines of y = max_k x_k given the per-cell bounds lP[k], uP[k] (see the file comment). */
export function maxPoolLines<T>(
  N: Num<T>,
  lP: readonly T[],
  uP: readonly T[],
  strategy: LineStrategy,
): PoolLines<T> {
  const K = lP.length;
  let t: T = lP[0]!;
  let U: T = uP[0]!;
  for (let k = 1; k < K; k++) {
    t = N.max(t, lP[k]!);
    U = N.max(U, uP[k]!);
  }
  const zero = N.zeros(t);
  if (strategy === 'constant') {
    const zeros = lP.map(() => zero);
    return { aL: zeros, aU: zeros, cL: t, cU: U };
  }
  // one-hot of a cell with the largest lower bound: among near-ties (within TIE·(1 + |t|), which
  // float32 and float64 may order differently) the one with the largest upper bound, then the
  // first. Any cell gives a sound lower line (x_k ≤ max); the choice only decides its tightness.
  const tol = N.mul(N.add(N.max(t, N.mul(t, -1)), 1), TIE);
  const tied = lP.map((lk) => N.ge(lk, N.sub(t, tol)));
  let uTied = N.sub(zero, BIG);
  for (let k = 0; k < K; k++) uTied = N.max(uTied, N.sub(uP[k]!, N.mul(N.sub(1, tied[k]!), BIG)));
  const oh: T[] = [];
  let taken = zero;
  for (let k = 0; k < K; k++) {
    const hit = N.mul(N.mul(tied[k]!, N.ge(uP[k]!, uTied)), N.sub(1, taken));
    oh.push(hit);
    taken = N.add(taken, hit);
  }
  // the largest upper bound of the other cells
  let U2 = N.sub(zero, BIG);
  for (let k = 0; k < K; k++) U2 = N.max(U2, N.sub(uP[k]!, N.mul(oh[k]!, BIG)));
  // i* dominates when its own lower bound is ≥ every other upper bound: then y = x_{i*} on the box
  let lStar = zero;
  for (let k = 0; k < K; k++) lStar = N.add(lStar, N.mul(oh[k]!, lP[k]!));
  const dom = N.ge(lStar, U2);
  const notDom = N.sub(1, dom);
  const tightU = oh.map((h) => N.mul(h, dom));
  const tightC = N.mul(notDom, U);
  if (strategy === 'tight') return { aL: oh, aU: tightU, cL: zero, cU: tightC };
  // adaptive: the relational plane where its centre value is below U
  const lam: T[] = [];
  let gc = t;
  let gmid = t;
  for (let k = 0; k < K; k++) {
    const num = N.relu(N.sub(uP[k]!, t));
    const has = N.gt(num, 0);
    // u_k − l_k ≥ (u_k − t)⁺ > 0 where the numerator is positive; 1 elsewhere (λ_k = 0 there)
    const den = N.add(N.mul(has, N.sub(N.sub(uP[k]!, lP[k]!), 1)), 1);
    const lk = N.div(num, den);
    lam.push(lk);
    gc = N.sub(gc, N.mul(lk, lP[k]!));
    gmid = N.add(gmid, N.mul(num, 0.5));
  }
  // (by a margin: windows with equal bounds in float64 may differ in float32's last bits)
  const useG = N.gt(U, N.add(gmid, N.mul(N.add(N.max(U, N.mul(U, -1)), 1), TIE)));
  const keep = N.sub(1, useG);
  return {
    aL: oh,
    aU: lam.map((lk, k) => N.add(N.mul(useG, lk), N.mul(keep, tightU[k]!))),
    cL: zero,
    cU: N.add(N.mul(useG, gc), N.mul(keep, tightC)),
  };
}
