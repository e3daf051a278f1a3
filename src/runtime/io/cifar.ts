/**
 * CIFAR-10's binary version (https://www.cs.toronto.edu/~kriz/cifar.html): `data_batch_1.bin` …
 * `data_batch_5.bin` (train) and `test_batch.bin`, each a sequence of 3073-byte records (one label
 * byte 0–9, then 1024 red, 1024 green and 1024 blue bytes of a 32×32 image, i.e. C,H,W order).
 * Also a minimal reader for the ustar archive `cifar-10-binary.tar.gz` they ship in.
 */
import { readFileSync } from 'node:fs';
import { fileError } from '../../base/errors.js';

export const CIFAR_RECORD = 1 + 3 * 32 * 32;
export const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR_TEST_FILES = ['test_batch.bin'];

/** One or more CIFAR batches: images as raw bytes in C,H,W order (3×32×32 per image). */
export interface CifarBatch {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly n: number;
}

/** Decodes one batch file's bytes; a size that is not a whole number of records, or a label > 9, is an error. */
export function decodeCifarBatch(bytes: Uint8Array, path: string): CifarBatch {
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0)
    throw fileError(
      path,
      `not a CIFAR-10 binary batch: ${bytes.length} bytes is not a multiple of the ${CIFAR_RECORD}-byte record (truncated file?)`,
    );
  const n = bytes.length / CIFAR_RECORD;
  const images = new Uint8Array(n * (CIFAR_RECORD - 1));
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const rec = bytes.subarray(i * CIFAR_RECORD, (i + 1) * CIFAR_RECORD);
    if (rec[0]! > 9)
      throw fileError(path, `not a CIFAR-10 binary batch: record ${i} has label ${rec[0]} (labels are 0-9)`);
    labels[i] = rec[0]!;
    images.set(rec.subarray(1), i * (CIFAR_RECORD - 1));
  }
  return { images, labels, n };
}

/** Reads and concatenates batch files, stopping once `limit` images are read. */
export function readCifarBatches(paths: readonly string[], limit = Infinity): CifarBatch {
  const parts: CifarBatch[] = [];
  let n = 0;
  for (const p of paths) {
    if (n >= limit) break;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(p);
    } catch (e) {
      throw fileError(p, `cannot read (${(e as Error).message})`);
    }
    const b = decodeCifarBatch(bytes, p);
    parts.push(b);
    n += b.n;
  }
  const total = Math.min(n, limit);
  const per = CIFAR_RECORD - 1;
  const images = new Uint8Array(total * per);
  const labels = new Uint8Array(total);
  let k = 0;
  for (const b of parts) {
    const m = Math.min(b.n, total - k);
    images.set(b.images.subarray(0, m * per), k * per);
    labels.set(b.labels.subarray(0, m), k);
    k += m;
  }
  return { images, labels, n: total };
}

/**
 * Regular files of an (uncompressed) ustar/GNU tar archive whose base name passes `want`, as
 * name → bytes. Names are taken from the header only to select members, never used as paths.
 */
export function untar(
  tar: Uint8Array,
  want: (baseName: string) => boolean,
  path: string,
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const str = (a: number, b: number): string => {
    const s = Buffer.from(tar.subarray(a, b)).toString('latin1');
    const z = s.indexOf('\0');
    return z < 0 ? s : s.slice(0, z);
  };
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    if (tar.subarray(off, off + 512).every((b) => b === 0)) break;
    const size = parseInt(str(off + 124, off + 136).trim() || '0', 8);
    if (!Number.isFinite(size) || off + 512 + size > tar.length)
      throw fileError(path, 'truncated or corrupt tar archive');
    const type = String.fromCharCode(tar[off + 156]!);
    const prefix = str(off + 345, off + 500);
    const name = longName ?? (prefix ? `${prefix}/${str(off, off + 100)}` : str(off, off + 100));
    const body = tar.subarray(off + 512, off + 512 + size);
    longName = undefined;
    if (type === 'L') longName = Buffer.from(body).toString('latin1').replace(/\0.*$/s, '');
    else if (type === '0' || type === '\0') {
      const base = name.slice(name.lastIndexOf('/') + 1);
      if (want(base)) out.set(base, body);
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
