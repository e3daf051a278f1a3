/**
 * The evaluation loop behind `vnet verify`: over batches of a dataset, the clean prediction, one
 * PGD attack per ε, and the margin bounds of every (ε, method, line strategy); the verdict rule of
 * verdict.ts per sample; totals per row (clean, PGD and verified error); optional certificates.
 *
 * It also cross-checks soundness: a sample that some method verifies while PGD finds a
 * misclassified point in the same ε-ball means a bound is wrong. Such samples are collected as
 * `violations` (the CLI fails loudly on them). Non-finite bounds are never trusted: the sample is
 * not verified, and a warning names the first layer whose pre-activation bounds went non-finite.
 *
 * Every float32 "verified" verdict is re-checked by `confirm` (the rigorous binary64 checker,
 * src/verify/rigorous/): a sample it does not confirm is counted as not verified and as
 * `unconfirmed`. The work is split into batches whose outcomes (`BatchOutcome`, plain JSON) are
 * combined in batch order, so a run over worker threads, shards or a resumed run gives the same
 * numbers as one process (src/scale/).
 *
 * The network is reached only through the `Verifiable` interface (model.ts builds one from a
 * generated module), so tests can inject small hand-written networks or deliberately wrong bounds.
 *
 * The `alpha-crown` row is not a method of the generated module: its margins come from
 * `EvalSettings.alpha` (alpha-row.ts: α-CROWN in float64 on the complete verifier's network),
 * one sample at a time; misclassified samples are not bounded (not verified, no margins counted).
 * Its float64 verdicts go through the same rigorous check (the cascade of a CROWN claim, with the
 * row's and the other tight/adaptive lines: `confirmAlpha`) and the same PGD cross-check as the
 * float32 ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import type { BoundResult } from '../runtime/types.js';
import { pgdAttack, type PgdSettings, type Witness } from './pgd.js';
import type { AlphaRunner } from './alpha-row.js';
import type { Confirmation, ConfirmCache } from './rigorous/confirm.js';
import { allFinite, firstNonFiniteLayer, predict, verdict, type FlatLayerBounds } from './verdict.js';

/** A network as the verifier sees it: raw inputs in the internal layout, margin bounds at radius ε. */
export interface Verifiable {
  readonly classes: number;
  /** Internal per-sample input shape (no batch). */
  readonly inputShape: readonly number[];
  /** Raw input domain [lo, hi]. */
  readonly domain: readonly [number, number];
  /** Clean logits [B, K] of raw inputs; differentiable (PGD takes its gradient). */
  logits(x: tf.Tensor): tf.Tensor2D;
  /**
   * Margin lower bounds (z_y − z_j, j ≠ y ascending) over the ε-ball ∩ domain around each raw
   * input, with every activation layer's pre-activation bounds in `intermediate` (scanned for
   * NaN/Inf). `upper` is not used (it may be +∞). Throws `BoundRefusal` when the method cannot
   * run within its memory budget.
   */
  bounds(
    x: tf.Tensor,
    eps: number,
    method: BoundMethod,
    lines: LineStrategy,
    labels: tf.Tensor1D,
  ): BoundResult;
}

/** A row's method: a generated module's bound method, or α-CROWN of the complete verifier. */
export type VerifyMethod = BoundMethod | 'alpha-crown';

/** Thrown by `Verifiable.bounds` when a method refuses to run within its memory budget. */
export class BoundRefusal extends Error {
  override readonly name = 'BoundRefusal';
}

