/**
 * ONNX files ↔ plain data. The wire format is protobufjs's, driven by the official schema
 * `onnx.proto` shipped next to this file (ONNX 1.12, IR version 8, opsets up to 17; taken unchanged
 * from Debian's libonnx-dev 1.12.0); nothing here knows protobuf's encoding. Reads `.onnx` and
 * gzip-compressed `.onnx.gz`. Tensors are decoded to float64 (float/double/int types) so that the
 * importer folds constants without rounding; the exporter writes float32 raw data.
 */
import { readUserFile } from '../base/files.js';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { fileError } from '../base/errors.js';

const root = protobuf.loadSync(fileURLToPath(new URL('./onnx.proto', import.meta.url)));
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** AttributeProto.AttributeType values. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 };

/** A decoded tensor: row-major values as float64 (ints included; int64 beyond 2^53 lose precision). */
export interface Tensor {
  readonly dims: readonly number[];
  readonly data: Float64Array;
  /** The ONNX data type it was stored with. */
  readonly dataType: number;
}

export type AttrValue = number | string | readonly number[] | readonly string[] | Tensor;

export interface OnnxNode {
  /** Node name as stored (may be empty). */
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, AttrValue>;
}

/** A graph input or output: its name, element type and static shape (undefined: unknown dim). */
export interface ValueInfo {
  readonly name: string;
  readonly elemType: number | undefined;
  readonly shape: readonly (number | undefined)[] | undefined;
}

export interface OnnxModel {
  readonly irVersion: number;
  /** Opset of the default domain ('' / 'ai.onnx'). */
  readonly opset: number;
  readonly producer: string;
  readonly graphName: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, Tensor>;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/* The protobufjs object form (toObject with longs as numbers, bytes as Uint8Array). */
interface PTensor {
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  uint64Data?: number[];
  rawData?: Uint8Array;
  name?: string;
  dataLocation?: number;
}
interface PAttr {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: PTensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
interface PNode {
  name?: string;
  opType?: string;
  domain?: string;
  input?: string[];
  output?: string[];
  attribute?: PAttr[];
}
interface PValueInfo {
  name?: string;
  type?: {
    tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number; dimParam?: string }[] } };
  };
}
interface PModel {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  graph?: {
    name?: string;
    node?: PNode[];
    initializer?: PTensor[];
    input?: PValueInfo[];
    output?: PValueInfo[];
  };
}

const numelOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Decodes a TensorProto; throws Error (with a reason) for what cannot be read. */
export function tensorFromProto(t: PTensor): Tensor {
  const dims = (t.dims ?? []).map(Number);
  const dataType = t.dataType ?? 0;
  const n = numelOf(dims);
  if (t.dataLocation === 1) throw new Error(`tensor '${t.name ?? ''}' is stored externally (not supported)`);
  let data: Float64Array;
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width: Record<number, number> = {
      1: 4,
      2: 1,
      3: 1,
      4: 2,
      5: 2,
      6: 4,
      7: 8,
      9: 1,
      11: 8,
      12: 4,
      13: 8,
    };
    const w = width[dataType];
    if (w === undefined) throw new Error(`tensor '${t.name ?? ''}' has unsupported data type ${dataType}`);
    if (raw.length !== n * w)
      throw new Error(
        `tensor '${t.name ?? ''}' has ${raw.length} bytes of data for shape [${dims.join(', ')}]`,
      );
    data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * w;
      data[i] =
        dataType === DataType.FLOAT
          ? dv.getFloat32(o, true)
          : dataType === DataType.DOUBLE
            ? dv.getFloat64(o, true)
            : dataType === DataType.INT64
              ? Number(dv.getBigInt64(o, true))
              : dataType === DataType.UINT64
                ? Number(dv.getBigUint64(o, true))
                : dataType === DataType.INT32
                  ? dv.getInt32(o, true)
                  : dataType === DataType.UINT32
                    ? dv.getUint32(o, true)
                    : dataType === DataType.INT16
                      ? dv.getInt16(o, true)
                      : dataType === DataType.UINT16
                        ? dv.getUint16(o, true)
                        : dataType === DataType.INT8
                          ? dv.getInt8(o)
                          : dv.getUint8(o);
    }
  } else {
    const src =
      dataType === DataType.FLOAT
        ? t.floatData
        : dataType === DataType.DOUBLE
          ? t.doubleData
          : dataType === DataType.INT64
            ? t.int64Data
            : dataType === DataType.UINT64 || dataType === DataType.UINT32
              ? t.uint64Data
              : dataType === DataType.FLOAT16
                ? undefined
                : t.int32Data;
    if (src === undefined && dataType === DataType.FLOAT16)
      throw new Error(`tensor '${t.name ?? ''}' is float16 (not supported)`);
    const vals = (src ?? []).map(Number);
    if (vals.length !== n)
      throw new Error(`tensor '${t.name ?? ''}' has ${vals.length} values for shape [${dims.join(', ')}]`);
    data = Float64Array.from(vals);
  }
  return { dims, data, dataType };
}

const utf8 = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');

