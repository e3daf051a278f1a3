/**
 * Bounding lines of the S-shaped activations `sigmoid` and `tanh` on [l, u] (CROWN, Zhang et al.
 * 2018, §3.2 and its appendix; the same case split as auto_LiRPA's sigmoid/tanh relaxations),
 * written once over `Num<T>` like lines.ts, so the tfjs runtime and the float64 reference share it.
 * Both functions are increasing, convex on (−∞, 0] and concave on [0, ∞); with k the chord slope
 * (f(u) − f(l))/(u − l) and m = (l + u)/2:
 *
 * - u ≤ 0 (convex part): upper = the chord, lower = the tangent at m;
 * - l ≥ 0 (concave part): lower = the chord, upper = the tangent at m;
 * - l < 0 < u (crossing):
 *   upper = the chord when it lies above f (k ≤ f'(u)), else the tangent at the point d ∈ [0, u]
 *   whose tangent passes through (l, f(l));
 *   lower = the chord when it lies below f (k ≤ f'(l)), else the tangent at d' ∈ [l, 0] whose
 *   tangent passes through (u, f(u)).
 *
 * d and d' are found by bisection (a fixed number of steps, branch-free) that keeps the end of
 * the bracket whose tangent is valid: for the upper line the end p with f(p) + f'(p)(l − p) ≥ f(l)
 * (then the tangent at p ∈ [0, u] is above f on [0, u] by concavity, and above the chord of f on
 * [l, 0], which is above f by convexity); for the lower line the end p with
 * f(p) + f'(p)(u − p) ≤ f(u), symmetrically. So every line is sound whatever the number of steps;
 * more steps only bring the tangent point closer to d. All slopes are ≥ 0 (LBP needs that).
 *
 * Guards as for LeakyReLU: u ← max(u, l + 1e-6), chord denominators below 1e-6 become 1e-6, the
 * chord intercept goes through the first point.
 */
import type { Num, Val } from './num.js';

export type SShape = 'sigmoid' | 'tanh';

/** Bisection steps of the tangent points (the bracket shrinks to 2⁻²⁰ of its width). */
export const S_BISECT_STEPS = 20;
const U_GUARD = 1e-6;
const DEN_GUARD = 1e-6;

/** f(z). */
export function sShape<T>(N: Num<T>, kind: SShape, z: T): T {
  return kind === 'sigmoid' ? N.sigmoid(z) : N.tanh(z);
}

/** f'(z) from y = f(z): sigmoid y(1 − y), tanh 1 − y². */
function slopeAt<T>(N: Num<T>, kind: SShape, y: T): T {
  return kind === 'sigmoid' ? N.mul(y, N.sub(1, y)) : N.sub(1, N.mul(y, y));
}

/** The tangent of f at p: [slope, intercept]. */
function tangent<T>(N: Num<T>, kind: SShape, p: T): [T, T] {
  const y = sShape(N, kind, p);
  const s = slopeAt(N, kind, y);
  return [s, N.sub(y, N.mul(s, p))];
}

/** m·a + (1 − m)·b for a 0/1 mask m. */
const pick = <T>(N: Num<T>, m: T, a: Val<T>, b: Val<T>): T => N.add(N.mul(m, N.sub(a, b)), b);

/**
 * Bisection for a tangent point: `valid(p)` (a 0/1 mask) says whether the tangent at p is a sound
 * line; the bracket [lo, hi] starts with the valid end given by `keepHi` and keeps it valid.
 */
function bisect<T>(N: Num<T>, lo0: T, hi0: T, keepHi: boolean, valid: (p: T) => T): T {
  let lo = lo0;
  let hi = hi0;
  for (let i = 0; i < S_BISECT_STEPS; i++) {
    const mid = N.mul(N.add(lo, hi), 0.5);
    const ok = valid(mid);
    // keepHi: a valid mid becomes the new hi; otherwise a valid mid becomes the new lo
    if (keepHi) {
      hi = pick(N, ok, mid, hi);
      lo = pick(N, ok, lo, mid);
    } else {
      lo = pick(N, ok, mid, lo);
      hi = pick(N, ok, hi, mid);
    }
  }
  return keepHi ? hi : lo;
}

/** Lines sL·z + tL ≤ f(z) ≤ sU·z + tU on [l, u] (see the file comment). */
export function sShapeLines<T>(N: Num<T>, kind: SShape, l: T, u0: T): { sL: T; tL: T; sU: T; tU: T } {
  const u = N.max(u0, N.add(l, U_GUARD));
  const yl = sShape(N, kind, l);
  const yu = sShape(N, kind, u);
  const dl = slopeAt(N, kind, yl);
  const du = slopeAt(N, kind, yu);
  const k = N.div(N.sub(yu, yl), N.max(N.sub(u, l), DEN_GUARD));
  const b = N.sub(yl, N.mul(k, l)); // chord through the first point
  const [sm, tm] = tangent(N, kind, N.mul(N.add(l, u), 0.5));
  const neg = N.ge(0, u); // u ≤ 0: convex part
  const pos = N.mul(N.ge(l, 0), N.sub(1, neg)); // l ≥ 0: concave part
  const cross = N.sub(N.sub(1, neg), pos);
  const zero = N.zeros(l);
  // crossing, upper: tangent at d ∈ [0, u] through (l, f(l)) unless the chord is above f
  const chordUp = N.ge(du, k);
  const dU = bisect(N, zero, N.max(u, 0), true, (p) => {
    const [s, t] = tangent(N, kind, p);
    return N.ge(N.add(N.mul(s, l), t), yl);
  });
  const [sD, tD] = tangent(N, kind, dU);
  // crossing, lower: tangent at d' ∈ [l, 0] through (u, f(u)) unless the chord is below f
  const chordLo = N.ge(dl, k);
  const dL = bisect(N, N.min(l, 0), zero, false, (p) => {
    const [s, t] = tangent(N, kind, p);
    return N.ge(yu, N.add(N.mul(s, u), t));
  });
  const [sE, tE] = tangent(N, kind, dL);
  const sUx = pick(N, chordUp, k, sD);
  const tUx = pick(N, chordUp, b, tD);
  const sLx = pick(N, chordLo, k, sE);
  const tLx = pick(N, chordLo, b, tE);
  const mix3 = (a: T, c: T, x: T): T => N.add(N.add(N.mul(neg, a), N.mul(pos, c)), N.mul(cross, x));
  return {
    sU: mix3(k, sm, sUx),
    tU: mix3(b, tm, tUx),
    sL: mix3(sm, k, sLx),
    tL: mix3(tm, b, tLx),
  };
}