/** What to evaluate. PGD `stepSize` is resolved per ε by `pgdStep`. */
export interface EvalSettings {
  readonly eps: readonly number[];
  readonly methods: readonly VerifyMethod[];
  readonly lines: readonly LineStrategy[];
  readonly batch: number;
  /**
   * The `alpha-crown` margins (or why the network has none: the row is then refused with it);
   * without it an `alpha-crown` row is refused.
   */
  readonly alpha?: AlphaRunner | { readonly refused: string };
  /** PGD settings; `restarts = 0` disables the attack (PGD error is then not reported). */
  readonly pgd: Omit<PgdSettings, 'stepSize'>;
  readonly pgdStep: (eps: number) => number;
  /** Collect one certificate per (sample, ε, method, lines). */
  readonly certificates: boolean;
  /**
   * The rigorous check of a float32 "verified" verdict (x: one raw sample in the internal
   * layout; `cache` is shared by the claims on one sample and ε). Without it verdicts are float32
   * only (tests of the loop itself); the CLI always passes it.
   */
  readonly confirm?: SampleConfirmer;
}

/** Confirms one float32 verdict rigorously (see EvalSettings.confirm). */
export type SampleConfirmer = (
  x: Float32Array,
  label: number,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
  cache: ConfirmCache,
) => Confirmation;

/** The samples: raw inputs in internal layout, flattened ([N · prod(inputShape)]), and labels. */
export interface EvalData {
  readonly x: Float32Array;
  readonly labels: ArrayLike<number>;
  /** Dataset index of each sample (reported in certificates and warnings); default 0..N-1. */
  readonly indices?: ArrayLike<number>;
}

/** One row of the result table. Errors are in percent of `n`. */
export interface ResultRow {
  readonly eps: number;
  readonly method: VerifyMethod;
  readonly lines: LineStrategy;
  readonly n: number;
  readonly misclassified: number;
  /** Samples broken by PGD (misclassified ones included); null when PGD did not run. */
  readonly pgdBroken: number | null;
  /** Verified by float32 bounds and confirmed by the rigorous check. */
  readonly verified: number;
  /** Verified by float32 bounds but not confirmed by the rigorous check (counted as not verified). */
  readonly unconfirmed: number;
  readonly cleanErrPct: number;
  readonly pgdErrPct: number | null;
  readonly verifiedErrPct: number;
  /** Mean of all finite margin lower bounds (paper Table 1's "mean lower bound of margin"). */
  readonly meanMarginLower: number | null;
  /** Samples whose bounds contained NaN or ±Inf (counted as not verified). */
  readonly nonFinite: number;
  /** Seconds spent computing bounds for this row. */
  readonly seconds: number;
  /** Set when the method refused to run (memory); the counts then cover only the batches before. */
  readonly refused?: string;
  /**
   * Set when this row's bounds came from the pass of another method (IBP and LBP rows from the
   * CROWN-IBP / CROWN-LBP pass that carries them); `seconds` is then that shared pass's time.
   */
  readonly sharedWith?: BoundMethod;
}

/** Outcome of the attack on one sample. */
export type PgdOutcomeName = 'held' | 'broken' | 'misclassified' | 'not-run';

/** One line of `--certificates`. Non-finite margin bounds are written as null. */
export interface Certificate {
  readonly index: number;
  readonly label: number;
  /** Argmax of the clean logits; −1 when they are not finite. */
  readonly prediction: number;
  readonly method: VerifyMethod;
  readonly lines: LineStrategy;
  readonly eps: number;
  /** The classes j of the margins z_y − z_j, in the order of `marginLower`. */
  readonly marginClasses: readonly number[];
  readonly marginLower: readonly (number | null)[];
  /**
   * The method's own verdict (every margin lower bound > 0, all finite, correctly classified):
   * float32 bounds, or float64 ones for alpha-crown.
   */
  readonly float32Verified: boolean;
  /** The rigorous check confirmed the float32 verdict (false when there was none to confirm). */
  readonly confirmed: boolean;
  /** float32Verified and confirmed: the verdict the tables count. */
  readonly verified: boolean;
  /** The best rigorous margin lower bounds (null: −∞ or not computed) and the passes that ran. */
  readonly rigorousLower: readonly (number | null)[] | null;
  readonly checks: readonly string[];
  readonly pgd: PgdOutcomeName;
}

