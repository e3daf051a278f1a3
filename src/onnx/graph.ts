/**
 * Import phases 2 and 3: a decoded ONNX model → a normalised graph with static shapes.
 *
 * - normalise: Constant nodes become constants; Identity and Dropout (inference: the identity)
 *   become aliases; every node is checked against the supported operators and attributes;
 * - fold: a node whose inputs are all constants is evaluated (float64), and so is `Shape` of a
 *   value with a static shape, so `Shape → Gather → Concat → Reshape` chains become constants;
 * - shapes: every remaining value gets its static shape (batch dimension included, as in ONNX).
 *
 * Errors are ImportErrors (a UserError) that name the node, its op type, and what is wrong.
 */
import { UserError } from '../base/errors.js';
import type { AttrValue, OnnxModel, OnnxNode, Tensor } from './proto.js';
import { DataType } from './proto.js';
import {
  axisOf,
  binary,
  broadcastShape,
  concat,
  numel,
  reshape,
  reshapeTarget,
  tensor,
  transpose,
} from './tensor.js';

/** The ONNX operators the importer reads (opsets 8–17), in the order of the docs. */
export const SUPPORTED_OPS = [
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Conv',
  'BatchNormalization',
  'AveragePool',
  'GlobalAveragePool',
  'MaxPool',
  'Pad',
  'Flatten',
  'Reshape',
  'Transpose',
  'Concat',
  'Squeeze',
  'Unsqueeze',
  'Constant',
  'Identity',
  'Dropout',
] as const;

/** Ops evaluated only on constants (shape arithmetic that PyTorch's exporter emits). */
const CONSTANT_ONLY_OPS = ['Shape', 'Gather', 'Cast', 'Neg'];

export const MIN_OPSET = 8;
export const MAX_OPSET = 17;

/** Readable label of an ONNX node: its name, or `#<index>` when it has none. */
export const nodeLabel = (n: { readonly name: string }, index: number): string => n.name || `#${index}`;

/** A user error about one node: names it, its op type, and the problem. */
export class ImportError extends UserError {}

export const nodeError = (
  n: { readonly name: string; readonly opType: string },
  index: number,
  problem: string,
  help: readonly string[] = [],
): ImportError => new ImportError(`ONNX node '${nodeLabel(n, index)}' (${n.opType}): ${problem}`, help);

export interface GNode {
  readonly index: number;
  readonly name: string;
  readonly opType: string;
  /** Input value names after aliasing ('' for an omitted optional input). */
  readonly inputs: readonly string[];
  readonly output: string;
  readonly attrs: ReadonlyMap<string, AttrValue>;
}

export interface Graph {
  readonly opset: number;
  readonly input: { readonly name: string; readonly shape: readonly number[] };
  /** The value that is the network's output. */
  readonly output: string;
  /** Non-constant nodes in topological order. */
  readonly nodes: readonly GNode[];
  readonly consts: ReadonlyMap<string, Tensor>;
  /** Static shape of every non-constant value, the input included. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
}

/* ---- attribute access ---- */

export const attrInt = (n: GNode, key: string, dflt: number): number => {
  const v = n.attrs.get(key);
  return typeof v === 'number' ? v : dflt;
};
export const attrInts = (n: GNode, key: string): readonly number[] | undefined => {
  const v = n.attrs.get(key);
  return Array.isArray(v) ? (v as number[]) : undefined;
};
export const attrString = (n: GNode, key: string, dflt: string): string => {
  const v = n.attrs.get(key);
  return typeof v === 'string' ? v : dflt;
};

/** Attributes each op may carry (anything else is an unsupported attribute). */
const KNOWN_ATTRS: Readonly<Record<string, readonly string[]>> = {
  Gemm: ['alpha', 'beta', 'transA', 'transB', 'broadcast'],
  MatMul: [],
  Add: ['broadcast', 'axis'],
  Sub: ['broadcast', 'axis'],
  Mul: ['broadcast', 'axis'],
  Div: ['broadcast', 'axis'],
  Relu: [],
  LeakyRelu: ['alpha'],
  Sigmoid: [],
  Tanh: [],
  Conv: ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'],
  BatchNormalization: ['epsilon', 'momentum', 'spatial', 'training_mode'],
  AveragePool: ['auto_pad', 'ceil_mode', 'count_include_pad', 'kernel_shape', 'pads', 'strides'],
  GlobalAveragePool: [],
  MaxPool: ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'storage_order', 'strides'],
  Pad: ['mode', 'pads', 'value'],
  Flatten: ['axis'],
  Reshape: ['allowzero'],
  Transpose: ['perm'],
  Concat: ['axis'],
  Squeeze: ['axes'],
  Unsqueeze: ['axes'],
  Identity: [],
  Dropout: ['ratio', 'seed', 'is_test'],
  Shape: ['start', 'end'],
  Gather: ['axis'],
  Cast: ['to', 'saturate'],
  Neg: [],
};

