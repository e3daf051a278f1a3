/**
 * CROWN backward bounds (paper-notes §4 "CROWN"): a linear form A·z + c of some layer, walked back
 * layer by layer to the input and concretized over the box. Generated code chains
 * `backLast → backAct/backDense/backConv2d/backFlatten … → backConcretize` for CROWN-IBP and
 * CROWN-LBP (relaxations from the stored IBP or LBP bounds), and `crownLayer` for the
 * intermediate bounds of full CROWN (identity specification, processed in row chunks under a
 * memory budget).
 *
 * Layout ("dense" forms): A holds `rows` linear forms per sample as [B·rows, ...s] (a batch of
 * maps, so conv layers go back through conv2dTranspose), or [rows, ...s] while it is the same for
 * every sample ("shared": before the first activation). The lower side uses sL on A⁺ and sU on A⁻,
 * the upper side the reverse; both are written in mid/rad form: A' = A·sm ∓ |A|·sr. With status
 * gathering (status.ts), a flat activation keeps only the neurons live in some sample of the
 * batch (`cols`), and the dense layer below multiplies only those rows of Wᵀ.
 *
 * "Samples" forms (status gathering, see status.ts; flat activations with many rows per sample,
 * i.e. the identity specifications of full CROWN): one [rows, k] matrix per sample over the k
 * neurons it keeps, so the next dense layer multiplies only those rows of Wᵀ. They are held as
 * AL = P − Q, AU = P + Q: at an activation where both sides still coincide, P = A·sm lives on the
 * non-dead neurons and Q = |A|·sr on the unstable ones only (lowerOnly passes keep AL as P).
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { midRadLines } from './act.js';
import { convPad } from './affine.js';
import { crownBudgetFloats, MemoryBudgetError, mib } from './budget.js';
import { fusedActive, fusedFormsLower } from './fused.js';
import { specTimesWt } from './ibp.js';
import { nonzeroColumns, SAMPLE_ROWS_MIN, statusGather } from './status.js';
import type { Conv2dCfg, InputBox, Relaxation } from './types.js';
import {
  densify,
  dirs,
  gatherWindows,
  insideMask,
  lbpWindows,
  perGroup,
  unrolls,
  type WinGeom,
} from './windows.js';

/** One sample's forms over the neurons `idx` of their layer ([rows, k]); idx null = all of them. */
interface Cols {
  readonly t: tf.Tensor2D;
  readonly idx: tf.Tensor1D | null;
}

/** The linear forms of a backward pass (see the file comment). */
type Forms =
  | {
      readonly kind: 'dense';
      readonly AL: tf.Tensor;
      /** null when only the lower bound is wanted; the same object as AL until an activation splits them. */
      readonly AU: tf.Tensor | null;
      /** The neurons of a flat layer that the last axis holds (those live in some sample); null = all. */
      readonly cols: tf.Tensor1D | null;
    }
  | { readonly kind: 'samples'; readonly P: readonly Cols[]; readonly Q: readonly Cols[] | null }
  | {
      /**
       * Full CROWN's identity rows on conv layers: each row's form on its receptive window only
       * ([rows or B·rows, h, w, C], zero outside the map; windows.ts). `geom`'s directions are
       * the rows.
       */
      readonly kind: 'windowed';
      readonly AL: tf.Tensor;
      readonly AU: tf.Tensor | null;
      readonly geom: WinGeom;
    };

/** A backward pass in progress: lower form AL·z + cL and (unless lowerOnly) upper form AU·z + cU. */
export interface BackState {
  readonly forms: Forms;
  /** [B, rows], or [rows] when shared; null = 0. */
  readonly cL: tf.Tensor | null;
  /** null when lowerOnly. */
  readonly cU: tf.Tensor | null;
  readonly lowerOnly: boolean;
  /** Dense forms that are the same for every sample. */
  readonly shared: boolean;
  readonly rows: number;
  readonly batch: number;
  /** Floats per (row, sample) at the widest step so far: the memory estimate of crownLayer. */
  readonly peak: number;
}

type Opt = tf.Tensor | null;
const addOpt = (a: Opt, b: Opt): Opt => (a === null ? b : b === null ? a : tf.add(a, b));
const sides = (f: BackState): number => (f.lowerOnly ? 1 : 2);

/**
 * Start from the last dense layer W [n, K], b [K]: A = C·Wᵀ, c = C·b with C [B, m, K]
 * (margins folded in), or A = Wᵀ, c = b (logits, shared) without C.
 */
export function backLast(
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  C: tf.Tensor3D | undefined,
  batch: number,
  lowerOnly: boolean,
): BackState {
  const [n, K] = (W as tf.Tensor2D).shape;
  let A: tf.Tensor;
  let c: Opt;
  let rows: number;
  if (C) {
    rows = C.shape[1];
    const C2 = tf.reshape(C, [batch * rows, K]);
    A = specTimesWt(C, W); // shared with IBP's last layer in CROWN-IBP
    c = b ? tf.reshape(tf.matMul(C2, tf.reshape(b, [K, 1])), [batch, rows]) : null;
  } else {
    rows = K;
    A = tf.transpose(W);
    c = b ?? null;
  }
  return {
    forms: { kind: 'dense', AL: A, AU: lowerOnly ? null : A, cols: null },
    cL: c,
    cU: lowerOnly ? null : c,
    lowerOnly,
    shared: !C,
    rows,
    batch,
    peak: (lowerOnly ? 1 : 2) * (n + K),
  };
}

