import { beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UserError } from '../../src/base/errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadParams,
  readSafetensors,
  saveParams,
  saveParamsAsync,
} from '../../src/runtime/io/safetensors.js';
import { torchToInternal } from '../../src/runtime/layout.js';
import { fixtureValues, tinyMeta, tinyParams } from './tiny-meta.js';

const FIX = join(import.meta.dirname, 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'vnet-st-'));
let fileNo = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Writes a hand-made file: header object (JSON) + raw data bytes; `len` overrides the length field. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), len?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(len ?? BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  const path = join(tmp, `f${fileNo++}.safetensors`);
  writeFileSync(path, out);
  return path;
}

const f32bytes = (xs: readonly number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);

/** The torch-layout tensors of the tiny fixture network. */
const fixtureTensors = () =>
  tinyParams.map((p) => ({ name: p.name, shape: p.torchShape, data: fixtureValues(p.name) }));

/** Runs f, expects a UserError, returns its message (with help lines). */
function userError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    const u = e as UserError;
    return [u.message, ...u.help].join('\n');
  }
  throw new Error('expected a UserError');
}

describe('files written by the Python safetensors package', () => {
  test('F32 fixture loads into the internal layout', () => {
    const p = loadParams(join(FIX, 'py-f32.safetensors'), tinyMeta);
    for (const spec of tinyParams) {
      const v = p[spec.ident]!;
      expect(v.shape).toEqual(spec.shape);
      expect(Array.from(v.dataSync())).toEqual(Array.from(torchToInternal(spec, fixtureValues(spec.name))));
    }
    // Spot checks of the layout conversion, independent of layout.ts.
    const w = fixtureValues('conv1.weight'); // torch [out=2, in=1, kh=3, kw=3]
    const wi = p['conv1_weight']!.arraySync() as number[][][][]; // [kh, kw, in, out]
    expect(wi[2]![1]![0]![1]).toBeCloseTo(w[1 * 9 + 2 * 3 + 1]!, 7);
    const fc = fixtureValues('fc1.weight'); // torch [3, 8], columns in C,H,W order of a [2,2,2] map
    const fci = p['fc1_weight']!.arraySync() as number[][]; // [8, 3], rows in H,W,C order
    // internal row (h=0, w=1, c=1) = 0*4 + 1*2 + 1 = 3  <->  torch column (c=1, h=0, w=1) = 4 + 0 + 1 = 5
    expect(fci[3]![2]).toBeCloseTo(fc[2 * 8 + 5]!, 7);
    const r = p['ramp1_r']!.arraySync() as number[][][]; // [H, W, C]
    expect(r[1]![0]![1]).toBeCloseTo(fixtureValues('ramp1.r')[1 * 4 + 1 * 2 + 0]!, 7);
    Object.values(p).forEach((x) => x.dispose());
  });

  test('our encoder writes byte-identical files', () => {
    const py = readFileSync(join(FIX, 'py-f32.safetensors'));
    const ours = encodeSafetensors(fixtureTensors(), { format: 'pt' });
    expect(Buffer.from(ours).equals(py)).toBe(true);
    const n = Number(new DataView(ours.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0); // header padded with spaces to a multiple of 8 bytes
    expect(ours[8 + n - 1]).toBe(0x20);
  });

  test('F64 and F16 files are converted to float32', () => {
    const d64 = readSafetensors(join(FIX, 'py-f64.safetensors'));
    expect(d64.tensors.get('fc1.weight')!.dtype).toBe('F64');
    expect(Array.from(d64.tensors.get('fc1.weight')!.data)).toEqual(Array.from(fixtureValues('fc1.weight')));
    const p16 = loadParams(join(FIX, 'py-f16.safetensors'), tinyMeta);
    const want = torchToInternal(tinyParams[0]!, fixtureValues('conv1.weight'));
    const got = p16['conv1_weight']!.dataSync();
    want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(1e-3));
    expect(d64.metadata).toEqual({ format: 'pt' });
    Object.values(p16).forEach((x) => x.dispose());
  });

  test('BF16 tensors are converted to float32', () => {
    const bf = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40]); // 1.0, -2.0, 3.140625
    const d = decodeSafetensors(
      (() => {
        const path = craft({ t: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] } }, bf);
        return readFileSync(path);
      })(),
      'x',
    );
    expect(d.problems).toEqual([]);
    expect(Array.from(d.tensors.get('t')!.data)).toEqual([1, -2, 3.140625]);
  });
});