/* ---- phase 2: normalise ---- */

function constantValue(n: OnnxNode, index: number): Tensor {
  const a = n.attrs;
  const t = a.get('value');
  if (t !== undefined && typeof t === 'object' && 'dims' in t) return t;
  const f = a.get('value_float');
  if (typeof f === 'number') return tensor([], [f]);
  const fs = a.get('value_floats');
  if (Array.isArray(fs)) return tensor([fs.length], fs as number[]);
  const i = a.get('value_int');
  if (typeof i === 'number') return tensor([], [i], DataType.INT64);
  const is = a.get('value_ints');
  if (Array.isArray(is)) return tensor([is.length], is as number[], DataType.INT64);
  throw nodeError(
    n,
    index,
    `a Constant needs a 'value', 'value_float(s)' or 'value_int(s)' attribute (has: ${[...a.keys()].join(', ') || 'none'})`,
  );
}

/** Checks and normalises a model into a graph with static shapes. */
export function buildGraph(model: OnnxModel): Graph {
  if (model.opset < MIN_OPSET || model.opset > MAX_OPSET)
    throw new ImportError(
      `ONNX opset ${model.opset} is not supported (vnet reads opsets ${MIN_OPSET}–${MAX_OPSET})`,
    );
  const consts = new Map<string, Tensor>(model.initializers);
  const alias = new Map<string, string>();
  const resolve = (v: string): string => {
    let x = v;
    while (alias.has(x)) x = alias.get(x)!;
    return x;
  };
  const dataInputs = model.inputs.filter((i) => !consts.has(i.name));
  if (dataInputs.length !== 1)
    throw new ImportError(
      `the ONNX graph has ${dataInputs.length} inputs that are not initializers (${dataInputs.map((i) => `'${i.name}'`).join(', ') || 'none'}); vnet networks have exactly one input`,
    );
  const inInfo = dataInputs[0]!;
  if (inInfo.shape === undefined || inInfo.shape.some((d) => d === undefined || d < 1)) {
    const dims = inInfo.shape?.map((d) => (d === undefined ? '?' : String(d))).join(', ');
    throw new ImportError(
      `the ONNX input '${inInfo.name}' has ${dims === undefined ? 'no static shape' : `the shape [${dims}]`}; vnet needs a static shape (batch size 1)`,
      [
        'fix the batch dimension to 1 when exporting, e.g. torch.onnx.export with a dummy input of batch 1 and no dynamic_axes',
      ],
    );
  }
  if (
    inInfo.elemType !== undefined &&
    inInfo.elemType !== DataType.FLOAT &&
    inInfo.elemType !== DataType.DOUBLE
  )
    throw new ImportError(
      `the ONNX input '${inInfo.name}' is not a float tensor (element type ${inInfo.elemType})`,
    );
  if (model.outputs.length !== 1)
    throw new ImportError(
      `the ONNX graph has ${model.outputs.length} outputs; vnet networks have exactly one`,
    );
  const shapes = new Map<string, readonly number[]>([[inInfo.name, inInfo.shape as number[]]]);
  const nodes: GNode[] = [];

  model.nodes.forEach((n, index) => {
    if (n.domain && n.domain !== 'ai.onnx')
      throw nodeError(n, index, `operator of the custom domain '${n.domain}' is not supported`, [
        supportedHelp(),
      ]);
    if (n.opType === 'Constant') {
      consts.set(n.outputs[0]!, constantValue(n, index));
      return;
    }
    const known = KNOWN_ATTRS[n.opType];
    if (known === undefined) throw nodeError(n, index, 'operator not supported', [supportedHelp()]);
    for (const k of n.attrs.keys())
      if (!known.includes(k))
        throw nodeError(n, index, `attribute '${k}' is not supported`, [supportedHelp()]);
    const inputs = n.inputs.map((v) => (v === '' ? '' : resolve(v)));
    for (const v of inputs)
      if (v !== '' && !consts.has(v) && !shapes.has(v))
        throw nodeError(
          n,
          index,
          `input '${v}' is not produced by any earlier node (the graph is not in topological order, or a value is missing)`,
        );
    if (n.opType === 'Identity' || n.opType === 'Dropout') {
      if (n.opType === 'Dropout' && n.outputs.length > 1 && n.outputs[1] !== '')
        throw nodeError(n, index, 'the mask output of Dropout is not supported (inference only)');
      if (n.opType === 'Dropout' && attrInt({ ...n, index, inputs, output: '' }, 'training_mode', 0) !== 0)
        throw nodeError(n, index, 'training-mode Dropout is not supported (inference only)');
      if (n.opType === 'Dropout' && inputs[2] && consts.get(inputs[2])?.data[0])
        throw nodeError(n, index, 'training-mode Dropout is not supported (inference only)');
      alias.set(n.outputs[0]!, inputs[0]!);
      return;
    }
    const usedOutputs = n.outputs.filter((o, i) => i > 0 && o !== '');
    if (usedOutputs.length)
      throw nodeError(
        n,
        index,
        `only the first output is supported (the node also has ${usedOutputs.map((o) => `'${o}'`).join(', ')})`,
      );
    const g: GNode = { index, name: n.name, opType: n.opType, inputs, output: n.outputs[0]!, attrs: n.attrs };
    const folded = fold(g, consts, shapes, model.opset);
    if (folded !== undefined) {
      consts.set(g.output, folded);
      return;
    }
    if (CONSTANT_ONLY_OPS.includes(n.opType))
      throw nodeError(
        n,
        index,
        'operator supported only on constants (here it computes on the network input)',
        [supportedHelp()],
      );
    shapes.set(g.output, inferShape(g, consts, shapes, model.opset));
    nodes.push(g);
  });
  const output = resolve(model.outputs[0]!.name);
  if (!shapes.has(output))
    throw new ImportError(
      `the ONNX output '${model.outputs[0]!.name}' does not depend on the input (it is a constant)`,
    );
  return {
    opset: model.opset,
    input: { name: inInfo.name, shape: inInfo.shape as number[] },
    output,
    nodes,
    consts,
    shapes,
  };
}