/** A sample verified by a method while PGD found a misclassified point: a soundness bug. */
export interface SoundnessViolation {
  readonly index: number;
  readonly label: number;
  readonly eps: number;
  readonly method: VerifyMethod;
  readonly lines: LineStrategy;
  /** The smallest certified margin lower bound (> 0). */
  readonly minMarginLower: number;
  /** Logits at the PGD point (argmax ≠ label) and the restart that found it. */
  readonly witnessLogits: readonly number[];
  readonly restart: number;
}

export interface EvalReport {
  readonly n: number;
  readonly rows: readonly ResultRow[];
  readonly violations: readonly SoundnessViolation[];
  /** Human-readable warnings (non-finite bounds), in order of occurrence; refusals are in their rows. */
  readonly warnings: readonly string[];
  readonly certificates: readonly Certificate[];
}

/** Per-row counts of one batch (or of all batches combined). */
export interface RowAcc {
  n: number;
  misclassified: number;
  pgdBroken: number;
  verified: number;
  unconfirmed: number;
  marginSum: number;
  marginCount: number;
  nonFinite: number;
  seconds: number;
  refused?: string;
  sharedWith?: BoundMethod;
}

/** Disposes every tensor of a BoundResult. */
export function disposeResult(r: BoundResult): void {
  tf.dispose([r.lower, r.upper, r.logits]);
  for (const L of r.intermediate ?? []) tf.dispose([L.lower, L.upper]);
  if (r.base) tf.dispose([r.base.lower, r.base.upper]);
}

/** Progress callback: samples done so far, out of `total`. */
export type ProgressFn = (done: number, total: number) => void;

/** The outcome of one batch: plain JSON (worker threads, shard files and resumed runs carry it). */
export interface BatchOutcome {
  /** Index of the batch (samples batch·size … batch·size + n − 1 of the evaluation). */
  readonly batch: number;
  readonly n: number;
  /** Wall-clock seconds the batch took. */
  readonly seconds: number;
  /** One entry per (ε, method, lines) in settings order; `refused` set where the method refused. */
  readonly rows: readonly RowAcc[];
  readonly warnings: readonly string[];
  readonly violations: readonly SoundnessViolation[];
  readonly certificates: readonly Certificate[];
}

/** The (ε, method, lines) of every row, in table order. */
export function rowKeys(
  s: Pick<EvalSettings, 'eps' | 'methods' | 'lines'>,
): [number, VerifyMethod, LineStrategy][] {
  const out: [number, VerifyMethod, LineStrategy][] = [];
  for (const eps of s.eps) for (const m of s.methods) for (const l of s.lines) out.push([eps, m, l]);
  return out;
}

const emptyAcc = (): RowAcc => ({
  n: 0,
  misclassified: 0,
  pgdBroken: 0,
  verified: 0,
  unconfirmed: 0,
  marginSum: 0,
  marginCount: 0,
  nonFinite: 0,
  seconds: 0,
});

/** Number of batches of `size` in `n` samples. */
export const batchCount = (n: number, size: number): number => Math.ceil(n / size);

/**
 * Runs the evaluation. Tensor work is synchronous and disposed per batch; results are read back
 * with `await data()`, which every backend supports.
 */
export async function evaluate(
  net: Verifiable,
  data: EvalData,
  s: EvalSettings,
  onProgress?: ProgressFn,
): Promise<EvalReport> {
  const N = data.labels.length;
  checkData(net, data);
  const out: BatchOutcome[] = [];
  for (let b = 0; b < batchCount(N, s.batch); b++) {
    out.push(await evaluateBatch(net, data, s, b));
    onProgress?.(Math.min(N, (b + 1) * s.batch), N);
  }
  return combineBatches(N, s, out);
}

function checkData(net: Verifiable, data: EvalData): void {
  const per = net.inputShape.reduce((a, b) => a * b, 1);
  const N = data.labels.length;
  if (data.x.length !== N * per) {
    throw new Error(`evaluate: ${data.x.length} input values for ${N} samples of ${per} values`);
  }
}

