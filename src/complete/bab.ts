/**
 * Branch and bound on one VNN-LIB case (input box, unsafe region = ∨ conjunctions of A·y ≤ b).
 *
 * A conjunction is refuted on a domain when some row's lower bound of A_r·y − b_r is > 0. The
 * root is bounded with CROWN intermediate bounds and α-CROWN (per row: its own slopes, optimised
 * by Adam); unrefuted domains are split and re-bounded with α-β-CROWN (split neurons exact, their
 * constraints in Lagrangian β terms, α and β warm-started from the parent), a batch of the worst
 * domains per round, until every domain is refuted (holds), a bound's minimising corner or an
 * attack reaches the region (violated, re-checked by a forward pass), or the deadline.
 *
 * Branching on ReLUs (high-dimensional inputs): the unsplit unstable neuron with the largest
 * intercept score Σ_rows max(−ν, 0)·(−l·u/(u − l)) — the bound term the triangle relaxation's upper
 * line costs, which a split removes (the BaBSR intercept score, Bunel et al. 2020); ties and
 * all-zero scores fall back to the widest unstable neuron min(−l, u). Branching on inputs (at most
 * `inputSplitMaxDim` inputs, ACAS Xu-style nets): the dimension with the largest
 * Σ_rows |ν_0,i|·(hi_i − lo_i), bisected, intermediate bounds recomputed per box.
 */
import type { VnnlibCase } from '../vnnlib/parse.js';
import { check, type Counterexample } from './attack.js';
import {
  crownBounds,
  initParams,
  minimisingCorner,
  optimizeRow,
  type Box,
  type LayerBounds,
  type OptimizeOptions,
  type RowParams,
  type Splits,
} from './crown.js';
import type { SeqNet } from './onnx-net.js';

export interface BabOptions {
  /** Adam iterations of α-CROWN at the root and of α-β-CROWN per subdomain. */
  readonly rootIterations: number;
  readonly iterations: number;
  readonly lrAlpha: number;
  readonly lrBeta: number;
  /** Domains split per round (each gives two children, bounded in the same pass). */
  readonly batch: number;
  /** Inputs up to this dimension are split instead of ReLUs. */
  readonly inputSplitMaxDim: number;
  /** A row counts as refuted when its lower bound exceeds this (float64 round-off guard). */
  readonly proofMargin: number;
  /** Domains kept at most (memory); beyond it the search gives up with unknown. */
  readonly maxDomains: number;
  readonly deadline: number;
}

export const DEFAULT_BAB: Omit<BabOptions, 'deadline'> = {
  rootIterations: 50,
  iterations: 15,
  lrAlpha: 0.1,
  lrBeta: 0.05,
  batch: 16,
  inputSplitMaxDim: 16,
  proofMargin: 1e-6,
  maxDomains: 200_000,
};

export type BabStatus = 'holds' | 'violated' | 'unknown' | 'timeout';

export interface BabResult {
  readonly status: BabStatus;
  readonly counterexample?: Counterexample;
  readonly reason?: string;
  readonly domains: number;
  readonly maxDepth: number;
  /** Root bound per conjunction (max over its rows of the α-CROWN lower bound of A_r·y − b_r). */
  readonly rootMargins: number[];
}

interface OpenRow {
  readonly conj: number;
  readonly row: number;
  lb: number;
  params: RowParams;
  nu0: Float64Array;
  nuAct: Float64Array[];
}

interface Domain {
  readonly box: Box;
  readonly bounds: LayerBounds;
  readonly splits: Splits;
  rows: OpenRow[];
  readonly depth: number;
  /** The worst open conjunction's best row bound (domains are taken worst first). */
  worst: number;
}

interface Objective {
  readonly conj: number;
  readonly row: number;
  readonly lambda: Float64Array;
  readonly b: number;
}

function objectives(c: VnnlibCase, K: number): Objective[][] {
  return c.unsafe.map((cj, k) =>
    Array.from({ length: cj.rows }, (_, r) => ({
      conj: k,
      row: r,
      lambda: cj.A.slice(r * K, (r + 1) * K),
      b: cj.b[r]!,
    })),
  );
}

