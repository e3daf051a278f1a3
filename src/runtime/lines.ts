/**
 * The activation functions and their bounding lines (paper-notes §1, §2, §10.7), written once over
 * the `Num<T>` interface and shared by the tfjs runtime and the float64 reference, so the two
 * cannot drift. Every table is branch-free: each case is a 0/1 mask and the lines are mask-weighted
 * sums. The masks partition every (l, u) exactly (ties included), so the weights always sum to 1.
 *
 * Lines satisfy sL·z + tL ≤ σ(z) ≤ sU·z + tU on [l, u], with sL, sU ≥ 0 (LBP needs that), for
 * 0 ≤ η ≤ 1 and r ≥ 1e-4 (callers guarantee both; `act.ts` enforces them).
 *
 * Guards, as in the reference code:
 * - ReLU: lb = min(l, 0), ub = max(max(u, 0), lb + 1e-8), sU = ub/(ub − lb), tU = −lb·sU.
 * - LeakyReLU and ParamRamp: u ← max(u, l + 1e-6); chord denominators below 1e-6 become 1e-6;
 *   the chord intercept goes through the second point for LeakyReLU, the first for ParamRamp.
 * Tie rules: adaptive ReLU lower slope is [sU > 0.5]; LeakyReLU and ParamRamp use [u > −l] and
 * [(u − r) > (r − l)] (strict), so exact ties take the η branch on the left and z or k1 on the
 * right. One deliberate deviation: the tight ReLU lower slope is [l ≥ 0] (alive), not the code's
 * [sU ≥ 1], which float rounding can set to 1 for an unstable neuron with a tiny negative l.
 */
import type { LineStrategy } from '../ir/ir.js';
import type { Num, Val } from './num.js';
import { sShape, sShapeLines } from './sigmoid-lines.js';

/** An activation with its parameters resolved (η as a number, r per neuron as an array). */
export type ActParams<T> =
  | { readonly kind: 'relu' }
  | { readonly kind: 'leaky_relu'; readonly slope: number }
  | { readonly kind: 'paramramp'; readonly eta: number; readonly r: T }
  | { readonly kind: 'sigmoid' }
  | { readonly kind: 'tanh' };

/** Bounding lines sL·z + tL ≤ σ(z) ≤ sU·z + tU. `tLZero`: tL is identically 0 by construction. */
export interface Lines<T> {
  readonly sL: T;
  readonly tL: T;
  readonly sU: T;
  readonly tU: T;
  readonly tLZero: boolean;
}

/** Minimum of the ParamRamp bending point r (paper-notes §1: clamped on every forward). */
export const R_MIN = 1e-4;
const U_GUARD = 1e-6;
const DEN_GUARD = 1e-6;
const RELU_GUARD = 1e-8;

/** σ(z). ParamRamp: ηz + (1−η)·clamp(z, 0, r), written as leaky(z, η) − (1−η)·relu(z − r). */
export function activate<T>(N: Num<T>, a: ActParams<T>, z: T): T {
  switch (a.kind) {
    case 'relu':
      return N.relu(z);
    case 'leaky_relu':
      return N.leaky(z, a.slope);
    case 'paramramp':
      return N.sub(N.leaky(z, a.eta), N.mul(N.relu(N.sub(z, a.r)), 1 - a.eta));
    case 'sigmoid':
    case 'tanh':
      return sShape(N, a.kind, z);
  }
}

/**
 * Bounding lines of σ on [l, u] for one strategy (paper-notes §2.1, §2.2). Sigmoid and tanh have
 * one relaxation (CROWN's tangent/secant lines) for `tight` and `adaptive`; `constant` is IBP.
 */
export function boundLines<T>(N: Num<T>, a: ActParams<T>, l: T, u: T, strategy: LineStrategy): Lines<T> {
  if (strategy === 'constant') {
    // Exactly IBP: h^L = σ(l), h^U = σ(u), slopes 0 (uses the unguarded u).
    const zero = N.zeros(l);
    return { sL: zero, tL: activate(N, a, l), sU: zero, tU: activate(N, a, u), tLZero: false };
  }
  const adaptive = strategy === 'adaptive';
  switch (a.kind) {
    case 'relu':
      return reluLines(N, l, u, adaptive);
    case 'leaky_relu':
      return leakyLines(N, a.slope, l, u, adaptive);
    case 'paramramp':
      return rampLines(N, a.eta, a.r, l, u, adaptive);
    case 'sigmoid':
    case 'tanh':
      // tangent/secant lines (sigmoid-lines.ts) for tight and adaptive alike
      return { ...sShapeLines(N, a.kind, l, u), tLZero: false };
  }
}