/**
 * Evaluates batch `batch` (samples batch·s.batch …) of `data`. Deterministic: the PGD seeds
 * depend only on the batch's position, so the outcome does not depend on where it runs.
 */
export async function evaluateBatch(
  net: Verifiable,
  data: EvalData,
  s: EvalSettings,
  batch: number,
): Promise<BatchOutcome> {
  checkData(net, data);
  const per = net.inputShape.reduce((a, b) => a * b, 1);
  const N = data.labels.length;
  const K = net.classes;
  const start = batch * s.batch;
  const end = Math.min(N, start + s.batch);
  if (!(start < end)) throw new Error(`evaluate: batch ${batch} is outside the ${N} samples`);
  const B = end - start;
  const t0 = performance.now();
  const indexOf = (i: number): number => data.indices?.[i] ?? i;
  const pgdOn = s.pgd.restarts > 0;
  const acc = new Map<string, RowAcc>();
  const keyOf = (eps: number, m: VerifyMethod, l: LineStrategy): string => `${eps}|${m}|${l}`;
  for (const [eps, m, l] of rowKeys(s)) acc.set(keyOf(eps, m, l), emptyAcc());
  const warnings: string[] = [];
  const violations: SoundnessViolation[] = [];
  const certificates: Certificate[] = [];

  const labels = Int32Array.from({ length: B }, (_, b) => data.labels[start + b]!);
  const xs = data.x.subarray(start * per, end * per);
  const x = tf.tensor(xs, [B, ...net.inputShape]);
  const labelsT = tf.tensor1d(labels, 'int32');
  try {
    const logits = tf.tidy(() => net.logits(x));
    const logitRows = await logits.data();
    logits.dispose();
    const prediction = Array.from({ length: B }, (_, b) => predict(logitRows.subarray(b * K, (b + 1) * K)));
    const correct = prediction.map((p, b) => p === labels[b]);

    for (const [ei, eps] of s.eps.entries()) {
      const attack = pgdOn
        ? await pgdAttack(
            { logits: (xx) => net.logits(xx), classes: K, domain: net.domain },
            x,
            labels,
            eps,
            { ...s.pgd, seed: s.pgd.seed + 7919 * start + 104729 * ei, stepSize: s.pgdStep(eps) },
            correct.map((c) => !c),
          )
        : undefined;
      const confirmCaches = Array.from({ length: B }, (): ConfirmCache => new Map());
      // IBP ignores the line strategy: computed once per ε and reused for every strategy. A
      // CROWN-IBP / CROWN-LBP pass carries the IBP / LBP margins of the same pass (`base`), so
      // when both rows are asked for, one pass serves both.
      const cache = new Map<string, BatchBounds>();
      const keyFor = (m: BoundMethod, l: LineStrategy): string => (m === 'ibp' ? 'ibp' : `${m}|${l}`);
      const boundsFor = async (method: VerifyMethod, lines: LineStrategy): Promise<BatchBounds> => {
        if (method === 'alpha-crown') {
          // α-CROWN ignores the line strategy (it optimises the slopes): once per ε
          const hit = cache.get('alpha-crown') ?? alphaBounds(s.alpha, xs, per, labels, correct, eps, K);
          cache.set('alpha-crown', hit);
          return hit;
        }
        const hit = cache.get(keyFor(method, lines));
        if (hit) return hit;
        const hybrid = HYBRID_OF[method];
        if (hybrid && s.methods.includes(hybrid) && !acc.get(keyOf(eps, hybrid, lines))!.refused) {
          try {
            const both = await batchBounds(net, x, eps, hybrid, lines, labelsT);
            cache.set(keyFor(hybrid, lines), both);
            if (both.base) {
              cache.set(keyFor(method, lines), both.base);
              return both.base;
            }
          } catch (e) {
            if (!(e instanceof BoundRefusal)) throw e;
            // the hybrid refused: its own row records that; the base method runs alone below
          }
        }
        const got = await batchBounds(net, x, eps, method, lines, labelsT);
        cache.set(keyFor(method, lines), got);
        const baseOf = BASE_OF[method];
        if (got.base && baseOf && !cache.has(keyFor(baseOf, lines)))
          cache.set(keyFor(baseOf, lines), got.base);
        return got;
      };
      for (const method of s.methods) {
        for (const lines of s.lines) {
          const row = acc.get(keyOf(eps, method, lines))!;
          if (row.refused !== undefined) continue;
          let got: BatchBounds;
          try {
            got = await boundsFor(method, lines);
          } catch (e) {
            if (!(e instanceof BoundRefusal)) throw e;
            row.refused = e.message;
            continue;
          }
          if (got.sharedWith) row.sharedWith = got.sharedWith;
          row.seconds += got.seconds;
          for (let b = 0; b < B; b++) {
            const lower = got.lower.subarray(b * (K - 1), (b + 1) * (K - 1));
            const badLayer = got.badLayer[b];
            const skipped = got.skipped?.[b] ?? false;
            const finite = skipped || (allFinite(lower) && badLayer === undefined);
            const v = verdict(lower, correct[b]!, finite);
            const conf =
              v.verified && s.confirm
                ? method === 'alpha-crown'
                  ? confirmAlpha(
                      s.confirm,
                      xs.subarray(b * per, (b + 1) * per),
                      labels[b]!,
                      eps,
                      lines,
                      confirmCaches[b]!,
                    )
                  : s.confirm(
                      xs.subarray(b * per, (b + 1) * per),
                      labels[b]!,
                      eps,
                      method,
                      lines,
                      confirmCaches[b]!,
                    )
                : undefined;
            const verified = v.verified && (s.confirm === undefined || conf!.confirmed);
            const broken = attack?.broken[b] ?? false;
            row.n++;
            if (!correct[b]) row.misclassified++;
            if (broken) row.pgdBroken++;
            if (verified) row.verified++;
            if (v.verified && !verified) {
              row.unconfirmed++;
              warnings.push(
                `sample ${indexOf(start + b)} (${method}, ${lines} lines, ε=${eps}): verified in ${method === 'alpha-crown' ? 'float64' : 'float32'} but not confirmed by the rigorous check (best margin lower bound ${Math.min(...conf!.lower).toPrecision(4)}); not verified`,
              );
            }
            for (const val of skipped ? [] : lower) {
              if (Number.isFinite(val)) {
                row.marginSum += val;
                row.marginCount++;
              }
            }
            if (!finite) {
              row.nonFinite++;
              const where =
                badLayer === undefined ? 'in the margin bounds only' : `first at layer ${badLayer}`;
              warnings.push(
                `sample ${indexOf(start + b)} (${method}, ${lines} lines, ε=${eps}): NaN/Inf in the bounds, ${where}; not verified`,
              );
            }
            if (v.verified && broken) {
              violations.push(
                violation(indexOf(start + b), labels[b]!, eps, method, lines, lower, attack!.adversarial[b]),
              );
            }
            if (s.certificates) {
              const nul = (z: number): number | null => (Number.isFinite(z) ? z : null);
              certificates.push({
                index: indexOf(start + b),
                label: labels[b]!,
                prediction: prediction[b]!,
                method,
                lines,
                eps,
                marginClasses: marginClasses(labels[b]!, K),
                marginLower: Array.from(lower, (z) => (skipped ? null : nul(z))),
                float32Verified: v.verified,
                confirmed: conf?.confirmed ?? false,
                verified,
                rigorousLower: conf ? conf.lower.map(nul) : null,
                checks: conf?.checks ?? [],
                pgd: !correct[b] ? 'misclassified' : !pgdOn ? 'not-run' : broken ? 'broken' : 'held',
              });
            }
          }
        }
      }
    }
  } finally {
    tf.dispose([x, labelsT]);
  }
  return {
    batch,
    n: B,
    seconds: (performance.now() - t0) / 1000,
    rows: rowKeys(s).map(([eps, m, l]) => acc.get(keyOf(eps, m, l))!),
    warnings,
    violations,
    certificates,
  };
}

