/**
 * The complete verifier's view of an ONNX model: nodes with typed attributes, initializers and
 * the graph's non-initializer inputs, adapted from src/onnx/proto.ts (protobufjs with the
 * official onnx.proto schema; no wire-format code here).
 */
import { decodeModel as decodeOnnx, type AttrValue, type Tensor } from '../onnx/proto.js';

export interface OnnxTensor {
  readonly name: string;
  readonly dims: number[];
  /** Values as float64 (float, double, int32, int64 and uint8/int8/bool tensors). */
  readonly data: Float64Array;
  readonly dataType: number;
}

export interface OnnxAttribute {
  readonly name: string;
  readonly f?: number;
  readonly i?: number;
  readonly s?: string;
  readonly t?: OnnxTensor;
  readonly floats: number[];
  readonly ints: number[];
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attributes: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** Dimensions; symbolic ones (dim_param) are -1. */
  readonly shape: number[];
}

export interface OnnxGraph {
  readonly nodes: OnnxNode[];
  readonly initializers: Map<string, OnnxTensor>;
  readonly inputs: OnnxValueInfo[];
  readonly outputs: OnnxValueInfo[];
}

export class ProtoError extends Error {}

const tensorOf = (name: string, t: Tensor): OnnxTensor => ({
  name,
  dims: [...t.dims],
  data: t.data,
  dataType: t.dataType,
});

/** An attribute value as the typed record (numbers serve as both int and float). */
function attribute(name: string, v: AttrValue): OnnxAttribute {
  if (typeof v === 'number') return { name, f: v, i: v, floats: [], ints: [] };
  if (typeof v === 'string') return { name, s: v, floats: [], ints: [] };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number')) return { name, floats: [...v], ints: [...v] };
    return { name, floats: [], ints: [] };
  }
  return { name, t: tensorOf(name, v as Tensor), floats: [], ints: [] };
}

/** Decodes a serialized ModelProto's graph (gzip detected); a ProtoError with the reason on failure. */
export function decodeModel(bytes: Uint8Array): OnnxGraph {
  let m: ReturnType<typeof decodeOnnx>;
  try {
    m = decodeOnnx(bytes);
  } catch (e) {
    throw new ProtoError((e as Error).message);
  }
  const initializers = new Map<string, OnnxTensor>();
  for (const [k, t] of m.initializers) initializers.set(k, tensorOf(k, t));
  const info = (v: { name: string; shape: readonly (number | undefined)[] | undefined }): OnnxValueInfo => ({
    name: v.name,
    shape: (v.shape ?? []).map((d) => d ?? -1),
  });
  return {
    nodes: m.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attributes: new Map([...n.attrs].map(([k, v]) => [k, attribute(k, v)])),
    })),
    initializers,
    inputs: m.inputs.filter((i) => !initializers.has(i.name)).map(info),
    outputs: m.outputs.map(info),
  };
}
