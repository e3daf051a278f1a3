import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { UserError } from '../../src/base/errors.js';
import { decodeCifarBatch, untar } from '../../src/runtime/io/cifar.js';
import {
  batchOrder,
  batches,
  BUNDLED_SUBSET_DIR,
  DEBIAN_FASHION_DIR,
  fetchVerified,
  loadDataset,
  seededPermutation,
  subset,
  validationSplit,
} from '../../src/runtime/io/datasets.js';
import { decodeIdx, encodeIdx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '../../src/runtime/io/idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnet-data-'));
let dirNo = 0;
const newDir = (sub = ''): string => {
  const d = join(tmp, `d${dirNo++}`, sub);
  mkdirSync(d, { recursive: true });
  return d;
};
const FM = [1, 28, 28];

/** Writes an IDX pair with n images of size h×w (pixel = (i + k) % 256) and labels i % 10. */
function writeIdxPair(
  dir: string,
  prefix: string,
  n: number,
  o: { h?: number; gz?: boolean; labels?: number; dotted?: boolean } = {},
) {
  const h = o.h ?? 28;
  const x = Uint8Array.from({ length: n * h * h }, (_, k) => (Math.floor(k / (h * h)) + k) % 256);
  const y = Uint8Array.from({ length: o.labels ?? n }, (_, i) => i % 10);
  const sep = o.dotted ? '.' : '-';
  const ext = o.gz === false ? '' : '.gz';
  writeFileSync(join(dir, `${prefix}-images${sep}idx3-ubyte${ext}`), encodeIdx([n, h, h], x, o.gz !== false));
  writeFileSync(
    join(dir, `${prefix}-labels${sep}idx1-ubyte${ext}`),
    encodeIdx([y.length], y, o.gz !== false),
  );
  return { x, y };
}

async function userError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return [(e as UserError).message, ...(e as UserError).help].join('\n');
  }
  throw new Error('expected a UserError');
}

describe('the bundled Fashion-MNIST subset', () => {
  test('6,000 train and 1,000 test images, class-balanced, in [0, 1]', async () => {
    const tr = await loadDataset('fashion-mnist', {
      split: 'train',
      expectShape: FM,
      bundled: true,
      download: false,
    });
    expect(tr.source).toBe(BUNDLED_SUBSET_DIR);
    expect(tr.n).toBe(6000);
    expect(tr.x.length).toBe(6000 * 784);
    expect(tr.internalShape).toEqual([28, 28, 1]);
    const counts = new Array(10).fill(0);
    tr.y.forEach((c) => counts[c]++);
    expect(counts).toEqual(new Array(10).fill(600));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of tr.x) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect([lo, hi]).toEqual([0, 1]);
    const te = await loadDataset('fashion-mnist', {
      split: 'test',
      expectShape: [784],
      bundled: true,
      download: false,
    });
    expect([te.n, te.internalShape]).toEqual([1000, [784]]);
  });

  test.skipIf(!existsSync(DEBIAN_FASHION_DIR))(
    'is a subset of the Debian files, in their order',
    async () => {
      const full = await loadDataset('fashion-mnist', {
        split: 'test',
        expectShape: FM,
        limit: 200,
        download: false,
      });
      expect(full.source).toBe(DEBIAN_FASHION_DIR);
      expect(full.n).toBe(200);
      const sub = await loadDataset('fashion-mnist', {
        split: 'test',
        expectShape: FM,
        bundled: true,
        limit: 5,
      });
      // The first 100 of each class are kept in order, so the first test images coincide.
      expect(Array.from(sub.x.subarray(0, 5 * 784))).toEqual(Array.from(full.x.subarray(0, 5 * 784)));
      expect(Array.from(sub.y)).toEqual(Array.from(full.y.subarray(0, 5)));
    },
  );
});

