/**
 * The `alpha-crown` row of `vnet verify`: per sample, the margin lower bounds z_y − z_j (j ≠ y
 * ascending) over B(x, ε) ∩ domain by α-CROWN on the float64 network of the complete verifier
 * (src/complete/spec-net.ts: the spec's chain lowered to sparse affine maps and ReLUs, BatchNorm
 * folded in evaluation mode).
 *
 * Per sample: CROWN pre-activation bounds of every ReLU layer (intersected with IBP; by default
 * each neuron's bound is the better of the adaptive lower slopes and slope 0), computed once and
 * shared by the K − 1 margin rows; each margin's CROWN bound (the better of the same two slope
 * choices); then
 * the margins CROWN leaves ≤ 0, the worst first, get their lower slopes optimised by projected
 * Adam (`optimizeRow`, which keeps the best bound seen, so every margin is ≥ its CROWN bound: α-CROWN
 * is never looser than CROWN), stopping as soon as the bound is > 0. Once one margin stays ≤ 0
 * after the optimisation the sample cannot be verified, and by default (`giveUp`) the remaining
 * margins keep their CROWN bounds (still sound lower bounds, just not optimised). The intermediate
 * bounds are CROWN's (not re-optimised per neuron as in auto_LiRPA's full α-CROWN).
 *
 * Everything is float64 in round-to-nearest without outward rounding: a verdict of this row is a
 * float64 verdict, which the evaluation loop re-checks with the rigorous binary64 cascade
 * (src/verify/rigorous: IBP, CROWN-IBP, CROWN, outward rounded); a sample that only the optimised
 * slopes prove is counted as unconfirmed (not verified).
 */
import { readSafetensors } from '../runtime/io/safetensors.js';
import { checkOrThrow } from '../codegen/load.js';
import { hwcToChw } from '../runtime/layout.js';
import { UserError } from '../base/errors.js';
import {
  crownBounds,
  initParams,
  optimizeRow,
  rowBound,
  type Box,
  type IntermediateSlopes,
  type RowParams,
} from '../complete/crown.js';
import type { SeqNet } from '../complete/onnx-net.js';
import { specToSeqNet } from '../complete/spec-net.js';

export interface AlphaRowOptions {
  /** Adam steps per margin (the root iterations of the complete verifier). */
  readonly iterations: number;
  readonly lrAlpha: number;
  /** Stop optimising a sample once one of its margins stays ≤ 0 (it cannot be verified). */
  readonly giveUp: boolean;
  /** Lower slopes of the CROWN intermediate bounds (`both`: adaptive and 0, the better per neuron). */
  readonly intermediate: IntermediateSlopes;
}

export const DEFAULT_ALPHA_ROW: AlphaRowOptions = {
  iterations: 20,
  lrAlpha: 0.1,
  giveUp: true,
  intermediate: 'both',
};

/** One sample's α-CROWN margins. */
export interface AlphaSample {
  /** Margin lower bounds, j ≠ label ascending (NaN where the bounds were not finite). */
  readonly lower: Float64Array;
  /** CROWN's margin lower bounds (the starting point; `lower` ≥ these). */
  readonly crownLower: Float64Array;
  /** Margins whose slopes were optimised (CROWN proved the others, or the sample gave up). */
  readonly optimised: number;
  /** The first ReLU layer (0-based, of the float64 network) with non-finite bounds, if any. */
  readonly badLayer?: string;
}

const finite = (a: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
};

/** α-CROWN margin lower bounds of `label` over `box` (C,H,W raw input, as the SeqNet takes it). */
export function alphaMargins(
  net: SeqNet,
  box: Box,
  label: number,
  o: AlphaRowOptions = DEFAULT_ALPHA_ROW,
): AlphaSample {
  const K = net.nOut;
  const cb = crownBounds(net, box, undefined, Infinity, o.intermediate);
  const bad = cb.lo.findIndex((l, j) => !finite(l) || !finite(cb.hi[j]!));
  if (bad >= 0) {
    const nan = new Float64Array(K - 1).fill(NaN);
    return {
      lower: nan,
      crownLower: nan.slice(),
      optimised: 0,
      badLayer: `ReLU ${bad} of the float64 network`,
    };
  }
  // two CROWN starts per margin: the adaptive slopes (1 where u > −l) and 0 (IBP-trained nets
  // often prefer it); the better one is the margin's CROWN bound and the optimisation's start
  const adaptive = initParams(cb);
  const zero: RowParams = {
    alpha: cb.lo.map((l) => new Float64Array(l.length)),
    beta: cb.lo.map((l) => new Float64Array(l.length)),
  };
  const m = net.layers.length - 1;
  const rows: Float64Array[] = [];
  for (let j = 0; j < K; j++) {
    if (j === label) continue;
    const l = new Float64Array(K);
    l[label] = 1;
    l[j] = -1;
    rows.push(l);
  }
  const starts = rows.map((l) => {
    const a = rowBound(net, m, l, cb, box, undefined, adaptive, false).lb;
    const z = rowBound(net, m, l, cb, box, undefined, zero, false).lb;
    return z > a ? { lb: z, p: zero } : { lb: a, p: adaptive };
  });
  const crownLower = Float64Array.from(starts, (st) => st.lb);
  const lower = crownLower.slice();
  const order = [...rows.keys()].sort((a, b) => crownLower[a]! - crownLower[b]! || a - b);
  let optimised = 0;
  let failed = false;
  for (const r of order) {
    if (lower[r]! > 0 || !Number.isFinite(lower[r]!)) continue;
    if (failed && o.giveUp) break;
    const best = optimizeRow(net, rows[r]!, cb, box, undefined, starts[r]!.p, {
      iterations: o.iterations,
      lrAlpha: o.lrAlpha,
      lrBeta: 0,
      target: 0,
    });
    lower[r] = Math.max(lower[r]!, best.lb);
    optimised++;
    if (!(lower[r]! > 0)) failed = true;
  }
  return { lower, crownLower, optimised };
}

/** α-CROWN margins of one raw sample in the runtime's internal layout (H,W,C for maps). */
export type AlphaRunner = (x: Float32Array, label: number, eps: number) => AlphaSample;

/** The runner for a SeqNet with the spec's input shape and domain. */
export function alphaRunner(
  net: SeqNet,
  shape: readonly number[],
  domain: readonly [number, number],
  o: AlphaRowOptions = DEFAULT_ALPHA_ROW,
): AlphaRunner {
  const toTorch =
    shape.length === 3
      ? (x: Float32Array): Float32Array => hwcToChw(x, shape[0]!, shape[1]!, shape[2]!)
      : (x: Float32Array): Float32Array => x;
  return (xi, label, eps) => {
    const x = toTorch(xi);
    const box = {
      lo: Float64Array.from(x, (v) => Math.max(v - eps, domain[0])),
      hi: Float64Array.from(x, (v) => Math.min(v + eps, domain[1])),
    };
    return alphaMargins(net, box, label, o);
  };
}

/**
 * The alpha-crown runner of a spec and weight file, or the reason the network cannot have one
 * (the UserError of `specToSeqNet`: a layer the complete verifier does not handle).
 */
export function loadAlphaRunner(specPath: string, weightsPath: string): AlphaRunner | { refused: string } {
  const model = checkOrThrow(specPath);
  let net: SeqNet;
  try {
    net = specToSeqNet(model, readSafetensors(weightsPath).tensors);
  } catch (e) {
    if (e instanceof UserError) return { refused: e.message };
    throw e;
  }
  return alphaRunner(net, model.input.shape, model.input.domain);
}