describe('saving', () => {
  test('saveParams writes torch layout that loads back identically', () => {
    const src = loadParams(join(FIX, 'py-f32.safetensors'), tinyMeta);
    const out = join(tmp, 'saved.safetensors');
    saveParams(out, tinyMeta, src, { epoch: '3' });
    const d = readSafetensors(out);
    expect(d.metadata).toEqual({ format: 'pt', network: 'tiny', spec_hash: tinyMeta.specHash, epoch: '3' });
    for (const spec of tinyParams) {
      expect(d.tensors.get(spec.name)!.dtype).toBe('F32');
      expect(d.tensors.get(spec.name)!.shape).toEqual(spec.torchShape);
      expect(Array.from(d.tensors.get(spec.name)!.data)).toEqual(Array.from(fixtureValues(spec.name)));
    }
    const back = loadParams(out, tinyMeta);
    for (const spec of tinyParams)
      expect(Array.from(back[spec.ident]!.dataSync())).toEqual(Array.from(src[spec.ident]!.dataSync()));
    [...Object.values(src), ...Object.values(back)].forEach((x) => x.dispose());
  });

  test('saveParamsAsync writes the same bytes', async () => {
    const src = loadParams(join(FIX, 'py-f32.safetensors'), tinyMeta);
    const a = join(tmp, 'sync.safetensors');
    const b = join(tmp, 'async.safetensors');
    saveParams(a, tinyMeta, src);
    await saveParamsAsync(b, tinyMeta, src);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    delete (src as Record<string, unknown>)['fc1_bias'];
    expect(() => saveParams(a, tinyMeta, src)).toThrow(/'fc1_bias' \(fc1.bias\) is missing/);
    Object.values(src).forEach((x) => x.dispose());
  });
});

describe('mismatches against the network are all reported at once', () => {
  test('missing, extra, mis-shaped, wrong dtype and non-finite in one error naming the path', () => {
    const tensors = fixtureTensors().filter((t) => t.name !== 'fc1.bias' && t.name !== 'conv1.bias');
    const bytes = encodeSafetensors(
      [
        ...tensors.map((t) => (t.name === 'fc1.weight' ? { ...t, shape: [8, 3] } : t)),
        { name: 'fc2.weight', shape: [2, 2], data: new Float32Array(4) },
        { name: 'ramp1.r', shape: [2, 2, 2], data: new Float32Array(8) },
      ].filter((t, i, a) => a.findIndex((u) => u.name === t.name) === i),
    );
    const path = join(tmp, 'mismatch.safetensors');
    writeFileSync(path, bytes);
    // Re-label conv1.bias as I64 by crafting it next to the rest: a wrong dtype for an expected tensor.
    const d = decodeSafetensors(bytes, path);
    const header: Record<string, unknown> = {};
    const chunks: Uint8Array[] = [];
    let off = 0;
    for (const [name, t] of d.tensors) {
      const data =
        name === 'conv1.weight' ? Float32Array.from(t.data, (v, i) => (i === 4 ? NaN : v)) : t.data;
      header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * data.length] };
      chunks.push(new Uint8Array(data.buffer));
      off += 4 * data.length;
    }
    header['conv1.bias'] = { dtype: 'I64', shape: [2], data_offsets: [off, off + 16] };
    header['bn.num_batches_tracked'] = { dtype: 'I64', shape: [], data_offsets: [off + 16, off + 24] };
    chunks.push(new Uint8Array(24));
    const p2 = craft(header, Buffer.concat(chunks));
    const msg = userError(() => loadParams(p2, tinyMeta));
    expect(msg).toContain(p2);
    expect(msg).toContain("network 'tiny'");
    expect(msg).toContain("missing tensor 'fc1.bias' [3]");
    expect(msg).toContain("extra tensor 'fc2.weight' [2, 2]");
    expect(msg).toMatch(/'fc1.weight': shape \[8, 3\], expected \[3, 8\].*transpose/);
    expect(msg).toMatch(/tensor 'conv1.bias': dtype I64 is not supported/);
    expect(msg).toContain("'conv1.weight': 1 non-finite value");
    expect(msg).toContain("extra tensor 'bn.num_batches_tracked' (not in the network)");
    expect(msg).not.toContain("tensor 'bn.num_batches_tracked': dtype");
    expect(msg).toContain('(6 problems)');
  });

  test('a wrapper prefix such as module. is recognised', () => {
    const bytes = encodeSafetensors(fixtureTensors().map((t) => ({ ...t, name: `module.${t.name}` })));
    const path = join(tmp, 'prefixed.safetensors');
    writeFileSync(path, bytes);
    const msg = userError(() => loadParams(path, tinyMeta));
    expect(msg).toContain("missing tensor 'conv1.weight'");
    expect(msg).toContain("prefix 'module.'");
  });

  test('a Keras-layout conv weight gets a layout hint', () => {
    const bytes = encodeSafetensors(
      fixtureTensors().map((t) => (t.name === 'conv1.weight' ? { ...t, shape: [3, 3, 1, 2] } : t)),
    );
    const path = join(tmp, 'keras.safetensors');
    writeFileSync(path, bytes);
    expect(userError(() => loadParams(path, tinyMeta))).toMatch(
      /\[3, 3, 1, 2\], expected \[2, 1, 3, 3\].*Keras/,
    );
  });

  test('a missing file names the path', () => {
    expect(userError(() => loadParams(join(tmp, 'nope.safetensors'), tinyMeta))).toMatch(
      /nope\.safetensors: no such file/,
    );
  });
});