describe('IDX files from --data DIR', () => {
  test('plain, gzipped, Kaggle-style names and torchvision sub-folders; limit', async () => {
    const a = newDir();
    const { x, y } = writeIdxPair(a, 't10k', 12, { gz: false });
    const ds = await loadDataset('mnist', { dir: a, split: 'test', expectShape: FM, limit: 5 });
    expect(ds.n).toBe(5);
    expect(ds.x[784 + 3]).toBeCloseTo(x[784 + 3]! / 255, 7);
    expect(Array.from(ds.y)).toEqual(Array.from(y.subarray(0, 5)));
    const b = newDir('FashionMNIST/raw');
    writeIdxPair(b, 'train', 3, { dotted: true });
    const ds2 = await loadDataset('fashion-mnist', {
      dir: join(b, '../..'),
      split: 'train',
      expectShape: FM,
    });
    expect(ds2.n).toBe(3);
  });

  test('missing files: the message lists what is expected where', async () => {
    const d = newDir();
    const msg = await userError(loadDataset('mnist', { dir: d, split: 'train', expectShape: FM }));
    expect(msg).toContain(`--data ${d}: no mnist train files found`);
    expect(msg).toContain('train-images-idx3-ubyte and train-labels-idx1-ubyte');
  });

  test('wrong magic number (images and labels swapped)', async () => {
    const d = newDir();
    writeIdxPair(d, 'train', 4);
    const img = join(d, 'train-images-idx3-ubyte.gz');
    const lbl = join(d, 'train-labels-idx1-ubyte.gz');
    const a = readFileSync(img);
    writeFileSync(img, readFileSync(lbl));
    writeFileSync(lbl, a);
    const msg = await userError(loadDataset('fashion-mnist', { dir: d, split: 'train', expectShape: FM }));
    expect(msg).toContain(
      `${img}: wrong magic number 0x00000801 (that is a label file): expected 0x00000803`,
    );
  });

  test('truncated image file, corrupt gzip', async () => {
    const d = newDir();
    writeIdxPair(d, 'train', 4, { gz: false });
    const img = join(d, 'train-images-idx3-ubyte');
    writeFileSync(img, readFileSync(img).subarray(0, 1000));
    expect(await userError(loadDataset('mnist', { dir: d, split: 'train', expectShape: FM }))).toContain(
      `${img}: truncated: dimensions [4, 28, 28] need 3136 data bytes, the file has 984`,
    );
    const e = newDir();
    writeIdxPair(e, 'train', 4);
    const gz = join(e, 'train-images-idx3-ubyte.gz');
    writeFileSync(gz, readFileSync(gz).subarray(0, 40));
    expect(await userError(loadDataset('mnist', { dir: e, split: 'train', expectShape: FM }))).toMatch(
      /train-images-idx3-ubyte\.gz: corrupt gzip data/,
    );
  });

  test('label count differs from image count', async () => {
    const d = newDir();
    writeIdxPair(d, 'train', 4, { labels: 3 });
    expect(await userError(loadDataset('mnist', { dir: d, split: 'train', expectShape: FM }))).toContain(
      'train-labels-idx1-ubyte.gz: 3 labels for 4 images',
    );
  });

  test("image shape differs from the spec's input", async () => {
    const d = newDir();
    writeIdxPair(d, 'train', 2, { h: 14 });
    const msg = await userError(loadDataset('mnist', { dir: d, split: 'train', expectShape: FM }));
    expect(msg).toContain("train-images-idx3-ubyte.gz: images are 1x14x14 but the spec's input is 1x28x28");
    const e = newDir();
    writeIdxPair(e, 'train', 2);
    expect(
      await userError(loadDataset('mnist', { dir: e, split: 'train', expectShape: [3, 32, 32] })),
    ).toContain("images are 1x28x28 but the spec's input is 3x32x32");
  });

  test('decodeIdx: extra bytes and a foreign file', () => {
    const ok = encodeIdx([2], new Uint8Array([1, 2]), false);
    expect(decodeIdx(ok, 'f', IDX_LABELS_MAGIC).dims).toEqual([2]);
    expect(() => decodeIdx(Buffer.concat([ok, Buffer.from([0])]), 'f', IDX_LABELS_MAGIC)).toThrow(
      /1 bytes after the data/,
    );
    expect(() => decodeIdx(Buffer.from('%PDF-1.4 ...'), 'doc.pdf', IDX_IMAGES_MAGIC)).toThrow(
      /doc\.pdf: wrong magic number 0x25504446: expected 0x00000803 for an IDX image file/,
    );
  });
});

