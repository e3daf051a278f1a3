/**
 * LBP, linear bound propagation (paper-notes §4 "LBP pseudocode"): one forward sweep carrying
 * linear bounds AL·x + bL ≤ z ≤ AU·x + bU of every layer in the normalised input x, concretized
 * over the input box after every affine layer (no intersection with IBP).
 *
 * Mid/rad form: with M = (AL + AU)/2 and R = (AU − AL)/2, the affine step
 * AL' = W⁺AL + W⁻AU, AU' = W⁺AU + W⁻AL becomes M' = W·M, R' = |W|·R (two products instead of
 * four), and an activation with slopes sL, sU ≥ 0 maps (M, R) to
 * (sm·M + sr·R, sr·M + sm·R) with sm = (sL + sU)/2, sr = (sU − sL)/2; biases likewise.
 *
 * What is carried, per layer:
 * - m, r [B, ...s]: the mid and radius forms evaluated at the box centre c, biases included
 *   (m = M·c + (bL + bU)/2, r = R·c + (bU − bL)/2). They follow the same rules as the forms but
 *   cost no more than IBP, and give the linear part of the closed form: AL·c + bL = m − r.
 * - The forms themselves, only for the box terms: with ρ the box radius,
 *   l = m − r − Σᵢ|ρᵢ·(M − R)ᵢ|, u = m + r + Σᵢ|ρᵢ·(M + R)ᵢ|. Once the forms differ per sample
 *   they are stored with ρ folded into their rows, so the box terms are plain sums.
 * The forms live in one of three layouts: "shared" ([n0, ...s], the same for every sample: before
 * the first activation, where A = W and R = 0; the first affine layer takes A = W directly, no
 * identity product); "batched" ([B·n0, ...s], the n0 input directions as a batch axis, so conv
 * layers run as plain conv2d); "samples" (flat layers with status gathering, see status.ts: one
 * [n0, k] matrix per sample over its k live columns only, so the next dense layer multiplies
 * only those rows of W). The clean x rides along (the logits come from the same pass).
 */
import * as tf from '@tensorflow/tfjs-core';
import { numel } from '../ir/ir.js';
import { actForward, actOf, midRadLines } from './act.js';
import { cleanLogits } from './ibp.js';
import { convOp, dense, denseOp, type LinOp } from './affine.js';
import { crownBudgetFloats, MemoryBudgetError, mib } from './budget.js';
import { nonzeroColumns, rowSums, SAMPLE_ROWS_MIN, statusGather } from './status.js';
import type { BoundOptions, Conv2dCfg, InputBox, Relaxation } from './types.js';
import {
  convPlan,
  cutWindows,
  densify,
  dirs,
  gatherWindows,
  inputGeom,
  planGeom,
  scatterSum,
  windowConv,
  windowDense,
  windowsPay,
  type WinGeom,
} from './windows.js';

/** Box radius ρ, flattened [B, n0], and the input size n0. */
interface LbpBox {
  readonly rho: tf.Tensor2D;
  readonly n0: number;
}

/**
 * One sample's form, transposed ([k, n0]: one row per neuron, so gathers copy whole rows and the
 * box terms reduce the inner axis), over the neurons `idx` of its layer; idx null = all of them.
 */
interface Cols {
  readonly t: tf.Tensor2D;
  readonly idx: tf.Tensor1D | null;
}

/** The mid/rad linear forms (see the file comment); R null = 0, shared M null = identity. */
type Forms =
  | { readonly kind: 'shared'; readonly M: tf.Tensor | null }
  | { readonly kind: 'batched'; readonly M: tf.Tensor; readonly R: tf.Tensor | null }
  | { readonly kind: 'samples'; readonly M: readonly Cols[]; readonly R: readonly Cols[] | null }
  | {
      readonly kind: 'windowed';
      readonly M: tf.Tensor;
      readonly R: tf.Tensor | null;
      readonly geom: WinGeom;
    };

/**
 * LBP state: clean x (null when the clean pass is skipped, `noLogits`), bounds [l, u] of the
 * current layer (pre-activation after an affine layer).
 */
