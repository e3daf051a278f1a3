/**
 * Confirming a float32 "verified" verdict with rigorous binary64 bounds (bounds.ts). A claim by a
 * method at radius ε for one sample is confirmed when, for every margin, some rigorous bound is
 * > 0: first IBP (cheap, and for IBP-trained networks usually enough), then CROWN with IBP
 * intermediate bounds, then (for LBP, CROWN-LBP and CROWN claims) CROWN with CROWN intermediate
 * bounds (intersected with the intervals for tight lines, where that can only help), each with
 * the claim's line strategy as slope hints. The maximum of sound lower bounds is
 * a sound lower bound, so the margins are combined elementwise. The same cascade runs when a
 * certificate file is re-checked, so a confirmation is reproducible bit for bit.
 */
import type { BoundMethod, LineStrategy } from '../../ir/ir.js';
import { rigorousMargins, type RigorousMethod } from './bounds.js';
import type { RigorousNet } from './net.js';

/** The outcome for one (sample, ε, method, lines). */
export interface Confirmation {
  readonly confirmed: boolean;
  /** Best rigorous lower bound per margin (−∞ where none is finite). */
  readonly lower: readonly number[];
  /** The rigorous passes that ran, `method/lines`, in order. */
  readonly checks: readonly string[];
}

/** Results of rigorous passes for one sample and ε, shared by every method and line strategy. */
export type ConfirmCache = Map<string, Float64Array>;

/** The rigorous passes tried for a claim, in order (cheapest first). */
export function cascade(method: BoundMethod, lines: LineStrategy): [RigorousMethod, LineStrategy][] {
  const plan: [RigorousMethod, LineStrategy][] = [['ibp', 'tight']];
  if (method === 'ibp' || lines === 'constant') return plan;
  plan.push(['crown-ibp', lines]);
  if (method !== 'crown-ibp') plan.push(['crown', lines]);
  return plan;
}

/**
 * Confirms (or not) that sample `x` (PyTorch layout, raw) with `label` is robust at `eps`, for a
 * claim made by `method` with `lines`. `cache` (one per sample and ε) avoids repeating passes.
 */
export function confirm(
  net: RigorousNet,
  x: ArrayLike<number>,
  label: number,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
  cache: ConfirmCache = new Map(),
): Confirmation {
  const best = new Float64Array(net.classes - 1).fill(-Infinity);
  const checks: string[] = [];
  for (const [m, l] of cascade(method, lines)) {
    const key = `${m}/${l}`;
    let got = cache.get(key);
    if (!got) {
      got = rigorousMargins(net, x, eps, label, m, { lines: l, intersect: l === 'tight' });
      cache.set(key, got);
    }
    checks.push(key);
    for (let j = 0; j < best.length; j++) best[j] = Math.max(best[j]!, got[j]!);
    if (best.length > 0 && best.every((v) => v > 0))
      return { confirmed: true, lower: Array.from(best), checks };
  }
  return { confirmed: false, lower: Array.from(best), checks };
}
