/**
 * The safetensors format (https://github.com/huggingface/safetensors), as PyTorch users write it
 * with `safetensors.torch.save_file(model.state_dict(), path)`: an 8-byte little-endian header
 * length N, N bytes of JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}`, padded with spaces), then the raw little-endian tensor bytes,
 * offsets relative to the end of the header. vnet writes F32; it reads F32, F64, F16 and BF16
 * (converted to float32). `loadParams` checks a file against a network's parameter list (PyTorch
 * names and shapes), reports every difference in one error, and converts to the runtime's internal
 * layout. No file access here (the `vnet bundle` page decodes the same bytes in the browser): the
 * file functions (`readSafetensors`, `loadParams`, `saveParams`) are in safetensors.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileError, UserError } from '../../base/errors.js';
import { closest } from '../../util/suggest.js';
import type { ParamSpec } from '../../ir/ir.js';
import { torchToInternal } from '../layout.js';
import type { ModuleMeta, ParamSet } from '../module.js';

/** One tensor as stored in (or decoded from) a file: row-major data in the file's layout. */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A decoded tensor plus the dtype it was stored with. */
export interface StoredTensor extends NamedTensor {
  readonly dtype: string;
}

/**
 * A decoded file. `problems` lists defects (bad offsets, unsupported dtype, ...); `rejected` maps
 * each tensor that the header lists but that could not be decoded (it is not in `tensors`) to its
 * line in `problems`.
 */
export interface DecodedSafetensors {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly problems: readonly string[];
  readonly rejected: ReadonlyMap<string, string>;
}

/** Largest header the reference implementation accepts (guards against garbage lengths). */
const MAX_HEADER = 100_000_000;

/** Byte width of every dtype the format defines (so that offsets of any file can be checked). */
const DTYPE_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The floating dtypes vnet can read (converted to float32). */
export const READABLE_DTYPES = ['F32', 'F64', 'F16', 'BF16'] as const;

export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;
const numelOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 0x1f) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Little-endian bytes of one tensor → float32. */
function decodeData(bytes: Uint8Array, dtype: string, n: number): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      break;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        tmp.setUint32(0, dv.getUint16(2 * i, true) << 16, false);
        out[i] = tmp.getFloat32(0, false);
      }
      break;
    }
    default:
      throw new Error(`decodeData: unsupported dtype ${dtype}`);
  }
  return out;
}

const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Decodes a safetensors file. Defects that make the whole file unreadable (too short, header
 * length beyond the file, header not a JSON object) throw a UserError naming `path`; defects of
 * single tensors (unknown or unsupported dtype, bad shape, offsets out of range, overlapping or
 * not matching the shape, trailing bytes) are collected in `problems` so that callers can report
 * them together with their own checks.
 */