/**
 * The report of a whole evaluation from its batch outcomes (any order; combined in batch order).
 * A row's counts stop at the first batch where its method refused, as in a sequential run.
 */
export function combineBatches(
  N: number,
  s: Pick<EvalSettings, 'eps' | 'methods' | 'lines' | 'pgd'>,
  outcomes: readonly BatchOutcome[],
): EvalReport {
  const sorted = [...outcomes].sort((a, b) => a.batch - b.batch);
  const keys = rowKeys(s);
  const pgdOn = s.pgd.restarts > 0;
  const acc = keys.map(emptyAcc);
  const warnings: string[] = [];
  const violations: SoundnessViolation[] = [];
  const certificates: Certificate[] = [];
  for (const o of sorted) {
    o.rows.forEach((r, i) => {
      const a = acc[i]!;
      if (a.refused !== undefined) return;
      a.n += r.n;
      a.misclassified += r.misclassified;
      a.pgdBroken += r.pgdBroken;
      a.verified += r.verified;
      a.unconfirmed += r.unconfirmed;
      a.marginSum += r.marginSum;
      a.marginCount += r.marginCount;
      a.nonFinite += r.nonFinite;
      a.seconds += r.seconds;
      if (r.refused !== undefined) a.refused = r.refused;
      if (r.sharedWith !== undefined) a.sharedWith = r.sharedWith;
    });
    warnings.push(...o.warnings);
    violations.push(...o.violations);
    certificates.push(...o.certificates);
  }
  const rows: ResultRow[] = keys.map(([eps, method, lines], i) => {
    const a = acc[i]!;
    const pct = (c: number): number => (a.n > 0 ? (100 * c) / a.n : 0);
    return {
      eps,
      method,
      lines,
      n: a.n,
      misclassified: a.misclassified,
      pgdBroken: pgdOn ? a.pgdBroken : null,
      verified: a.verified,
      unconfirmed: a.unconfirmed,
      cleanErrPct: pct(a.misclassified),
      pgdErrPct: pgdOn ? pct(a.pgdBroken) : null,
      verifiedErrPct: a.n > 0 ? pct(a.n - a.verified) : 100,
      meanMarginLower: a.marginCount > 0 ? a.marginSum / a.marginCount : null,
      nonFinite: a.nonFinite,
      seconds: a.seconds,
      ...(a.refused !== undefined ? { refused: a.refused } : {}),
      ...(a.sharedWith !== undefined ? { sharedWith: a.sharedWith } : {}),
    };
  });
  return { n: N, rows, violations, warnings, certificates };
}

