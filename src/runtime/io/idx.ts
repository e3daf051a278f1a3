/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian
 * magic number `0x0000TTNN` (TT = element type, only 0x08 unsigned byte is used by these data
 * sets; NN = number of dimensions), NN big-endian uint32 dimension sizes, then the row-major data.
 * Files may be gzipped (recognised by the gzip magic bytes 1f 8b, not by the name). Every defect
 * is a UserError naming the file.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fileError } from '../../base/errors.js';

/** A decoded IDX array of unsigned bytes. */
export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

/** Magic numbers of the two IDX files a data set needs. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

const hex = (n: number): string => '0x' + n.toString(16).padStart(8, '0');

/** Reads a file, gunzipping it when it starts with the gzip magic bytes. */
export function readMaybeGzip(path: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw fileError(path, `corrupt gzip data (${(e as Error).message}); the download may be incomplete`);
    }
  }
  return raw;
}

/**
 * Decodes IDX bytes. `expectMagic` (IDX_IMAGES_MAGIC or IDX_LABELS_MAGIC) is checked first, so a
 * swapped images/labels file or a non-IDX file gets a clear message.
 */
export function decodeIdx(bytes: Uint8Array, path: string, expectMagic: number): IdxArray {
  const what = expectMagic === IDX_IMAGES_MAGIC ? 'an IDX image file' : 'an IDX label file';
  if (bytes.length < 4) throw fileError(path, `not ${what}: only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, false);
  if (magic !== expectMagic) {
    const other =
      magic === IDX_IMAGES_MAGIC
        ? ' (that is an image file)'
        : magic === IDX_LABELS_MAGIC
          ? ' (that is a label file)'
          : '';
    throw fileError(
      path,
      `wrong magic number ${hex(magic)}${other}: expected ${hex(expectMagic)} for ${what}`,
    );
  }
  const nd = magic & 0xff;
  if (bytes.length < 4 + 4 * nd) throw fileError(path, `truncated IDX header (${bytes.length} bytes)`);
  const dims = Array.from({ length: nd }, (_, i) => dv.getUint32(4 + 4 * i, false));
  const start = 4 + 4 * nd;
  const want = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - start;
  if (have < want)
    throw fileError(
      path,
      `truncated: dimensions [${dims.join(', ')}] need ${want} data bytes, the file has ${have}`,
    );
  if (have > want)
    throw fileError(path, `corrupt: ${have - want} bytes after the data of dimensions [${dims.join(', ')}]`);
  return { dims, data: bytes.subarray(start, start + want) };
}

/** Reads an IDX file (gzipped or not). */
export function readIdx(path: string, expectMagic: number): IdxArray {
  return decodeIdx(readMaybeGzip(path), path, expectMagic);
}

/** Encodes unsigned bytes as IDX (magic 0x0803 for 3 dims, 0x0801 for 1), optionally gzipped (level 9, deterministic). */
export function encodeIdx(dims: readonly number[], data: Uint8Array, gzip: boolean): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(0x0800 | dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const raw = Buffer.concat([head, data]);
  return gzip ? gzipSync(raw, { level: 9 }) : raw;
}