describe('corrupt files', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  test('shorter than the length field', () => {
    const path = join(tmp, 'short.safetensors');
    writeFileSync(path, Buffer.from([1, 2, 3]));
    expect(userError(() => readSafetensors(path))).toMatch(/short\.safetensors: .*3 bytes long/);
  });

  test('header length beyond the file', () => {
    const path = craft(ok, f32bytes([1, 2]), 10_000n);
    expect(userError(() => readSafetensors(path))).toMatch(/header length 10000 exceeds/);
  });

  test('absurd header length (e.g. a random binary file)', () => {
    const path = craft(ok, f32bytes([1, 2]), 0xffff_ffff_ffff_ffffn);
    expect(userError(() => readSafetensors(path))).toMatch(/header length \d+ exceeds/);
  });

  test('header is not JSON / not an object', () => {
    expect(userError(() => readSafetensors(craft('{"a": ', f32bytes([1]))))).toMatch(/not valid UTF-8 JSON/);
    expect(userError(() => readSafetensors(craft([1, 2])))).toMatch(/not a JSON object/);
  });

  test('truncated data is reported for every affected tensor', () => {
    const full = encodeSafetensors(fixtureTensors());
    const path = join(tmp, 'trunc.safetensors');
    writeFileSync(path, full.subarray(0, full.length - 40));
    const msg = userError(() => loadParams(path, tinyMeta));
    expect(msg).toMatch(/tensor 'ramp1.r': data_offsets \[\d+, \d+\] run past the end .*truncated/);
    expect(msg).toMatch(/tensor 'fc1.weight': data_offsets/);
    expect(msg).not.toContain('missing tensor'); // a damaged tensor is not also "missing"
  });

  test('overlapping offsets', () => {
    const path = craft(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      f32bytes([1, 2, 3]),
    );
    expect(userError(() => readSafetensors(path))).toMatch(/'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
  });

  test('offsets that do not match the shape, reversed offsets, bad shapes, unknown dtypes', () => {
    const path = craft(
      {
        a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [1], data_offsets: [8, 4] },
        c: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] },
        d: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] },
        e: { dtype: 'F32', shape: [1], data_offsets: [0] },
        __metadata__: { format: 3 },
      },
      f32bytes([1, 2]),
    );
    const msg = userError(() => readSafetensors(path));
    expect(msg).toContain("tensor 'a': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
    expect(msg).toContain("tensor 'b': data_offsets [8, 4] end before they begin");
    expect(msg).toContain("tensor 'c': shape [-1] is not a list of non-negative integers");
    expect(msg).toContain('tensor \'d\': unknown dtype "Q4"');
    expect(msg).toContain("tensor 'e': data_offsets [0] is not a pair");
    expect(msg).toContain("'__metadata__.format' is not a string");
    expect(msg).toContain('(6 problems)');
  });

  test('bytes after the last tensor', () => {
    const path = craft(ok, f32bytes([1, 2, 3]));
    expect(userError(() => readSafetensors(path))).toMatch(/4 bytes after the last tensor/);
  });

  test('a well-formed minimal file decodes', () => {
    const d = readSafetensors(craft(ok, f32bytes([1.5, -2])));
    expect(Array.from(d.tensors.get('a')!.data)).toEqual([1.5, -2]);
    expect(d.metadata).toEqual({});
  });
});