/** Σ_n A[j, n]·v[n] → [rows] for one sample's A [rows, N] and v [N]. */
const dot = (A: tf.Tensor, v: tf.Tensor): tf.Tensor =>
  tf.reshape(tf.matMul(A as tf.Tensor2D, tf.reshape(v, [-1, 1]) as tf.Tensor2D), [-1]);

/** Float one-hot rows of `idx` (int32) over `n` classes; also for n = 1 (tf.oneHot needs depth ≥ 2). */
const oneHotF = (idx: tf.Tensor, n: number): tf.Tensor =>
  n === 1 ? tf.ones([...idx.shape, 1]) : tf.cast(tf.oneHot(idx as tf.Tensor1D, n), 'float32');

/** A sample's forms over all N neurons (gathered ones scattered back by an exact one-hot product). */
function fullWidth(c: Cols, N: number): tf.Tensor2D {
  if (c.idx === null) return c.t;
  if (c.t.shape[1] === 0) return tf.zeros([c.t.shape[0], N]);
  return tf.matMul(c.t, oneHotF(c.idx, N) as tf.Tensor2D);
}

/** Sample b's full-width lower and upper forms [rows, N] (upper null when lowerOnly). */
function sampleForms(f: BackState, b: number, N: number): [tf.Tensor2D, tf.Tensor2D | null] {
  const F = f.forms;
  if (F.kind === 'dense') {
    const rowsOf = (A: tf.Tensor): tf.Tensor2D =>
      f.shared
        ? (tf.reshape(A, [f.rows, N]) as tf.Tensor2D)
        : (tf.slice(tf.reshape(A, [f.batch * f.rows, N]), [b * f.rows, 0], [f.rows, N]) as tf.Tensor2D);
    const AL = rowsOf(F.AL);
    return [AL, F.AU === null ? null : F.AU === F.AL ? AL : rowsOf(F.AU)];
  }
  if (F.kind === 'windowed') throw new Error('internal: per-sample CROWN forms from windowed ones');
  const P = fullWidth(F.P[b]!, N);
  const Q = F.Q === null ? null : fullWidth(F.Q[b]!, N);
  if (Q === null) return [P, f.lowerOnly ? null : P];
  return [tf.sub(P, Q) as tf.Tensor2D, f.lowerOnly ? null : (tf.add(P, Q) as tf.Tensor2D)];
}

/**
 * Dense forms over every neuron, shaped [rows or B·rows, ...mapShape], for the steps that need
 * whole layers: per-sample forms joined, kept columns scattered back (exact one-hot products).
 */
export function toDense(f: BackState, mapShape: readonly number[]): BackState & { forms: { kind: 'dense' } } {
  const F = f.forms;
  const N = numel(mapShape);
  const shaped = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [-1, ...mapShape]);
  if (F.kind === 'windowed') {
    const S = f.shared ? 1 : f.batch;
    const AL = shaped(densify(F.AL, S, F.geom));
    const AU = F.AU === null ? null : F.AU === F.AL ? AL : shaped(densify(F.AU, S, F.geom));
    return { ...f, forms: { kind: 'dense', AL, AU, cols: null } };
  }
  if (F.kind === 'dense') {
    const cols = F.cols;
    if (cols === null) return f as BackState & { forms: { kind: 'dense' } };
    const full = (A: tf.Tensor): tf.Tensor =>
      shaped(
        cols.shape[0] === 0
          ? tf.zeros([A.shape[0]!, N])
          : tf.matMul(A as tf.Tensor2D, oneHotF(cols, N) as tf.Tensor2D),
      );
    const AL = full(F.AL);
    const AU = F.AU === null ? null : F.AU === F.AL ? AL : full(F.AU);
    return { ...f, forms: { kind: 'dense', AL, AU, cols: null } };
  }
  const per = Array.from({ length: f.batch }, (_, b) => sampleForms(f, b, N));
  const join = (i: 0 | 1): tf.Tensor => shaped(tf.concat(per.map((p) => p[i]!)));
  const AL = join(0);
  return { ...f, forms: { kind: 'dense', AL, AU: f.lowerOnly ? null : join(1), cols: null }, shared: false };
}

/** Apply a linear back-step (A ↦ A·W, c += A·b) to both sides of dense forms, once while they coincide. */
function backAffine(
  f: BackState,
  mapA: (A: tf.Tensor, R: number) => tf.Tensor,
  biasOf: ((A: tf.Tensor, R: number) => tf.Tensor) | null,
  width: number,
): BackState {
  if (f.forms.kind !== 'dense') throw new Error('internal: per-sample CROWN forms on a dense back-step');
  const { AL: AL0, AU: AU0 } = f.forms;
  const R = f.shared ? f.rows : f.batch * f.rows;
  const cShape = f.shared ? [f.rows] : [f.batch, f.rows];
  const side = (A: tf.Tensor, c: Opt): [tf.Tensor, Opt] => [
    mapA(A, R),
    biasOf ? addOpt(c, tf.reshape(biasOf(A, R), cShape)) : c,
  ];
  const [AL, cL] = side(AL0, f.cL);
  const [AU, cU] = AU0 === null ? [null, null] : AU0 === AL0 ? [AL, cL] : side(AU0, f.cU);
  return {
    ...f,
    forms: { kind: 'dense', AL, AU, cols: null },
    cL,
    cU,
    peak: Math.max(f.peak, sides(f) * width),
  };
}

/**
 * Per-sample forms back through a dense layer with Wᵀ [out, in]: each sample multiplies only the
 * rows of Wᵀ of the neurons it keeps; c += P·b ∓ Q·b over those neurons.
 */