/** The classes j ≠ y of the margins z_y − z_j, ascending (the runtime's marginSpec order). */
export function marginClasses(label: number, K: number): number[] {
  return [...Array(K).keys()].filter((j) => j !== label);
}

/** One method's margin lower bounds for a batch, and per sample the first layer with NaN/Inf bounds. */
interface BatchBounds {
  readonly lower: Float32Array | Float64Array;
  /** Per sample: not bounded (alpha-crown skips misclassified samples). */
  readonly skipped?: readonly boolean[];
  readonly badLayer: readonly (string | undefined)[];
  readonly seconds: number;
  /** The base method's margins from the same pass (CROWN-IBP → IBP, CROWN-LBP → LBP). */
  readonly base?: BatchBounds;
  /** Set on a `base`: the method whose pass produced it. */
  readonly sharedWith?: BoundMethod;
}

/** The forward method under each hybrid, and back. */
const BASE_OF: Partial<Record<BoundMethod, BoundMethod>> = { 'crown-ibp': 'ibp', 'crown-lbp': 'lbp' };
const HYBRID_OF: Partial<Record<BoundMethod, BoundMethod>> = { ibp: 'crown-ibp', lbp: 'crown-lbp' };

async function batchBounds(
  net: Verifiable,
  x: tf.Tensor,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
  labels: tf.Tensor1D,
): Promise<BatchBounds> {
  const t0 = performance.now();
  const r = net.bounds(x, eps, method, lines, labels);
  try {
    const lower = (await r.lower.data()) as Float32Array;
    const baseLower = r.base && BASE_OF[method] ? ((await r.base.lower.data()) as Float32Array) : undefined;
    const layers: FlatLayerBounds[] = [];
    for (const L of r.intermediate ?? [])
      layers.push({ layer: L.layer, lower: await L.lower.data(), upper: await L.upper.data() });
    const B = x.shape[0]!;
    const badLayer = Array.from({ length: B }, (_, b) => firstNonFiniteLayer(layers, b, B));
    const seconds = (performance.now() - t0) / 1000;
    return {
      lower,
      badLayer,
      seconds,
      ...(baseLower ? { base: { lower: baseLower, badLayer, seconds, sharedWith: method } } : {}),
    };
  } finally {
    disposeResult(r);
  }
}

