/**
 * The part of ONNX's protobuf schema (onnx.proto3: ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto) that a feed-forward verifier reads, decoded from the
 * wire format (varints, length-delimited fields, packed and unpacked repeated scalars). Field
 * numbers are those of onnx.proto; unknown fields are skipped.
 */

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

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        // int64 negatives arrive as 10-byte two's complement: map to a negative number
        return result >= 2 ** 63 ? result - 2 ** 64 : result;
      }
      mul *= 128;
    }
    throw new ProtoError('varint too long');
  }
  bytes(): Reader {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) throw new ProtoError('truncated field');
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
  string(): string {
    const r = this.bytes();
    return new TextDecoder().decode(this.buf.subarray(r.pos, r.end));
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new ProtoError(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new ProtoError('truncated field');
  }
  f32(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
}

/** Fields of one message: calls `on(field, wire)`; `on` must consume the value or return false. */
function fields(r: Reader, on: (field: number, wire: number) => boolean): void {
  while (!r.done) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (!on(field, wire)) r.skip(wire);
  }
}

/** A repeated scalar field, packed (wire 2) or not. */
function repeated(r: Reader, wire: number, out: number[], read: (r: Reader) => number): void {
  if (wire === 2) {
    const p = r.bytes();
    while (!p.done) out.push(read(p));
  } else out.push(read(r));
}

const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

function tensor(r: Reader): OnnxTensor {
  let name = '';
  const dims: number[] = [];
  let dataType = 0;
  const floats: number[] = [];
  const ints: number[] = [];
  const doubles: number[] = [];
  let raw: Uint8Array | undefined;
  let external = false;
  fields(r, (f, w) => {
    if (f === 1) repeated(r, w, dims, (x) => x.varint());
    else if (f === 2) dataType = r.varint();
    else if (f === 4) repeated(r, w, floats, (x) => x.f32());
    else if (f === 5 || f === 7) repeated(r, w, ints, (x) => x.varint());
    else if (f === 8) name = r.string();
    else if (f === 9) {
      const b = r.bytes();
      raw = r.buf.subarray(b.pos, b.end);
    } else if (f === 10) repeated(r, w, doubles, (x) => x.f64());
    else if (f === 14) external = r.varint() === 1;
    else return false;
    return true;
  });
  if (external)
    throw new ProtoError(`tensor '${name}' stores its data in an external file, which is not supported`);
  const n = dims.reduce((a, b) => a * b, 1);
  let data: Float64Array;
  if (raw) {
    const copy = new Uint8Array(raw.length); // an aligned copy (Buffer.slice would be a view)
    copy.set(raw);
    const dv = new DataView(copy.buffer);
    data = new Float64Array(n);
    const width =
      dataType === DT.FLOAT || dataType === DT.INT32
        ? 4
        : dataType === DT.DOUBLE || dataType === DT.INT64
          ? 8
          : 1;
    if (copy.length !== n * width)
      throw new ProtoError(`tensor '${name}' has ${copy.length} bytes of data, expected ${n * width}`);
    for (let i = 0; i < n; i++) {
      const o = i * width;
      data[i] =
        dataType === DT.FLOAT
          ? dv.getFloat32(o, true)
          : dataType === DT.DOUBLE
            ? dv.getFloat64(o, true)
            : dataType === DT.INT32
              ? dv.getInt32(o, true)
              : dataType === DT.INT64
                ? Number(dv.getBigInt64(o, true))
                : dataType === DT.INT8
                  ? dv.getInt8(o)
                  : dv.getUint8(o);
    }
  } else {
    const src = floats.length > 0 ? floats : doubles.length > 0 ? doubles : ints;
    if (src.length !== n) throw new ProtoError(`tensor '${name}' has ${src.length} values, expected ${n}`);
    data = Float64Array.from(src);
  }
  return { name, dims, data, dataType };
}

function attribute(r: Reader): OnnxAttribute {
  let name = '';
  let f: number | undefined;
  let i: number | undefined;
  let s: string | undefined;
  let t: OnnxTensor | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  fields(r, (fld, w) => {
    if (fld === 1) name = r.string();
    else if (fld === 2) f = r.f32();
    else if (fld === 3) i = r.varint();
    else if (fld === 4) s = r.string();
    else if (fld === 5) t = tensor(r.bytes());
    else if (fld === 7) repeated(r, w, floats, (x) => x.f32());
    else if (fld === 8) repeated(r, w, ints, (x) => x.varint());
    else return false;
    return true;
  });
  return { name, f, i, s, t, floats, ints };
}

function node(r: Reader): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  const attributes = new Map<string, OnnxAttribute>();
  fields(r, (f) => {
    if (f === 1) inputs.push(r.string());
    else if (f === 2) outputs.push(r.string());
    else if (f === 3) name = r.string();
    else if (f === 4) opType = r.string();
    else if (f === 5) {
      const a = attribute(r.bytes());
      attributes.set(a.name, a);
    } else if (f === 7) domain = r.string();
    else return false;
    return true;
  });
  return { name, opType, domain, inputs, outputs, attributes };
}

/** A ValueInfoProto's name and tensor shape. */
function valueInfo(r: Reader): OnnxValueInfo {
  let name = '';
  const shape: number[] = [];
  fields(r, (f) => {
    if (f === 1) name = r.string();
    else if (f === 2) {
      const tp = r.bytes();
      fields(tp, (tf) => {
        if (tf !== 1) return false;
        const tt = tp.bytes();
        fields(tt, (ttf) => {
          if (ttf !== 2) return false;
          const sh = tt.bytes();
          fields(sh, (sf) => {
            if (sf !== 1) return false;
            const dim = sh.bytes();
            let v = -1;
            fields(dim, (df, dw) => {
              if (df === 1) v = dim.varint();
              else if (df === 2) dim.skip(dw);
              else return false;
              return true;
            });
            shape.push(v);
            return true;
          });
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name, shape };
}

/** Decodes a serialized ModelProto's graph. */
export function decodeModel(bytes: Uint8Array): OnnxGraph {
  const r = new Reader(bytes);
  let graph: OnnxGraph | undefined;
  fields(r, (f, w) => {
    if (f === 7 && w === 2) {
      graph = decodeGraph(r.bytes());
      return true;
    }
    return false;
  });
  if (!graph) throw new ProtoError('no graph in the model (not an ONNX ModelProto?)');
  return graph;
}

function decodeGraph(r: Reader): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  fields(r, (f) => {
    if (f === 1) nodes.push(node(r.bytes()));
    else if (f === 5) {
      const t = tensor(r.bytes());
      initializers.set(t.name, t);
    } else if (f === 11) inputs.push(valueInfo(r.bytes()));
    else if (f === 12) outputs.push(valueInfo(r.bytes()));
    else return false;
    return true;
  });
  return { nodes, initializers, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}