export function decodeSafetensors(bytes: Uint8Array, path: string): DecodedSafetensors {
  const bad = (reason: string): UserError => fileError(path, `not a valid safetensors file: ${reason}`);
  if (bytes.length < 8)
    throw bad(`file is ${bytes.length} bytes long, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8))
    throw bad(
      `header length ${n64} exceeds the ${bytes.length - 8} bytes after the length field (truncated file?)`,
    );
  const n = Number(n64);
  if (n > MAX_HEADER) throw bad(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw bad(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw bad('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const problems: string[] = [];
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, StoredTensor>();
  const rejected = new Map<string, string>();
  const reject = (name: string, why: string): void => {
    const line = `tensor '${name}': ${why}`;
    rejected.set(name, line);
    problems.push(line);
  };

  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        problems.push(`'__metadata__' is not an object of strings`);
        continue;
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v === 'string') metadata[k] = v;
        else problems.push(`'__metadata__.${k}' is not a string`);
      }
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof t !== 'object' || t === null) {
      reject(name, 'header entry is not an object');
      continue;
    }
    const { dtype, shape, data_offsets: offs } = t;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) {
      reject(name, `unknown dtype ${JSON.stringify(dtype)}`);
      continue;
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      reject(name, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
      continue;
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt)) {
      reject(name, `data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
      continue;
    }
    const [begin, end] = offs as [number, number];
    const want = numelOf(shape) * DTYPE_SIZE[dtype]!;
    if (end < begin) {
      reject(name, `data_offsets [${begin}, ${end}] end before they begin`);
      continue;
    }
    if (end > dataLen) {
      reject(
        name,
        `data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes; truncated file?)`,
      );
      continue;
    }
    if (end - begin !== want) {
      reject(
        name,
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${fmtShape(shape)} needs ${want}`,
      );
      continue;
    }
    spans.push({ name, begin, end });
    if (!(READABLE_DTYPES as readonly string[]).includes(dtype)) {
      reject(name, `dtype ${dtype} is not supported (vnet reads ${READABLE_DTYPES.join(', ')})`);
      continue;
    }
    const slice = bytes.subarray(dataStart + begin, dataStart + end);
    tensors.set(name, { name, dtype, shape, data: decodeData(slice, dtype, numelOf(shape)) });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let last: (typeof spans)[number] | undefined;
  for (const s of spans) {
    if (last && s.begin < last.end && s.end > s.begin)
      problems.push(
        `tensors '${last.name}' [${last.begin}, ${last.end}] and '${s.name}' [${s.begin}, ${s.end}] overlap in the data`,
      );
    if (!last || s.end > last.end) last = s;
  }
  const covered = last?.end ?? 0;
  if (problems.length === 0 && covered < dataLen)
    problems.push(`${dataLen - covered} bytes after the last tensor belong to no tensor (corrupt file?)`);
  return { tensors, metadata, problems, rejected };
}

export function listError(
  path: string,
  what: string,
  problems: readonly string[],
  help: readonly string[] = [],
): UserError {
  const n = problems.length;
  return fileError(
    path,
    `${what} (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    help,
  );
}

/**
 * Encodes tensors as a safetensors file the way the Python package does: `__metadata__` first,
 * tensors sorted by name, data contiguous in that order, the JSON header padded with spaces to a
 * multiple of 8 bytes. All tensors are written as F32.
 */
export function encodeSafetensors(
  tensors: readonly NamedTensor[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = { ...metadata };
  let off = 0;
  for (const t of sorted) {
    if (t.name === '__metadata__') throw new Error(`encodeSafetensors: '__metadata__' is not a tensor name`);
    if (header[t.name]) throw new Error(`encodeSafetensors: duplicate tensor name '${t.name}'`);
    if (numelOf(t.shape) !== t.data.length)
      throw new Error(
        `encodeSafetensors: '${t.name}' has ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [off, off + 4 * t.data.length] };
    off += 4 * t.data.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const json = new Uint8Array(text.length + ((8 - (text.length % 8)) % 8)).fill(0x20);
  json.set(text);
  const out = new Uint8Array(8 + json.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of sorted) {
    for (let i = 0; i < t.data.length; i++, p += 4) dv.setFloat32(p, t.data[i]!, true);
  }
  return out;
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

const roleHint: Readonly<Record<ParamSpec['role'], string>> = {
  'dense.weight': 'torch layout [out, in]',
  'conv.weight': 'torch layout [out, in, kh, kw]',
  bias: '[out]',
  'ramp.r': "shaped like the layer's neurons, [C, H, W] or [N]",
  'bn.weight': '[channels]',
  'bn.bias': '[channels]',
  'bn.mean': '[channels] (running mean)',
  'bn.var': '[channels] (running variance)',
};

/** Why a tensor's shape differs, with a hint when it is the transposed (Keras-style) layout. */
function shapeProblem(p: ParamSpec, got: readonly number[]): string {
  const s = p.torchShape;
  let hint = '';
  if (p.role === 'dense.weight' && sameShape(got, [s[1]!, s[0]!]))
    hint = ' (this is the transpose: PyTorch stores dense weights as [out, in])';
  else if (p.role === 'conv.weight' && sameShape(got, [s[2]!, s[3]!, s[1]!, s[0]!]))
    hint = ' (this is the TensorFlow/Keras layout [kh, kw, in, out]; PyTorch stores [out, in, kh, kw])';
  return `'${p.name}': shape ${fmtShape(got)}, expected ${fmtShape(s)} (${roleHint[p.role]})${hint}`;
}

/** A prefix that every unmatched file name carries and whose removal matches an expected name. */
function commonPrefixHint(missing: readonly string[], extra: readonly string[]): string | undefined {
  for (const e of extra) {
    for (const m of missing) {
      if (e.length > m.length && e.endsWith(m) && e[e.length - m.length - 1] === '.') {
        const prefix = e.slice(0, e.length - m.length);
        if (missing.every((q) => extra.includes(prefix + q)))
          return `the file's names carry the prefix '${prefix}' (from a wrapper module such as nn.DataParallel); save the inner module's state_dict, or strip the prefix`;
      }
    }
  }
  return undefined;
}

/**
 * Checks the bytes of a safetensors file (`path` names it in messages) against a network's
 * parameters (PyTorch names and layouts). Every difference from `meta.params` (missing, extra,
 * mis-shaped tensors, unsupported dtypes, non-finite values, structural defects of the file) is
 * reported at once in one UserError that names the path. Returns the decoded file.
 */
export function checkParamBytes(bytes: Uint8Array, path: string, meta: ModuleMeta): DecodedSafetensors {
  const d = decodeSafetensors(bytes, path);
  const expected = new Set(meta.params.map((p) => p.name));
  // An undecodable tensor that the network expects is reported with its defect (not as missing);
  // one that the network does not expect is simply extra (e.g. BatchNorm's I64 counters).
  const extraRejected = [...d.rejected].filter(([name]) => !expected.has(name));
  const dropped = new Set(extraRejected.map(([, line]) => line));
  const problems = d.problems.filter((p) => !dropped.has(p));
  const missing = meta.params
    .filter((p) => !d.tensors.has(p.name) && !d.rejected.has(p.name))
    .map((p) => p.name);
  const extra = [...d.tensors.keys(), ...extraRejected.map(([name]) => name)].filter((k) => !expected.has(k));
  for (const m of missing) {
    const p = meta.params.find((q) => q.name === m)!;
    const near = closest(m, extra);
    problems.push(
      `missing tensor '${m}' ${fmtShape(p.torchShape)}${near ? ` (the file has '${near}')` : ''}`,
    );
  }
  for (const e of extra) {
    const t = d.tensors.get(e);
    problems.push(`extra tensor '${e}'${t ? ` ${fmtShape(t.shape)}` : ''} (not in the network)`);
  }
  for (const p of meta.params) {
    const t = d.tensors.get(p.name);
    if (!t) continue;
    if (!sameShape(t.shape, p.torchShape)) {
      problems.push(shapeProblem(p, t.shape));
      continue;
    }
    let bad = 0;
    for (const v of t.data) if (!Number.isFinite(v)) bad++;
    if (bad) problems.push(`'${p.name}': ${bad} non-finite value${bad === 1 ? '' : 's'} (NaN or ±Inf)`);
  }
  if (problems.length) {
    const hint = commonPrefixHint(missing, extra);
    throw listError(
      path,
      `does not match network '${meta.name}' (spec ${meta.sourcePath})`,
      problems,
      hint
        ? [hint]
        : ['`vnet init <spec> --out W.safetensors` writes a file with the expected names and shapes'],
    );
  }
  return d;
}

/**
 * A network's parameters from the bytes of a safetensors file, checked by `checkParamBytes`:
 * tf.Variables in the runtime's internal layout, keyed by `ParamSpec.ident`.
 */
export function paramsFromBytes(bytes: Uint8Array, path: string, meta: ModuleMeta): ParamSet {
  const d = checkParamBytes(bytes, path, meta);
  const out: ParamSet = {};
  for (const p of meta.params) {
    const t = d.tensors.get(p.name)!;
    out[p.ident] = tf.variable(tf.tensor(torchToInternal(p, t.data), [...p.shape], 'float32'), true);
  }
  return out;
}
