/**
 * The float64 reference interpreter: forward, IBP, LBP, CROWN-IBP, CROWN-LBP and full CROWN on a
 * lowered network (`net.ts`), one sample at a time, with plain loops in the textbook forms of
 * paper-notes §3–4 (IBP Eq. 2 with W⁺/W⁻, LBP with four products, CROWN with A⁺/A⁻ splits) so that
 * it shares nothing with the tfjs mid/rad code except the activation and line tables of lines.ts.
 * Input set: the L∞ ball ∩ domain, normalised; specification C = e_y − e_j folded into the last
 * layer when labels are given.
 */
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import { activate, boundLines, type Lines } from '../runtime/lines.js';
import { f64Num } from '../runtime/num.js';
import {
  compile,
  normalizeInPlace,
  type AffineStep,
  type RefActOptions,
  type RefModel,
  type RefParams,
  type Step,
} from './net.js';

export interface RefBoundOptions extends RefActOptions {
  /** Default 'tight'. */
  readonly lines?: LineStrategy;
  /** One label per sample: bound the margins z_y − z_j, j ≠ y ascending. */
  readonly labels?: readonly number[];
}

export interface RefBounds {
  /** Per sample: bounds on C·z ([K−1] margins with labels, else [K] logits). */
  readonly lower: Float64Array[];
  readonly upper: Float64Array[];
  readonly logits: Float64Array[];
  /** Pre-activation bounds of every activation layer, per sample, C,H,W order. */
  readonly intermediate: {
    readonly layer: string;
    readonly lower: Float64Array[];
    readonly upper: Float64Array[];
  }[];
}

/** Input rows (flattened C,H,W) of a batch. */
function rows(x: Float64Array, batch: number): Float64Array[] {
  const n = x.length / batch;
  return Array.from({ length: batch }, (_, b) => x.slice(b * n, (b + 1) * n));
}

function affine(s: AffineStep, v: Float64Array): Float64Array {
  const out = new Float64Array(s.nOut);
  for (let o = 0; o < s.nOut; o++) {
    let acc = s.b[o]!;
    const row = o * s.nIn;
    for (let i = 0; i < s.nIn; i++) acc += s.W[row + i]! * v[i]!;
    out[o] = acc;
  }
  return out;
}

function forwardOne(steps: Step[], x: Float64Array): Float64Array {
  let v = x;
  for (const s of steps) v = s.kind === 'affine' ? affine(s, v) : activate(f64Num, s.act, v);
  return v;
}

/** Clean logits per sample; x is raw, PyTorch layout, [batch · numel(input)]. */
export function refForward(
  model: RefModel,
  params: RefParams,
  x: Float64Array,
  batch: number,
  o: RefActOptions = {},
): Float64Array[] {
  const steps = compile(model, params, o);
  return rows(x, batch).map((r) => forwardOne(steps, normalizeInPlace(model, r)));
}

/** Margin specification rows e_y − e_j, j ≠ y ascending (or the identity without a label). */
function specRows(K: number, label: number | undefined): Float64Array[] {
  if (label === undefined)
    return Array.from({ length: K }, (_, i) => Float64Array.from({ length: K }, (_, j) => +(i === j)));
  const out: Float64Array[] = [];
  for (let j = 0; j < K; j++) {
    if (j === label) continue;
    const row = new Float64Array(K);
    row[label] = 1;
    row[j] = -1;
    out.push(row);
  }
  return out;
}

/** The last affine step with C folded in: W' = C·W, b' = C·b. */
function foldSpec(s: AffineStep, C: Float64Array[]): AffineStep {
  const m = C.length;
  const W = new Float64Array(m * s.nIn);
  const b = new Float64Array(m);
  C.forEach((row, j) => {
    for (let k = 0; k < s.nOut; k++) {
      const c = row[k]!;
      if (c === 0) continue;
      b[j]! += c * s.b[k]!;
      for (let i = 0; i < s.nIn; i++) W[j * s.nIn + i]! += c * s.W[k * s.nIn + i]!;
    }
  });
  return { ...s, W, b, nOut: m };
}

interface Box {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}
interface Interval {
  readonly l: Float64Array;
  readonly u: Float64Array;
}