function samplesDense(
  f: BackState,
  P: readonly Cols[],
  Q: readonly Cols[] | null,
  W: tf.Tensor2D,
  b: Opt,
): BackState {
  const [nIn, nOut] = W.shape;
  const Wt = tf.transpose(W) as tf.Tensor2D;
  const through = (c: Cols): Cols => ({
    t:
      c.t.shape[1] === 0
        ? tf.zeros([c.t.shape[0], nIn])
        : tf.matMul(c.t, c.idx === null ? Wt : (tf.gather(Wt, c.idx) as tf.Tensor2D)),
    idx: null,
  });
  let { cL, cU } = f;
  if (b) {
    const bias = (c: Cols): tf.Tensor =>
      c.t.shape[1] === 0 ? tf.zeros([f.rows]) : dot(c.t, c.idx === null ? b : tf.gather(b, c.idx));
    const pb = tf.stack(P.map(bias));
    const qb = Q === null ? null : tf.stack(Q.map(bias));
    cL = addOpt(cL, qb === null ? pb : tf.sub(pb, qb));
    if (!f.lowerOnly) cU = addOpt(cU, qb === null ? pb : tf.add(pb, qb));
  }
  return {
    ...f,
    forms: { kind: 'samples', P: P.map(through), Q: Q === null ? null : Q.map(through) },
    cL,
    cU,
    peak: Math.max(f.peak, sides(f) * (nIn + nOut)),
  };
}

/** Back through a dense layer W [in, out], b [out] (only the rows of Wᵀ of kept neurons). */
export function backDense(f0: BackState, W: tf.Tensor, b: tf.Tensor | undefined): BackState {
  if (f0.forms.kind === 'samples')
    return samplesDense(f0, f0.forms.P, f0.forms.Q, W as tf.Tensor2D, b ?? null);
  const [nIn, nOut] = (W as tf.Tensor2D).shape;
  // (windowed forms never reach a dense layer in generated chains; whole maps if they did. Dense
  // forms keep their gathered columns: the product below multiplies only those rows of Wᵀ.)
  const f = f0.forms.kind === 'windowed' ? toDense(f0, [nOut]) : f0;
  if (f.forms.kind !== 'dense') throw new Error('internal: unexpected CROWN forms at a dense layer');
  const cols = f.forms.cols;
  const k = cols === null ? nOut : cols.shape[0];
  const keep = (t: tf.Tensor): tf.Tensor => (cols === null ? t : tf.gather(t, cols));
  const Wt = keep(tf.transpose(W)); // explicit: matMul's transpose flags are slow on wasm
  // (No neuron kept, e.g. constant lines: the forms are 0, and so are their products.)
  const times = (A: tf.Tensor, R: number, M: tf.Tensor, n: number): tf.Tensor =>
    k === 0 ? tf.zeros([R, n]) : tf.matMul(tf.reshape(A, [R, k]), M as tf.Tensor2D);
  return backAffine(
    f,
    (A, R) => times(A, R, Wt, nIn),
    b ? (A, R) => times(A, R, tf.reshape(keep(b), [k, 1]), 1) : null,
    nIn + nOut,
  );
}

/** Back through a conv layer W [kh, kw, Cin, Cout], b [Cout] (conv2dTranspose = conv backprop input). */
export function backConv2d(f: BackState, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): BackState {
  if (f.forms.kind === 'windowed') {
    // windows that would outgrow the map below (deep stacks of convs) go on as whole maps
    const g = f.forms.geom;
    const [h2, w2] = [
      (g.y.size - 1) * cfg.stride[0] + cfg.kernel[0],
      (g.x.size - 1) * cfg.stride[1] + cfg.kernel[1],
    ];
    if (lbpWindows() === 'always' || h2 * w2 < cfg.inShape[0] * cfg.inShape[1])
      return windowedConv(f, f.forms, W, b, cfg);
    return backConv2d(toDense(f, cfg.outShape), W, b, cfg);
  }
  const [hi, wi, ci] = cfg.inShape;
  const [ho, wo, co] = cfg.outShape;
  const pad = convPad(cfg);
  return backAffine(
    toDense(f, cfg.outShape),
    (A, R) =>
      tf.conv2dTranspose(
        tf.reshape(A, [R, ho, wo, co]) as tf.Tensor4D,
        W as tf.Tensor4D,
        [R, hi, wi, ci],
        [...cfg.stride],
        pad,
      ),
    // A·b summed over positions, as one product with b repeated per position (tf.sum over the
    // middle axis transposes first on wasm, several times slower).
    b
      ? (A, R) =>
          tf.matMul(
            tf.reshape(A, [R, ho * wo * co]) as tf.Tensor2D,
            tf.reshape(tf.tile(b, [ho * wo]), [-1, 1]) as tf.Tensor2D,
          )
      : null,
    hi * wi * ci + ho * wo * co,
  );
}

/**
 * Back through a flatten of a map with internal shape [H, W, C]. Per-sample forms stay flat (a
 * reshape of their rows); the layer that needs maps converts them.
 */
export function backFlatten(f: BackState, mapShape: readonly number[]): BackState {
  if (f.forms.kind === 'samples') return f;
  return toDense(f, mapShape);
}

/**
 * Back through an activation with lines `rel` (on the layer's pre-activation bounds [B, ...s]):
 * lower A' = A⁺·sL + A⁻·sU = A·sm − |A|·sr, c += A⁺·tL + A⁻·tU = A·tm − |A|·tr; upper with + .
 */
