/**
 * Runtime primitives of the linear graph operators without weights: elementwise constants
 * (src/ops/add.ts with a constant, sub.ts, mul.ts, div.ts), concatenation (concat.ts), and the
 * permutations of values (reshape.ts, transpose.ts, and a flatten that must keep torch's C,H,W
 * order, flatten.ts).
 *
 * - A constant op is the per-channel affine map x·scale + shift, so it reuses BatchNorm's
 *   channel-affine primitives (graph.ts): exact IBP, a diagonal dense map (vectors) or a diagonal
 *   1x1 convolution (maps) in LBP and CROWN.
 * - Concatenation along channels is the last axis of the internal layout (NHWC maps, vectors):
 *   IBP and LBP concatenate bounds and linear forms (exact: concretization is per neuron), CROWN
 *   splits the coefficients over the inputs (the constant terms go back along the first one).
 * - A permutation maps internal flat index k of the output to internal flat index idx[k] of the
 *   input (both layouts: maps H,W,C, vectors in order); IBP and LBP gather bounds and forms by
 *   idx, CROWN gathers the coefficient columns by the inverse permutation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { toDense, type BackState } from './back.js';
import type { ChannelAffine } from './graph.js';
import type { IbpState } from './ibp.js';
import { batchedForms, type LbpState } from './lbp.js';
import type { Conv2dCfg } from './types.js';

/* ---- elementwise constants ---- */

/** x·scale + shift with constants per channel (maps: over the last axis) or feature (vectors). */
export interface ConstAffineCfg {
  readonly scale: readonly number[];
  readonly shift: readonly number[];
  /** The 1x1 convolution that LBP and CROWN run on maps; null on vectors. */
  readonly conv: Conv2dCfg | null;
}

const affines = new WeakMap<ConstAffineCfg, Map<string, ChannelAffine>>();

/** The constant scale and shift tensors of a config, made once per backend (kept). */
export function constAffine(cfg: ConstAffineCfg): ChannelAffine {
  let byBackend = affines.get(cfg);
  if (!byBackend) {
    byBackend = new Map();
    affines.set(cfg, byBackend);
  }
  const key = tf.getBackend();
  let a = byBackend.get(key);
  if (!a || a.scale.isDisposed || a.shift.isDisposed) {
    a = {
      scale: tf.keep(tf.tensor1d([...cfg.scale])),
      shift: tf.keep(tf.tensor1d([...cfg.shift])),
    };
    byBackend.set(key, a);
  }
  return a;
}

/* ---- concatenation along the last (channel) axis ---- */

/** Internal shapes of the inputs of a concat (no batch). */
export interface ConcatCfg {
  readonly shapes: readonly (readonly number[])[];
}

const last = (t: tf.Tensor): number => t.rank - 1;

/** The concatenation of values along channels (features). */
export const concatValues = (xs: readonly tf.Tensor[]): tf.Tensor => tf.concat([...xs], last(xs[0]!));

/** IBP: bounds concatenate (exact). */
export function ibpConcat(ss: readonly IbpState[]): IbpState {
  const xs = ss.map((s) => s.x);
  return {
    x: xs.every((x) => x !== null) ? concatValues(xs as tf.Tensor[]) : null,
    l: concatValues(ss.map((s) => s.l)),
    u: concatValues(ss.map((s) => s.u)),
  };
}

/**
 * LBP: the linear forms concatenate along the neuron axis (shared while every input's are,
 * else batched with ρ folded in, as `lbpAdd`); bounds, mid and radius forms likewise.
 */
