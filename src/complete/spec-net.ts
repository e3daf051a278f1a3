/**
 * A checked spec's network with PyTorch-layout weights (a safetensors file) as a SeqNet for the
 * float64 complete verifier: the input is the raw input flattened C,H,W (as VNN-LIB's X_i and
 * `vnet bounds --input` rows), the per-channel normalisation is folded into the first affine
 * map, dense and conv2d layers become sparse affine maps (consecutive ones composed), flatten is
 * the identity in C,H,W order, BatchNorm in evaluation mode (running statistics, PyTorch's
 * formula) is the per-channel affine map x ↦ scale·x + shift with scale = γ/√(σ² + eps) and
 * shift = β − μ·scale (γ = 1, β = 0 without `affine`), composed into the neighbouring affine
 * maps like any other, and every relu is a ReLU of the SeqNet. Other layers (LeakyReLU,
 * ParamRamp, pooling, padding, graph networks) are refused with a UserError naming the layer
 * (the complete verifier handles ReLU chains only).
 */
import type { Layer, ModelIR } from '../ir/ir.js';
import type { StoredTensor } from '../runtime/io/safetensors.js';
import { UserError } from '../base/errors.js';
import { convCsr, type SeqNet } from './onnx-net.js';
import { fromDense, identity, matmul, withDenseFlag, type Csr } from './sparse.js';

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** x ↦ W·x + b, with W sparse. */
interface Affine {
  W: Csr;
  b: Float64Array;
}

function compose(outer: Affine, inner: Affine): Affine {
  const W = matmul(outer.W, inner.W);
  const b = Float64Array.from(outer.b);
  const { ptr, idx, val } = outer.W;
  for (let r = 0; r < outer.W.rows; r++)
    for (let p = ptr[r]!; p < ptr[r + 1]!; p++) b[r]! += val[p]! * inner.b[idx[p]!]!;
  return { W, b };
}

/** The normalisation (x − mean_c)/std_c over the C,H,W-flattened input, as an affine map. */
function normalisation(model: ModelIR): Affine {
  const shape = model.input.shape;
  const n = numel(shape);
  const { mean, std } = model.input;
  const per = shape.length === 3 ? shape[1]! * shape[2]! : n;
  const I = identity(n);
  const val = new Float64Array(n);
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = mean.length === 1 ? 0 : Math.floor(i / per);
    val[i] = 1 / std[c]!;
    b[i] = -mean[c]! / std[c]!;
  }
  return { W: { ...I, val }, b };
}

function layerMap(layer: Layer, tensors: ReadonlyMap<string, StoredTensor>): Affine {
  const get = (role: string): StoredTensor | undefined => {
    const p = layer.params.find((q) => q.role === role);
    return p ? tensors.get(p.name) : undefined;
  };
  const weight = get(layer.op.kind === 'dense' ? 'dense.weight' : 'conv.weight');
  if (!weight) throw new UserError(`layer '${layer.name}': no weight tensor`);
  const bias = get('bias');
  const op = layer.op;
  if (op.kind === 'dense') {
    const nIn = numel(layer.inShape);
    const W = fromDense(weight.data, op.out, nIn);
    return { W, b: bias ? Float64Array.from(bias.data) : new Float64Array(op.out) };
  }
  if (op.kind !== 'conv2d') throw new Error(`layerMap: ${op.kind} is not affine`);
  const [ci, hi, wi] = layer.inShape as [number, number, number];
  const [kh, kw] = op.kernel;
  const [pt, pb, pl, pr] = op.padding;
  const { M, ho, wo } = convCsr(
    [ci, hi, wi],
    weight.data,
    [op.out, ci, kh, kw],
    1,
    op.stride,
    [1, 1],
    [pt, pl, pb, pr],
  );
  const b = new Float64Array(op.out * ho * wo);
  if (bias) for (let o = 0; o < op.out; o++) b.fill(bias.data[o]!, o * ho * wo, (o + 1) * ho * wo);
  return { W: M, b };
}

/**
 * BatchNorm in evaluation mode as a diagonal affine map over the C,H,W-flattened input (BatchNorm2d:
 * one scale and shift per channel, repeated over H·W; BatchNorm1d on a vector: one per feature).
 */
function batchnormMap(layer: Layer, tensors: ReadonlyMap<string, StoredTensor>): Affine {
  const op = layer.op;
  if (op.kind !== 'batchnorm') throw new Error(`batchnormMap: ${op.kind}`);
  const get = (role: string): Float32Array | Float64Array | undefined => {
    const p = layer.params.find((q) => q.role === role);
    return p ? tensors.get(p.name)?.data : undefined;
  };
  const mean = get('bn.mean');
  const variance = get('bn.var');
  if (!mean || !variance) throw new UserError(`layer '${layer.name}': no running statistics in the weights`);
  const gamma = get('bn.weight');
  const beta = get('bn.bias');
  const C = layer.inShape[0]!;
  const n = numel(layer.inShape);
  const per = n / C;
  const val = new Float64Array(n);
  const b = new Float64Array(n);
  for (let c = 0; c < C; c++) {
    const scale = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + op.eps);
    const shift = (beta ? beta[c]! : 0) - mean[c]! * scale;
    val.fill(scale, c * per, (c + 1) * per);
    b.fill(shift, c * per, (c + 1) * per);
  }
  return { W: { ...identity(n), val }, b };
}

/** Lowers a checked model with its PyTorch-layout tensors (shapes already validated). */
export function specToSeqNet(model: ModelIR, tensors: ReadonlyMap<string, StoredTensor>): SeqNet {
  const nIn = numel(model.input.shape);
  const layers: Affine[] = [];
  let cur: Affine = normalisation(model);
  for (const [i, layer] of model.layers.entries()) {
    const k = layer.op.kind;
    const prev = i === 0 ? 'input' : model.layers[i - 1]!.name;
    if (layer.inputs.length !== 1 || layer.inputs[0] !== prev)
      throw new UserError(
        `layer '${layer.name}' reads ${layer.inputs.map((s) => `'${s}'`).join(', ')}: the complete verifier (alpha-crown, --vnnlib verification) handles chains only`,
      );
    if (k === 'flatten') continue;
    if (k === 'dense' || k === 'conv2d') cur = compose(layerMap(layer, tensors), cur);
    else if (k === 'batchnorm') cur = compose(batchnormMap(layer, tensors), cur);
    else if (k === 'relu') {
      layers.push(cur);
      const n = cur.W.rows;
      cur = { W: identity(n), b: new Float64Array(n) };
    } else
      throw new UserError(
        `layer '${layer.name}' is ${k}: the complete verifier (alpha-crown, --vnnlib verification) handles ReLU networks (dense, conv2d, batchnorm, flatten, relu) only`,
      );
  }
  layers.push(cur);
  return {
    inputShape: [...model.input.shape],
    nIn,
    nOut: model.classes,
    layers: layers.map((l) => ({ W: withDenseFlag(l.W), b: l.b })),
  };
}