export function backAct(f: BackState, rel: Relaxation): BackState {
  if (f.forms.kind === 'windowed') return windowedAct(f, f.forms, rel);
  const shape = rel.sL.shape.slice(1);
  if (shape.length === 1 && f.rows >= SAMPLE_ROWS_MIN && statusGather()) return samplesAct(f, rel, shape[0]!);
  const d = toDense(f, shape);
  const { AL: AL0, AU: AU0 } = d.forms;
  const B = d.batch;
  const m = d.rows;
  const N = numel(shape);
  if (fusedActive()) {
    // one fused kernel per side for the new form and its bias term; the upper side is the lower
    // side's formula with the lines swapped (a⁺ takes the upper line, a⁻ the lower one)
    const live = shape.length === 1 && statusGather() ? liveColumns(rel.sL, rel.sU, N) : null;
    const o = { B, m, shared: d.shared, cols: live, withForms: true };
    const upperLines = { sL: rel.sU, sU: rel.sL, tL: rel.tU, tU: rel.tL };
    const [outL, dotL] = fusedFormsLower(AL0, rel, o);
    const [outU, dotU] = AU0 === null ? [null, null] : fusedFormsLower(AU0, upperLines, o);
    const form = (t: tf.Tensor): tf.Tensor => (live === null ? tf.reshape(t, [B * m, ...shape]) : t);
    return {
      ...d,
      forms: {
        kind: 'dense',
        AL: form(outL),
        AU: outU === null ? null : form(outU),
        cols: live === null ? null : tf.tensor1d(live, 'int32'),
      },
      cL: addOpt(d.cL, dotL),
      cU: dotU === null ? null : addOpt(d.cU, dotU),
      shared: false,
      peak: Math.max(d.peak, sides(d) * 2 * N),
    };
  }
  const lines = midRadLines(rel);
  const sm = tf.reshape(lines.sm, [B, 1, N]);
  const sr = tf.reshape(lines.sr, [B, 1, N]);
  const tm = tf.reshape(lines.tm, [B, N]);
  const tr = tf.reshape(lines.tr, [B, N]);
  // A flat layer keeps only the neurons live in some sample (the next dense step skips the rest).
  const cols = shape.length === 1 && statusGather() ? liveInSomeSample(lines.sm, N) : null;
  const k = cols === null ? N : cols.shape[0];
  const keep = (t: tf.Tensor): tf.Tensor => (cols === null ? t : tf.gather(t, cols, 2));
  const [smK, srK] = [keep(sm), keep(sr)];
  const view = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [d.shared ? 1 : B, m, N]);
  const out = (A: tf.Tensor): tf.Tensor => tf.reshape(A, cols === null ? [B * m, ...shape] : [B * m, k]);
  const terms = (A: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] => {
    const A3 = view(A);
    const abs = tf.abs(A3);
    return [
      tf.mul(keep(A3), smK),
      tf.mul(keep(abs), srK),
      rowsDot(A3, tm, d.shared),
      rowsDot(abs, tr, d.shared),
    ];
  };
  const combine = (t: ReturnType<typeof terms>, c: Opt, sign: 1 | -1): [tf.Tensor, tf.Tensor] => {
    const [a, ar, bias, biasR] = t;
    const pm = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => (sign > 0 ? tf.add(x, y) : tf.sub(x, y));
    return [out(pm(a, ar)), addOpt(c, tf.reshape(pm(bias, biasR), [B, m]))!];
  };
  const tL = terms(AL0);
  const [AL, cL] = combine(tL, d.cL, -1);
  let AU: Opt = null;
  let cU: Opt = null;
  if (AU0 !== null) [AU, cU] = combine(AU0 === AL0 ? tL : terms(AU0), d.cU, 1);
  return {
    ...d,
    forms: { kind: 'dense', AL, AU, cols },
    cL,
    cU,
    shared: false,
    peak: Math.max(d.peak, sides(d) * 4 * N),
  };
}

/**
 * The neurons whose mid slope sm [B, ...] is non-zero in some sample, or null when that is nearly
 * all of them (then keeping every column is cheaper than gathering). Reads sm back.
 */
function liveInSomeSample(sm: tf.Tensor, N: number): tf.Tensor1D | null {
  const live = liveColumns(sm, sm, N);
  return live === null ? null : tf.tensor1d(live, 'int32');
}

/**
 * The columns j < N where sL or sU [B, ...] (non-negative slopes) is non-zero in some sample, or
 * null when that is more than 90% of them. Reads both back.
 */
function liveColumns(sL: tf.Tensor, sU: tf.Tensor, N: number): number[] | null {
  const dL = sL.dataSync();
  const dU = sU === sL ? dL : sU.dataSync();
  const live: number[] = [];
  for (let j = 0; j < N; j++)
    for (let i = j; i < dL.length; i += N)
      if (dL[i] !== 0 || dU[i] !== 0) {
        live.push(j);
        break;
      }
  return live.length > 0.9 * N ? null : live;
}

/**
 * A flat activation into per-sample forms over the neurons each sample keeps (see the file
 * comment). The bias terms use every neuron (a neuron with both slopes 0 may still have an
 * intercept); the forms drop exactly the zero columns.
 */