export interface LbpState {
  readonly x: tf.Tensor | null;
  readonly l: tf.Tensor;
  readonly u: tf.Tensor;
  /** Mid form at the box centre, biases included, [B, ...s]. */
  readonly m: tf.Tensor;
  /** Radius form at the box centre, [B, ...s]; null = 0. */
  readonly r: tf.Tensor | null;
  readonly forms: Forms;
  readonly box: LbpBox;
  /**
   * Where each input direction's form lives on the current (spatial, or flattened spatial) map,
   * tracked from the input through the convs (windows.ts); null after a dense layer. It is the
   * geometry of windowed forms, and of shared forms when they become windowed.
   */
  readonly win: WinGeom | null;
}

type Opt = tf.Tensor | null;
const add = (a: Opt, b: Opt): Opt => (a === null ? b : b === null ? a : tf.add(a, b));
const mul = (a: Opt, s: tf.Tensor): Opt => (a === null ? null : tf.mul(a, s));

/** Start of an LBP pass: z = x, i.e. A = I, b = 0. */
export function lbpInput(box: InputBox, o: BoundOptions = {}): LbpState {
  const B = box.x.shape[0]!;
  const n0 = box.x.size / B;
  const rho = tf.reshape(tf.mul(tf.sub(box.hi, box.lo), 0.5), [B, n0]) as tf.Tensor2D;
  return {
    x: o.noLogits ? null : box.x,
    l: box.lo,
    u: box.hi,
    m: tf.mul(tf.add(box.lo, box.hi), 0.5),
    r: null,
    forms: { kind: 'shared', M: null },
    box: { rho, n0 },
    win: inputGeom(box.x.shape.slice(1)),
  };
}

/**
 * Refuses (MemoryBudgetError, a UserError) a step that would need more than the memory budget:
 * `need` float32 values for its linear forms.
 */
function guard(s: LbpState, need: number, shape: readonly number[]): void {
  const budget = crownBudgetFloats();
  if (need > budget)
    throw new MemoryBudgetError(
      `LBP needs about ${mib(need)} MiB for its linear bounds at a layer of shape [${shape.join(', ')}] ` +
        `(batch ${s.l.shape[0]!}, ${s.box.n0} input dimensions), over the budget of ${mib(budget)} MiB`,
      ['use a smaller batch, or raise the budget with VNET_CROWN_BUDGET_MB'],
    );
}

/** Columns stored per sample, over all samples (the size of a "samples" layout). */
const storedColumns = (cols: readonly Cols[] | null): number =>
  cols === null ? 0 : cols.reduce((n, c) => n + c.t.shape[0], 0);

/** The identity form as a matrix (only for a net whose first layer is an activation). */
const formOrEye = (M: tf.Tensor | null, n0: number): tf.Tensor => M ?? tf.eye(n0);

/** Σᵢ|Mᵢ − Rᵢ| and Σᵢ|Mᵢ + Rᵢ| with `sum` reducing the input-direction axis (R null = 0). */
function boxPair(
  M: tf.Tensor,
  R: tf.Tensor | null,
  sum: (t: tf.Tensor) => tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  if (R === null) {
    const d = sum(tf.abs(M));
    return [d, d];
  }
  return [sum(tf.abs(tf.sub(M, R))), sum(tf.abs(tf.add(M, R)))];
}

/** Per-sample transposed forms [N, n0] reduced over n0. */
const sampleSum = (t: tf.Tensor): tf.Tensor => rowSums(t as tf.Tensor2D);