export const supportedHelp = (): string => `supported ONNX operators: ${SUPPORTED_OPS.join(', ')}`;

/* ---- phase 2b: constant folding ---- */

const ints = (t: Tensor | undefined): number[] | undefined => (t ? Array.from(t.data) : undefined);

/** The axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on. */
export const axesOf = (n: GNode, consts: ReadonlyMap<string, Tensor>): readonly number[] | undefined =>
  attrInts(n, 'axes') ?? (n.inputs[1] ? ints(consts.get(n.inputs[1])) : undefined);

function squeezeDims(n: GNode, dims: readonly number[], consts: ReadonlyMap<string, Tensor>): number[] {
  const axes = axesOf(n, consts);
  if (axes === undefined) return dims.filter((d) => d !== 1);
  const ax = axes.map((a) => axisOf(a, dims.length));
  for (const a of ax)
    if (dims[a] !== 1) throw nodeError(n, n.index, `cannot squeeze axis ${a} of size ${dims[a]}`);
  return dims.filter((_, i) => !ax.includes(i));
}

function unsqueezeDims(n: GNode, dims: readonly number[], consts: ReadonlyMap<string, Tensor>): number[] {
  const axes = axesOf(n, consts);
  if (axes === undefined) throw nodeError(n, n.index, 'Unsqueeze needs axes');
  const r = dims.length + axes.length;
  const ax = axes.map((a) => axisOf(a, r));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(ax.includes(i) ? 1 : dims[j++]!);
  return out;
}

const flattenDims = (n: GNode, dims: readonly number[]): number[] => {
  const axis = axisOf(attrInt(n, 'axis', 1), dims.length);
  return [numel(dims.slice(0, axis)), numel(dims.slice(axis))];
};

function reshapeDims(n: GNode, dims: readonly number[], consts: ReadonlyMap<string, Tensor>): number[] {
  const target = ints(consts.get(n.inputs[1] ?? ''));
  if (target === undefined)
    throw nodeError(n, n.index, 'the target shape must be a constant (or computed from static shapes)');
  const out = reshapeTarget(dims, target, attrInt(n, 'allowzero', 0) === 1);
  if (out === undefined)
    throw nodeError(n, n.index, `cannot reshape [${dims.join(', ')}] to [${target.join(', ')}]`);
  return out;
}

const BINARY: Readonly<Record<string, (x: number, y: number) => number>> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y) => x / y,
};