function samplesAct(f0: BackState, rel: Relaxation, N: number): BackState {
  const f = f0.forms.kind === 'dense' ? toDense(f0, [N]) : f0;
  const B = f.batch;
  const lines = midRadLines(rel);
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, N]);
  const [sm, sr] = [flat(lines.sm), flat(lines.sr)];
  const live = nonzeroColumns(sm);
  const unstable = nonzeroColumns(sr);
  const [smRows, srRows, tmRows, trRows] = [sm, sr, flat(lines.tm), flat(lines.tr)].map((t) =>
    tf.unstack(t),
  ) as [tf.Tensor[], tf.Tensor[], tf.Tensor[], tf.Tensor[]];
  const same = f.forms.kind === 'samples' ? f.forms.Q === null : f.forms.AU === f.forms.AL;
  const pick = (t: tf.Tensor, idx: tf.Tensor1D | null): tf.Tensor =>
    idx === null ? t : tf.gather(t, idx, 1);
  const slope = (v: tf.Tensor, idx: tf.Tensor1D | null): tf.Tensor =>
    tf.reshape(idx === null ? v : tf.gather(v, idx), [1, -1]);
  // Bias terms A·tm and |A|·tr per side: from dense forms in one (batched) product each.
  const dense = f.forms.kind === 'dense' ? f.forms : null;
  const view = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [f.shared ? 1 : B, f.rows, N]);
  const denseBias = (A: tf.Tensor): [tf.Tensor, tf.Tensor] => [
    rowsDot(view(A), flat(lines.tm), f.shared),
    rowsDot(tf.abs(view(A)), flat(lines.tr), f.shared),
  ];
  const biasDL = dense ? denseBias(dense.AL) : null;
  const biasDU = dense && dense.AU !== null ? (dense.AU === dense.AL ? biasDL : denseBias(dense.AU)) : null;
  const P: Cols[] = [];
  const Q: Cols[] = [];
  const biasL: tf.Tensor[] = [];
  const biasU: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) {
    const nd = live[b]!;
    const un = same ? unstable[b]! : nd;
    // One tidy per sample: [P, Q (both sides), A_L bias, A_U bias (from per-sample forms)].
    const out = tf.tidy(() => {
      const [AL, AU] = sampleForms(f, b, N);
      const absL = tf.abs(AL);
      const absU = AU === null ? null : AU === AL ? absL : tf.abs(AU);
      const bias: tf.Tensor[] = [];
      if (!dense) {
        const [a, ar] = [dot(AL, tmRows[b]!), dot(absL, trRows[b]!)];
        bias.push(tf.sub(a, ar));
        if (AU !== null)
          bias.push(AU === AL ? tf.add(a, ar) : tf.add(dot(AU, tmRows[b]!), dot(absU!, trRows[b]!)));
      }
      const [smN, srN] = [slope(smRows[b]!, nd), slope(srRows[b]!, nd)];
      const lower = (): tf.Tensor => tf.sub(tf.mul(pick(AL, nd), smN), tf.mul(pick(absL, nd), srN));
      if (AU === null) return [lower(), ...bias];
      if (same) return [tf.mul(pick(AL, nd), smN), tf.mul(pick(absL, un), slope(srRows[b]!, un)), ...bias];
      const lo = lower();
      const up = tf.add(tf.mul(pick(AU, nd), smN), tf.mul(pick(absU!, nd), srN));
      return [tf.mul(tf.add(lo, up), 0.5), tf.mul(tf.sub(up, lo), 0.5), ...bias];
    });
    P.push({ t: out[0] as tf.Tensor2D, idx: nd });
    if (!f.lowerOnly) Q.push({ t: out[1] as tf.Tensor2D, idx: un });
    const rest = out.slice(f.lowerOnly ? 1 : 2);
    if (!dense) {
      biasL.push(rest[0]!);
      if (!f.lowerOnly) biasU.push(rest[1]!);
    }
  }
  const newL = biasDL ? tf.sub(biasDL[0], biasDL[1]) : tf.stack(biasL);
  const newU = f.lowerOnly ? null : biasDU ? tf.add(biasDU[0], biasDU[1]) : tf.stack(biasU);
  return {
    ...f,
    forms: { kind: 'samples', P, Q: f.lowerOnly ? null : Q },
    cL: addOpt(f.cL, newL),
    cU: addOpt(f.cU, newU),
    shared: false,
    peak: Math.max(f.peak, sides(f) * 4 * N),
  };
}

/**
 * Σ_n A[b, j, n]·v[b, n] → [B, m] for A [B, m, n] (an elementwise product and a sum: their
 * gradients are broadcasts, where a batched matrix-vector product's are slow batched outer
 * products), or shared A [1, m, n] (as [m, n]·vᵀ, then a small transpose: tfjs's batched matMul
 * gradient does not reduce a broadcast batch axis).
 */
function rowsDot(A: tf.Tensor, v: tf.Tensor, shared: boolean): tf.Tensor {
  const [, m, n] = A.shape as [number, number, number];
  const B = v.shape[0]!;
  if (shared)
    return tf.transpose(tf.matMul(tf.reshape(A, [m, n]) as tf.Tensor2D, tf.transpose(v) as tf.Tensor2D));
  return tf.sum(tf.mul(A, tf.reshape(v, [B, 1, n])), 2);
}

/** Box centre and radius, flattened [B, n0]. */
function boxCR(box: InputBox): [tf.Tensor2D, tf.Tensor2D] {
  const B = box.x.shape[0]!;
  const flat = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [B, -1]);
  return [flat(tf.mul(tf.add(box.lo, box.hi), 0.5)), flat(tf.mul(tf.sub(box.hi, box.lo), 0.5))];
}