/** Box terms Σᵢ|ρᵢ·(M ∓ R)ᵢ| of every neuron, lower and upper side, [B, N] each. */
function boxTerms(forms: Forms, box: LbpBox, B: number, N: number): [tf.Tensor, tf.Tensor] {
  const n0 = box.n0;
  switch (forms.kind) {
    case 'shared': {
      const d = tf.matMul(box.rho, tf.abs(tf.reshape(formOrEye(forms.M, n0), [n0, N])) as tf.Tensor2D);
      return [d, d];
    }
    case 'batched': {
      const view = (t: tf.Tensor | null): tf.Tensor | null => (t === null ? null : tf.reshape(t, [B, n0, N]));
      return boxPair(view(forms.M)!, view(forms.R), (t) => tf.sum(t, 1));
    }
    case 'samples': {
      // One tidy per sample: its temporaries go at once (only the [N] sums stay).
      const per = forms.M.map((Mb, b) => tf.tidy(() => boxPair(Mb.t, forms.R?.[b]?.t ?? null, sampleSum)));
      return [tf.stack(per.map((p) => p[0])), tf.stack(per.map((p) => p[1]))];
    }
    case 'windowed':
      return boxPair(forms.M, forms.R, (t) => scatterSum(t, B, forms.geom));
  }
}

/** l = m − r − (box term), u = m + r + (box term), shaped [B, ...outShape]. */
function concretize(
  m: tf.Tensor,
  r: Opt,
  forms: Forms,
  box: LbpBox,
  outShape: readonly number[],
): { l: tf.Tensor; u: tf.Tensor } {
  const B = m.shape[0]!;
  const N = numel(outShape);
  const [dL, dU] = boxTerms(forms, box, B, N);
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, N]);
  const m2 = flat(m);
  const r2 = r === null ? null : flat(r);
  const lo = tf.sub(r2 === null ? m2 : tf.sub(m2, r2), dL);
  const up = tf.add(r2 === null ? m2 : tf.add(m2, r2), dU);
  return { l: tf.reshape(lo, [B, ...outShape]), u: tf.reshape(up, [B, ...outShape]) };
}

/**
 * A sample's transposed forms through a dense weight, given as Wᵀ [out, in]: Wᵀ[:, c.idx] · c.t,
 * [out, n0] (only the columns of Wᵀ of the stored neurons); zeros when none is stored.
 */
function colsTimes(c: Cols, Wt: tf.Tensor2D): tf.Tensor2D {
  if (c.t.shape[0] === 0) return tf.zeros([Wt.shape[0], c.t.shape[1]]);
  return tf.matMul(c.idx === null ? Wt : (tf.gather(Wt, c.idx, 1) as tf.Tensor2D), c.t);
}

/** Windowed forms as full-map batched forms (where a step needs the whole map). */
function densified(f: Forms, B: number): Forms {
  if (f.kind !== 'windowed') return f;
  return {
    kind: 'batched',
    M: densify(f.M, B, f.geom),
    R: f.R === null ? null : densify(f.R, B, f.geom),
  };
}

/**
 * The forms through a linear map; `W` is the dense weight [in, out] (required by "samples" and
 * "windowed", which reach only dense layers here: lbpAffine runs windowed convs itself).
 */
function formsThrough(forms: Forms, op: LinOp, W: tf.Tensor2D | undefined, B: number): Forms {
  switch (forms.kind) {
    case 'windowed': {
      if (!W) throw new Error('internal: windowed LBP forms through a conv outside lbpAffine');
      return {
        kind: 'batched',
        M: windowDense(forms.M, B, forms.geom, W),
        R: forms.R === null ? null : windowDense(forms.R, B, forms.geom, tf.abs(W) as tf.Tensor2D),
      };
    }
    case 'shared':
      return { kind: 'shared', M: forms.M === null ? op.identity() : op.linear(forms.M) };
    case 'batched':
      return { kind: 'batched', M: op.linear(forms.M), R: forms.R === null ? null : op.absLinear(forms.R) };
    case 'samples': {
      if (!W) throw new Error('internal: per-sample LBP forms can only go through a dense layer');
      const Wt = tf.transpose(W) as tf.Tensor2D;
      const absWt = tf.abs(Wt) as tf.Tensor2D;
      const full = (t: tf.Tensor2D): Cols => ({ t, idx: null });
      return {
        kind: 'samples',
        M: forms.M.map((c) => full(colsTimes(c, Wt))),
        R: forms.R === null ? null : forms.R.map((c) => full(colsTimes(c, absWt))),
      };
    }
  }
}

/** A conv layer's kernel and config, for the windowed step. */
interface ConvStep {
  readonly W: tf.Tensor;
  readonly cfg: Conv2dCfg;
}

