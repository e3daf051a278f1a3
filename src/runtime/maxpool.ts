/**
 * Runtime primitives of `maxpool` (src/ops/maxpool.ts): the clean forward pass and IBP (exact:
 * max is monotone in each input, so [maxpool(l), maxpool(u)]), the relaxation of maxpool-lines.ts
 * evaluated on tfjs tensors, and the LBP and CROWN steps through it.
 *
 * Window cells: `patches` lays the K = kh·kw cells of every output's window along a last axis
 * ([B, Ho, Wo, C, K]) with one convolution by a fixed one-hot kernel (channels moved to the batch
 * axis), and `unpatch` is its transpose (the same kernel in a transposed convolution), which sums
 * each cell's coefficient back onto the input position it reads: the LBP step gathers the forms of
 * the cells, the CROWN step scatters the coefficients of the outputs onto them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { toDense, type BackState } from './back.js';
import { crownBudgetFloats, MemoryBudgetError, mib } from './budget.js';
import type { IbpState } from './ibp.js';
import { batchedForms, type LbpState } from './lbp.js';
import { maxPoolLines } from './maxpool-lines.js';
import { tfNum } from './num.js';
import type { LineStrategy } from './types.js';

/** Geometry of a max pooling node (internal [H, W, C] shapes). */
export interface MaxPoolCfg {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly inShape: readonly [number, number, number];
  readonly outShape: readonly [number, number, number];
}

/** The lines of one max pooling call: per cell coefficients [B, Ho, Wo, C, K], constants [B, Ho, Wo, C]. */
export interface PoolRelaxation {
  readonly aL: tf.Tensor;
  readonly aU: tf.Tensor;
  readonly cL: tf.Tensor;
  readonly cU: tf.Tensor;
}

/** Max pooling of NHWC maps (no padding). */
export function maxPool(x: tf.Tensor, cfg: MaxPoolCfg): tf.Tensor4D {
  return tf.maxPool(x as tf.Tensor4D, [...cfg.kernel], [...cfg.stride], 'valid');
}

/** IBP through max pooling: [maxpool(l), maxpool(u)], exact. */
export function ibpMaxPool(s: IbpState, cfg: MaxPoolCfg): IbpState {
  return { x: s.x && maxPool(s.x, cfg), l: maxPool(s.l, cfg), u: maxPool(s.u, cfg) };
}

const kernels = new Map<string, tf.Tensor4D>();

/** The one-hot kernel [kh, kw, 1, K]: cell k = dy·kw + dx of the window to channel k. */
function cellKernel(kh: number, kw: number): tf.Tensor4D {
  const key = `${tf.getBackend()}:${kh}:${kw}`;
  let t = kernels.get(key);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.tidy(() => tf.reshape(tf.eye(kh * kw), [kh, kw, 1, kh * kw]) as tf.Tensor4D));
    kernels.set(key, t);
  }
  return t;
}

/** [N, H, W, C] → [N, Ho, Wo, C, K]: the K cells of every output's window. */
export function patches(t: tf.Tensor, cfg: MaxPoolCfg): tf.Tensor {
  const [H, W, C] = cfg.inShape;
  const [Ho, Wo] = cfg.outShape;
  const K = cfg.kernel[0] * cfg.kernel[1];
  const n = t.shape[0]!;
  const planes = tf.reshape(tf.transpose(tf.reshape(t, [n, H, W, C]), [0, 3, 1, 2]), [n * C, H, W, 1]);
  const cells = tf.conv2d(
    planes as tf.Tensor4D,
    cellKernel(cfg.kernel[0], cfg.kernel[1]),
    [...cfg.stride],
    'valid',
  );
  return tf.transpose(tf.reshape(cells, [n, C, Ho, Wo, K]), [0, 2, 3, 1, 4]);
}

/** The transpose of `patches`: [N, Ho, Wo, C, K] → [N, H, W, C], each cell added onto its input. */
export function unpatch(x: tf.Tensor, cfg: MaxPoolCfg): tf.Tensor4D {
  const [H, W, C] = cfg.inShape;
  const [Ho, Wo] = cfg.outShape;
  const K = cfg.kernel[0] * cfg.kernel[1];
  const n = x.shape[0]!;
  const planes = tf.reshape(tf.transpose(x, [0, 3, 1, 2, 4]), [n * C, Ho, Wo, K]);
  const back = tf.conv2dTranspose(
    planes as tf.Tensor4D,
    cellKernel(cfg.kernel[0], cfg.kernel[1]),
    [n * C, H, W, 1],
    [...cfg.stride],
    'valid',
  );
  return tf.transpose(tf.reshape(back, [n, C, H, W]), [0, 2, 3, 1]) as tf.Tensor4D;
}

/** The lines of max pooling on the input bounds [l, u] ([B, H, W, C]) for the given strategy. */
export function maxPoolRelax(
  l: tf.Tensor,
  u: tf.Tensor,
  cfg: MaxPoolCfg,
  lines: LineStrategy,
): PoolRelaxation {
  const lP = tf.unstack(patches(l, cfg), 4);
  const uP = tf.unstack(patches(u, cfg), 4);
  const r = maxPoolLines(tfNum, lP, uP, lines);
  return { aL: tf.stack([...r.aL], 4), aU: tf.stack([...r.aU], 4), cL: r.cL, cU: r.cU };
}

/** Refuses a step over the memory budget (`need` float32 values), like LBP's other steps. */
function guard(what: string, need: number, shape: readonly number[]): void {
  const budget = crownBudgetFloats();
  if (need > budget)
    throw new MemoryBudgetError(
      `${what} needs about ${mib(need)} MiB for its linear bounds at a max pooling of shape [${shape.join(', ')}], ` +
        `over the budget of ${mib(budget)} MiB`,
      ['use a smaller batch, or raise the budget with VNET_CROWN_BUDGET_MB'],
    );
}

