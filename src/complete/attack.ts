/**
 * Counterexample search on a VNN-LIB case: the box's centre, then PGD with restarts (the ideas of
 * src/verify/pgd.ts — uniform random starts, sign-gradient steps projected onto the box — on
 * float64 plain loops). Each restart targets one conjunction of the unsafe region and minimises
 * its violation max_r (A_r·y − b_r) (≤ 0 inside the region); restarts cycle through the
 * conjunctions, the one closest at the centre first. Every candidate is re-checked with a plain
 * float64 forward pass before it is returned.
 */
import type { Conjunction, VnnlibCase } from '../vnnlib/parse.js';
import { inConjunction } from '../vnnlib/parse.js';
import { forward } from './crown.js';
import type { SeqNet } from './onnx-net.js';

export interface AttackOptions {
  readonly restarts: number;
  readonly steps: number;
  /** Step size as a fraction of each dimension's box width. */
  readonly stepFraction: number;
  readonly seed: number;
  readonly deadline: number;
}

export const DEFAULT_ATTACK: Omit<AttackOptions, 'deadline'> = {
  restarts: 20,
  steps: 60,
  stepFraction: 0.1,
  seed: 0,
};

export interface Counterexample {
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** Violation of a conjunction (≤ 0 inside) and the row that attains it. */
function violation(c: Conjunction, y: Float64Array): { v: number; row: number } {
  let v = -Infinity;
  let row = -1;
  const K = y.length;
  for (let r = 0; r < c.rows; r++) {
    let s = -c.b[r]!;
    for (let k = 0; k < K; k++) s += c.A[r * K + k]! * y[k]!;
    if (s > v) {
      v = s;
      row = r;
    }
  }
  return { v, row };
}

/** ∂(λ·y)/∂x at x (ReLU subgradient 0 at 0). */
export function inputGradient(net: SeqNet, x: Float64Array, lambda: Float64Array): Float64Array {
  const pre: Float64Array[] = [];
  forward(net, x, pre);
  let g = lambda;
  for (let j = net.layers.length - 1; j >= 0; j--) {
    const W = net.layers[j]!.W;
    const out = new Float64Array(W.cols);
    for (let r = 0; r < W.rows; r++) {
      const gr = g[r]!;
      if (gr === 0) continue;
      for (let p = W.ptr[r]!; p < W.ptr[r + 1]!; p++) out[W.idx[p]!]! += gr * W.val[p]!;
    }
    if (j > 0) {
      const z = pre[j - 1]!;
      for (let i = 0; i < out.length; i++) if (z[i]! <= 0) out[i] = 0;
    }
    g = out;
  }
  return g;
}

/** A counterexample if x (clamped into the box) reaches the region; re-checked by a forward pass. */
export function check(net: SeqNet, c: VnnlibCase, x: Float64Array): Counterexample | undefined {
  const xc = x.map((v, i) => Math.min(c.hi[i]!, Math.max(c.lo[i]!, v)));
  const y = forward(net, xc);
  for (const conj of c.unsafe) if (inConjunction(conj, y)) return { x: xc, y };
  return undefined;
}

/** mulberry32: a small seeded generator (runs are reproducible). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function attack(net: SeqNet, c: VnnlibCase, o: AttackOptions): Counterexample | undefined {
  const n = c.lo.length;
  const mid = c.lo.map((l, i) => (l + c.hi[i]!) / 2);
  const hit = check(net, c, mid);
  if (hit) return hit;
  const yMid = forward(net, mid);
  const order = c.unsafe.map((cj, k) => ({ k, v: violation(cj, yMid).v })).sort((a, b) => a.v - b.v);
  const rand = rng(o.seed);
  const K = net.nOut;
  for (let restart = 0; restart < o.restarts; restart++) {
    if (Date.now() > o.deadline) return undefined;
    const conj = c.unsafe[order[restart % order.length]!.k]!;
    const x = restart === 0 ? mid.slice() : c.lo.map((l, i) => l + rand() * (c.hi[i]! - l));
    for (let step = 0; step < o.steps; step++) {
      const y = forward(net, x);
      const { v, row } = violation(conj, y);
      if (v <= 0) {
        const ce = check(net, c, x);
        if (ce) return ce;
      }
      if (row < 0) break;
      const lam = conj.A.slice(row * K, (row + 1) * K);
      const g = inputGradient(net, x, lam);
      // decaying step: coarse first, fine at the end
      const f = o.stepFraction * (1 - step / o.steps) + 0.01;
      for (let i = 0; i < n; i++) {
        const w = c.hi[i]! - c.lo[i]!;
        x[i] = Math.min(c.hi[i]!, Math.max(c.lo[i]!, x[i]! - f * w * Math.sign(g[i]!)));
      }
    }
    const ce = check(net, c, x);
    if (ce) return ce;
  }
  return undefined;
}