describe('CIFAR-10 binary batches', () => {
  /** n records; pixel (c, h, w) of image i = (i + 3c + h + w) % 256, label i % 10. */
  function batch(n: number, labelOf = (i: number) => i % 10): Uint8Array {
    const b = new Uint8Array(n * 3073);
    for (let i = 0; i < n; i++) {
      b[i * 3073] = labelOf(i);
      for (let c = 0; c < 3; c++)
        for (let h = 0; h < 32; h++)
          for (let w = 0; w < 32; w++) b[i * 3073 + 1 + c * 1024 + h * 32 + w] = (i + 3 * c + h + w) % 256;
    }
    return b;
  }

  test('C,H,W records become H,W,C images; a vector input keeps C,H,W order', async () => {
    const d = newDir('cifar-10-batches-bin');
    for (let k = 1; k <= 5; k++) writeFileSync(join(d, `data_batch_${k}.bin`), batch(2));
    writeFileSync(join(d, 'test_batch.bin'), batch(3));
    const root = join(d, '..');
    const tr = await loadDataset('cifar10', { dir: root, split: 'train', expectShape: [3, 32, 32] });
    expect([tr.n, tr.internalShape]).toEqual([10, [32, 32, 3]]);
    const at = (i: number, h: number, w: number, c: number) => tr.x[i * 3072 + (h * 32 + w) * 3 + c]!;
    expect(at(1, 5, 7, 2) * 255).toBeCloseTo(1 + 6 + 5 + 7, 4);
    const te = await loadDataset('cifar10', { dir: root, split: 'test', expectShape: [3072], limit: 2 });
    expect(te.n).toBe(2);
    expect(te.x[1024 * 2 + 5 * 32 + 7]! * 255).toBeCloseTo(0 + 6 + 5 + 7, 4);
    expect(Array.from(te.y)).toEqual([0, 1]);
  });

  test('bad record size and bad labels name the file', () => {
    expect(() => decodeCifarBatch(batch(2).subarray(0, 5000), 'b.bin')).toThrow(
      /b\.bin: .*not a multiple of the 3073-byte record/,
    );
    expect(() =>
      decodeCifarBatch(
        batch(2, () => 10),
        'b.bin',
      ),
    ).toThrow(/record 0 has label 10/);
  });

  test('untar picks regular members by base name', () => {
    const d = newDir('cifar-10-batches-bin');
    writeFileSync(join(d, 'test_batch.bin'), batch(1));
    writeFileSync(join(d, 'readme.html'), 'hi');
    const tarPath = join(d, '..', 'a.tar');
    execFileSync('tar', ['-cf', tarPath, '-C', join(d, '..'), 'cifar-10-batches-bin']);
    const m = untar(readFileSync(tarPath), (b) => b.endsWith('.bin'), tarPath);
    expect([...m.keys()]).toEqual(['test_batch.bin']);
    expect(Buffer.from(m.get('test_batch.bin')!).equals(Buffer.from(batch(1)))).toBe(true);
  });
});

