/**
 * An ONNX graph of a feed-forward ReLU network lowered to the complete verifier's form: affine maps
 * (CSR) separated by ReLUs, over the input flattened in row-major order (VNN-LIB's X order).
 * Linear operators between two ReLUs (MatMul, Gemm, Conv, Add/Sub/Mul/Div by constants,
 * BatchNormalization, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity, Dropout,
 * Constant) are composed into one sparse affine map, so normalisation layers cost nothing.
 * Anything else (a second data path, an unsupported operator) is an UnsupportedModel error that
 * names the node: the runner answers `unknown` with that reason.
 */
import { readMaybeGzip } from '../vnnlib/parse.js';
import { fileError } from '../base/errors.js';
import { decodeModel, ProtoError, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './onnx-proto.js';
import { CsrBuilder, identity, matmul, withDenseFlag, type Csr } from './sparse.js';

/** A ReLU network: layers[k] maps the ReLU of layer k−1's output (the input for k = 0). */
export interface SeqNet {
  readonly inputShape: readonly number[];
  readonly nIn: number;
  readonly nOut: number;
  readonly layers: readonly { readonly W: Csr; readonly b: Float64Array }[];
}

export class UnsupportedModel extends Error {}

interface Const {
  readonly kind: 'const';
  readonly dims: number[];
  readonly data: Float64Array;
}
interface Act {
  readonly kind: 'act';
  readonly dims: number[];
  /** The value (flattened) = W·base + b. */
  readonly W: Csr;
  readonly b: Float64Array;
}
type Value = Const | Act;

const numel = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);

const strides = (d: readonly number[]): number[] => {
  const s = new Array<number>(d.length).fill(1);
  for (let i = d.length - 2; i >= 0; i--) s[i] = s[i + 1]! * d[i + 1]!;
  return s;
};

/** numpy broadcasting of a constant to `dims`: value at each flat index of dims. */
function broadcast(c: Const, dims: readonly number[], node: OnnxNode): Float64Array {
  const n = numel(dims);
  if (c.data.length === 1) return new Float64Array(n).fill(c.data[0]!);
  const r = dims.length;
  const cd = [...new Array<number>(Math.max(0, r - c.dims.length)).fill(1), ...c.dims];
  if (cd.length > r) fail(node, `cannot broadcast a constant of shape [${c.dims}] to [${dims}]`);
  for (let i = 0; i < r; i++)
    if (cd[i] !== 1 && cd[i] !== dims[i])
      fail(node, `cannot broadcast a constant of shape [${c.dims}] to [${dims}]`);
  const cs = strides(cd);
  const out = new Float64Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let f = 0; f < n; f++) {
    let o = 0;
    for (let i = 0; i < r; i++) if (cd[i] !== 1) o += idx[i]! * cs[i]!;
    out[f] = c.data[o]!;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i]! < dims[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

function fail(node: OnnxNode, why: string): never {
  throw new UnsupportedModel(`${node.opType} node '${node.name || node.outputs[0]}': ${why}`);
}

const attrInt = (n: OnnxNode, k: string, d: number): number => n.attributes.get(k)?.i ?? d;
const attrFloat = (n: OnnxNode, k: string, d: number): number => n.attributes.get(k)?.f ?? d;
const attrInts = (n: OnnxNode, k: string): number[] | undefined => {
  const a: OnnxAttribute | undefined = n.attributes.get(k);
  return a ? a.ints : undefined;
};

/** Applies a sparse linear map M (rows: new values, cols: old values) to an activation. */
function apply(a: Act, M: Csr, dims: number[], bias?: Float64Array): Act {
  const W = matmul(M, a.W);
  const b = new Float64Array(M.rows);
  for (let r = 0; r < M.rows; r++) {
    let s = bias ? bias[r]! : 0;
    for (let p = M.ptr[r]!; p < M.ptr[r + 1]!; p++) s += M.val[p]! * a.b[M.idx[p]!]!;
    b[r] = s;
  }
  return { kind: 'act', dims, W, b };
}

function diag(scale: Float64Array): Csr {
  const I = identity(scale.length);
  return { ...I, val: Float64Array.from(scale) };
}

/** Row-major 2-D view of a MatMul operand ([..., r, c] with leading 1s; a vector is [n]). */
function as2d(dims: readonly number[], node: OnnxNode, leftOperand: boolean): [number, number] {
  if (dims.length === 1) return leftOperand ? [1, dims[0]!] : [dims[0]!, 1];
  const lead = numel(dims.slice(0, -2));
  if (lead !== 1) fail(node, `batched MatMul over [${dims}] is not supported`);
  return [dims[dims.length - 2]!, dims[dims.length - 1]!];
}

function matmulDims(a: readonly number[], b: readonly number[], r: number, c: number): number[] {
  if (a.length === 1 && b.length === 1) return [];
  if (a.length === 1) return [...b.slice(0, -2), c];
  if (b.length === 1) return [...a.slice(0, -2), r];
  const lead = a.length >= b.length ? a.slice(0, -2) : b.slice(0, -2);
  return [...lead, r, c];
}

/** X [r, n] (act) times B [n, m] (const) as a map on X's flat values. */
function rightMul(r: number, n: number, B: Float64Array, m: number): Csr {
  const out = new CsrBuilder(r * n);
  const cols = new Array<number>(n);
  const vals = new Array<number>(n);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < m; j++) {
      for (let k = 0; k < n; k++) {
        cols[k] = i * n + k;
        vals[k] = B[k * m + j]!;
      }
      out.row(cols, vals);
    }
  return out.build();
}