function concretizeWith(
  f0: BackState,
  c: tf.Tensor2D,
  rho: tf.Tensor2D,
): { lower: tf.Tensor2D; upper?: tf.Tensor2D } {
  const [B, n0] = c.shape;
  if (f0.forms.kind === 'windowed') return windowedConcretize(f0, f0.forms, c, rho);
  const f = f0.forms.kind === 'dense' ? toDense(f0, [n0]) : f0;
  const m = f.rows;
  const withC = (v: tf.Tensor, cc: Opt): tf.Tensor2D => (cc === null ? v : tf.add(v, cc)) as tf.Tensor2D;
  let tL: [tf.Tensor, tf.Tensor];
  let tU: [tf.Tensor, tf.Tensor] | null;
  if (f.forms.kind === 'samples') {
    // Per sample: A·c and |A|·ρ as matrix-vector products.
    const [cRows, rhoRows] = [tf.unstack(c), tf.unstack(rho)];
    // One tidy per sample: [A_L·c, |A_L|·ρ, A_U·c, |A_U|·ρ] (the upper pair only without lowerOnly).
    const per = Array.from({ length: B }, (_, b) =>
      tf.tidy(() => {
        const [AL, AU] = sampleForms(f, b, n0);
        const t = (A: tf.Tensor2D): tf.Tensor[] => [dot(A, cRows[b]!), dot(tf.abs(A), rhoRows[b]!)];
        const lo = t(AL);
        return AU === null ? lo : [...lo, ...(AU === AL ? lo : t(AU))];
      }),
    );
    const stack2 = (k: number, i: 0 | 1): tf.Tensor => tf.stack(per.map((p) => p[2 * k + i]!));
    tL = [stack2(0, 0), stack2(0, 1)];
    tU = f.lowerOnly ? null : [stack2(1, 0), stack2(1, 1)];
  } else {
    const { AL, AU } = f.forms;
    const terms = (A: tf.Tensor): [tf.Tensor, tf.Tensor] => {
      const A3 = tf.reshape(A, [f.shared ? 1 : B, m, n0]);
      return [rowsDot(A3, c, f.shared), rowsDot(tf.abs(A3), rho, f.shared)];
    };
    tL = terms(AL);
    tU = AU === null ? null : AU === AL ? tL : terms(AU);
  }
  const lower = withC(tf.sub(tL[0], tL[1]), f.cL);
  if (tU === null) return { lower };
  return { lower, upper: withC(tf.add(tU[0], tU[1]), f.cU) };
}

/**
 * Closed form over the normalised box: lower = A⁺·x_L + A⁻·x_U + c = A·mid − |A|·rad + c,
 * upper = A·mid + |A|·rad + c; [B, rows] each (upper absent when lowerOnly).
 */
export function backConcretize(f: BackState, box: InputBox): { lower: tf.Tensor2D; upper?: tf.Tensor2D } {
  const F = f.forms;
  if (F.kind === 'dense' && F.cols === null && fusedActive()) {
    // Σ A⁺·x_L + A⁻·x_U (lower) and Σ A⁺·x_U + A⁻·x_L (upper), one fused kernel each
    const B = box.x.shape[0]!;
    const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, -1]);
    const [lo, hi] = [flat(box.lo), flat(box.hi)];
    const o = { B, m: f.rows, shared: f.shared, cols: null, withForms: false };
    const side = (A: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: Opt): tf.Tensor2D => {
      const [, dot] = fusedFormsLower(A, { sL: a, sU: b, tL: a, tU: b }, o);
      return (c === null ? dot : tf.add(dot, c)) as tf.Tensor2D;
    };
    const lower = side(F.AL, lo, hi, f.cL);
    return F.AU === null ? { lower } : { lower, upper: side(F.AU, hi, lo, f.cU) };
  }
  const [c, rho] = boxCR(box);
  return concretizeWith(f, c, rho);
}

/**
 * Bounds of one layer's pre-activations by a full backward pass: the identity specification of
 * that layer (one row per neuron), walked back by `chain` (which starts with the layer's own
 * affine step) and concretized. Rows are processed in chunks sized so that the widest step stays
 * under the memory budget; the first row is a probe that measures the per-row width. Refuses with
 * a UserError naming the estimate when even one row does not fit.
 * Returns lower and upper [B, ...shape] (upper = +∞ when lowerOnly).
 */
export function crownLayer(
  box: InputBox,
  shape: readonly number[],
  lowerOnly: boolean,
  chain: (f: BackState) => BackState,
): { lower: tf.Tensor; upper: tf.Tensor } {
  const n = numel(shape);
  const B = box.x.shape[0]!;
  const [c, rho] = boxCR(box);
  let peak = 0;
  const run = (start: number, q: number): tf.Tensor[] =>
    tf.tidy(() => {
      const s = lowerOnly ? 1 : 2;
      // conv layers: each identity row on its receptive window (windows.ts), else whole maps
      let forms: Forms;
      if (shape.length === 3 && lbpWindows() !== 'off') {
        const { A, geom } = windowedIdentity(shape, start, q);
        forms = { kind: 'windowed', AL: A, AU: lowerOnly ? null : A, geom };
      } else {
        const I = tf.reshape(oneHotF(tf.range(start, start + q, 1, 'int32'), n), [q, ...shape]);
        forms = { kind: 'dense', AL: I, AU: lowerOnly ? null : I, cols: null };
      }
      const f = chain({
        forms,
        cL: null,
        cU: null,
        lowerOnly,
        shared: true,
        rows: q,
        batch: B,
        peak: s * n,
      });
      const r = concretizeWith(f, c, rho);
      peak = Math.max(f.peak, sides(f) * 2 * c.shape[1]);
      return r.upper ? [r.lower, r.upper] : [r.lower];
    });
  // windowed conv layers go in whole positions (the channels of one share a window): the probe
  // is the first position's C rows, and chunks are multiples of C where the budget allows
  const C = shape.length === 3 && lbpWindows() !== 'off' ? shape[2]! : 1;
  const probe = Math.min(C, n);
  const parts = [run(0, probe)];
  const budget = crownBudgetFloats();
  const perRow = B * peak;
  const fit = Math.floor(budget / perRow);
  const q = fit >= C ? fit - (fit % C) : fit;
  if (q < 1) {
    throw new MemoryBudgetError(
      `full CROWN needs about ${mib(perRow)} MiB per neuron of a layer of shape [${shape.join(', ')}] at batch ${B}, ` +
        `over the budget of ${mib(budget)} MiB`,
      ['use a smaller batch, or raise the budget with VNET_CROWN_BUDGET_MB'],
    );
  }
  for (let start = probe; start < n; start += q) parts.push(run(start, Math.min(q, n - start)));
  const join = (i: number): tf.Tensor =>
    tf.reshape(
      tf.concat(
        parts.map((p) => p[i]!),
        1,
      ),
      [B, ...shape],
    );
  return { lower: join(0), upper: lowerOnly ? tf.fill([B, ...shape], Infinity) : join(1) };
}