function lbpAffine(s: LbpState, op: LinOp, W?: tf.Tensor2D, conv?: ConvStep): LbpState {
  const B = s.l.shape[0]!;
  const n0 = s.box.n0;
  const [nIn, nOut] = [numel(op.inShape), numel(op.outShape)];
  const plan = conv && s.win ? convPlan(s.win, conv.cfg) : null;
  let f = s.forms;
  // windowed forms stay windowed through a conv while windows pay; otherwise they become full maps
  const windowed = f.kind === 'windowed' && plan !== null && windowsPay(plan.geom);
  if (f.kind === 'windowed' && conv && !windowed) {
    guard(s, B * n0 * nIn * 4, op.inShape);
    f = densified(f, B);
  }
  let need: number;
  if (f.kind === 'windowed') {
    const area = (g: WinGeom): number => g.y.size * g.x.size * g.map[2];
    need = B * n0 * (conv ? 2 * area(f.geom) + 4 * area(plan!.geom) : 2 * area(f.geom) + 4 * nOut);
  } else
    need =
      f.kind === 'samples'
        ? n0 * (storedColumns(f.M) + storedColumns(f.R) + 2 * B * nOut)
        : (f.kind === 'shared' ? 1 : B) * n0 * (2 * nIn + 6 * nOut);
  guard(s, need, op.outShape);
  let forms: Forms;
  if (f.kind === 'windowed' && conv) {
    const absW = f.R === null ? null : tf.abs(conv.W);
    forms = {
      kind: 'windowed',
      M: windowConv(f.M, B, plan!, conv.W, conv.cfg.stride),
      R: f.R === null ? null : windowConv(f.R, B, plan!, absW!, conv.cfg.stride),
      geom: planGeom(plan!),
    };
  } else forms = formsThrough(f, op, W, B);
  const m = op.affine(s.m);
  const r = s.r === null ? null : op.absLinear(s.r);
  return {
    x: s.x && op.affine(s.x),
    ...concretize(m, r, forms, s.box, op.outShape),
    m,
    r,
    forms,
    box: s.box,
    win: forms.kind === 'windowed' ? forms.geom : (plan?.geom ?? null),
  };
}

/** Dense layer W [in, out], b [out]. */
export function lbpDense(s: LbpState, W: tf.Tensor, b: tf.Tensor | undefined): LbpState {
  return lbpAffine(s, denseOp(W, b), W as tf.Tensor2D);
}

/** Conv layer W [kh, kw, Cin, Cout], b [Cout]. */
export function lbpConv2d(s: LbpState, W: tf.Tensor, b: tf.Tensor | undefined, cfg: Conv2dCfg): LbpState {
  return lbpAffine(s, convOp(W, b, cfg), undefined, { W, cfg });
}

/** Flatten [.., H, W, C] → [.., H·W·C] for the clean x, the bounds and the linear forms. */
export function lbpFlatten(s: LbpState): LbpState {
  const B = s.l.shape[0]!;
  const N = s.l.size / B;
  const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, N]);
  const rows = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [-1, N]);
  const f = s.forms;
  const forms: Forms =
    f.kind === 'shared'
      ? { kind: 'shared', M: f.M === null ? null : rows(f.M) }
      : f.kind === 'batched'
        ? { kind: 'batched', M: rows(f.M), R: f.R === null ? null : rows(f.R) }
        : f;
  return {
    ...s,
    x: s.x && flat(s.x),
    l: flat(s.l),
    u: flat(s.u),
    m: flat(s.m),
    r: s.r === null ? null : flat(s.r),
    forms,
  };
}

/** Activation slopes in mid/rad form, [B, ...s]. */
interface Slopes {
  readonly sm: tf.Tensor;
  readonly sr: tf.Tensor;
}