/** ReLU (code `BoundReLU`): chord upper line; lower slope alive-only (tight) or [u > −l] (adaptive). */
function reluLines<T>(N: Num<T>, l: T, u: T, adaptive: boolean): Lines<T> {
  const lb = N.min(l, 0);
  const ub = N.max(N.max(u, 0), N.add(lb, RELU_GUARD));
  const sU = N.div(ub, N.sub(ub, lb));
  const tU = N.mul(N.mul(lb, -1), sU);
  const sL = adaptive ? N.gt(sU, 0.5) : N.ge(l, 0);
  return { sL, tL: N.zeros(l), sU, tU, tLZero: true };
}

/** Σ wᵢ·mᵢ over (weight, mask) pairs, skipping zero weights. */
function mix<T>(N: Num<T>, ...terms: [Val<T>, T][]): T {
  let acc: T | undefined;
  for (const [w, m] of terms) {
    if (w === 0) continue;
    const t = w === 1 ? m : N.mul(m, w);
    acc = acc === undefined ? t : N.add(acc, t);
  }
  return acc ?? N.zeros(terms[0]![1]);
}

/** LeakyReLU(η) (code `BoundLeakyReLU.get_bound_lines`). */
function leakyLines<T>(N: Num<T>, eta: number, l: T, u0: T, adaptive: boolean): Lines<T> {
  const u = N.max(u0, N.add(l, U_GUARD));
  const yl = N.leaky(l, eta);
  const yu = N.leaky(u, eta);
  const k = N.div(N.sub(yu, yl), N.max(N.sub(u, l), DEN_GUARD));
  const b = N.sub(yu, N.mul(k, u)); // through the second point
  const dead = N.ge(0, u);
  const alive = N.mul(N.ge(l, 0), N.gt(u, 0));
  const unstable = N.sub(N.sub(1, dead), alive);
  const sU = mix(N, [eta, dead], [k, unstable], [1, alive]);
  const tU = N.mul(b, unstable);
  let sL: T;
  if (adaptive) {
    const big = N.gt(N.add(u, l), 0); // [u > −l]
    const lUp = N.mul(unstable, big);
    sL = mix(N, [eta, N.add(dead, N.sub(unstable, lUp))], [1, N.add(alive, lUp)]);
  } else {
    sL = mix(N, [1, alive], [eta, N.sub(1, alive)]);
  }
  return { sL, tL: N.zeros(l), sU, tU, tLZero: true };
}

/** Line through (x1, y1), (x2, y2) with the denominator guard, intercept through the first point. */
function chordFirst<T>(N: Num<T>, x1: Val<T>, y1: Val<T>, x2: Val<T>, y2: Val<T>): [T, T] {
  const k = N.div(N.sub(y2, y1), N.max(N.sub(x2, x1), DEN_GUARD));
  return [k, N.sub(y1, N.mul(k, x1))];
}