/**
 * Bounds the open conjunctions of a domain; returns the rows still open (empty: refuted), or a
 * counterexample found at a bound's minimising corner.
 */
function boundDomain(
  net: SeqNet,
  c: VnnlibCase,
  objs: Objective[][],
  box: Box,
  bounds: LayerBounds,
  splits: Splits,
  conjs: readonly number[],
  start: (conj: number, row: number) => RowParams,
  o: OptimizeOptions,
  margin: number,
): { rows: OpenRow[]; ce?: Counterexample } {
  const rows: OpenRow[] = [];
  for (const k of conjs) {
    const mine: OpenRow[] = [];
    let refuted = false;
    for (const ob of objs[k]!) {
      const r = optimizeRow(net, ob.lambda, bounds, box, splits, start(k, ob.row), {
        ...o,
        target: ob.b + margin,
      });
      const lb = r.lb - ob.b;
      if (lb > margin) {
        refuted = true;
        break;
      }
      mine.push({ conj: k, row: ob.row, lb, params: r.params, nu0: r.nu0, nuAct: r.nuAct });
    }
    if (refuted) continue;
    if (objs[k]!.length === 0) {
      // an empty conjunction: every output is unsafe
      const ce = check(
        net,
        c,
        box.lo.map((l, i) => (l + box.hi[i]!) / 2),
      );
      if (ce) return { rows, ce };
    }
    for (const r of mine) {
      const ce = check(net, c, minimisingCorner(r.nu0, box));
      if (ce) return { rows, ce };
    }
    rows.push(...mine);
  }
  return { rows };
}

const conjsOf = (rows: readonly OpenRow[]): number[] => [...new Set(rows.map((r) => r.conj))];

/** max over rows of a conjunction of its bound, min over conjunctions. */
function worstOf(rows: readonly OpenRow[]): number {
  const best = new Map<number, number>();
  for (const r of rows) best.set(r.conj, Math.max(best.get(r.conj) ?? -Infinity, r.lb));
  return Math.min(...best.values());
}

function chooseRelu(d: Domain): [number, number] | undefined {
  let bestScore = -1;
  let best: [number, number] | undefined;
  let fallback: [number, number] | undefined;
  let fallbackWidth = -1;
  for (let j = 0; j < d.bounds.lo.length; j++) {
    const l = d.bounds.lo[j]!;
    const u = d.bounds.hi[j]!;
    const sp = d.splits[j]!;
    for (let i = 0; i < l.length; i++) {
      if (sp[i] !== 0 || l[i]! >= 0 || u[i]! <= 0) continue;
      const icpt = (-l[i]! * u[i]!) / (u[i]! - l[i]!);
      let s = 0;
      for (const r of d.rows) {
        const v = r.nuAct[j]![i]!;
        if (v < 0) s += -v * icpt;
      }
      if (s > bestScore) {
        bestScore = s;
        best = [j, i];
      }
      const w = Math.min(-l[i]!, u[i]!);
      if (w > fallbackWidth) {
        fallbackWidth = w;
        fallback = [j, i];
      }
    }
  }
  return bestScore > 0 ? best : fallback;
}

function chooseInput(d: Domain): number {
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i < d.box.lo.length; i++) {
    const w = d.box.hi[i]! - d.box.lo[i]!;
    let s = 0;
    for (const r of d.rows) s += Math.abs(r.nu0[i]!) * w;
    if (s === 0) s = w * 1e-12; // still prefer wide dimensions
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  }
  return best;
}