export function lbpConcat(ss: readonly LbpState[], cfg: ConcatCfg): LbpState {
  const s0 = ss[0]!;
  const n0 = s0.box.n0;
  const shapes = cfg.shapes;
  let forms: LbpState['forms'];
  if (ss.every((s) => s.forms.kind === 'shared')) {
    const Ms = ss.map((s, i) => {
      const M = (s.forms as { M: tf.Tensor | null }).M ?? tf.eye(n0);
      return tf.reshape(M, [n0, ...shapes[i]!]);
    });
    forms = { kind: 'shared', M: tf.concat(Ms, -1) };
  } else {
    const fs = ss.map((s, i) => batchedForms(s, shapes[i]!));
    const anyR = fs.some((f) => f.R !== null);
    forms = {
      kind: 'batched',
      M: tf.concat(
        fs.map((f) => f.M),
        -1,
      ),
      R: anyR
        ? tf.concat(
            fs.map((f) => f.R ?? tf.zerosLike(f.M)),
            -1,
          )
        : null,
    };
  }
  const xs = ss.map((s) => s.x);
  const anyr = ss.some((s) => s.r !== null);
  return {
    x: xs.every((x) => x !== null) ? concatValues(xs as tf.Tensor[]) : null,
    l: concatValues(ss.map((s) => s.l)),
    u: concatValues(ss.map((s) => s.u)),
    m: concatValues(ss.map((s) => s.m)),
    r: anyr ? concatValues(ss.map((s) => s.r ?? tf.zerosLike(s.m))) : null,
    forms,
    box: s0.box,
    win: null,
  };
}

/** CROWN: the coefficients of the output split over the inputs (constants along the first). */
export function backConcat(f: BackState, cfg: ConcatCfg): BackState[] {
  const shapes = cfg.shapes;
  const outShape = [...shapes[0]!.slice(0, -1), shapes.reduce((a, s) => a + s[s.length - 1]!, 0)];
  const d = toDense(f, outShape);
  const sizes = shapes.map((s) => s[s.length - 1]!);
  const split = (A: tf.Tensor): tf.Tensor[] => tf.split(tf.reshape(A, [-1, ...outShape]), sizes, -1);
  const AL = split(d.forms.AL);
  const AU = d.forms.AU === null ? null : d.forms.AU === d.forms.AL ? AL : split(d.forms.AU);
  return shapes.map((_, i) => ({
    ...d,
    forms: { kind: 'dense', AL: AL[i]!, AU: AU === null ? null : AU[i]!, cols: null },
    cL: i === 0 ? d.cL : null,
    cU: i === 0 ? d.cU : null,
  }));
}

/* ---- permutations: reshape, transpose, flatten in C,H,W order ---- */

/**
 * A permutation of a value: torch shapes in and out, and `perm` (a transpose of the C, H, W
 * axes) or null (a reshape: the same C,H,W row-major order, another shape).
 */
export interface PermuteCfg {
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly perm: readonly number[] | null;
}

/** Torch flat index of the element at internal flat index k of a value of torch shape `s`. */
function torchOfInternal(s: readonly number[], k: number): number {
  if (s.length !== 3) return k;
  const [C, H, W] = s as [number, number, number];
  const c = k % C;
  const w = Math.floor(k / C) % W;
  const h = Math.floor(k / (C * W));
  return (c * H + h) * W + w;
}

/** Internal flat index of the element at torch flat index t. */
function internalOfTorch(s: readonly number[], t: number): number {
  if (s.length !== 3) return t;
  const [C, H, W] = s as [number, number, number];
  const w = t % W;
  const h = Math.floor(t / W) % H;
  const c = Math.floor(t / (H * W));
  return (h * W + w) * C + c;
}

/**
 * idx[k]: the internal input index that internal output index k reads (the whole map). Pure;
 * exported for the tests.
 */
export function permutationIndex(cfg: PermuteCfg): Int32Array {
  const n = numel(cfg.outShape);
  const idx = new Int32Array(n);
  const out = cfg.outShape;
  const ins = cfg.inShape;
  const p = cfg.perm;
  // strides of the input's torch layout
  const inStride = ins.map((_, i) => numel(ins.slice(i + 1)));
  for (let k = 0; k < n; k++) {
    const t = torchOfInternal(out, k);
    let src = t;
    if (p !== null) {
      // output torch multi-index (i0, i1, i2) reads input index j with j[p[a]] = i[a]
      let rest = t;
      src = 0;
      for (let a = out.length - 1; a >= 0; a--) {
        const ia = rest % out[a]!;
        rest = Math.floor(rest / out[a]!);
        src += ia * inStride[p[a]!]!;
      }
    }
    idx[k] = internalOfTorch(ins, src);
  }
  return idx;
}