function attrValue(a: PAttr): AttrValue | undefined {
  switch (a.type) {
    case AttrType.FLOAT:
      return a.f ?? 0;
    case AttrType.INT:
      return Number(a.i ?? 0);
    case AttrType.STRING:
      return utf8(a.s);
    case AttrType.TENSOR:
      return a.t ? tensorFromProto(a.t) : undefined;
    case AttrType.FLOATS:
      return a.floats ?? [];
    case AttrType.INTS:
      return (a.ints ?? []).map(Number);
    case AttrType.STRINGS:
      return (a.strings ?? []).map(utf8);
    default:
      return undefined; // graphs, sparse tensors, type protos: no supported op uses them
  }
}

function valueInfo(v: PValueInfo): ValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? '',
    elemType: tt?.elemType,
    shape: dims?.map((d) =>
      d.dimValue !== undefined && d.dimParam === undefined ? Number(d.dimValue) : undefined,
    ),
  };
}

/** Decodes the bytes of a model (gzip detected by its magic bytes). Throws Error with a reason. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const plain = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  let msg: protobuf.Message;
  try {
    msg = ModelProto.decode(plain);
  } catch (e) {
    throw new Error(`not an ONNX model (protobuf: ${(e as Error).message})`);
  }
  const m = ModelProto.toObject(msg, { longs: Number, bytes: Uint8Array, defaults: false }) as PModel;
  const g = m.graph;
  if (!g || !g.node || g.node.length === 0) throw new Error('not an ONNX model (no graph or no nodes)');
  const opsets = m.opsetImport ?? [];
  const def = opsets.find((o) => !o.domain || o.domain === 'ai.onnx');
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensorFromProto(t));
  return {
    irVersion: Number(m.irVersion ?? 0),
    opset: Number(def?.version ?? 1),
    producer: m.producerName ?? '',
    graphName: g.name ?? '',
    nodes: g.node.map((n) => {
      const attrs = new Map<string, AttrValue>();
      for (const a of n.attribute ?? []) {
        const v = attrValue(a);
        if (v !== undefined) attrs.set(a.name ?? '', v);
      }
      return {
        name: n.name ?? '',
        opType: n.opType ?? '',
        domain: n.domain ?? '',
        inputs: n.input ?? [],
        outputs: n.output ?? [],
        attrs,
      };
    }),
    initializers,
    inputs: (g.input ?? []).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
  };
}

/** Reads and decodes a model file; a UserError naming the path and the reason on failure. */
export function readModelFile(path: string): OnnxModel {
  const bytes = readUserFile(path);
  try {
    return decodeModel(bytes);
  } catch (e) {
    throw fileError(path, (e as Error).message);
  }
}

/* ---- writing ---- */

/** A tensor to write: float32 raw data, or int64 (shapes, axes, pads). */
export interface TensorOut {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
  readonly type: 'float' | 'int64';
}

export interface NodeOut {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs?: Readonly<Record<string, number | readonly number[] | string | { readonly float: number }>>;
}

export interface ModelOut {
  readonly opset: number;
  readonly producer: string;
  readonly graphName: string;
  readonly nodes: readonly NodeOut[];
  readonly initializers: readonly TensorOut[];
  readonly input: { readonly name: string; readonly dims: readonly (number | string)[] };
  readonly output: { readonly name: string; readonly dims: readonly (number | string)[] };
  readonly docString?: string;
}

function tensorProto(t: TensorOut): PTensor {
  const n = numelOf(t.dims);
  if (t.data.length !== n)
    throw new Error(`internal: tensor '${t.name}' has ${t.data.length} values for [${t.dims.join(', ')}]`);
  const raw = new Uint8Array(n * (t.type === 'float' ? 4 : 8));
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < n; i++)
    if (t.type === 'float') dv.setFloat32(4 * i, t.data[i]!, true);
    else dv.setBigInt64(8 * i, BigInt(t.data[i]!), true);
  return {
    name: t.name,
    dims: [...t.dims],
    dataType: t.type === 'float' ? DataType.FLOAT : DataType.INT64,
    rawData: raw,
  };
}

function attrProto(name: string, v: number | readonly number[] | string | { readonly float: number }): PAttr {
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') return { name, type: AttrType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: [...(v as number[])] };
  return { name, type: AttrType.FLOAT, f: (v as { float: number }).float };
}

const dimsProto = (dims: readonly (number | string)[]) => ({
  tensorType: {
    elemType: DataType.FLOAT,
    shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
  },
});

/** Encodes a model (IR version 8). */
export function encodeModel(m: ModelOut): Uint8Array {
  const obj = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: m.opset }],
    producerName: m.producer,
    ...(m.docString ? { docString: m.docString } : {}),
    graph: {
      name: m.graphName,
      node: m.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: m.initializers.map(tensorProto),
      input: [{ name: m.input.name, type: dimsProto(m.input.dims) }],
      output: [{ name: m.output.name, type: dimsProto(m.output.dims) }],
    },
  };
  const err = ModelProto.verify(obj);
  if (err) throw new Error(`internal: invalid ONNX model: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(obj)).finish();
}