/** The activation on batched forms (ρ folded in when they stop being shared). */
function actBatched(s: LbpState, k: Slopes, shape: readonly number[]): Forms {
  const B = s.l.shape[0]!;
  const n0 = s.box.n0;
  const N = numel(shape);
  const sm3 = tf.reshape(k.sm, [B, 1, N]);
  const sr3 = tf.reshape(k.sr, [B, 1, N]);
  const rows = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B * n0, ...shape]);
  const f = s.forms;
  if (f.kind === 'shared') {
    const Mr = tf.mul(tf.reshape(formOrEye(f.M, n0), [1, n0, N]), tf.reshape(s.box.rho, [B, n0, 1]));
    return { kind: 'batched', M: rows(tf.mul(Mr, sm3)), R: rows(tf.mul(Mr, sr3)) };
  }
  if (f.kind !== 'batched') throw new Error('internal: per-sample LBP forms on a batched activation');
  const M3 = tf.reshape(f.M, [B, n0, N]);
  const R3 = f.R === null ? null : tf.reshape(f.R, [B, n0, N]);
  return {
    kind: 'batched',
    M: rows(add(tf.mul(M3, sm3), mul(R3, sr3))!),
    R: rows(add(tf.mul(M3, sr3), mul(R3, sm3))!),
  };
}

/**
 * The activation on a flat layer, per sample over its live columns: M' = sm·M + sr·R on the
 * non-dead columns (sm ≠ 0), R' = sr·M + sm·R there too, or only on the unstable columns
 * (sr ≠ 0) while R = 0. Every dropped column is exactly 0.
 */
function actSamples(s: LbpState, k: Slopes, N: number): Forms {
  const B = s.l.shape[0]!;
  const n0 = s.box.n0;
  const sm = tf.reshape(k.sm, [B, N]);
  const sr = tf.reshape(k.sr, [B, N]);
  const live = nonzeroColumns(sm);
  const unstable = nonzeroColumns(sr);
  const smRows = tf.unstack(sm);
  const srRows = tf.unstack(sr);
  const rhoRows = tf.unstack(s.box.rho);
  const f = s.forms;
  const sharedT = f.kind === 'shared' ? tf.transpose(tf.reshape(formOrEye(f.M, n0), [n0, N])) : null;
  /** Sample b's transposed forms [N, n0] (the shared ones without ρ: it is folded in after the gather). */
  const sourceOf = (b: number): [tf.Tensor, tf.Tensor | null] => {
    switch (f.kind) {
      case 'shared':
        return [sharedT!, null];
      case 'batched': {
        const rowsOf = (t: tf.Tensor): tf.Tensor =>
          tf.transpose(tf.slice(tf.reshape(t, [B * n0, N]), [b * n0, 0], [n0, N]));
        return [rowsOf(f.M), f.R === null ? null : rowsOf(f.R)];
      }
      case 'samples':
        if (f.M[b]!.idx !== null) throw new Error('internal: LBP activation on gathered forms');
        return [f.M[b]!.t, f.R?.[b]?.t ?? null];
      case 'windowed':
        throw new Error('internal: per-sample LBP activation on windowed forms');
    }
  };
  const pick = (t: tf.Tensor, idx: tf.Tensor1D | null): tf.Tensor => (idx === null ? t : tf.gather(t, idx));
  const Ms: Cols[] = [];
  const Rs: Cols[] = [];
  for (let b = 0; b < B; b++) {
    const nd = live[b]!;
    const rIdx = f.kind !== 'shared' && f.R !== null ? nd : unstable[b]!; // R = 0: R' = sr·M lives on the unstable
    // One tidy per sample: only its kept forms [M', R'] stay.
    const [Mt, Rt] = tf.tidy(() => {
      const [Mb, Rb] = sourceOf(b);
      const slope = (v: tf.Tensor, idx: tf.Tensor1D | null): tf.Tensor => tf.reshape(pick(v, idx), [-1, 1]);
      const smN = slope(smRows[b]!, nd);
      const srN = slope(srRows[b]!, nd);
      if (Rb === null) {
        const rho = f.kind === 'shared' ? tf.reshape(rhoRows[b]!, [1, n0]) : tf.scalar(1);
        const scaled = (idx: tf.Tensor1D | null, v: tf.Tensor): tf.Tensor =>
          tf.mul(tf.mul(pick(Mb, idx), rho), v);
        return [scaled(nd, smN), scaled(rIdx, slope(srRows[b]!, rIdx))];
      }
      const gM = pick(Mb, nd);
      const gR = pick(Rb, nd);
      return [tf.add(tf.mul(gM, smN), tf.mul(gR, srN)), tf.add(tf.mul(gM, srN), tf.mul(gR, smN))];
    });
    Ms.push({ t: Mt as tf.Tensor2D, idx: nd });
    Rs.push({ t: Rt as tf.Tensor2D, idx: rIdx });
  }
  return { kind: 'samples', M: Ms, R: Rs };
}