type Windowed = Extract<Forms, { kind: 'windowed' }>;

/**
 * Σ over each row's window of A·v: A [S, groups, k, h, w, C] (S = 1 shared, or B; k rows share a
 * window), v [B, groups, 1, h, w, C] → [B, groups, k].
 */
const windowDot = (A: tf.Tensor, v: tf.Tensor): tf.Tensor => tf.sum(tf.mul(A, v), [3, 4, 5]);

/** Per-neuron values v [B, ...map] on each group's window, [B, groups, 1, h, w, C]. */
function gathered(v: tf.Tensor, g: WinGeom): tf.Tensor {
  const w = gatherWindows(v, perGroup(g));
  return tf.reshape(w, [w.shape[0]!, w.shape[1]!, 1, g.y.size, g.x.size, g.map[2]]);
}

/** Windowed forms [S·rows, h, w, C] viewed as [S, groups, k, h, w, C]. */
function grouped(A: tf.Tensor, S: number, g: WinGeom): tf.Tensor {
  const k = g.group ?? 1;
  return tf.reshape(A, [S, dirs(g) / k, k, g.y.size, g.x.size, g.map[2]]);
}

/** The windowed identity rows start..start+q−1 of a map [H, W, C]: one-hot channel on a 1×1 window. */
function windowedIdentity(
  shape: readonly number[],
  start: number,
  q: number,
): { A: tf.Tensor; geom: WinGeom } {
  const [H, W, C] = shape as [number, number, number];
  const oy = new Int32Array(q);
  const ox = new Int32Array(q);
  const ch = new Int32Array(q);
  for (let r = 0; r < q; r++) {
    const i = start + r;
    oy[r] = Math.floor(i / (W * C));
    ox[r] = Math.floor(i / C) % W;
    ch[r] = i % C;
  }
  const A = tf.reshape(oneHotF(tf.tensor1d(ch, 'int32'), C), [q, 1, 1, C]);
  // whole positions (every channel of each): the C rows of a position share its window
  const group = start % C === 0 && q % C === 0 ? C : 1;
  return { A, geom: { map: [H, W, C], y: { size: 1, off: oy }, x: { size: 1, off: ox }, group } };
}

/**
 * Windowed rows back through a conv: the transposed conv of each window is the window at
 * o·S − P of size (h − 1)·S + K on the layer below (the same for every row), masked to the map;
 * c += A·b over each window.
 */
function windowedConv(
  f: BackState,
  F: Windowed,
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  cfg: Conv2dCfg,
): BackState {
  const g = F.geom;
  const [h, w, co] = [g.y.size, g.x.size, g.map[2]];
  const [KH, KW] = cfg.kernel;
  const [SH, SW] = cfg.stride;
  const [pt, , pl] = cfg.padding;
  const ci = cfg.inShape[2];
  const geom: WinGeom = {
    ...(g.group ? { group: g.group } : {}),
    map: [...cfg.inShape],
    y: { size: (h - 1) * SH + KH, off: Int32Array.from(g.y.off, (o) => o * SH - pt) },
    x: { size: (w - 1) * SW + KW, off: Int32Array.from(g.x.off, (o) => o * SW - pl) },
  };
  const S = f.shared ? 1 : f.batch;
  const rows = dirs(g);
  const R = S * rows;
  const mask = insideMask(geom);
  const [h2, w2] = [geom.y.size, geom.x.size];
  const transposed = (A: tf.Tensor, n: number): tf.Tensor =>
    tf.conv2dTranspose(A as tf.Tensor4D, W as tf.Tensor4D, [n, h2, w2, ci], [SH, SW], 'valid');
  // small windows: the transposed conv as one matrix (that of the unit windows), one product
  // each input cell writes KH·KW cells of the h2×w2 output window
  const T = unrolls(h * w * co * h2 * w2 * ci, (KH * KW) / (h2 * w2))
    ? tf.reshape(transposed(tf.reshape(tf.eye(h * w * co), [h * w * co, h, w, co]), h * w * co), [
        h * w * co,
        h2 * w2 * ci,
      ])
    : null;
  const back = (A: tf.Tensor): tf.Tensor => {
    const t =
      T === null
        ? transposed(tf.reshape(A, [R, h, w, co]), R)
        : tf.matMul(tf.reshape(A, [R, h * w * co]) as tf.Tensor2D, T as tf.Tensor2D);
    return tf.reshape(tf.mul(tf.reshape(t, [S, rows, geom.y.size, geom.x.size, ci]), mask), [
      R,
      geom.y.size,
      geom.x.size,
      ci,
    ]);
  };
  const cShape = f.shared ? [rows] : [f.batch, rows];
  const bias = (A: tf.Tensor): tf.Tensor =>
    tf.reshape(
      tf.matMul(
        tf.reshape(A, [R, h * w * co]) as tf.Tensor2D,
        tf.reshape(tf.tile(b!, [h * w]), [-1, 1]) as tf.Tensor2D,
      ),
      cShape,
    );
  const AL = back(F.AL);
  const AU = F.AU === null ? null : F.AU === F.AL ? AL : back(F.AU);
  const cL = b ? addOpt(f.cL, bias(F.AL)) : f.cL;
  const cU = F.AU === null ? null : b ? addOpt(f.cU, F.AU === F.AL ? bias(F.AL) : bias(F.AU)) : f.cU;
  return {
    ...f,
    forms: { kind: 'windowed', AL, AU, geom },
    cL,
    cU,
    peak: Math.max(f.peak, sides(f) * (h * w * co + geom.y.size * geom.x.size * ci)),
  };
}