/** A [m, n] (const) times X [n, p] (act). */
function leftMul(A: Float64Array, m: number, n: number, p: number): Csr {
  const out = new CsrBuilder(n * p);
  const cols = new Array<number>(n);
  const vals = new Array<number>(n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < n; k++) {
        cols[k] = k * p + j;
        vals[k] = A[i * n + k]!;
      }
      out.row(cols, vals);
    }
  return out.build();
}

function convMap(node: OnnxNode, dims: readonly number[], w: Const): { M: Csr; dims: number[] } {
  if (dims.length !== 4 || dims[0] !== 1) fail(node, `expected an input [1, C, H, W], got [${dims}]`);
  const [, ci, hi, wi] = dims as [number, number, number, number];
  const [co, cig, kh, kw] = w.dims as [number, number, number, number];
  const group = attrInt(node, 'group', 1);
  if (cig * group !== ci)
    fail(node, `weight [${w.dims}] with group ${group} does not match ${ci} input channels`);
  const autoPad = node.attributes.get('auto_pad')?.s ?? 'NOTSET';
  if (autoPad !== 'NOTSET' && autoPad !== '') fail(node, `auto_pad ${autoPad} is not supported`);
  const [sh, sw] = attrInts(node, 'strides') ?? [1, 1];
  const [dh, dw] = attrInts(node, 'dilations') ?? [1, 1];
  const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  const [pt, pl, pb, pr] = pads as [number, number, number, number];
  const { M, ho, wo } = convCsr(
    [ci, hi, wi],
    w.data,
    [co, cig, kh, kw],
    group,
    [sh!, sw!],
    [dh!, dw!],
    [pt, pl, pb, pr],
  );
  return { M, dims: [1, co, ho, wo] };
}

/**
 * A 2-D convolution as a sparse matrix from the C,H,W-flattened input to the C,H,W-flattened
 * output (weights [co, ci/group, kh, kw]; pads top, left, bottom, right).
 */