interface PermTensors {
  readonly idx: tf.Tensor1D;
  readonly inv: tf.Tensor1D;
}
const perms = new WeakMap<PermuteCfg, Map<string, PermTensors>>();

function permTensors(cfg: PermuteCfg): PermTensors {
  let byBackend = perms.get(cfg);
  if (!byBackend) {
    byBackend = new Map();
    perms.set(cfg, byBackend);
  }
  const key = tf.getBackend();
  let t = byBackend.get(key);
  if (!t || t.idx.isDisposed || t.inv.isDisposed) {
    const idx = permutationIndex(cfg);
    const inv = new Int32Array(idx.length);
    idx.forEach((src, k) => (inv[src] = k));
    t = { idx: tf.keep(tf.tensor1d(idx, 'int32')), inv: tf.keep(tf.tensor1d(inv, 'int32')) };
    byBackend.set(key, t);
  }
  return t;
}

const internalOf = (s: readonly number[]): number[] => (s.length === 3 ? [s[1]!, s[2]!, s[0]!] : [...s]);

/** The value [B, ...in], permuted to [B, ...out] (clean forward pass). */
export function permute(x: tf.Tensor, cfg: PermuteCfg): tf.Tensor {
  const B = x.shape[0]!;
  const flat = tf.reshape(x, [B, x.size / B]);
  return tf.reshape(tf.gather(flat, permTensors(cfg).idx, 1), [B, ...internalOf(cfg.outShape)]);
}

/** IBP: bounds permute (exact). */
export function ibpPermute(s: IbpState, cfg: PermuteCfg): IbpState {
  return { x: s.x && permute(s.x, cfg), l: permute(s.l, cfg), u: permute(s.u, cfg) };
}

/** LBP: the forms' neuron axes permute (shared forms stay shared), as do bounds and mid/rad. */
export function lbpPermute(s: LbpState, cfg: PermuteCfg): LbpState {
  const inI = internalOf(cfg.inShape);
  const outI = internalOf(cfg.outShape);
  const { idx } = permTensors(cfg);
  const n0 = s.box.n0;
  const g = (t: tf.Tensor, lead: number): tf.Tensor =>
    tf.reshape(tf.gather(tf.reshape(t, [lead, -1]), idx, 1), [lead, ...outI]);
  let forms: LbpState['forms'];
  if (s.forms.kind === 'shared') forms = { kind: 'shared', M: g(s.forms.M ?? tf.eye(n0), n0) };
  else {
    const B = s.l.shape[0]!;
    const f = batchedForms(s, inI);
    forms = { kind: 'batched', M: g(f.M, B * n0), R: f.R === null ? null : g(f.R, B * n0) };
  }
  const B = s.l.shape[0]!;
  return {
    x: s.x && g(s.x, B),
    l: g(s.l, B),
    u: g(s.u, B),
    m: g(s.m, B),
    r: s.r === null ? null : g(s.r, B),
    forms,
    box: s.box,
    win: null,
  };
}

/** CROWN: the coefficient columns gathered by the inverse permutation (rows permuted back). */
export function backPermute(f: BackState, cfg: PermuteCfg): BackState {
  const inI = internalOf(cfg.inShape);
  const outI = internalOf(cfg.outShape);
  const d = toDense(f, outI);
  const { inv } = permTensors(cfg);
  const N = numel(outI);
  const g = (A: tf.Tensor): tf.Tensor => tf.reshape(tf.gather(tf.reshape(A, [-1, N]), inv, 1), [-1, ...inI]);
  const AL = g(d.forms.AL);
  const AU = d.forms.AU === null ? null : d.forms.AU === d.forms.AL ? AL : g(d.forms.AU);
  return {
    ...d,
    forms: { kind: 'dense', AL, AU, cols: null },
    peak: Math.max(d.peak, (d.lowerOnly ? 1 : 2) * 2 * N),
  };
}