/** Evaluates a node on constants; undefined when an input is not constant (and not foldable). */
function fold(
  n: GNode,
  consts: ReadonlyMap<string, Tensor>,
  shapes: ReadonlyMap<string, readonly number[]>,
  opset: number,
): Tensor | undefined {
  if (n.opType === 'Shape' && shapes.has(n.inputs[0]!)) {
    const dims = shapes.get(n.inputs[0]!)!;
    const start = axisOf(attrInt(n, 'start', 0), dims.length);
    const end = n.attrs.has('end') ? axisOf(attrInt(n, 'end', dims.length), dims.length) : dims.length;
    const s = dims.slice(start, end);
    return tensor([s.length], s, DataType.INT64);
  }
  const first = n.inputs[0] ?? '';
  const data = n.inputs.filter(
    (v, i) => v !== '' && !(i > 0 && ['Reshape', 'Squeeze', 'Unsqueeze'].includes(n.opType)),
  );
  if (!data.every((v) => consts.has(v)) || !consts.has(first)) return undefined;
  const x = consts.get(first)!;
  const bin = BINARY[n.opType];
  if (bin) {
    const r = binary(x, consts.get(n.inputs[1]!)!, bin);
    if (r === undefined) throw nodeError(n, n.index, 'the shapes of the inputs do not broadcast');
    return r;
  }
  switch (n.opType) {
    case 'Neg':
      return { ...x, data: x.data.map((v) => -v) };
    case 'Cast':
      return { ...x, dataType: attrInt(n, 'to', x.dataType) };
    case 'Reshape':
      return reshape(x, reshapeDims(n, x.dims, consts));
    case 'Flatten':
      return reshape(x, flattenDims(n, x.dims));
    case 'Squeeze':
      return reshape(x, squeezeDims(n, x.dims, consts));
    case 'Unsqueeze':
      return reshape(x, unsqueezeDims(n, x.dims, consts));
    case 'Transpose':
      return transpose(x, attrInts(n, 'perm'));
    case 'Concat':
      return concat(
        n.inputs.map((v) => consts.get(v)!),
        axisOf(attrInt(n, 'axis', 0), x.dims.length),
      );
    case 'Gather': {
      const idx = consts.get(n.inputs[1]!)!;
      const axis = axisOf(attrInt(n, 'axis', 0), x.dims.length);
      const outer = numel(x.dims.slice(0, axis));
      const inner = numel(x.dims.slice(axis + 1));
      const len = x.dims[axis]!;
      const out: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const raw of idx.data) {
          const k = raw < 0 ? raw + len : raw;
          for (let i = 0; i < inner; i++) out.push(x.data[(o * len + k) * inner + i]!);
        }
      return {
        dims: [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)],
        data: Float64Array.from(out),
        dataType: x.dataType,
      };
    }
    case 'Relu':
      return { ...x, data: x.data.map((v) => Math.max(v, 0)) };
    default:
      void opset;
      return undefined; // other ops on constants are rare; they are mapped as layers (and rejected there)
  }
}

/* ---- phase 3: shapes ---- */

