/**
 * `vnet export`: a checked network (ModelIR) and its weights (safetensors, PyTorch names and
 * layouts) → an ONNX model (opset 13) that computes the same logits:
 * - input `input`: [1, C, H, W] (NCHW) or [1, N]; the normalisation as Sub(mean) and Div(std)
 *   with per-channel constants [1, C, 1, 1] (or [1, N]);
 * - dense → Gemm (transB = 1, weight [out, in]); conv2d → Conv (pads [top, left, bottom, right]);
 *   flatten → Flatten (axis 1, C,H,W order as torch.flatten); relu → Relu; leaky_relu → LeakyRelu;
 * - ParamRamp(η, r) (paper-notes §1) = η·z + (1 − η)·min(relu(z), r) → Relu, Min, Mul, Mul, Add
 *   (just Relu, Min for η = 0), with r clamped ≥ 1e-4 and η at its evaluation value (the η
 *   schedule's end if the recipe has one), as the runtime evaluates it.
 * - batchnorm → BatchNormalization (epsilon; momentum = 1 − PyTorch's when not 0.1; scale 1 and
 *   bias 0 constants when affine: false); add of two nodes → Add; add/sub/mul/div by a constant →
 *   Add/Sub/Mul/Div with a constant [] (scalar), [1, C, 1, 1] or [1, N]; avgpool → AveragePool
 *   (count_include_pad 1), or GlobalAveragePool when the window is the whole unpadded map;
 *   pad → Pad (pads input, zeros); concat → Concat (axis 1); reshape → Reshape ([1, ...shape]);
 *   transpose → Transpose ([0, 1 + perm]).
 * The graph follows the layers' inputs (residual blocks read two values). Node and value names are
 * the layer names; initializers are the PyTorch parameter names.
 */
import type { Layer, ModelIR } from '../ir/ir.js';
import { UserError, fileError } from '../base/errors.js';
import { readSafetensors } from '../runtime/io/safetensors.js';
import { R_MIN } from '../runtime/lines.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { encodeModel, type NodeOut, type TensorOut } from './proto.js';

export const EXPORT_OPSET = 13;

/** `lo,hi` → [lo, hi] with finite lo < hi (the --domain flag). */
export function parseDomain(text: string): [number, number] {
  const parts = text.split(',').map((s) => s.trim());
  const v = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === '') || !v.every(Number.isFinite) || !(v[0]! < v[1]!))
    throw new UserError(`--domain '${text}': expected lo,hi with lo < hi, e.g. 0,1`);
  return [v[0]!, v[1]!];
}

/** Parameters in PyTorch layout, by name. */
export type TorchParams = ReadonlyMap<
  string,
  { readonly shape: readonly number[]; readonly data: Float32Array }
>;

