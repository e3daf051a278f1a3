/**
 * Data sets for training and verification: Fashion-MNIST and MNIST (IDX files, gzipped or not) and
 * CIFAR-10 (binary batches). `loadDataset` resolves the files — from `--data DIR`, else the
 * bundled Fashion-MNIST subset (when the caller allows it), else Debian's `dataset-fashion-mnist`
 * install location, else a cache directory (`$VNET_CACHE` or `~/.cache/vnet/<name>`) filled by a
 * download from the official sources (checksummed, with a progress bar) — validates them against
 * the spec's input shape and returns images in [0, 1] in the runtime's internal layout (H,W,C per
 * image; a vector input gets torch.flatten's C,H,W order). Also the deterministic helpers the
 * trainer needs: a seeded validation split and a seeded per-epoch batch order.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileError, UserError } from '../../base/errors.js';
import { VNET_ROOT } from '../../base/paths.js';
import { ProgressBar, type ProgressStream } from '../../base/progress.js';
import type { DatasetName } from '../../ir/ir.js';
import { chwToHwc } from '../layout.js';
import { writeFileAtomic } from './atomic.js';
import { CIFAR_TEST_FILES, CIFAR_TRAIN_FILES, readCifarBatches, untar } from './cifar.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, readIdx } from './idx.js';

export type Split = 'train' | 'test';

/** A loaded split. `x` holds n images of `internalShape`, row-major, values in [0, 1]. */
export interface Dataset {
  readonly name: DatasetName;
  readonly split: Split;
  readonly x: Float32Array;
  /** Class labels 0–9. */
  readonly y: Int32Array;
  readonly n: number;
  /** The requested input shape, PyTorch convention ([C, H, W], or [N] for a flattened input). */
  readonly shape: readonly number[];
  /** Per-image shape of `x`: [H, W, C], or [N]. */
  readonly internalShape: readonly number[];
  readonly classes: number;
  /** Where the data came from (directory), for logs and run records. */
  readonly source: string;
}

export interface LoadDatasetOptions {
  /** `--data DIR`: look only here (and in the usual sub-folders such as `FashionMNIST/raw`). */
  readonly dir?: string;
  readonly split: Split;
  /** Keep the first `limit` images. */
  readonly limit?: number;
  /** The spec's input shape [C, H, W] (or [N] = C·H·W for a flattened input). */
  readonly expectShape: readonly number[];
  /** Use the Fashion-MNIST subset shipped in `data/fashion-mnist-subset` when no DIR is given. */
  readonly bundled?: boolean;
  /** Allow downloading into the cache (default true unless VNET_OFFLINE=1). */
  readonly download?: boolean;
  /** Cache root (default `$VNET_CACHE`, else `$XDG_CACHE_HOME/vnet`, else `~/.cache/vnet`). */
  readonly cacheDir?: string;
  /** Base URL that replaces the official sources (a local mirror). */
  readonly mirror?: string;
  /** Where the download progress bar goes (default process.stderr). */
  readonly progress?: ProgressStream;
}

/** The bundled subset (6,000 train / 1,000 test images, class-balanced). */
export const BUNDLED_SUBSET_DIR = join(VNET_ROOT, 'data', 'fashion-mnist-subset') + sep;
/** Where Debian's `dataset-fashion-mnist` package installs the full data set. */
export const DEBIAN_FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** A file of an official source and its published md5. */
export interface Remote {
  readonly file: string;
  readonly md5: string;
}

interface SourceInfo {
  readonly native: readonly [number, number, number];
  /** Sub-folders of a data directory that are searched too (torchvision and archive layouts). */
  readonly subdirs: readonly string[];
  readonly mirrors: readonly string[];
  /** Files to fetch per split (IDX) or once for both splits (CIFAR archive). */
  readonly remote: Readonly<Record<Split, readonly Remote[]>>;
  readonly home: string;
}