/** Windowed rows back through an activation: the slopes and intercepts of each row's window. */
function windowedAct(f: BackState, F: Windowed, rel: Relaxation): BackState {
  const g = F.geom;
  const B = f.batch;
  const rows = dirs(g);
  const dims = [g.y.size, g.x.size, g.map[2]];
  const lines = midRadLines(rel);
  const [sm, sr, tm, tr] = [lines.sm, lines.sr, lines.tm, lines.tr].map((v) => gathered(v, g));
  const view = (A: tf.Tensor): tf.Tensor => grouped(A, f.shared ? 1 : B, g);
  const out = (A: tf.Tensor): tf.Tensor => tf.reshape(A, [B * rows, ...dims]);
  const flat = (c: tf.Tensor): tf.Tensor => tf.reshape(c, [B, rows]);
  const side = (A0: tf.Tensor, c: Opt, sign: 1 | -1): [tf.Tensor, tf.Tensor] => {
    const A = view(A0);
    const abs = tf.abs(A);
    const pm = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => (sign > 0 ? tf.add(x, y) : tf.sub(x, y));
    return [
      out(pm(tf.mul(A, sm!), tf.mul(abs, sr!))),
      addOpt(c, flat(pm(windowDot(A, tm!), windowDot(abs, tr!))))!,
    ];
  };
  const [AL, cL] = side(F.AL, f.cL, -1);
  const [AU, cU] = F.AU === null ? [null, null] : side(F.AU, f.cU, 1);
  const area = dims[0]! * dims[1]! * dims[2]!;
  return {
    ...f,
    forms: { kind: 'windowed', AL, AU, geom: g },
    cL,
    cU,
    shared: false,
    peak: Math.max(f.peak, sides(f) * 6 * area),
  };
}

/** Closed form of windowed rows over the box (centre c, radius ρ [B, n0] on the input map). */
function windowedConcretize(
  f: BackState,
  F: Windowed,
  c: tf.Tensor2D,
  rho: tf.Tensor2D,
): { lower: tf.Tensor2D; upper?: tf.Tensor2D } {
  const g = F.geom;
  const B = f.batch;
  const rows = dirs(g);
  const [cw, rw] = [gathered(c, g), gathered(rho, g)];
  const view = (A: tf.Tensor): tf.Tensor => grouped(A, f.shared ? 1 : B, g);
  const terms = (A0: tf.Tensor): [tf.Tensor, tf.Tensor] => {
    const A = view(A0);
    return [windowDot(A, cw), windowDot(tf.abs(A), rw)];
  };
  const withC = (v: tf.Tensor, cc: Opt): tf.Tensor2D => {
    const flat = tf.reshape(v, [B, rows]);
    return (cc === null ? flat : tf.add(flat, cc)) as tf.Tensor2D;
  };
  const tL = terms(F.AL);
  const lower = withC(tf.sub(tL[0], tL[1]), f.cL);
  if (F.AU === null) return { lower };
  const tU = F.AU === F.AL ? tL : terms(F.AU);
  return { lower, upper: withC(tf.add(tU[0], tU[1]), f.cU) };
}

/** The same state without its constant terms (`add`: the constants go back along one input only). */
export function backNoConstant(f: BackState): BackState {
  return { ...f, cL: null, cU: null };
}

/**
 * The sum of two backward states on the same value (a node read by several consumers), as dense
 * forms [rows or B·rows, ...mapShape]; a shared one is repeated per sample when the other is not.
 */
export function backSum(f1: BackState, f2: BackState, mapShape: readonly number[]): BackState {
  const d1 = toDense(f1, mapShape);
  const d2 = toDense(f2, mapShape);
  const shared = d1.shared && d2.shared;
  const B = d1.batch;
  const full = (d: typeof d1, A: tf.Tensor): tf.Tensor => {
    const t = tf.reshape(A, [-1, ...mapShape]);
    if (shared || !d.shared) return t;
    return tf.reshape(tf.tile(tf.reshape(t, [1, -1]), [B, 1]), [B * d.rows, ...mapShape]);
  };
  const AL1 = full(d1, d1.forms.AL);
  const AL2 = full(d2, d2.forms.AL);
  const AL = tf.add(AL1, AL2);
  let AU: tf.Tensor | null = null;
  if (!d1.lowerOnly) {
    const same = d1.forms.AU === d1.forms.AL && d2.forms.AU === d2.forms.AL;
    AU = same ? AL : tf.add(full(d1, d1.forms.AU ?? d1.forms.AL), full(d2, d2.forms.AU ?? d2.forms.AL));
  }
  const c = (a: Opt, b: Opt): Opt => {
    const s = addOpt(a, b);
    return s === null || shared || s.rank === 2 ? s : tf.broadcastTo(s, [B, d1.rows]);
  };
  return {
    ...d1,
    forms: { kind: 'dense', AL, AU, cols: null },
    cL: c(d1.cL, d2.cL),
    cU: d1.lowerOnly ? null : c(d1.cU, d2.cU),
    shared,
    peak: Math.max(d1.peak, d2.peak, 3 * sides(d1) * numel(mapShape)),
  };
}