/** Reads and checks a weights file against the model's parameters (names and shapes). */
export function readTorchParams(path: string, model: ModelIR): TorchParams {
  const d = readSafetensors(path);
  const problems: string[] = [];
  for (const p of model.params) {
    const t = d.tensors.get(p.name);
    if (!t) problems.push(`missing '${p.name}' [${p.torchShape.join(', ')}]`);
    else if (t.shape.join() !== p.torchShape.join())
      problems.push(`'${p.name}' has shape [${t.shape.join(', ')}], expected [${p.torchShape.join(', ')}]`);
    else if (!t.data.every(Number.isFinite)) problems.push(`'${p.name}' has non-finite values`);
  }
  const names = new Set(model.params.map((p) => p.name));
  for (const k of d.tensors.keys()) if (!names.has(k)) problems.push(`unexpected tensor '${k}'`);
  if (problems.length)
    throw fileError(
      path,
      `does not match network '${model.name}':\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  return d.tensors;
}

/** η of a ParamRamp / LeakyReLU layer at evaluation. */
const evalSlope = (m: ModelIR, spec: number): number => m.train?.etaSchedule?.to ?? spec;

/** The ONNX model of a network with its weights, as bytes. */
export function exportModel(m: ModelIR, params: TorchParams): Uint8Array {
  const nodes: NodeOut[] = [];
  const inits: TensorOut[] = [];
  const img = m.input.shape.length === 3;
  const inDims = [1, ...m.input.shape];
  const param = (l: Layer, role: string): TensorOut | undefined => {
    const p = l.params.find((q) => q.role === role);
    if (!p) return undefined;
    const t = params.get(p.name)!;
    return { name: p.name, dims: t.shape, data: t.data, type: 'float' };
  };
  const constant = (name: string, dims: readonly number[], data: readonly number[]): string => {
    inits.push({ name, dims, data, type: 'float' });
    return name;
  };
  let cur = 'input';
  const { mean, std } = m.input;
  const C = m.input.shape[0]!;
  const normDims = (v: readonly number[]): number[] => (v.length === 1 ? [1] : img ? [1, C, 1, 1] : [1, C]);
  if (!mean.every((v) => v === 0)) {
    nodes.push({
      name: 'input_sub_mean',
      opType: 'Sub',
      inputs: [cur, constant('input.mean', normDims(mean), mean)],
      outputs: ['input_sub_mean'],
    });
    cur = 'input_sub_mean';
  }
  if (!std.every((v) => v === 1)) {
    nodes.push({
      name: 'input_div_std',
      opType: 'Div',
      inputs: [cur, constant('input.std', normDims(std), std)],
      outputs: ['input_div_std'],
    });
    cur = 'input_div_std';
  }
  /** ONNX value of each vnet value: the (normalised) input, then each node's own name. */
  const valueOf = new Map<string, string>([['input', cur]]);
  const int64 = (name: string, data: readonly number[]): string => {
    inits.push({ name, dims: [data.length], data, type: 'int64' });
    return name;
  };
  /** A constant per channel / feature as an ONNX tensor broadcasting over [1, C, H, W] / [1, N]. */
  const perChannel = (name: string, l: Layer, v: readonly number[]): string =>
    constant(name, v.length === 1 ? [] : l.inShape.length === 3 ? [1, v.length, 1, 1] : [1, v.length], v);
  for (const l of m.layers) {
    const out = l.name;
    const op = l.op;
    const ins = l.inputs.map((n) => valueOf.get(n)!);
    const x = ins[0]!;
    switch (op.kind) {
      case 'dense': {
        const w = param(l, 'dense.weight')!;
        const b = param(l, 'bias');
        inits.push(w, ...(b ? [b] : []));
        nodes.push({
          name: out,
          opType: 'Gemm',
          inputs: [x, w.name, ...(b ? [b.name] : [])],
          outputs: [out],
          attrs: { transB: 1 },
        });
        break;
      }
      case 'conv2d': {
        const w = param(l, 'conv.weight')!;
        const b = param(l, 'bias');
        inits.push(w, ...(b ? [b] : []));
        const [t, bo, le, r] = op.padding;
        nodes.push({
          name: out,
          opType: 'Conv',
          inputs: [x, w.name, ...(b ? [b.name] : [])],
          outputs: [out],
          attrs: {
            kernel_shape: [...op.kernel],
            strides: [...op.stride],
            pads: [t, le, bo, r],
            dilations: [1, 1],
            group: 1,
          },
        });
        break;
      }
      case 'flatten':
        // torch.flatten order = ONNX row-major order, whether or not the runtime gathers
        nodes.push({ name: out, opType: 'Flatten', inputs: [x], outputs: [out], attrs: { axis: 1 } });
        break;
      case 'relu':
        nodes.push({ name: out, opType: 'Relu', inputs: [x], outputs: [out] });
        break;
      case 'leaky_relu':
        nodes.push({
          name: out,
          opType: 'LeakyRelu',
          inputs: [x],
          outputs: [out],
          attrs: { alpha: { float: evalSlope(m, op.slope) } },
        });
        break;
      case 'paramramp': {
        const eta = evalSlope(m, op.eta);
        const p = l.params.find((q) => q.role === 'ramp.r')!;
        const r = params.get(p.name)!;
        const rName = constant(
          p.name,
          [1, ...r.shape],
          Array.from(r.data, (v) => Math.max(v, R_MIN)),
        );
        nodes.push({ name: `${out}_relu`, opType: 'Relu', inputs: [x], outputs: [`${out}_relu`] });
        const clipped = eta === 0 ? out : `${out}_min`;
        nodes.push({ name: clipped, opType: 'Min', inputs: [`${out}_relu`, rName], outputs: [clipped] });
        if (eta !== 0) {
          const e = constant(`${out}.eta`, [], [eta]);
          const e1 = constant(`${out}.one_minus_eta`, [], [1 - eta]);
          nodes.push({ name: `${out}_lin`, opType: 'Mul', inputs: [x, e], outputs: [`${out}_lin`] });
          nodes.push({ name: `${out}_ramp`, opType: 'Mul', inputs: [clipped, e1], outputs: [`${out}_ramp`] });
          nodes.push({ name: out, opType: 'Add', inputs: [`${out}_lin`, `${out}_ramp`], outputs: [out] });
        }
        break;
      }
      case 'batchnorm': {
        // ONNX momentum weighs the running value: 1 − PyTorch's momentum (written only when not 0.1)
        const C = l.inShape[0]!;
        const w = param(l, 'bn.weight');
        const b = param(l, 'bn.bias');
        const mean = param(l, 'bn.mean')!;
        const v = param(l, 'bn.var')!;
        inits.push(...(w ? [w] : []), ...(b ? [b] : []), mean, v);
        const scale = w?.name ?? constant(`${out}.weight`, [C], new Array<number>(C).fill(1));
        const bias = b?.name ?? constant(`${out}.bias`, [C], new Array<number>(C).fill(0));
        nodes.push({
          name: out,
          opType: 'BatchNormalization',
          inputs: [x, scale, bias, mean.name, v.name],
          outputs: [out],
          attrs: {
            epsilon: { float: op.eps },
            ...(op.momentum === 0.1 ? {} : { momentum: { float: 1 - op.momentum } }),
          },
        });
        break;
      }
      case 'add':
      case 'sub':
      case 'mul':
      case 'div': {
        const opType = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' }[op.kind];
        const other = op.value === undefined ? ins[1]! : perChannel(`${out}.value`, l, op.value);
        nodes.push({ name: out, opType, inputs: [x, other], outputs: [out] });
        break;
      }
      case 'avgpool': {
        const [t, bo, le, r] = op.padding;
        const global =
          op.kernel[0] === l.inShape[1] && op.kernel[1] === l.inShape[2] && op.padding.every((p) => p === 0);
        nodes.push(
          global
            ? { name: out, opType: 'GlobalAveragePool', inputs: [x], outputs: [out] }
            : {
                name: out,
                opType: 'AveragePool',
                inputs: [x],
                outputs: [out],
                attrs: {
                  kernel_shape: [...op.kernel],
                  strides: [...op.stride],
                  pads: [t, le, bo, r],
                  count_include_pad: 1,
                },
              },
        );
        break;
      }
      case 'pad': {
        const [t, bo, le, r] = op.padding;
        const pads = int64(`${out}.pads`, [0, 0, t, le, 0, 0, bo, r]);
        nodes.push({
          name: out,
          opType: 'Pad',
          inputs: [x, pads],
          outputs: [out],
          attrs: { mode: 'constant' },
        });
        break;
      }
      case 'concat':
        nodes.push({ name: out, opType: 'Concat', inputs: ins, outputs: [out], attrs: { axis: 1 } });
        break;
      case 'reshape': {
        const shape = int64(`${out}.shape`, [1, ...op.shape]);
        nodes.push({ name: out, opType: 'Reshape', inputs: [x, shape], outputs: [out] });
        break;
      }
      case 'transpose':
        nodes.push({
          name: out,
          opType: 'Transpose',
          inputs: [x],
          outputs: [out],
          attrs: { perm: [0, ...op.perm.map((p) => p + 1)] },
        });
        break;
      case 'sigmoid':
        nodes.push({ name: out, opType: 'Sigmoid', inputs: [x], outputs: [out] });
        break;
      case 'tanh':
        nodes.push({ name: out, opType: 'Tanh', inputs: [x], outputs: [out] });
        break;
      case 'maxpool':
        nodes.push({
          name: out,
          opType: 'MaxPool',
          inputs: [x],
          outputs: [out],
          attrs: { kernel_shape: [...op.kernel], strides: [...op.stride], pads: [0, 0, 0, 0] },
        });
        break;
      default:
        throw new UserError(
          `vnet export: layer '${l.name}' is a ${(op as { kind: string }).kind}, which has no ONNX export yet`,
        );
    }
    valueOf.set(l.name, out);
    cur = out;
  }
  return encodeModel({
    opset: EXPORT_OPSET,
    producer: 'vnet',
    graphName: m.name,
    nodes,
    initializers: inits,
    input: { name: 'input', dims: inDims },
    output: { name: cur, dims: [1, m.classes] },
  });
}

/** Exports a checked network with the weights file `weightsPath` to `outPath` (atomically). */
export function exportFile(m: ModelIR, weightsPath: string, outPath: string): number {
  const bytes = exportModel(m, readTorchParams(weightsPath, m));
  writeFileAtomic(outPath, bytes);
  return bytes.length;
}