/** Mid/rad coefficients of the cells, (aU + aL)/2 and (aU − aL)/2. */
const midRad = (rel: PoolRelaxation): [tf.Tensor, tf.Tensor] => [
  tf.mul(tf.add(rel.aU, rel.aL), 0.5),
  tf.mul(tf.sub(rel.aU, rel.aL), 0.5),
];

/**
 * LBP through max pooling with lines `rel` (aL, aU ≥ 0): per output, the lower form Σ aL_k·L_k + cL
 * and the upper form Σ aU_k·U_k + cU of its cells' forms, in mid/rad form
 * M' = Σ (m_k·M_k + r_k·R_k), R' = Σ (r_k·M_k + m_k·R_k); l and u become the exact interval
 * [maxpool(l), maxpool(u)] (LBP concretizes after affine layers, as after activations).
 */
export function lbpMaxPool(s: LbpState, rel: PoolRelaxation, cfg: MaxPoolCfg): LbpState {
  const B = s.l.shape[0]!;
  const n0 = s.box.n0;
  const inShape = s.l.shape.slice(1);
  const [Ho, Wo, C] = cfg.outShape;
  const K = cfg.kernel[0] * cfg.kernel[1];
  guard('LBP', B * n0 * (2 * numel(inShape) + 4 * Ho * Wo * C * K), cfg.outShape);
  const [m, r] = midRad(rel);
  const [m6, r6] = [m, r].map((t) => tf.reshape(t, [B, 1, Ho, Wo, C, K]));
  const sumCells = (t: tf.Tensor): tf.Tensor => tf.sum(t, -1);
  const f = batchedForms(s, inShape);
  const cellsOf = (t: tf.Tensor): tf.Tensor => tf.reshape(patches(t, cfg), [B, n0, Ho, Wo, C, K]);
  const Mp = cellsOf(f.M);
  const Rp = f.R === null ? null : cellsOf(f.R);
  const comb = (a: tf.Tensor, x: tf.Tensor, b: tf.Tensor, y: tf.Tensor | null): tf.Tensor =>
    tf.reshape(sumCells(y === null ? tf.mul(a, x) : tf.add(tf.mul(a, x), tf.mul(b, y))), [B * n0, Ho, Wo, C]);
  const M = comb(m6!, Mp, r6!, Rp);
  const R = comb(r6!, Mp, m6!, Rp);
  // the forms at the box centre, biases included
  const mP = patches(s.m, cfg);
  const rP = s.r === null ? null : patches(s.r, cfg);
  const cm = tf.mul(tf.add(rel.cU, rel.cL), 0.5);
  const cr = tf.mul(tf.sub(rel.cU, rel.cL), 0.5);
  const centre = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Tensor =>
    tf.add(sumCells(rP === null ? tf.mul(a, mP) : tf.add(tf.mul(a, mP), tf.mul(b, rP))), c);
  return {
    x: s.x && maxPool(s.x, cfg),
    l: maxPool(s.l, cfg),
    u: maxPool(s.u, cfg),
    m: centre(m, r, cm),
    r: centre(r, m, cr),
    forms: { kind: 'batched', M, R },
    box: s.box,
    win: null,
  };
}

/**
 * CROWN back through max pooling with lines `rel`: a coefficient a of an output takes the lower
 * line where a ≥ 0 and the upper one where a < 0 on the lower side (the reverse on the upper
 * side), i.e. per cell a·m_k ∓ |a|·r_k, scattered onto the cell's input; c += a·cm ∓ |a|·cr.
 */
export function backMaxPool(f0: BackState, rel: PoolRelaxation, cfg: MaxPoolCfg): BackState {
  const [Ho, Wo, C] = cfg.outShape;
  const K = cfg.kernel[0] * cfg.kernel[1];
  const nOut = Ho * Wo * C;
  const d = toDense(f0, cfg.outShape);
  const B = d.batch;
  const rows = d.rows;
  const S = d.shared ? 1 : B;
  const [m, r] = midRad(rel);
  const [m6, r6] = [m, r].map((t) => tf.reshape(t, [B, 1, Ho, Wo, C, K]));
  const cm = tf.reshape(tf.mul(tf.add(rel.cU, rel.cL), 0.5), [B, 1, nOut]);
  const cr = tf.reshape(tf.mul(tf.sub(rel.cU, rel.cL), 0.5), [B, 1, nOut]);
  const side = (A0: tf.Tensor, c: tf.Tensor | null, sign: 1 | -1): [tf.Tensor, tf.Tensor] => {
    const A = tf.reshape(A0, [S, rows, Ho, Wo, C, 1]);
    const abs = tf.abs(A);
    const pm = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => (sign > 0 ? tf.add(x, y) : tf.sub(x, y));
    const cells = tf.reshape(pm(tf.mul(A, m6!), tf.mul(abs, r6!)), [B * rows, Ho, Wo, C, K]);
    const A3 = tf.reshape(A, [S, rows, nOut]);
    const bias = tf.sum(pm(tf.mul(A3, cm), tf.mul(tf.abs(A3), cr)), 2); // [B, rows]
    return [unpatch(cells, cfg), c === null ? bias : tf.add(c, bias)];
  };
  const [AL, cL] = side(d.forms.AL, d.cL, -1);
  const [AU, cU] = d.forms.AU === null ? [null, null] : side(d.forms.AU, d.cU, 1);
  const sides = d.lowerOnly ? 1 : 2;
  return {
    ...d,
    forms: { kind: 'dense', AL, AU, cols: null },
    cL,
    cU,
    shared: false,
    peak: Math.max(d.peak, sides * (2 * nOut * K + numel(cfg.inShape))),
  };
}
