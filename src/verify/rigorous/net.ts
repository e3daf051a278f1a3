/**
 * The rigorous checker's view of a network: the float64 reference's lowering (`src/reference/`:
 * dense affine maps, convolutions as their full matrices, activations with resolved parameters)
 * stored as sparse rows, so a convolution costs its taps and not its full matrix. The weights are
 * the binary64 values of the file's float32 numbers (exact), so the checked network is the one
 * vnet computes with, in real arithmetic.
 */
import type { RefActOptions, RefModel, RefParams } from '../../reference/index.js';
import { compile } from '../../reference/index.js';
import type { InputIR } from '../../ir/ir.js';
import type { ActParams } from '../../runtime/lines.js';

/** y = W·v + b with W in compressed sparse rows. */
export interface SparseAffine {
  readonly kind: 'affine';
  readonly layer: string;
  readonly nIn: number;
  readonly nOut: number;
  readonly rowPtr: Int32Array;
  readonly col: Int32Array;
  readonly val: Float64Array;
  readonly b: Float64Array;
  /** The most nonzeros in one column: the length of the longest sum in a product a·W. */
  readonly maxColTerms: number;
}

/** The piecewise-linear activations (the checker's σ enumerates their kinks). */
export type PiecewiseAct = Exclude<ActParams<Float64Array>, { kind: 'sigmoid' | 'tanh' }>;

export interface RigorousAct {
  readonly kind: 'act';
  readonly layer: string;
  readonly n: number;
  readonly act: PiecewiseAct;
}

export type RigorousStep = SparseAffine | RigorousAct;

export interface RigorousNet {
  readonly steps: readonly RigorousStep[];
  readonly input: InputIR;
  readonly classes: number;
  /** Why the network cannot be checked (a NaN/±∞ weight, a bad slope, no final affine layer), if so. */
  readonly defect?: string;
  /** Set for networks the checker does not handle (graphs with branches): no rigorous check at all. */
  readonly unsupported?: string;
}

const allFinite = (a: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
};

/** Lowers a model with PyTorch-layout float64 parameters for the rigorous checker. */
export function rigorousNet(model: RefModel, params: RefParams, o: RefActOptions = {}): RigorousNet {
  const steps: RigorousStep[] = [];
  let defect: string | undefined;
  const all = compile(model, params, o);
  // a chain: every node reads the value just before it (graphs with branches are not handled yet)
  const branch = all.find((s, k) => s.srcs.length !== 1 || s.srcs[0] !== k);
  if (branch)
    return {
      steps: [],
      input: model.input,
      classes: model.classes,
      defect: `${branch.layer}: a graph network`,
      unsupported: `the rigorous binary64 check handles chains only ('${branch.layer}' reads several nodes or not the one before it)`,
    };
  // smooth activations and max pooling: the checker's minima over kinks do not apply to them
  const smooth = all.find(
    (s) => s.kind === 'maxpool' || (s.kind === 'act' && (s.act.kind === 'sigmoid' || s.act.kind === 'tanh')),
  );
  if (smooth)
    return {
      steps: [],
      input: model.input,
      classes: model.classes,
      defect: `${smooth.layer}: ${smooth.kind === 'maxpool' ? 'max pooling' : 'a smooth activation'}`,
      unsupported: `the rigorous binary64 check handles piecewise-linear activations only ('${smooth.layer}' is not one)`,
    };
  for (const s of all) {
    if (s.kind === 'alias') continue;
    if (s.kind === 'maxpool') continue; // (excluded above)
    if (s.kind === 'act') {
      const a = s.act as PiecewiseAct;
      if (a.kind === 'leaky_relu' && !Number.isFinite(a.slope)) defect ??= `${s.layer}: slope ${a.slope}`;
      if (a.kind === 'paramramp' && !(Number.isFinite(a.eta) && allFinite(a.r)))
        defect ??= `${s.layer}: NaN/Inf in η or r`;
      steps.push({ kind: 'act', layer: s.layer, n: s.n, act: a });
      continue;
    }
    const W = s.W[0]!;
    const [nIn, nOut] = [s.nIn[0]!, s.n];

    if (!allFinite(W) || !allFinite(s.b)) defect ??= `${s.layer}: NaN/Inf in the weights or bias`;
    const rowPtr = new Int32Array(nOut + 1);
    let nnz = 0;
    for (let i = 0; i < W.length; i++) if (W[i] !== 0) nnz++;
    const col = new Int32Array(nnz);
    const val = new Float64Array(nnz);
    const colTerms = new Int32Array(nIn);
    let k = 0;
    for (let r = 0; r < nOut; r++) {
      for (let c = 0; c < nIn; c++) {
        const w = W[r * nIn + c]!;
        if (w === 0) continue;
        col[k] = c;
        val[k++] = w;
        colTerms[c]!++;
      }
      rowPtr[r + 1] = k;
    }
    steps.push({
      kind: 'affine',
      layer: s.layer,
      nIn,
      nOut,
      rowPtr,
      col,
      val,
      b: s.b,
      maxColTerms: Math.max(1, ...colTerms),
    });
  }
  const { mean, std, domain } = model.input;
  if (!allFinite([...mean, ...std, ...domain]) || std.some((v) => !(v > 0)))
    defect ??= 'input normalisation: a non-finite mean/std/domain or a std ≤ 0';
  if (steps.at(-1)?.kind !== 'affine') defect ??= 'the network does not end in an affine layer';
  return { steps, input: model.input, classes: model.classes, ...(defect ? { defect } : {}) };
}