/** ParamRamp(η, r): six cases (code `BoundGeneralStep.get_bound_lines`, `neg-slope-lb` / `adaptive-lb`). */
function rampLines<T>(N: Num<T>, eta: number, r: T, l: T, u0: T, adaptive: boolean): Lines<T> {
  const a: ActParams<T> = { kind: 'paramramp', eta, r };
  const u = N.max(u0, N.add(l, U_GUARD));
  const yl = activate(N, a, l);
  const yu = activate(N, a, u);
  const [k, b] = chordFirst(N, l, yl, u, yu); // chord LU
  const b0 = N.mul(r, 1 - eta); // right part: ηz + (1 − η)r

  const {
    leftDead,
    leftUnstable: leftUnst,
    alive,
    rightUnstable: rightUnst,
    rightDead,
    unstable: unst,
  } = rampMasks(N, r, l, u);
  const rightUp = N.add(N.add(rightUnst, rightDead), unst); // cases whose tight upper line is ηz + b0
  const etaLow = N.add(N.add(leftDead, leftUnst), unst); // cases whose tight lower line is ηz
  if (!adaptive) {
    return {
      sU: mix(N, [eta, N.add(leftDead, rightUp)], [k, leftUnst], [1, alive]),
      tU: N.add(N.mul(b, leftUnst), N.mul(b0, rightUp)),
      sL: mix(N, [eta, N.add(etaLow, rightDead)], [1, alive], [k, rightUnst]),
      tL: N.add(N.mul(b, rightUnst), N.mul(b0, rightDead)),
      tLZero: false,
    };
  }
  const a1 = N.gt(N.add(u, l), 0); // [u > −l]
  const a2 = N.gt(N.sub(u, r), N.sub(r, l)); // [(u − r) > (r − l)]
  const na2 = N.sub(1, a2);
  const [k1, b1] = chordFirst(N, l, yl, r, r); // (l, σ(l)) → (r, r)
  const k2 = N.div(yu, N.max(u, DEN_GUARD)); // (0, 0) → (u, σ(u)); intercept 0
  // Upper: left dead ηz; left unstable chord; alive z; right dead ηz + b0;
  // right unstable a2 ? ηz + b0 : z; unstable a2 ? ηz + b0 : k1 z + b1.
  const upB0 = N.add(rightDead, N.mul(a2, N.add(rightUnst, unst)));
  const sU = mix(
    N,
    [eta, N.add(leftDead, upB0)],
    [k, leftUnst],
    [1, N.add(alive, N.mul(na2, rightUnst))],
    [k1, N.mul(na2, unst)],
  );
  const tU = N.add(N.add(N.mul(b, leftUnst), N.mul(b0, upB0)), N.mul(b1, N.mul(na2, unst)));
  // Lower: left dead ηz; left unstable a1 ? z : ηz; alive z; right unstable chord; right dead
  // ηz + b0; unstable a1 ? k2 z : ηz.
  const na1 = N.sub(1, a1);
  const sL = mix(
    N,
    [eta, N.add(N.add(leftDead, N.mul(na1, leftUnst)), N.add(rightDead, N.mul(na1, unst)))],
    [1, N.add(alive, N.mul(a1, leftUnst))],
    [k, rightUnst],
    [k2, N.mul(a1, unst)],
  );
  const tL = N.add(N.mul(b, rightUnst), N.mul(b0, rightDead));
  return { sU, tU, sL, tL, tLZero: false };
}

export type RampCase = 'leftDead' | 'leftUnstable' | 'alive' | 'rightUnstable' | 'rightDead' | 'unstable';

/** Case masks of ParamRamp neurons (paper-notes §1 "Neuron status"), after the u guard. */
export function rampCases<T>(N: Num<T>, r: T, l: T, u: T): Record<RampCase, T> {
  return rampMasks(N, r, l, N.max(u, N.add(l, U_GUARD)));
}

/**
 * The six case masks for a guarded u (u ≥ l). The extra factors in `alive` matter only at float
 * ties (l = u), where the reference code's masks would overlap; for u > l they are implied.
 */
function rampMasks<T>(N: Num<T>, r: T, l: T, u: T): Record<RampCase, T> {
  const pos = N.ge(l, 0);
  const neg = N.sub(1, pos);
  const upos = N.gt(u, 0);
  const ur = N.gt(u, r); // u > r
  const ulr = N.sub(1, ur); // u ≤ r
  const lr = N.gt(r, l); // l < r
  return {
    leftDead: N.sub(1, upos), // u ≤ 0
    leftUnstable: N.mul(N.mul(neg, upos), ulr), // l < 0 < u ≤ r
    alive: N.mul(N.mul(pos, ulr), N.mul(upos, lr)), // 0 ≤ l, u ≤ r
    rightUnstable: N.mul(N.mul(pos, lr), ur), // 0 ≤ l < r < u
    rightDead: N.sub(1, lr), // l ≥ r
    unstable: N.mul(neg, ur), // l < 0, u > r
  };
}