/**
 * The rigorous check of an α-CROWN claim: the cascade of a CROWN claim (IBP, CROWN-IBP, CROWN)
 * with the row's line strategy, then with the other of tight / adaptive (α-CROWN starts from the
 * better of both slope choices, so either may be the one that holds); the best rigorous bound per
 * margin counts (a maximum of sound lower bounds is sound). What only the optimised slopes prove
 * stays unconfirmed: the rigorous checker has no α-CROWN pass.
 */
function confirmAlpha(
  confirm: SampleConfirmer,
  x: Float32Array,
  label: number,
  eps: number,
  lines: LineStrategy,
  cache: ConfirmCache,
): Confirmation {
  const first = confirm(x, label, eps, 'crown', lines, cache);
  if (first.confirmed) return first;
  const other: LineStrategy = lines === 'tight' ? 'adaptive' : 'tight';
  const second = confirm(x, label, eps, 'crown', other, cache);
  const lower = first.lower.map((v, j) => Math.max(v, second.lower[j]!));
  return {
    confirmed: lower.length > 0 && lower.every((v) => v > 0),
    lower,
    checks: [...first.checks, ...second.checks.filter((c) => !first.checks.includes(c))],
  };
}

/** The alpha-crown margins of a batch, one sample at a time (misclassified ones skipped). */
function alphaBounds(
  alpha: EvalSettings['alpha'],
  xs: Float32Array,
  per: number,
  labels: Int32Array,
  correct: readonly boolean[],
  eps: number,
  K: number,
): BatchBounds {
  if (alpha === undefined)
    throw new BoundRefusal('the float64 network of the complete verifier is not loaded here');
  if ('refused' in alpha) throw new BoundRefusal(alpha.refused);
  const t0 = performance.now();
  const B = labels.length;
  const lower = new Float64Array(B * (K - 1));
  const badLayer: (string | undefined)[] = [];
  const skipped: boolean[] = [];
  for (let b = 0; b < B; b++) {
    skipped.push(!correct[b]);
    if (!correct[b]) {
      lower.fill(-Infinity, b * (K - 1), (b + 1) * (K - 1));
      badLayer.push(undefined);
      continue;
    }
    const r = alpha(xs.subarray(b * per, (b + 1) * per), labels[b]!, eps);
    lower.set(r.lower, b * (K - 1));
    badLayer.push(r.badLayer);
  }
  return { lower, badLayer, skipped, seconds: (performance.now() - t0) / 1000 };
}

function violation(
  index: number,
  label: number,
  eps: number,
  method: VerifyMethod,
  lines: LineStrategy,
  lower: Float32Array | Float64Array,
  witness: Witness,
): SoundnessViolation {
  return {
    index,
    label,
    eps,
    method,
    lines,
    minMarginLower: Math.min(...lower),
    witnessLogits: witness ? Array.from(witness.logits) : [],
    restart: witness?.restart ?? -1,
  };
}
