/**
 * Directed rounding emulated in JavaScript's binary64 round-to-nearest arithmetic (ECMAScript
 * numbers are IEEE 754 binary64 with ties-to-even and no contraction into fused multiply-adds).
 *
 * `down(c)` / `up(c)` are Algorithm 1 of Rump, Zimmermann, Boldo and Melquiond, "Computing
 * predecessor and successor in rounding to nearest", BIT 49 (2009): with φ = u(1 + 2u) and η the
 * smallest subnormal, e = fl(fl(φ·|c|) + η), then fl(c − e) ≤ pred(c) and fl(c + e) ≥ succ(c)
 * for every finite c (their Theorem 2.1, formally checked). If c = fl(t) is the rounded result of
 * one exact operation t, then pred(c) ≤ t ≤ succ(c), so `down(a + b) ≤ a + b ≤ up(a + b)` and the
 * same for −, ×, ÷. ±∞ and NaN propagate (a bound that overflowed is never trusted).
 * `nextDown` / `nextUp` are the exact neighbours from the bit pattern (tests compare the two).
 * docs/soundness.md has the whole argument.
 */

/** Unit roundoff of binary64. */
export const U = 2 ** -53;
/** φ = u(1 + 2u), a binary64 number. */
export const PHI = 2 ** -53 + 2 ** -105;
/** η: the smallest positive subnormal binary64 number. */
export const ETA = Number.MIN_VALUE;

/** A binary64 number ≤ pred(c) (≤ every real t with fl(t) = c). */
export const down = (c: number): number => c - (PHI * Math.abs(c) + ETA);
/** A binary64 number ≥ succ(c) (≥ every real t with fl(t) = c). */
export const up = (c: number): number => c + (PHI * Math.abs(c) + ETA);

const f64 = new Float64Array(1);
const bits = new BigInt64Array(f64.buffer);

/** The largest binary64 number < x (exact, from the bit pattern); NaN stays NaN, −∞ stays −∞. */
export function nextDown(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return x;
  if (x === 0) return -ETA;
  f64[0] = x;
  bits[0] = x > 0 ? bits[0]! - 1n : bits[0]! + 1n;
  return f64[0];
}

/** The smallest binary64 number > x (exact). */
export const nextUp = (x: number): number => -nextDown(-x);

/**
 * An upper bound of γ_n = n·u/(1 − n·u) (Higham, Accuracy and Stability, §3.1), valid for
 * n·u ≤ 0.01: γ_n ≤ 1.0102·n·u there, and the product below is rounded once more at most by u.
 */
export function gamma(n: number): number {
  if (!(n * U <= 0.01)) return Infinity;
  return up(1.02 * (n * U));
}