const FASHION_REMOTE: Record<Split, Remote[]> = {
  train: [
    { file: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
    { file: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
  ],
  test: [
    { file: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
    { file: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
  ],
};
const MNIST_REMOTE: Record<Split, Remote[]> = {
  train: [
    { file: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
    { file: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
  ],
  test: [
    { file: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
    { file: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
  ],
};
const CIFAR_ARCHIVE: Remote = { file: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530' };

const SOURCES: Readonly<Record<DatasetName, SourceInfo>> = {
  'fashion-mnist': {
    native: [1, 28, 28],
    subdirs: ['', 'fashion-mnist', 'FashionMNIST/raw', 'fashion'],
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    remote: FASHION_REMOTE,
    home: 'https://github.com/zalandoresearch/fashion-mnist',
  },
  mnist: {
    native: [1, 28, 28],
    subdirs: ['', 'mnist', 'MNIST/raw'],
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    remote: MNIST_REMOTE,
    home: 'http://yann.lecun.com/exdb/mnist/',
  },
  cifar10: {
    native: [3, 32, 32],
    subdirs: ['', 'cifar-10-batches-bin', 'cifar10/cifar-10-batches-bin'],
    mirrors: ['https://www.cs.toronto.edu/~kriz/'],
    remote: { train: [CIFAR_ARCHIVE], test: [CIFAR_ARCHIVE] },
    home: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  },
};

/** File names (without folder) a split needs, in the form they are usually distributed. */
function requiredFiles(name: DatasetName, split: Split): string[] {
  if (name === 'cifar10') return split === 'train' ? CIFAR_TRAIN_FILES : CIFAR_TEST_FILES;
  const p = split === 'train' ? 'train' : 't10k';
  return [`${p}-images-idx3-ubyte`, `${p}-labels-idx1-ubyte`];
}

/** Spellings under which an IDX file is found: plain, gzipped, and with `.idx` (Kaggle style). */
function spellings(base: string): string[] {
  const dotted = base.replace(/-(idx\d)-/, '.$1-');
  return [`${base}.gz`, base, `${dotted}.gz`, dotted];
}

/** Full paths of the split's files under `dir` (or a known sub-folder), or undefined. */
function locate(name: DatasetName, split: Split, dir: string): string[] | undefined {
  for (const sub of SOURCES[name].subdirs) {
    const d = join(dir, sub);
    const found = requiredFiles(name, split).map((f) =>
      (name === 'cifar10' ? [f] : spellings(f)).map((s) => join(d, s)).find((p) => existsSync(p)),
    );
    if (found.every((p) => p !== undefined)) return found as string[];
  }
  return undefined;
}

/** The cache folder of a data set. */
export function cacheDirFor(name: DatasetName, root?: string): string {
  const base =
    root ??
    process.env['VNET_CACHE'] ??
    (process.env['XDG_CACHE_HOME']
      ? join(process.env['XDG_CACHE_HOME'], 'vnet')
      : join(homedir(), '.cache', 'vnet'));
  return join(base, name);
}

/** Downloads `url` into memory with a progress bar; rejects on HTTP errors and stalls. */
async function fetchBytes(url: string, stream: ProgressStream | undefined): Promise<Uint8Array> {
  const ctl = new AbortController();
  let timer = setTimeout(() => ctl.abort(new Error('no response within 30 s')), 30_000);
  try {
    const res = await fetch(url, { signal: ctl.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const total = Number(res.headers.get('content-length') ?? 0);
    const bar = new ProgressBar({
      total,
      label: url.slice(url.lastIndexOf('/') + 1),
      format: 'bytes',
      stream,
    });
    const chunks: Uint8Array[] = [];
    let got = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(new Error('the download stalled for 30 s')), 30_000);
      chunks.push(chunk);
      got += chunk.length;
      bar.update(got);
    }
    bar.done();
    if (total && got !== total) throw new Error(`received ${got} of ${total} bytes`);
    return Buffer.concat(chunks);
  } catch (e) {
    const err = e as Error & { cause?: Error };
    throw new Error(err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message);
  } finally {
    clearTimeout(timer);
  }
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** Fetches one file from the first mirror that delivers it with the right md5; the error lists every mirror's failure. */
export async function fetchVerified(
  mirrors: readonly string[],
  r: Remote,
  stream?: ProgressStream,
): Promise<Uint8Array> {
  const errors: string[] = [];
  for (const m of mirrors) {
    const url = m.endsWith('/') ? m + r.file : `${m}/${r.file}`;
    try {
      const bytes = await fetchBytes(url, stream);
      const sum = md5(bytes);
      if (sum !== r.md5) throw new Error(`checksum mismatch (md5 ${sum}, expected ${r.md5})`);
      return bytes;
    } catch (e) {
      errors.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new Error(errors.join('; '));
}

/** Downloads a split's files into `dir` (CIFAR: the archive, of which the six batch files are kept). */
async function download(
  name: DatasetName,
  split: Split,
  dir: string,
  opts: LoadDatasetOptions,
): Promise<void> {
  const src = SOURCES[name];
  const mirrors = opts.mirror ? [opts.mirror] : src.mirrors;
  for (const r of src.remote[split]) {
    const bytes = await fetchVerified(mirrors, r, opts.progress);
    if (name === 'cifar10') {
      const want = new Set([...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES]);
      const members = untar(gunzipSync(bytes), (b) => want.has(b), r.file);
      if (members.size !== want.size) throw new Error(`${r.file} lacks some of ${[...want].join(', ')}`);
      for (const [f, b] of members) writeFileAtomic(join(dir, 'cifar-10-batches-bin', f), b);
    } else writeFileAtomic(join(dir, r.file), bytes);
  }
}

/** The message for "no files here and no download": exactly which files to put where. */
function notFound(name: DatasetName, split: Split, cache: string, why: string): UserError {
  const src = SOURCES[name];
  const files = name === 'cifar10' ? [CIFAR_ARCHIVE] : src.remote[split];
  const where = name === 'cifar10' ? join(cache, 'cifar-10-batches-bin') : cache;
  const help = [
    `put ${name === 'cifar10' ? `${requiredFiles(name, split).join(', ')} (from the archive below)` : 'these files'} in ${where}, or in a folder passed with --data DIR:`,
    ...files.map((r) => `  ${r.file}  from ${src.mirrors[0]}${r.file}  (md5 ${r.md5})`),
    `(see ${src.home})`,
  ];
  if (name === 'fashion-mnist')
    help.push(`on Debian: apt-get install dataset-fashion-mnist (installs to ${DEBIAN_FASHION_DIR})`);
  return new UserError(`cannot find the ${name} ${split} files: ${why}`, help);
}

/** Resolves the files of a split: --data DIR, bundled subset, Debian, cache, download. */
async function resolveFiles(
  name: DatasetName,
  opts: LoadDatasetOptions,
): Promise<{ files: string[]; source: string }> {
  const { split } = opts;
  if (opts.dir !== undefined) {
    const files = locate(name, split, opts.dir);
    if (files) return { files, source: opts.dir };
    throw new UserError(`--data ${opts.dir}: no ${name} ${split} files found`, [
      `expected ${requiredFiles(name, split).join(' and ')}${name === 'cifar10' ? '' : ' (optionally .gz)'} in ${opts.dir} or in one of its sub-folders ${SOURCES[name].subdirs.filter((s) => s).join(', ')}`,
    ]);
  }
  const candidates =
    name === 'fashion-mnist' ? [...(opts.bundled ? [BUNDLED_SUBSET_DIR] : []), DEBIAN_FASHION_DIR] : [];
  for (const dir of candidates) {
    const files = locate(name, split, dir);
    if (files) return { files, source: dir };
  }
  const cache = cacheDirFor(name, opts.cacheDir);
  let files = locate(name, split, cache);
  if (files) return { files, source: cache };
  if (opts.download === false || process.env['VNET_OFFLINE'] === '1')
    throw notFound(name, split, cache, 'downloads are off (offline mode)');
  try {
    await download(name, split, cache, opts);
  } catch (e) {
    throw notFound(name, split, cache, `the download failed (${(e as Error).message})`);
  }
  files = locate(name, split, cache);
  if (!files) throw notFound(name, split, cache, 'the downloaded files are incomplete');
  return { files, source: cache };
}

const fmt = (s: readonly number[]): string => s.join('x');

/** Checks the data set's image shape against the spec's input; returns the internal per-image shape. */
function checkShape(native: readonly number[], expect: readonly number[], file: string): number[] {
  const n = native.reduce((a, b) => a * b, 1);
  if (expect.length === 1 && expect[0] === n) return [n];
  if (expect.length === 3 && expect.every((v, i) => v === native[i]))
    return [native[1]!, native[2]!, native[0]!];
  throw fileError(file, `images are ${fmt(native)} but the spec's input is ${fmt(expect)}`, [
    `the spec's input must be ${fmt(native)} (or ${n} for a flattened input) for this data set`,
  ]);
}

/**
 * Loads one split of a data set (see the file comment for where it looks). Bad files — wrong magic
 * number, truncated data, label count ≠ image count, labels outside 0–9, image shape ≠ the spec's
 * input — are UserErrors naming the file.
 */
export async function loadDataset(name: DatasetName, opts: LoadDatasetOptions): Promise<Dataset> {
  const { files, source } = await resolveFiles(name, opts);
  const limit = opts.limit ?? Infinity;
  if (!(limit > 0)) throw new UserError(`the image limit must be positive, got ${opts.limit}`);
  let bytes: Uint8Array;
  let labels: Uint8Array;
  let native: readonly number[];
  if (name === 'cifar10') {
    const b = readCifarBatches(files, limit);
    bytes = b.images;
    labels = b.labels;
    native = SOURCES.cifar10.native;
  } else {
    const [imgFile, lblFile] = files as [string, string];
    const img = readIdx(imgFile, IDX_IMAGES_MAGIC);
    const lbl = readIdx(lblFile, IDX_LABELS_MAGIC);
    if (img.dims.length !== 3)
      throw fileError(imgFile, `expected 3 dimensions (n, rows, cols), found [${img.dims.join(', ')}]`);
    if (lbl.dims.length !== 1)
      throw fileError(lblFile, `expected 1 dimension (n), found [${lbl.dims.join(', ')}]`);
    if (lbl.dims[0] !== img.dims[0])
      throw fileError(lblFile, `${lbl.dims[0]} labels for ${img.dims[0]} images in ${imgFile}`);
    native = [1, img.dims[1]!, img.dims[2]!];
    const n = Math.min(img.dims[0]!, limit);
    bytes = img.data.subarray(0, n * img.dims[1]! * img.dims[2]!);
    labels = lbl.data.subarray(0, n);
    const bad = labels.findIndex((v) => v > 9);
    if (bad >= 0) throw fileError(lblFile, `label ${labels[bad]} at index ${bad} is outside 0-9`);
  }
  const internalShape = checkShape(native, opts.expectShape, files[0]!);
  const n = labels.length;
  let x: Float32Array = Float32Array.from(bytes, (v) => v / 255);
  if (internalShape.length === 3 && native[0]! > 1) x = chwToHwc(x, native[0]!, native[1]!, native[2]!);
  return {
    name,
    split: opts.split,
    x,
    y: Int32Array.from(labels),
    n,
    shape: [...opts.expectShape],
    internalShape,
    classes: 10,
    source,
  };
}

/** splitmix32: a small, fast, seedable PRNG (uniform in [0, 1)). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of 0..n-1 (Fisher–Yates). Same seed, same order, on every platform. */
export function seededPermutation(n: number, seed: number): Int32Array {
  const rand = prng(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * Holds out round(n · fraction) examples for validation, chosen by a seeded shuffle; both index
 * lists are returned in ascending order. Deterministic for a given (n, fraction, seed).
 */
export function validationSplit(
  n: number,
  fraction: number,
  seed: number,
): { train: Int32Array; val: Int32Array } {
  if (!(fraction >= 0 && fraction < 1))
    throw new UserError(`validation fraction must be in [0, 1), got ${fraction}`);
  const perm = seededPermutation(n, seed);
  const k = Math.round(n * fraction);
  return { val: perm.slice(0, k).sort(), train: perm.slice(k).sort() };
}

/** The examples at `idx` as a new Dataset (e.g. the two halves of a validation split). */
export function subset(ds: Dataset, idx: Int32Array): Dataset {
  const { x, y } = gatherBatch(ds, idx);
  return { ...ds, x, y, n: idx.length };
}

/** The images and labels at `idx`, packed (x: [idx.length, ...internalShape]). */
export function gatherBatch(ds: Dataset, idx: Int32Array): { x: Float32Array; y: Int32Array } {
  const d = ds.internalShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(idx.length * d);
  const y = new Int32Array(idx.length);
  idx.forEach((i, k) => {
    x.set(ds.x.subarray(i * d, (i + 1) * d), k * d);
    y[k] = ds.y[i]!;
  });
  return { x, y };
}

/** Options of `batchOrder`. */
export interface BatchOrderOptions {
  readonly seed: number;
  /** Epoch number: each epoch has its own order, reproducible on resume. */
  readonly epoch: number;
  /** Default true. */
  readonly shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false). */
  readonly dropLast?: boolean;
}

/** The index batches of one epoch: a seeded shuffle of 0..n-1 (per epoch), cut into batches. */
export function batchOrder(n: number, batchSize: number, o: BatchOrderOptions): Int32Array[] {
  if (!(Number.isInteger(batchSize) && batchSize > 0))
    throw new Error(`batchOrder: bad batch size ${batchSize}`);
  const order =
    o.shuffle === false
      ? Int32Array.from({ length: n }, (_, i) => i)
      : seededPermutation(
          n,
          (Math.imul(o.seed >>> 0, 0x9e3779b1) ^ Math.imul(o.epoch + 1, 0x85ebca77)) >>> 0,
        );
  const out: Int32Array[] = [];
  for (let s = 0; s < n; s += batchSize) {
    if (o.dropLast && s + batchSize > n) break;
    out.push(order.subarray(s, Math.min(n, s + batchSize)));
  }
  return out;
}

/** The batches of one epoch, packed (see `batchOrder` for the order). */
export function* batches(
  ds: Dataset,
  batchSize: number,
  o: BatchOrderOptions,
): Generator<{ x: Float32Array; y: Int32Array; idx: Int32Array }> {
  for (const idx of batchOrder(ds.n, batchSize, o)) yield { ...gatherBatch(ds, idx), idx };
}
