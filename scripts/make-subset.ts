/**
 * Makes the bundled Fashion-MNIST subset `data/fashion-mnist-subset/` from the full data set:
 * the first 600 images of each class of the training set and the first 100 of each class of the
 * test set, kept in their original order, written as gzipped IDX (deterministic: same input files,
 * same bytes). Run: `npx tsx scripts/make-subset.ts [SRC_DIR] [OUT_DIR]` (defaults: Debian's
 * /usr/share/datasets/fashion-mnist and data/fashion-mnist-subset).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../src/runtime/io/atomic.js';
import { encodeIdx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, readIdx } from '../src/runtime/io/idx.js';
import { DEBIAN_FASHION_DIR } from '../src/runtime/io/datasets.js';

/** Per split: (file prefix, images per class). */
const PLAN = [
  ['train', 600],
  ['t10k', 100],
] as const;

/** Indices (ascending) of the first `perClass` examples of every class 0-9. */
export function balancedIndices(labels: Uint8Array, perClass: number): number[] {
  const count = new Array<number>(10).fill(0);
  const out: number[] = [];
  labels.forEach((c, i) => {
    if (count[c]! < perClass) {
      count[c]!++;
      out.push(i);
    }
  });
  if (count.some((c) => c < perClass)) throw new Error(`not enough examples per class: ${count.join(', ')}`);
  return out;
}

function main(src: string, out: string): void {
  for (const [prefix, perClass] of PLAN) {
    const img = readIdx(join(src, `${prefix}-images-idx3-ubyte.gz`), IDX_IMAGES_MAGIC);
    const lbl = readIdx(join(src, `${prefix}-labels-idx1-ubyte.gz`), IDX_LABELS_MAGIC);
    const idx = balancedIndices(lbl.data, perClass);
    const d = img.dims[1]! * img.dims[2]!;
    const x = new Uint8Array(idx.length * d);
    const y = new Uint8Array(idx.length);
    idx.forEach((i, k) => {
      x.set(img.data.subarray(i * d, (i + 1) * d), k * d);
      y[k] = lbl.data[i]!;
    });
    writeFileAtomic(
      join(out, `${prefix}-images-idx3-ubyte.gz`),
      encodeIdx([idx.length, img.dims[1]!, img.dims[2]!], x, true),
    );
    writeFileAtomic(join(out, `${prefix}-labels-idx1-ubyte.gz`), encodeIdx([idx.length], y, true));
    console.log(`${prefix}: ${idx.length} images (${perClass} per class) -> ${out}`);
  }
}

const [src = DEBIAN_FASHION_DIR, out = 'data/fashion-mnist-subset'] = process.argv.slice(2);
main(src, out);