/** IBP (main-text Eq. 2): l' = W⁺l + W⁻u + b, u' = W⁺u + W⁻l + b; activations [σ(l), σ(u)]. */
function ibp(steps: Step[], box: Box, pre: Interval[]): Interval {
  let l = box.lo;
  let u = box.hi;
  for (const s of steps) {
    if (s.kind === 'act') {
      pre.push({ l, u });
      [l, u] = [activate(f64Num, s.act, l), activate(f64Num, s.act, u)];
      continue;
    }
    const nl = new Float64Array(s.nOut);
    const nu = new Float64Array(s.nOut);
    for (let o = 0; o < s.nOut; o++) {
      let a = s.b[o]!;
      let c = s.b[o]!;
      for (let i = 0; i < s.nIn; i++) {
        const w = s.W[o * s.nIn + i]!;
        if (w >= 0) {
          a += w * l[i]!;
          c += w * u[i]!;
        } else {
          a += w * u[i]!;
          c += w * l[i]!;
        }
      }
      nl[o] = a;
      nu[o] = c;
    }
    [l, u] = [nl, nu];
  }
  return { l, u };
}

/** min/max of A·x + c over the box, per row of A [m, n0]. */
function concretize(A: Float64Array, c: Float64Array, box: Box, upper: boolean): Float64Array {
  const m = c.length;
  const n0 = box.lo.length;
  const out = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let acc = c[j]!;
    for (let i = 0; i < n0; i++) {
      const a = A[j * n0 + i]!;
      acc += a * (a >= 0 === upper ? box.hi[i]! : box.lo[i]!);
    }
    out[j] = acc;
  }
  return out;
}

/**
 * LBP (paper-notes §4 pseudocode): linear bounds AL·x + bL ≤ z ≤ AU·x + bU, rows = neurons,
 * AL' = W⁺AL + W⁻AU, AU' = W⁺AU + W⁻AL; concretized after every affine step; activations scale
 * rows by the line slopes computed on those bounds.
 */
function lbp(steps: Step[], box: Box, lines: LineStrategy, pre: Interval[]): Interval {
  const n0 = box.lo.length;
  let n = n0;
  let AL = new Float64Array(n0 * n0);
  for (let i = 0; i < n0; i++) AL[i * n0 + i] = 1;
  let AU = AL.slice();
  let bL = new Float64Array(n0);
  let bU = new Float64Array(n0);
  let cur: Interval = { l: box.lo, u: box.hi };
  for (const s of steps) {
    if (s.kind === 'act') {
      pre.push(cur);
      const ln = boundLines(f64Num, s.act, cur.l, cur.u, lines);
      for (let j = 0; j < n; j++) {
        const [sl, su] = [ln.sL[j]!, ln.sU[j]!];
        for (let i = 0; i < n0; i++) {
          AL[j * n0 + i]! *= sl;
          AU[j * n0 + i]! *= su;
        }
        bL[j] = sl * bL[j]! + ln.tL[j]!;
        bU[j] = su * bU[j]! + ln.tU[j]!;
      }
      cur = { l: activate(f64Num, s.act, cur.l), u: activate(f64Num, s.act, cur.u) };
      continue;
    }
    const nAL = new Float64Array(s.nOut * n0);
    const nAU = new Float64Array(s.nOut * n0);
    const nbL = s.b.slice();
    const nbU = s.b.slice();
    for (let o = 0; o < s.nOut; o++)
      for (let k = 0; k < s.nIn; k++) {
        const w = s.W[o * s.nIn + k]!;
        if (w === 0) continue;
        const [fromL, fromU] = w > 0 ? [AL, AU] : [AU, AL];
        nbL[o]! += w * (w > 0 ? bL[k]! : bU[k]!);
        nbU[o]! += w * (w > 0 ? bU[k]! : bL[k]!);
        for (let i = 0; i < n0; i++) {
          nAL[o * n0 + i]! += w * fromL[k * n0 + i]!;
          nAU[o * n0 + i]! += w * fromU[k * n0 + i]!;
        }
      }
    [AL, AU, bL, bU, n] = [nAL, nAU, nbL, nbU, s.nOut];
    cur = { l: concretize(AL, bL, box, false), u: concretize(AU, bU, box, true) };
  }
  return cur;
}

/**
 * CROWN backward from position p (the value after steps[0..p)), for the rows of A [m, n_p] + c,
 * with lines for every activation step before p. Lower: A⁺ takes sL, tL and A⁻ takes sU, tU.
 */
