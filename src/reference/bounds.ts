/**
 * The float64 reference interpreter: forward, IBP, LBP, CROWN-IBP, CROWN-LBP and full CROWN on a
 * lowered network (`net.ts`), one sample at a time, with plain loops in the textbook forms of
 * paper-notes §3–4 (IBP Eq. 2 with W⁺/W⁻, LBP with four products, CROWN with A⁺/A⁻ splits) so that
 * it shares nothing with the tfjs mid/rad code except the activation and line tables of lines.ts.
 * Every walk is generic over the DAG: IBP and LBP carry one interval / linear form per value, CROWN
 * accumulates the coefficients of a value with several consumers. Input set: the L∞ ball ∩ domain, normalised; specification C = e_y − e_j folded into the last
 * layer when labels are given.
 */
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import { activate, boundLines, type Lines } from '../runtime/lines.js';
import { maxPoolLines, type PoolLines } from '../runtime/maxpool-lines.js';
import { f64Num } from '../runtime/num.js';
import {
  compile,
  normalizeInPlace,
  valueSizes,
  type AffineStep,
  type MaxPoolStep,
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

/** out = b + Σ_k W_k·v_k. */
function affine(s: AffineStep, ins: readonly Float64Array[]): Float64Array {
  const out = s.b.slice();
  s.W.forEach((W, k) => {
    const v = ins[k]!;
    const nIn = s.nIn[k]!;
    for (let o = 0; o < s.n; o++) {
      let acc = 0;
      const row = o * nIn;
      for (let i = 0; i < nIn; i++) acc += W[row + i]! * v[i]!;
      out[o]! += acc;
    }
  });
  return out;
}

/** The value of cell k of every output's window, k < K (arrays of the output size). */
function cellsOf(s: MaxPoolStep, v: Float64Array): Float64Array[] {
  return Array.from({ length: s.K }, (_, k) =>
    Float64Array.from({ length: s.n }, (_, o) => v[s.cells[o * s.K + k]!]!),
  );
}

/** max over each window. */
function poolMax(s: MaxPoolStep, v: Float64Array): Float64Array {
  const out = new Float64Array(s.n).fill(-Infinity);
  for (let o = 0; o < s.n; o++)
    for (let k = 0; k < s.K; k++) out[o] = Math.max(out[o]!, v[s.cells[o * s.K + k]!]!);
  return out;
}

/** Every value of the graph for one normalised input: [input, node 0, node 1, …]. */
function values(steps: readonly Step[], x: Float64Array): Float64Array[] {
  const vals = [x];
  for (const s of steps) {
    const ins = s.srcs.map((i) => vals[i]!);
    vals.push(
      s.kind === 'alias'
        ? ins[0]!
        : s.kind === 'act'
          ? activate(f64Num, s.act, ins[0]!)
          : s.kind === 'maxpool'
            ? poolMax(s, ins[0]!)
            : affine(s, ins),
    );
  }
  return vals;
}

const forwardOne = (steps: readonly Step[], x: Float64Array): Float64Array => values(steps, x).at(-1)!;

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

/** Per sample, the input of every activation node (its pre-activation values), in node order. */
export function refPreActivations(
  model: RefModel,
  params: RefParams,
  x: Float64Array,
  batch: number,
  o: RefActOptions = {},
): Float64Array[][] {
  const steps = compile(model, params, o);
  return rows(x, batch).map((r) => {
    const vals = values(steps, normalizeInPlace(model, r));
    return steps.filter((s) => s.kind === 'act').map((s) => vals[s.srcs[0]!]!);
  });
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

/** C·M for C given as rows [m][n] and M row-major [n, k]. */
function leftMul(C: readonly Float64Array[], M: Float64Array, k: number): Float64Array {
  const out = new Float64Array(C.length * k);
  C.forEach((row, j) => {
    row.forEach((c, r) => {
      if (c === 0) return;
      for (let i = 0; i < k; i++) out[j * k + i]! += c * M[r * k + i]!;
    });
  });
  return out;
}

/**
 * The steps with the specification C folded into the output node when it is affine (W_k' = C·W_k,
 * b' = C·b: the elision of the last layer), else appended as an affine node of its own.
 */
function foldSpec(steps: readonly Step[], C: readonly Float64Array[]): Step[] {
  const last = steps.at(-1)!;
  const m = C.length;
  if (last.kind === 'affine') {
    const folded: AffineStep = {
      ...last,
      n: m,
      W: last.W.map((W, k) => leftMul(C, W, last.nIn[k]!)),
      b: leftMul(C, last.b, 1),
    };
    return [...steps.slice(0, -1), folded];
  }
  const flat = new Float64Array(m * last.n);
  C.forEach((row, j) => flat.set(row, j * last.n));
  const spec: AffineStep = {
    kind: 'affine',
    layer: 'spec',
    srcs: [steps.length],
    n: m,
    W: [flat],
    nIn: [last.n],
    b: new Float64Array(m),
  };
  return [...steps, spec];
}

interface Box {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}
interface Interval {
  readonly l: Float64Array;
  readonly u: Float64Array;
}

/**
 * IBP (main-text Eq. 2): l' = b + Σ W⁺l + W⁻u, u' = b + Σ W⁺u + W⁻l; activations [σ(l), σ(u)],
 * max pooling [max l, max u]. `pre` gets the input bounds of every activation, `poolPre` those of
 * every max pooling node (by step index).
 */
function ibp(
  steps: readonly Step[],
  box: Box,
  pre: Interval[],
  poolPre = new Map<number, Interval>(),
): Interval {
  const vals: Interval[] = [{ l: box.lo, u: box.hi }];
  for (const [k, s] of steps.entries()) {
    const ins = s.srcs.map((i) => vals[i]!);
    if (s.kind === 'alias') {
      vals.push(ins[0]!);
      continue;
    }
    if (s.kind === 'maxpool') {
      const { l, u } = ins[0]!;
      poolPre.set(k, { l, u });
      vals.push({ l: poolMax(s, l), u: poolMax(s, u) });
      continue;
    }
    if (s.kind === 'act') {
      const { l, u } = ins[0]!;
      pre.push({ l, u });
      vals.push({ l: activate(f64Num, s.act, l), u: activate(f64Num, s.act, u) });
      continue;
    }
    const nl = s.b.slice();
    const nu = s.b.slice();
    s.W.forEach((W, k) => {
      const { l, u } = ins[k]!;
      const nIn = s.nIn[k]!;
      for (let o = 0; o < s.n; o++) {
        let a = 0;
        let c = 0;
        for (let i = 0; i < nIn; i++) {
          const w = W[o * nIn + i]!;
          if (w >= 0) {
            a += w * l[i]!;
            c += w * u[i]!;
          } else {
            a += w * u[i]!;
            c += w * l[i]!;
          }
        }
        nl[o]! += a;
        nu[o]! += c;
      }
    });
    vals.push({ l: nl, u: nu });
  }
  return vals.at(-1)!;
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

/** Linear bounds AL·x + bL ≤ v ≤ AU·x + bU of one value (rows = neurons) and their concretization. */
interface Form {
  readonly AL: Float64Array;
  readonly AU: Float64Array;
  readonly bL: Float64Array;
  readonly bU: Float64Array;
  readonly cur: Interval;
}

/**
 * LBP (paper-notes §4 pseudocode), one form per value: AL' = Σ W⁺AL + W⁻AU, AU' = Σ W⁺AU + W⁻AL;
 * concretized after every affine node; activations scale rows by the line slopes computed on
 * those bounds.
 */
function lbp(
  steps: readonly Step[],
  box: Box,
  lines: LineStrategy,
  pre: Interval[],
  poolPre = new Map<number, Interval>(),
): Interval {
  const n0 = box.lo.length;
  const I = new Float64Array(n0 * n0);
  for (let i = 0; i < n0; i++) I[i * n0 + i] = 1;
  const forms: Form[] = [
    { AL: I, AU: I, bL: new Float64Array(n0), bU: new Float64Array(n0), cur: { l: box.lo, u: box.hi } },
  ];
  for (const [k, s] of steps.entries()) {
    const ins = s.srcs.map((i) => forms[i]!);
    if (s.kind === 'alias') {
      forms.push(ins[0]!);
      continue;
    }
    if (s.kind === 'maxpool') {
      // lower form Σ aL_k·(lower form of cell k) + cL, upper likewise (coefficients ≥ 0)
      const f = ins[0]!;
      poolPre.set(k, f.cur);
      const ln = maxPoolLines(f64Num, cellsOf(s, f.cur.l), cellsOf(s, f.cur.u), lines);
      const AL = new Float64Array(s.n * n0);
      const AU = new Float64Array(s.n * n0);
      const bL = ln.cL.slice();
      const bU = ln.cU.slice();
      for (let o = 0; o < s.n; o++)
        for (let q = 0; q < s.K; q++) {
          const cell = s.cells[o * s.K + q]!;
          const [al, au] = [ln.aL[q]![o]!, ln.aU[q]![o]!];
          bL[o]! += al * f.bL[cell]!;
          bU[o]! += au * f.bU[cell]!;
          for (let i = 0; i < n0; i++) {
            AL[o * n0 + i]! += al * f.AL[cell * n0 + i]!;
            AU[o * n0 + i]! += au * f.AU[cell * n0 + i]!;
          }
        }
      forms.push({ AL, AU, bL, bU, cur: { l: poolMax(s, f.cur.l), u: poolMax(s, f.cur.u) } });
      continue;
    }
    if (s.kind === 'act') {
      const f = ins[0]!;
      pre.push(f.cur);
      const ln = boundLines(f64Num, s.act, f.cur.l, f.cur.u, lines);
      const [AL, AU, bL, bU] = [f.AL.slice(), f.AU.slice(), f.bL.slice(), f.bU.slice()];
      for (let j = 0; j < s.n; j++) {
        const [sl, su] = [ln.sL[j]!, ln.sU[j]!];
        for (let i = 0; i < n0; i++) {
          AL[j * n0 + i]! *= sl;
          AU[j * n0 + i]! *= su;
        }
        bL[j] = sl * bL[j]! + ln.tL[j]!;
        bU[j] = su * bU[j]! + ln.tU[j]!;
      }
      forms.push({
        AL,
        AU,
        bL,
        bU,
        cur: { l: activate(f64Num, s.act, f.cur.l), u: activate(f64Num, s.act, f.cur.u) },
      });
      continue;
    }
    const AL = new Float64Array(s.n * n0);
    const AU = new Float64Array(s.n * n0);
    const bL = s.b.slice();
    const bU = s.b.slice();
    s.W.forEach((W, k) => {
      const f = ins[k]!;
      const nIn = s.nIn[k]!;
      for (let o = 0; o < s.n; o++)
        for (let q = 0; q < nIn; q++) {
          const w = W[o * nIn + q]!;
          if (w === 0) continue;
          const [fromL, fromU] = w > 0 ? [f.AL, f.AU] : [f.AU, f.AL];
          bL[o]! += w * (w > 0 ? f.bL[q]! : f.bU[q]!);
          bU[o]! += w * (w > 0 ? f.bU[q]! : f.bL[q]!);
          for (let i = 0; i < n0; i++) {
            AL[o * n0 + i]! += w * fromL[q * n0 + i]!;
            AU[o * n0 + i]! += w * fromU[q * n0 + i]!;
          }
        }
    });
    forms.push({
      AL,
      AU,
      bL,
      bU,
      cur: { l: concretize(AL, bL, box, false), u: concretize(AU, bU, box, true) },
    });
  }
  return forms.at(-1)!.cur;
}

/**
 * CROWN backward from value p for the rows of A0 [m, n_p] + c0, with lines for every activation
 * node before p. The nodes are walked in reverse topological order; a value read by several nodes
 * accumulates the coefficients of all of them before its own node is passed. Lower: A⁺ takes
 * sL, tL and A⁻ takes sU, tU.
 */
function backward(
  steps: readonly Step[],
  p: number,
  A0: Float64Array,
  c0: Float64Array,
  rel: Map<number, Lines<Float64Array>>,
  box: Box,
  poolRel: ReadonlyMap<number, PoolLines<Float64Array>> = new Map(),
): Interval {
  const m = c0.length;
  const n0 = box.lo.length;
  const side = (upper: boolean): Float64Array => {
    const pending = new Map<number, Float64Array>([[p, A0.slice()]]);
    const give = (v: number, A: Float64Array): void => {
      const P = pending.get(v);
      if (!P) pending.set(v, A);
      else for (let i = 0; i < P.length; i++) P[i]! += A[i]!;
    };
    const c = c0.slice();
    for (let k = p - 1; k >= 0; k--) {
      const A = pending.get(k + 1);
      if (!A) continue;
      pending.delete(k + 1);
      const s = steps[k]!;
      const n = s.n;
      if (s.kind === 'alias') {
        give(s.srcs[0]!, A);
        continue;
      }
      if (s.kind === 'affine') {
        for (let j = 0; j < m; j++) for (let o = 0; o < n; o++) c[j]! += A[j * n + o]! * s.b[o]!;
        s.W.forEach((W, q) => {
          const nIn = s.nIn[q]!;
          const nA = new Float64Array(m * nIn);
          for (let j = 0; j < m; j++)
            for (let o = 0; o < n; o++) {
              const a = A[j * n + o]!;
              if (a === 0) continue;
              for (let i = 0; i < nIn; i++) nA[j * nIn + i]! += a * W[o * nIn + i]!;
            }
          give(s.srcs[q]!, nA);
        });
        continue;
      }
      if (s.kind === 'maxpool') {
        // lower side: a ≥ 0 takes the lower line, a < 0 the upper one (the reverse above)
        const ln = poolRel.get(k)!;
        const nA = new Float64Array(m * s.nIn);
        for (let j = 0; j < m; j++)
          for (let o = 0; o < n; o++) {
            const a = A[j * n + o]!;
            if (a === 0) continue;
            const useL = a >= 0 !== upper;
            const [coef, cst] = useL ? [ln.aL, ln.cL] : [ln.aU, ln.cU];
            c[j]! += a * cst[o]!;
            for (let q = 0; q < s.K; q++) nA[j * s.nIn + s.cells[o * s.K + q]!]! += a * coef[q]![o]!;
          }
        give(s.srcs[0]!, nA);
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
      give(s.srcs[0]!, A);
    }
    return concretize(pending.get(0) ?? new Float64Array(m * n0), c, box, upper);
  };
  return { l: side(false), u: side(true) };
}

const identity = (n: number): Float64Array => {
  const I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = 1;
  return I;
};

function boundOne(
  steps: readonly Step[],
  sizes: readonly number[],
  box: Box,
  method: BoundMethod,
  lines: LineStrategy,
  C: Float64Array[],
  pre: Interval[],
): Interval {
  const folded = foldSpec(steps, C);
  if (method === 'ibp') return ibp(folded, box, pre);
  if (method === 'lbp') return lbp(folded, box, lines, pre);
  const rel = new Map<number, Lines<Float64Array>>();
  const poolRel = new Map<number, PoolLines<Float64Array>>();
  const relaxAt = (k: number, b: Interval): void => {
    const s = steps[k]!;
    if (s.kind === 'act') rel.set(k, boundLines(f64Num, s.act, b.l, b.u, lines));
    if (s.kind === 'maxpool') poolRel.set(k, maxPoolLines(f64Num, cellsOf(s, b.l), cellsOf(s, b.u), lines));
  };
  if (method === 'crown') {
    steps.forEach((s, k) => {
      if (s.kind !== 'act' && s.kind !== 'maxpool') return;
      const v = s.srcs[0]!;
      const n = sizes[v]!;
      const b = backward(steps, v, identity(n), new Float64Array(n), rel, box, poolRel);
      if (s.kind === 'act') pre.push(b);
      relaxAt(k, b);
    });
  } else {
    const poolPre = new Map<number, Interval>();
    if (method === 'crown-ibp') ibp(folded, box, pre, poolPre);
    else lbp(folded, box, lines, pre, poolPre);
    let i = 0;
    steps.forEach((s, k) => {
      if (s.kind === 'act') relaxAt(k, pre[i++]!);
      if (s.kind === 'maxpool') relaxAt(k, poolPre.get(k)!);
    });
  }
  return backward(folded, folded.length, identity(C.length), new Float64Array(C.length), rel, box, poolRel);
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
  const sizes = valueSizes(model, steps);
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
    const out = boundOne(steps, sizes, box, method, lines, C, pre);
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