/** Runs branch and bound on one case. */
export function branchAndBound(net: SeqNet, c: VnnlibCase, o: BabOptions): BabResult {
  const K = net.nOut;
  const objs = objectives(c, K);
  const box: Box = { lo: c.lo, hi: c.hi };
  const inputSplit = c.lo.length <= o.inputSplitMaxDim;
  const opt = (iterations: number): OptimizeOptions => ({
    iterations,
    lrAlpha: o.lrAlpha,
    lrBeta: o.lrBeta,
    deadline: o.deadline,
  });
  const bounds0 = crownBounds(net, box, undefined, o.deadline);
  const noSplits: Splits = bounds0.lo.map((l) => new Int8Array(l.length));
  const fresh = initParams(bounds0);
  const root = boundDomain(
    net,
    c,
    objs,
    box,
    bounds0,
    noSplits,
    c.unsafe.map((_, k) => k),
    () => fresh,
    opt(o.rootIterations),
    o.proofMargin,
  );
  const rootMargins = c.unsafe.map((_, k) => {
    const mine = root.rows.filter((r) => r.conj === k);
    return mine.length === 0 ? Infinity : Math.max(...mine.map((r) => r.lb));
  });
  const result = (
    status: BabStatus,
    domains: number,
    maxDepth: number,
    extra: Partial<BabResult> = {},
  ): BabResult => ({
    status,
    domains,
    maxDepth,
    rootMargins,
    ...extra,
  });
  if (root.ce) return result('violated', 1, 0, { counterexample: root.ce });
  if (root.rows.length === 0) return result('holds', 1, 0);

  let queue: Domain[] = [
    { box, bounds: bounds0, splits: noSplits, rows: root.rows, depth: 0, worst: worstOf(root.rows) },
  ];
  let domains = 1;
  let maxDepth = 0;
  while (queue.length > 0) {
    if (Date.now() > o.deadline) return result('timeout', domains, maxDepth);
    if (queue.length > o.maxDomains)
      return result('unknown', domains, maxDepth, { reason: `more than ${o.maxDomains} open subdomains` });
    queue.sort((a, b) => a.worst - b.worst);
    const take = queue.splice(0, o.batch);
    const next: Domain[] = [];
    for (const d of take) {
      const children: { box: Box; bounds: LayerBounds; splits: Splits }[] = [];
      if (inputSplit) {
        const i = chooseInput(d);
        const midv = (d.box.lo[i]! + d.box.hi[i]!) / 2;
        for (const side of [0, 1]) {
          const lo = d.box.lo.slice();
          const hi = d.box.hi.slice();
          if (side === 0) hi[i] = midv;
          else lo[i] = midv;
          const b = { lo, hi };
          children.push({ box: b, bounds: crownBounds(net, b, undefined, o.deadline), splits: d.splits });
        }
      } else {
        const pick = chooseRelu(d);
        if (!pick)
          return result('unknown', domains, maxDepth, {
            reason: 'a subdomain with every ReLU split is still not refuted (its β bound did not converge)',
          });
        const [j, i] = pick;
        for (const s of [1, -1] as const) {
          const splits = d.splits.slice();
          splits[j] = d.splits[j]!.slice();
          splits[j]![i] = s;
          const lo = d.bounds.lo.slice();
          const hi = d.bounds.hi.slice();
          if (s === 1) (lo[j] = lo[j]!.slice())[i] = 0;
          else (hi[j] = hi[j]!.slice())[i] = 0;
          children.push({ box: d.box, bounds: { lo, hi }, splits });
        }
      }
      for (const ch of children) {
        domains++;
        const warm = new Map(d.rows.map((r) => [`${r.conj}:${r.row}`, r.params]));
        const start = (k: number, r: number): RowParams => warm.get(`${k}:${r}`) ?? initParams(ch.bounds);
        const res = boundDomain(
          net,
          c,
          objs,
          ch.box,
          ch.bounds,
          ch.splits,
          conjsOf(d.rows),
          inputSplit ? (): RowParams => initParams(ch.bounds) : start,
          opt(o.iterations),
          o.proofMargin,
        );
        if (res.ce) return result('violated', domains, maxDepth, { counterexample: res.ce });
        if (res.rows.length === 0) continue;
        maxDepth = Math.max(maxDepth, d.depth + 1);
        next.push({ ...ch, rows: res.rows, depth: d.depth + 1, worst: worstOf(res.rows) });
      }
    }
    queue = queue.concat(next);
  }
  return result('holds', domains, maxDepth);
}