/** Conv/pool output size along one axis. */
const poolOut = (
  size: number,
  k: number,
  s: number,
  p0: number,
  p1: number,
  d: number,
  ceil: boolean,
): number => {
  const eff = d * (k - 1) + 1;
  const q = (size + p0 + p1 - eff) / s;
  return (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
};

/** Explicit [top, left, bottom, right] pads of a Conv or pool (auto_pad resolved). */
export function spatialPads(
  n: GNode,
  inHW: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dil: readonly number[],
): number[] {
  const auto = attrString(n, 'auto_pad', 'NOTSET');
  if (auto === 'NOTSET') return [...(attrInts(n, 'pads') ?? [0, 0, 0, 0])];
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER')
    throw nodeError(n, n.index, `auto_pad '${auto}' is not supported`);
  const begin: number[] = [];
  const end: number[] = [];
  inHW.forEach((size, i) => {
    const out = Math.ceil(size / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + dil[i]! * (kernel[i]! - 1) + 1 - size);
    const small = Math.floor(total / 2);
    begin.push(auto === 'SAME_UPPER' ? small : total - small);
    end.push(auto === 'SAME_UPPER' ? total - small : small);
  });
  return [...begin, ...end];
}

function inferShape(
  n: GNode,
  consts: ReadonlyMap<string, Tensor>,
  shapes: ReadonlyMap<string, readonly number[]>,
  opset: number,
): number[] {
  const dimsOf = (v: string): readonly number[] => {
    const s = shapes.get(v) ?? consts.get(v)?.dims;
    if (s === undefined) throw nodeError(n, n.index, `input '${v}' has no known shape`);
    return s;
  };
  const x = dimsOf(n.inputs[0]!);
  const fail = (why: string): never => {
    throw nodeError(n, n.index, why);
  };
  switch (n.opType) {
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      if (opset < 7 && attrInt(n, 'broadcast', 0)) fail('legacy broadcast attribute');
      const s = broadcastShape(x, dimsOf(n.inputs[1]!));
      return (
        s ?? fail(`the shapes [${x.join(', ')}] and [${dimsOf(n.inputs[1]!).join(', ')}] do not broadcast`)
      );
    }
    case 'Relu':
    case 'LeakyRelu':
    case 'Sigmoid':
    case 'Tanh':
    case 'BatchNormalization':
      return [...x];
    case 'Gemm': {
      const b = dimsOf(n.inputs[1]!);
      if (x.length !== 2 || b.length !== 2)
        fail(`Gemm needs 2-D inputs, got [${x.join(', ')}] and [${b.join(', ')}]`);
      const [m, k] = attrInt(n, 'transA', 0) ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
      const [k2, nn] = attrInt(n, 'transB', 0) ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
      if (k !== k2) fail(`inner dimensions differ (${k} and ${k2})`);
      return [m, nn];
    }
    case 'MatMul': {
      const b = dimsOf(n.inputs[1]!);
      const a2 = x.length === 1 ? [1, x[0]!] : x;
      const b2 = b.length === 1 ? [b[0]!, 1] : b;
      if (a2[a2.length - 1] !== b2[b2.length - 2])
        fail(`inner dimensions differ: [${x.join(', ')}] × [${b.join(', ')}]`);
      const batch =
        broadcastShape(a2.slice(0, -2), b2.slice(0, -2)) ?? fail('batch dimensions do not broadcast');
      const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
      if (x.length === 1) out.splice(out.length - 2, 1);
      if (b.length === 1) out.pop();
      return out;
    }
    case 'Conv':
    case 'AveragePool':
    case 'MaxPool': {
      if (x.length !== 4) fail(`only 2-D (NCHW) ${n.opType} is supported, input is [${x.join(', ')}]`);
      const w = n.opType === 'Conv' ? dimsOf(n.inputs[1]!) : undefined;
      const kernel = attrInts(n, 'kernel_shape') ?? (w ? w.slice(2) : fail('kernel_shape missing'));
      const strides = attrInts(n, 'strides') ?? [1, 1];
      const dil = attrInts(n, 'dilations') ?? [1, 1];
      const pads = spatialPads(n, x.slice(2), kernel, strides, dil);
      const ceil = attrInt(n, 'ceil_mode', 0) === 1;
      const oh = poolOut(x[2]!, kernel[0]!, strides[0]!, pads[0]!, pads[2]!, dil[0]!, ceil);
      const ow = poolOut(x[3]!, kernel[1]!, strides[1]!, pads[1]!, pads[3]!, dil[1]!, ceil);
      if (oh < 1 || ow < 1) fail('the kernel does not fit the (padded) input');
      return [x[0]!, w ? w[0]! : x[1]!, oh, ow];
    }
    case 'GlobalAveragePool':
      return [...x.slice(0, 2), ...x.slice(2).map(() => 1)];
    case 'Pad': {
      const pads =
        attrInts(n, 'pads') ?? ints(consts.get(n.inputs[1] ?? '')) ?? fail('the pads must be constant');
      const r = x.length;
      return x.map((d, i) => d + pads[i]! + pads[i + r]!);
    }
    case 'Flatten':
      return flattenDims(n, x);
    case 'Reshape':
      return reshapeDims(n, x, consts);
    case 'Transpose': {
      const perm = attrInts(n, 'perm') ?? [...x.keys()].reverse();
      return perm.map((i) => x[i]!);
    }
    case 'Squeeze':
      return squeezeDims(n, x, consts);
    case 'Unsqueeze':
      return unsqueezeDims(n, x, consts);
    case 'Concat': {
      const axis = axisOf(attrInt(n, 'axis', 0), x.length);
      const all = n.inputs.map(dimsOf);
      const out = [...x];
      out[axis] = all.reduce((s, d) => s + d[axis]!, 0);
      return out;
    }
    default:
      return fail('operator not supported');
  }
}