export function convCsr(
  [ci, hi, wi]: readonly [number, number, number],
  wdata: ArrayLike<number>,
  [co, cig, kh, kw]: readonly [number, number, number, number],
  group: number,
  [sh, sw]: readonly [number, number],
  [dh, dw]: readonly [number, number],
  [pt, pl, pb, pr]: readonly [number, number, number, number],
): { M: Csr; ho: number; wo: number } {
  const ho = Math.floor((hi + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((wi + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const out = new CsrBuilder(ci * hi * wi);
  const cols: number[] = [];
  const vals: number[] = [];
  const perGroup = co / group;
  for (let o = 0; o < co; o++) {
    const g = Math.floor(o / perGroup);
    for (let y = 0; y < ho; y++)
      for (let x = 0; x < wo; x++) {
        cols.length = 0;
        vals.length = 0;
        for (let c = 0; c < cig; c++)
          for (let dy = 0; dy < kh; dy++) {
            const iy = y * sh - pt + dy * dh;
            if (iy < 0 || iy >= hi) continue;
            for (let dx = 0; dx < kw; dx++) {
              const ix = x * sw - pl + dx * dw;
              if (ix < 0 || ix >= wi) continue;
              cols.push(((g * cig + c) * hi + iy) * wi + ix);
              vals.push(wdata[((o * cig + c) * kh + dy) * kw + dx]!);
            }
          }
        out.row(cols, vals);
      }
  }
  return { M: out.build(), ho, wo };
}

function transposeMap(dims: readonly number[], perm: readonly number[]): { M: Csr; dims: number[] } {
  const od = perm.map((p) => dims[p]!);
  const is = strides(dims);
  const n = numel(dims);
  const out = new CsrBuilder(n);
  const idx = new Array<number>(od.length).fill(0);
  for (let f = 0; f < n; f++) {
    let src = 0;
    for (let i = 0; i < od.length; i++) src += idx[i]! * is[perm[i]!]!;
    out.row([src], [1]);
    for (let i = od.length - 1; i >= 0; i--) {
      if (++idx[i]! < od[i]!) break;
      idx[i] = 0;
    }
  }
  return { M: out.build(), dims: od };
}

function reshapeDims(node: OnnxNode, dims: readonly number[], target: readonly number[]): number[] {
  const out = target.map((t, i) => (t === 0 ? dims[i]! : t));
  const known = out.filter((t) => t !== -1).reduce((a, b) => a * b, 1);
  const k = out.indexOf(-1);
  if (k >= 0) out[k] = numel(dims) / known;
  if (numel(out) !== numel(dims)) fail(node, `cannot reshape [${dims}] to [${target}]`);
  return out;
}

/** Lowers a decoded graph. */
export function lowerGraph(g: ReturnType<typeof decodeModel>): SeqNet {
  if (g.inputs.length !== 1)
    throw new UnsupportedModel(
      `the model has ${g.inputs.length} inputs; only single-input models are supported`,
    );
  if (g.outputs.length !== 1)
    throw new UnsupportedModel(
      `the model has ${g.outputs.length} outputs; only single-output models are supported`,
    );
  const input = g.inputs[0]!;
  const inputShape = input.shape.map((d) => (d < 0 ? 1 : d));
  const nIn = numel(inputShape);
  const values = new Map<string, Value>();
  for (const [k, t] of g.initializers) values.set(k, { kind: 'const', dims: t.dims, data: t.data });
  values.set(input.name, { kind: 'act', dims: inputShape, W: identity(nIn), b: new Float64Array(nIn) });
  const layers: { W: Csr; b: Float64Array }[] = [];

  for (const node of g.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx')
      fail(node, `operator domain '${node.domain}' is not supported`);
    const ins = node.inputs.map((n) => (n === '' ? undefined : values.get(n)));
    for (let i = 0; i < node.inputs.length; i++)
      if (node.inputs[i] !== '' && !ins[i]) fail(node, `input '${node.inputs[i]}' is not computed before it`);
    const acts = ins.filter((v): v is Act => v?.kind === 'act');
    const set = (v: Value): void => void values.set(node.outputs[0]!, v);
    const op = node.opType;
    if (op === 'Constant') {
      const t: OnnxTensor | undefined = node.attributes.get('value')?.t;
      if (!t) fail(node, 'only tensor-valued Constant is supported');
      set({ kind: 'const', dims: t.dims, data: t.data });
      continue;
    }
    if (acts.length === 0) {
      // constant folding of shape plumbing only
      const c = ins[0] as Const;
      if (op === 'Identity') set(c);
      else if (op === 'Reshape')
        set({ ...c, dims: reshapeDims(node, c.dims, Array.from((ins[1] as Const).data)) });
      else if (op === 'Flatten' || op === 'Squeeze' || op === 'Unsqueeze')
        set(c); // only used as data below
      else fail(node, 'computations on constants are not supported');
      continue;
    }
    if (acts.length > 1)
      fail(node, 'operators with two data inputs (e.g. residual connections) are not supported');
    const a = acts[0]!;
    const ai = ins.indexOf(a);
    const other = ins.find((v, i) => i !== ai && v !== undefined) as Const | undefined;
    switch (op) {
      case 'Identity':
      case 'Dropout':
        set(a);
        break;
      case 'Relu': {
        layers.push({ W: a.W, b: a.b });
        const n = numel(a.dims);
        set({ kind: 'act', dims: a.dims, W: identity(n), b: new Float64Array(n) });
        break;
      }
      case 'Flatten': {
        let axis = attrInt(node, 'axis', 1);
        if (axis < 0) axis += a.dims.length;
        set({ ...a, dims: [numel(a.dims.slice(0, axis)), numel(a.dims.slice(axis))] });
        break;
      }
      case 'Reshape': {
        if (ai !== 0 || !other) fail(node, 'the shape must be a constant');
        set({ ...a, dims: reshapeDims(node, a.dims, Array.from(other.data)) });
        break;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const axes = attrInts(node, 'axes') ?? (other ? Array.from(other.data) : undefined);
        let dims: number[];
        if (op === 'Squeeze') {
          const r = a.dims.length;
          const ax = axes?.map((x) => (x < 0 ? x + r : x));
          dims = a.dims.filter((d, i) => (ax ? !ax.includes(i) : d !== 1));
        } else {
          dims = [...a.dims];
          const r = a.dims.length + (axes?.length ?? 0);
          for (const x of [...(axes ?? [])].map((x) => (x < 0 ? x + r : x)).sort((p, q) => p - q))
            dims.splice(x, 0, 1);
        }
        set({ ...a, dims });
        break;
      }
      case 'Transpose': {
        const perm = attrInts(node, 'perm') ?? a.dims.map((_, i) => a.dims.length - 1 - i);
        const t = transposeMap(a.dims, perm);
        set(apply(a, t.M, t.dims));
        break;
      }
      case 'Add':
      case 'Sub': {
        if (!other) fail(node, 'needs a constant operand');
        const c = broadcast(other, a.dims, node);
        if (numel(other.dims) > numel(a.dims)) fail(node, 'the constant is larger than the data');
        const negData = op === 'Sub' && ai === 1;
        const sign = op === 'Sub' && ai === 0 ? -1 : 1;
        const M = diag(new Float64Array(a.b.length).fill(negData ? -1 : 1));
        set(
          apply(
            a,
            M,
            a.dims,
            c.map((v) => sign * v),
          ),
        );
        break;
      }
      case 'Mul':
      case 'Div': {
        if (!other) fail(node, 'needs a constant operand');
        if (op === 'Div' && ai === 1) fail(node, 'division by the data is not linear');
        const c = broadcast(other, a.dims, node);
        set(apply(a, diag(op === 'Div' ? c.map((v) => 1 / v) : c), a.dims));
        break;
      }
      case 'Neg':
        set(apply(a, diag(new Float64Array(a.b.length).fill(-1)), a.dims));
        break;
      case 'BatchNormalization': {
        if (ai !== 0) fail(node, 'the data must be the first input');
        const [scale, bias, mean, variance] = ins.slice(1) as Const[];
        const eps = attrFloat(node, 'epsilon', 1e-5);
        const C = a.dims[1]!;
        const plane = numel(a.dims.slice(2));
        const s = new Float64Array(a.b.length);
        const t = new Float64Array(a.b.length);
        for (let ch = 0; ch < C; ch++) {
          const k = scale!.data[ch]! / Math.sqrt(variance!.data[ch]! + eps);
          for (let p = 0; p < plane; p++) {
            s[ch * plane + p] = k;
            t[ch * plane + p] = bias!.data[ch]! - k * mean!.data[ch]!;
          }
        }
        set(apply(a, diag(s), a.dims, t));
        break;
      }
      case 'MatMul': {
        if (!other) fail(node, 'needs a constant operand');
        if (ai === 0) {
          const [r, n] = as2d(a.dims, node, true);
          const [n2, m] = as2d(other.dims, node, false);
          if (n !== n2) fail(node, `shapes [${a.dims}] and [${other.dims}] do not match`);
          set(apply(a, rightMul(r, n, other.data, m), matmulDims(a.dims, other.dims, r, m)));
        } else {
          const [m, n] = as2d(other.dims, node, true);
          const [n2, p] = as2d(a.dims, node, false);
          if (n !== n2) fail(node, `shapes [${other.dims}] and [${a.dims}] do not match`);
          set(apply(a, leftMul(other.data, m, n, p), matmulDims(other.dims, a.dims, m, p)));
        }
        break;
      }
      case 'Gemm': {
        if (ai !== 0) fail(node, 'the data must be the first input');
        if (attrInt(node, 'transA', 0) !== 0) fail(node, 'transA is not supported');
        const B = ins[1] as Const | undefined;
        if (!B || B.kind !== 'const') fail(node, 'B must be a constant');
        const alpha = attrFloat(node, 'alpha', 1);
        const beta = attrFloat(node, 'beta', 1);
        const [r, n] = as2d(a.dims, node, true);
        let [k, m] = B.dims as [number, number];
        let Bd = B.data;
        if (attrInt(node, 'transB', 0) === 1) {
          [k, m] = [m, k];
          Bd = new Float64Array(k * m);
          for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) Bd[i * m + j] = B.data[j * k + i]!;
        }
        if (k !== n) fail(node, `shapes [${a.dims}] and [${B.dims}] do not match`);
        const scaled = alpha === 1 ? Bd : Bd.map((v) => v * alpha);
        const C = ins[2] as Const | undefined;
        const bias = C ? broadcast(C, [r, m], node).map((v) => v * beta) : undefined;
        set(apply(a, rightMul(r, n, scaled, m), [r, m], bias));
        break;
      }
      case 'Conv': {
        if (ai !== 0) fail(node, 'the data must be the first input');
        const w = ins[1] as Const;
        const c = convMap(node, a.dims, w);
        const bias = ins[2] as Const | undefined;
        const plane = c.dims[2]! * c.dims[3]!;
        const bb = bias
          ? new Float64Array(c.M.rows).map((_, i) => bias.data[Math.floor(i / plane)]!)
          : undefined;
        set(apply(a, c.M, c.dims, bb));
        break;
      }
      default:
        fail(node, 'operator not supported (vnet verifies feed-forward ReLU networks)');
    }
  }
  const out = values.get(g.outputs[0]!.name);
  if (!out || out.kind !== 'act') throw new UnsupportedModel('the model output does not depend on the input');
  layers.push({ W: out.W, b: out.b });
  return {
    inputShape,
    nIn,
    nOut: numel(out.dims),
    layers: layers.map((l) => ({ W: withDenseFlag(l.W), b: l.b })),
  };
}

/** Reads `.onnx` or `.onnx.gz` and lowers it. */
export function readOnnxNet(path: string): SeqNet {
  const bytes = readMaybeGzip(path);
  let g;
  try {
    g = decodeModel(bytes);
  } catch (e) {
    if (e instanceof ProtoError) throw fileError(path, `not a valid ONNX model (${e.message})`);
    throw e;
  }
  return lowerGraph(g);
}
