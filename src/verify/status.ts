/**
 * Neuron-status statistics from pre-activation bounds [l, u] (paper Fig. 4/5, paper-notes §1).
 * ReLU and LeakyReLU neurons are dead (u ≤ 0), alive (l ≥ 0, u > 0) or unstable (l < 0 < u).
 * ParamRamp neurons with bending point r > 0 are in one of six states, tested in this order:
 * left dead (u ≤ 0), right dead (l ≥ r), then for l < 0 left unstable (u ≤ r) or unstable (u > r),
 * and for 0 ≤ l < r alive (u ≤ r) or right unstable (u > r). Pure functions on plain arrays.
 */

export const RELU_STATUSES = ['dead', 'unstable', 'alive'] as const;
export const RAMP_STATUSES = [
  'left dead',
  'left unstable',
  'alive',
  'right unstable',
  'right dead',
  'unstable',
] as const;

export type ReluStatus = (typeof RELU_STATUSES)[number];
export type RampStatus = (typeof RAMP_STATUSES)[number];
export type NeuronStatus = ReluStatus | RampStatus;

/** Status of a ReLU / LeakyReLU neuron with pre-activation bounds [l, u]. */
export function reluStatus(l: number, u: number): ReluStatus {
  if (u <= 0) return 'dead';
  if (l >= 0) return 'alive';
  return 'unstable';
}

/** Status of a ParamRamp neuron with pre-activation bounds [l, u] and bending point r > 0. */
export function rampStatus(l: number, u: number, r: number): RampStatus {
  if (u <= 0) return 'left dead';
  if (l >= r) return 'right dead';
  if (l < 0) return u <= r ? 'left unstable' : 'unstable';
  return u <= r ? 'alive' : 'right unstable';
}

/** Per-layer statistics: how many neurons (over all samples) are in each status. */
export interface LayerStatus {
  readonly layer: string;
  readonly kind: 'relu' | 'leaky_relu' | 'paramramp';
  /** Neurons × samples counted (those with finite bounds). */
  readonly total: number;
  /** Neurons × samples skipped because a bound was NaN or ±Inf. */
  readonly nonFinite: number;
  /** Count per status, in the order of RELU_STATUSES or RAMP_STATUSES. */
  readonly counts: Readonly<Record<string, number>>;
  /** Same as counts, in percent of total. */
  readonly percent: Readonly<Record<string, number>>;
}

/**
 * Counts the statuses of one activation layer. `lower`/`upper` are the flattened pre-activation
 * bounds of a batch ([B·n] row-major); for ParamRamp, `r` holds the n per-neuron bending points
 * in the same (internal) order, already clamped as the network uses them.
 */
export function layerStatus(
  layer: string,
  kind: LayerStatus['kind'],
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
  r?: ArrayLike<number>,
): LayerStatus {
  const names: readonly string[] = kind === 'paramramp' ? RAMP_STATUSES : RELU_STATUSES;
  const counts: Record<string, number> = Object.fromEntries(names.map((s) => [s, 0]));
  if (kind === 'paramramp' && (r === undefined || r.length === 0 || lower.length % r.length !== 0)) {
    throw new Error(`layer ${layer}: ParamRamp status needs r with one value per neuron`);
  }
  let nonFinite = 0;
  for (let i = 0; i < lower.length; i++) {
    if (!Number.isFinite(lower[i]!) || !Number.isFinite(upper[i]!)) {
      nonFinite++;
      continue;
    }
    const s =
      kind === 'paramramp'
        ? rampStatus(lower[i]!, upper[i]!, r![i % r!.length]!)
        : reluStatus(lower[i]!, upper[i]!);
    counts[s]!++;
  }
  const total = lower.length - nonFinite;
  return { layer, kind, total, nonFinite, counts, percent: toPercent(counts, total) };
}

/** Adds the counts of two statistics of the same layer (e.g. two batches). */
export function mergeStatus(a: LayerStatus, b: LayerStatus): LayerStatus {
  const counts: Record<string, number> = {};
  for (const k of Object.keys(a.counts)) counts[k] = a.counts[k]! + (b.counts[k] ?? 0);
  const total = a.total + b.total;
  return { ...a, total, nonFinite: a.nonFinite + b.nonFinite, counts, percent: toPercent(counts, total) };
}

function toPercent(counts: Readonly<Record<string, number>>, total: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, total > 0 ? (100 * v) / total : 0]));
}