/**
 * Activation with lines `rel` (made by `relax` on this state's l, u, so it carries σ; slopes ≥ 0):
 * rescales the linear forms per neuron (paper-notes §4, forward mode Eqs. 38–50). After this, l
 * and u hold the interval [σ(l), σ(u)] (LBP concretizes only after affine layers).
 */
export function lbpAct(s: LbpState, rel: Relaxation): LbpState {
  const B = s.l.shape[0]!;
  const shape = s.l.shape.slice(1);
  const N = numel(shape);
  const { sm, sr, tm, tr } = midRadLines(rel);
  const f = s.forms;
  let forms: Forms;
  if (f.kind === 'windowed' || (f.kind === 'shared' && s.win !== null && windowsPay(s.win))) {
    const g = f.kind === 'windowed' ? f.geom : s.win!;
    guard(s, B * s.box.n0 * g.y.size * g.x.size * g.map[2] * 8, shape);
    forms = actWindowed(s, { sm, sr }, g);
  } else {
    const perSample =
      shape.length === 1 && (f.kind === 'samples' || (s.box.n0 >= SAMPLE_ROWS_MIN && statusGather()));
    if (!perSample) guard(s, B * s.box.n0 * 8 * N, shape);
    forms = perSample ? actSamples(s, { sm, sr }, N) : actBatched(s, { sm, sr }, shape);
    if (forms.kind === 'samples') {
      // Kept forms of this layer and of the one before (whose per-sample temporaries are freed).
      const before = f.kind === 'samples' ? storedColumns(f.M) + storedColumns(f.R) : 0;
      guard(s, s.box.n0 * (storedColumns(forms.M) + storedColumns(forms.R) + before), shape);
    }
  }
  const a = actOf(rel);
  return {
    x: s.x && actForward(s.x, a),
    l: actForward(s.l, a),
    u: actForward(s.u, a),
    m: add(add(tf.mul(s.m, sm), mul(s.r, sr)), tm)!,
    r: add(add(tf.mul(s.m, sr), mul(s.r, sm)), tr)!,
    forms,
    box: s.box,
    win: s.win,
  };
}

/**
 * The activation on windowed forms, or on shared ones cut to windows (ρ folded in): the slopes of
 * each direction's window rescale its form, as in `actBatched` on the whole map.
 */
function actWindowed(s: LbpState, k: Slopes, g: WinGeom): Forms {
  // one tidy: only the new forms stay
  const [M, R] = tf.tidy(() => {
    const f = actWindowedForms(s, k, g);
    return [f.M, f.R!];
  });
  return { kind: 'windowed', M, R, geom: g };
}

function actWindowedForms(
  s: LbpState,
  k: Slopes,
  g: WinGeom,
): { kind: 'windowed'; M: tf.Tensor; R: tf.Tensor | null; geom: WinGeom } {
  const B = s.l.shape[0]!;
  const n = dirs(g);
  const dims = [g.y.size, g.x.size, g.map[2]];
  const five = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B, n, ...dims]);
  const back = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B * n, ...dims]);
  const smW = gatherWindows(k.sm, g);
  const srW = gatherWindows(k.sr, g);
  const f = s.forms;
  if (f.kind === 'shared') {
    const cut = cutWindows(formOrEye(f.M, s.box.n0), g);
    const Mr = tf.mul(tf.reshape(cut, [1, n, ...dims]), tf.reshape(s.box.rho, [B, n, 1, 1, 1]));
    return { kind: 'windowed', M: back(tf.mul(Mr, smW)), R: back(tf.mul(Mr, srW)), geom: g };
  }
  if (f.kind !== 'windowed') throw new Error('internal: windowed LBP activation on other forms');
  const M5 = five(f.M);
  const R5 = f.R === null ? null : five(f.R);
  return {
    kind: 'windowed',
    M: back(add(tf.mul(M5, smW), mul(R5, srW))!),
    R: back(add(tf.mul(M5, srW), mul(R5, smW))!),
    geom: g,
  };
}