describe('cache and download', () => {
  let server: Server;
  let base = '';
  const payload = gzipSync(Buffer.from('hello'));
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/good/f.gz') res.end(payload);
      else if (req.url === '/bad/f.gz') res.end(Buffer.from('tampered'));
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  test('offline: the message says which files to put where', async () => {
    const cache = newDir();
    const msg = await userError(
      loadDataset('mnist', { split: 'test', expectShape: FM, cacheDir: cache, download: false }),
    );
    expect(msg).toContain('cannot find the mnist test files: downloads are off');
    expect(msg).toContain(`put these files in ${join(cache, 'mnist')}`);
    expect(msg).toContain(
      't10k-images-idx3-ubyte.gz  from https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz',
    );
    const cif = await userError(
      loadDataset('cifar10', { split: 'train', expectShape: [3, 32, 32], cacheDir: cache, download: false }),
    );
    expect(cif).toContain(`data_batch_1.bin, data_batch_2.bin`);
    expect(cif).toContain(
      'cifar-10-binary.tar.gz  from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    );
  });

  test('files already in the cache are used', async () => {
    const cache = newDir();
    const d = join(cache, 'mnist');
    mkdirSync(d);
    writeIdxPair(d, 't10k', 7);
    const ds = await loadDataset('mnist', {
      split: 'test',
      expectShape: FM,
      cacheDir: cache,
      download: false,
    });
    expect([ds.n, ds.source]).toEqual([7, d]);
  });

  test('a failed download (HTTP error, checksum mismatch) is a clear error naming each mirror', async () => {
    const cache = newDir();
    const msg = await userError(
      loadDataset('mnist', { split: 'test', expectShape: FM, cacheDir: cache, mirror: `${base}/none/` }),
    );
    expect(msg).toMatch(/the download failed \(.*t10k-images-idx3-ubyte\.gz: HTTP 404/);
    const sink = { write: () => true, isTTY: false };
    const md5 = createHash('md5').update(payload).digest('hex');
    const got = await fetchVerified([`${base}/bad/`, `${base}/good`], { file: 'f.gz', md5 }, sink);
    expect(Buffer.from(got).equals(payload)).toBe(true);
    await expect(fetchVerified([`${base}/bad/`], { file: 'f.gz', md5 }, sink)).rejects.toThrow(
      /checksum mismatch/,
    );
  });
});

describe('deterministic splits and batches', () => {
  test('seeded permutation, validation split', () => {
    expect(Array.from(seededPermutation(10, 7))).toEqual(Array.from(seededPermutation(10, 7)));
    expect(Array.from(seededPermutation(10, 7))).not.toEqual(Array.from(seededPermutation(10, 8)));
    expect([...seededPermutation(100, 1)].sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
    const s = validationSplit(1000, 0.1, 3);
    expect([s.train.length, s.val.length]).toEqual([900, 100]);
    expect(new Set([...s.train, ...s.val]).size).toBe(1000);
    expect(Array.from(validationSplit(1000, 0.1, 3).val)).toEqual(Array.from(s.val));
    expect(Array.from(s.val)).toEqual([...s.val].sort((a, b) => a - b));
    expect(() => validationSplit(10, 1, 0)).toThrow(UserError);
  });

  test('batch order: seeded per epoch, covers every index, dropLast', () => {
    const e0 = batchOrder(10, 4, { seed: 1, epoch: 0 });
    expect(e0.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(e0.flatMap((b) => [...b]).sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(batchOrder(10, 4, { seed: 1, epoch: 0 }).map((b) => [...b])).toEqual(e0.map((b) => [...b]));
    expect(batchOrder(10, 4, { seed: 1, epoch: 1 }).map((b) => [...b])).not.toEqual(e0.map((b) => [...b]));
    expect(batchOrder(10, 4, { seed: 1, epoch: 0, dropLast: true }).length).toBe(2);
    expect([...batchOrder(5, 5, { seed: 1, epoch: 0, shuffle: false })[0]!]).toEqual([0, 1, 2, 3, 4]);
  });

  test('subset and batches gather the right rows', () => {
    const ds = {
      name: 'mnist' as const,
      split: 'train' as const,
      x: Float32Array.from({ length: 12 }, (_, i) => i),
      y: Int32Array.from([0, 1, 2, 3]),
      n: 4,
      shape: [3],
      internalShape: [3],
      classes: 10,
      source: 'mem',
    };
    const s = subset(ds, Int32Array.from([3, 1]));
    expect([Array.from(s.x), Array.from(s.y), s.n]).toEqual([[9, 10, 11, 3, 4, 5], [3, 1], 2]);
    const all = [...batches(ds, 3, { seed: 0, epoch: 2 })];
    expect(all.map((b) => b.y.length)).toEqual([3, 1]);
    for (const b of all) b.idx.forEach((i, k) => expect(b.x[k * 3]).toBe(3 * i));
  });
});