function backward(
  steps: Step[],
  p: number,
  A0: Float64Array,
  c0: Float64Array,
  rel: Map<number, Lines<Float64Array>>,
  box: Box,
): Interval {
  const m = c0.length;
  const side = (upper: boolean): Float64Array => {
    let A = A0.slice();
    const c = c0.slice();
    let n = A.length / m;
    for (let k = p - 1; k >= 0; k--) {
      const s = steps[k]!;
      if (s.kind === 'affine') {
        const nA = new Float64Array(m * s.nIn);
        for (let j = 0; j < m; j++)
          for (let o = 0; o < s.nOut; o++) {
            const a = A[j * n + o]!;
            if (a === 0) continue;
            c[j]! += a * s.b[o]!;
            for (let i = 0; i < s.nIn; i++) nA[j * s.nIn + i]! += a * s.W[o * s.nIn + i]!;
          }
        [A, n] = [nA, s.nIn];
        continue;
      }
      const ln = rel.get(k)!;
      for (let j = 0; j < m; j++)
        for (let i = 0; i < n; i++) {
          const a = A[j * n + i]!;
          const useL = a >= 0 !== upper; // lower side: A⁺ on the lower line; upper side: A⁺ on the upper line
          const [sl, tl] = useL ? [ln.sL[i]!, ln.tL[i]!] : [ln.sU[i]!, ln.tU[i]!];
          c[j]! += a * tl;
          A[j * n + i] = a * sl;
        }
    }
    return concretize(A, c, box, upper);
  };
  return { l: side(false), u: side(true) };
}

/** Position after the last affine step, and that step. */
function lastAffine(steps: Step[]): number {
  for (let k = steps.length - 1; k >= 0; k--) if (steps[k]!.kind === 'affine') return k;
  throw new Error('reference: the network has no affine layer');
}

function boundOne(
  steps: Step[],
  box: Box,
  method: BoundMethod,
  lines: LineStrategy,
  C: Float64Array[],
  pre: Interval[],
): Interval {
  const li = lastAffine(steps);
  const folded = steps.map((s, k) => (k === li ? foldSpec(s as AffineStep, C) : s));
  if (method === 'ibp') return ibp(folded, box, pre);
  if (method === 'lbp') return lbp(folded, box, lines, pre);
  const rel = new Map<number, Lines<Float64Array>>();
  const relaxAt = (k: number, b: Interval): void => {
    const s = steps[k]!;
    if (s.kind === 'act') rel.set(k, boundLines(f64Num, s.act, b.l, b.u, lines));
  };
  if (method === 'crown') {
    steps.forEach((s, k) => {
      if (s.kind !== 'act') return;
      const n = s.n;
      const I = new Float64Array(n * n);
      for (let i = 0; i < n; i++) I[i * n + i] = 1;
      const b = backward(steps, k, I, new Float64Array(n), rel, box);
      pre.push(b);
      relaxAt(k, b);
    });
  } else {
    if (method === 'crown-ibp') ibp(folded, box, pre);
    else lbp(folded, box, lines, pre);
    let i = 0;
    steps.forEach((s, k) => {
      if (s.kind === 'act') relaxAt(k, pre[i++]!);
    });
  }
  const spec = folded[li] as AffineStep;
  const A = new Float64Array(spec.W);
  return backward(steps, li, A, spec.b.slice(), rel, box);
}

/**
 * Bounds of a batch by one method. x is raw, PyTorch layout [batch · numel(input)]; the input set
 * is {‖x' − x‖∞ ≤ ε} ∩ domain, normalised (eps: one value, or one per sample).
 */
export function refBounds(
  model: RefModel,
  params: RefParams,
  x: Float64Array,
  batch: number,
  eps: number | readonly number[],
  method: BoundMethod,
  o: RefBoundOptions = {},
): RefBounds {
  const steps = compile(model, params, o);
  const lines = o.lines ?? 'tight';
  const [d0, d1] = model.input.domain;
  const actLayers = steps.filter((s) => s.kind === 'act').map((s) => s.layer);
  const res: RefBounds = {
    lower: [],
    upper: [],
    logits: [],
    intermediate: actLayers.map((layer) => ({ layer, lower: [], upper: [] })),
  };
  rows(x, batch).forEach((row, b) => {
    const e = typeof eps === 'number' ? eps : eps[b]!;
    const box: Box = {
      lo: normalizeInPlace(
        model,
        row.map((v) => Math.max(v - e, d0)),
      ),
      hi: normalizeInPlace(
        model,
        row.map((v) => Math.min(v + e, d1)),
      ),
    };
    const pre: Interval[] = [];
    const C = specRows(model.classes, o.labels?.[b]);
    const out = boundOne(steps, box, method, lines, C, pre);
    res.lower.push(out.l);
    res.upper.push(out.u);
    res.logits.push(forwardOne(steps, normalizeInPlace(model, row.slice())));
    pre.forEach((p, i) => {
      res.intermediate[i]!.lower.push(p.l);
      res.intermediate[i]!.upper.push(p.u);
    });
  });
  return res;
}