/**
 * Box terms of the output rows C·W per sample, from forms over the last layer's input
 * ([B, m] each). CW [B, m, n] holds the rows of C·W.
 */
function lastBoxTerms(forms: Forms, CW: tf.Tensor3D, box: LbpBox): [tf.Tensor, tf.Tensor] {
  const [B, m, n] = CW.shape;
  const n0 = box.n0;
  const CWt = (): tf.Tensor3D => tf.transpose(CW, [0, 2, 1]) as tf.Tensor3D; // [B, n, m]
  switch (forms.kind) {
    case 'shared': {
      // One 2-D product with every sample's (C·W)ᵀ side by side (a broadcast batch axis in matMul
      // would break tfjs's gradient), then ρ per sample.
      const sideBySide = tf.reshape(tf.transpose(CW, [2, 0, 1]), [n, B * m]);
      const P = tf.matMul(
        tf.reshape(formOrEye(forms.M, n0), [n0, n]) as tf.Tensor2D,
        sideBySide as tf.Tensor2D,
      );
      const P3 = tf.transpose(tf.reshape(P, [n0, B, m]), [1, 0, 2]);
      const d = tf.sum(tf.mul(tf.abs(P3), tf.reshape(box.rho, [B, n0, 1])), 1);
      return [d, d];
    }
    case 'batched': {
      const t = CWt();
      const M = tf.matMul(tf.reshape(forms.M, [B, n0, n]) as tf.Tensor3D, t);
      const R =
        forms.R === null ? null : tf.matMul(tf.reshape(forms.R, [B, n0, n]) as tf.Tensor3D, tf.abs(t));
      return boxPair(M, R, (t) => tf.sum(t, 1));
    }
    case 'samples': {
      // Per sample formsᵀ [n0, k] · ((C·W)[:, idx])ᵀ → [n0, m]: the small operand is the packed one.
      const rowsM = tf.unstack(CWt()) as tf.Tensor2D[];
      const rowsR = rowsM.map((t) => tf.abs(t) as tf.Tensor2D);
      const through = (c: Cols, cwt: tf.Tensor2D): tf.Tensor2D =>
        c.t.shape[0] === 0
          ? tf.zeros([n0, m])
          : tf.matMul(tf.transpose(c.t), c.idx === null ? cwt : (tf.gather(cwt, c.idx) as tf.Tensor2D));
      const sumRows = (t: tf.Tensor): tf.Tensor => tf.sum(t, 0);
      const per = forms.M.map((Mb, b) =>
        tf.tidy(() => {
          const Rb = forms.R?.[b];
          return boxPair(through(Mb, rowsM[b]!), Rb ? through(Rb, rowsR[b]!) : null, sumRows);
        }),
      );
      return [tf.stack(per.map((p) => p[0])), tf.stack(per.map((p) => p[1]))];
    }
    case 'windowed':
      throw new Error('internal: windowed LBP forms at the last layer (lbpLast densifies them)');
  }
}

/**
 * Last dense layer. Without C: like `lbpDense`. With C [B, m, K]: the per-sample layer C·W, C·b
 * (elision); l, u [B, m] bound C·z and x holds the clean logits [B, K].
 */
export function lbpLast(
  s: LbpState,
  W: tf.Tensor,
  b: tf.Tensor | undefined,
  C: tf.Tensor3D | undefined,
): LbpState {
  if (!C) return lbpDense(s, W, b);
  const [B, m, K] = C.shape;
  const CW = tf.reshape(tf.matMul(tf.reshape(C, [B * m, K]), tf.transpose(W)), [B, m, -1]) as tf.Tensor3D;
  const z = dense(s.m, W, b); // mid form of the logits at the centre [B, K]
  const mOut = tf.sum(tf.mul(C, tf.reshape(z, [B, 1, K])), 2);
  const rOut =
    s.r === null ? null : tf.sum(tf.mul(tf.abs(CW), tf.expandDims(tf.reshape(s.r, [B, -1]), 1)), 2);
  // windowed forms reach the last layer only straight after a conv and flatten: as full maps
  if (s.forms.kind === 'windowed') guard(s, B * s.box.n0 * CW.shape[2] * 4, [CW.shape[2]]);
  const forms = densified(s.forms, B);
  const [dL, dU] = lastBoxTerms(forms, CW, s.box);
  const l = tf.sub(rOut === null ? mOut : tf.sub(mOut, rOut), dL);
  const u = tf.add(rOut === null ? mOut : tf.add(mOut, rOut), dU);
  // (The forms of the output rows are not kept: nothing follows the last layer.)
  return { x: cleanLogits(s.x, W, b, B), l, u, m: mOut, r: rOut, forms, box: s.box, win: null };
}

/** Sample b's form over all N neurons, [n0, N] (kept rows scattered back by an exact one-hot product). */
function sampleFull(c: Cols, N: number): tf.Tensor2D {
  if (c.idx === null) return tf.transpose(c.t);
  if (c.t.shape[0] === 0) return tf.zeros([c.t.shape[1], N]);
  const onehot = tf.cast(tf.oneHot(c.idx, N), 'float32') as tf.Tensor2D; // [k, N]
  return tf.matMul(c.t, onehot, true, false);
}

/** The forms of a state as batched forms [B·n0, ...shape] with ρ folded in. */
export function batchedForms(s: LbpState, shape: readonly number[]): { M: tf.Tensor; R: Opt } {
  const B = s.l.shape[0]!;
  const n0 = s.box.n0;
  const N = numel(shape);
  const f = densified(s.forms, B);
  const rows = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [B * n0, ...shape]);
  switch (f.kind) {
    case 'shared': {
      const M = tf.mul(tf.reshape(formOrEye(f.M, n0), [1, n0, N]), tf.reshape(s.box.rho, [B, n0, 1]));
      return { M: rows(M), R: null };
    }
    case 'batched':
      return { M: rows(f.M), R: f.R === null ? null : rows(f.R) };
    case 'samples':
      return {
        M: rows(tf.concat(f.M.map((c) => sampleFull(c, N)))),
        R: f.R === null ? null : rows(tf.concat(f.R.map((c) => sampleFull(c, N)))),
      };
    case 'windowed':
      throw new Error('internal: windowed LBP forms after densified');
  }
}

/**
 * The sum of two nodes of the same shape (residual connections): the forms, mid and radius add
 * (in the shared layout while both are shared, else batched), then concretized like after an
 * affine layer.
 */
export function lbpAdd(a: LbpState, b: LbpState): LbpState {
  const shape = a.l.shape.slice(1);
  const B = a.l.shape[0]!;
  const n0 = a.box.n0;
  let forms: Forms;
  if (a.forms.kind === 'shared' && b.forms.kind === 'shared') {
    const M = (f: tf.Tensor | null): tf.Tensor => tf.reshape(formOrEye(f, n0), [n0, ...shape]);
    forms = { kind: 'shared', M: tf.add(M(a.forms.M), M(b.forms.M)) };
  } else {
    guard(a, 4 * B * n0 * numel(shape), shape);
    const fa = batchedForms(a, shape);
    const fb = batchedForms(b, shape);
    forms = { kind: 'batched', M: tf.add(fa.M, fb.M), R: add(fa.R, fb.R) };
  }
  const m = tf.add(a.m, b.m);
  const r = add(a.r, b.r);
  return {
    x: a.x && b.x && tf.add(a.x, b.x),
    ...concretize(m, r, forms, a.box, shape),
    m,
    r,
    forms,
    box: a.box,
    win: null,
  };
}
