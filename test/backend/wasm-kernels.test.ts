import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ensureGradients } from '../../src/runtime/backend.js';
import { installWasmKernels, swapPays } from '../../src/runtime/wasm-kernels.js';

beforeAll(async () => {
  await ensureGradients();
  installWasmKernels();
  await tf.setBackend('wasm');
  await tf.setBackend('cpu');
});

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed * 7919 + 17;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
}

type Shapes = readonly (readonly number[])[];

/** Runs f on both backends with the same inputs; returns [cpu outputs, wasm outputs] as arrays. */
async function onBoth(
  shapes: Shapes,
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<[Float32Array[], Float32Array[]]> {
  const out: Float32Array[][] = [];
  for (const b of ['cpu', 'wasm']) {
    await tf.setBackend(b);
    const before = tf.memory().numTensors;
    const res = tf.tidy(() => {
      const xs = shapes.map((s, i) =>
        tf.tensor(
          values(
            s.reduce((a, c) => a * c, 1),
            i + 1,
          ),
          [...s],
        ),
      );
      const r = f(...xs);
      return Array.isArray(r) ? r : [r];
    });
    out.push(res.map((t) => t.dataSync() as Float32Array));
    tf.dispose(res);
    expect(tf.memory().numTensors).toBe(before); // nothing leaked, intermediates of our kernels included
  }
  return [out[0]!, out[1]!];
}

function expectClose(a: Float32Array[], b: Float32Array[], tol = 1e-4): void {
  expect(b.length).toBe(a.length);
  a.forEach((x, i) => {
    expect(b[i]!.length).toBe(x.length);
    let worst = 0;
    x.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[i]![k]!) / (1 + Math.abs(v)))));
    expect(worst).toBeLessThan(tol);
  });
}

describe('matMul without transpose flags', () => {
  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transposeA=%s transposeB=%s, 2-D and batched', async (ta, tb) => {
    const a2 = ta ? [7, 5] : [5, 7];
    const b2 = tb ? [3, 7] : [7, 3];
    expectClose(...(await onBoth([a2, b2], (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb))));
    const a3 = [4, ...a2];
    const b3 = [4, ...b2];
    expectClose(...(await onBoth([a3, b3], (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb))));
    expectClose(
      ...(await onBoth([a2, b2, [3]], (a, b, bias) =>
        tf.fused.matMul({
          a: a as tf.Tensor2D,
          b: b as tf.Tensor2D,
          transposeA: ta,
          transposeB: tb,
          bias,
          activation: 'relu',
        }),
      )),
    );
  });

  test.each([
    ['equal batches, rank 3', [3, 16, 64], [3, 64, 16], false, false],
    ['equal batches, rank 4, transposed', [2, 2, 64, 16], [2, 2, 16, 64], true, true],
    ['one left matrix for the batch', [1, 16, 64], [4, 64, 16], false, false],
    ['one right matrix for the batch', [4, 16, 64], [1, 16, 64], false, true],
  ] as const)('batched product run as 2-D products: %s', async (_, as, bs, ta, tb) => {
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);
    expectClose(...(await onBoth([as, bs], f)));
    // (tfjs's matMul gradient does not reduce a broadcast batch axis: gradients for equal batches only)
    if (as[0] === bs[0])
      expectClose(
        ...(await onBoth([as, bs], (a, b) =>
          tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(f(x, y))))([a!, b!]),
        )),
      );
  });

  test('a single product that runs swapped (op(B)ᵀ·op(A)ᵀ, transposed back) where that is cheaper', async () => {
    // G·Wᵀ with a small G and a big W (the input gradient of a dense layer): swapped
    expect(swapPays(4, 24, 24, false, true)).toBe(true);
    // plain x·W and the filter gradient xᵀ·G: direct
    expect(swapPays(100, 784, 512, false, false)).toBe(false);
    expect(swapPays(784, 100, 512, true, false)).toBe(false);
    for (const [as, bs, ta, tb] of [
      [[4, 24], [24, 24], false, true],
      [[1, 4, 24], [1, 24, 24], false, true],
      [[24, 4], [24, 24], true, true],
      [[3, 40], [40, 40], false, false],
    ] as const) {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb);
      expectClose(...(await onBoth([as, bs], f)));
      expectClose(
        ...(await onBoth([as, bs], (a, b) =>
          tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(f(x, y))))([a!, b!]),
        )),
      );
    }
  });

  test('clone and same-dtype cast share the buffer; the copy outlives its source', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const x = tf.tensor([1, -2, 3]);
    const c = tf.clone(x);
    const k = tf.cast(x, 'float32');
    const i = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(await c.data())).toEqual([1, -2, 3]);
    expect(Array.from(await k.data())).toEqual([1, -2, 3]);
    expect(i.dtype).toBe('int32');
    expect(Array.from(await i.data())).toEqual([1, -2, 3]);
    tf.dispose([c, k, i]);
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
  });

  test('matMul gradients', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.square(tf.relu(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D))));
    expectClose(
      ...(await onBoth(
        [
          [6, 9],
          [9, 4],
        ],
        (x, w) => tf.grads(f)([x!, w!]),
      )),
    );
  });
});

describe('conv2d filter gradient (Conv2DBackpropFilter)', () => {
  const cases: [string, number[], number[], number, 'same' | 'valid' | number][] = [
    ['3x3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'],
    ['4x4 stride 2 padding 1 (fmnist-cnn-small)', [2, 28, 28, 1], [4, 4, 1, 16], 2, 1],
    ['4x4 stride 2 same, odd size', [3, 9, 9, 5], [4, 4, 5, 2], 2, 'same'],
    ['3x3 stride 2 valid with leftover rows', [1, 8, 8, 2], [3, 3, 2, 3], 2, 'valid'],
    ['1x1', [2, 5, 5, 4], [1, 1, 4, 6], 1, 'valid'],
  ];
  test.each(cases)('%s: dx and dW match cpu', async (_, xs, ws, stride, pad) => {
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad)));
    expectClose(...(await onBoth([xs, ws], (x, w) => tf.grads(f)([x!, w!]))));
  });

  const geometries: [
    string,
    number[],
    number[],
    [number, number],
    tf.backend_util.ExplicitPadding | 'same' | 'valid',
  ][] = [
    ['5x5 stride 3 valid', [2, 11, 10, 3], [5, 5, 3, 4], [3, 3], 'valid'],
    ['2x2 stride 2 (one tap per phase)', [2, 8, 8, 2], [2, 2, 2, 3], [2, 2], 'valid'],
    [
      '3x2 strides [1, 2], asymmetric padding',
      [2, 6, 9, 2],
      [3, 2, 2, 5],
      [1, 2],
      [
        [0, 0],
        [2, 0],
        [0, 1],
        [0, 0],
      ],
    ],
    [
      '4x4 stride 2 padding 3 (taps past the input)',
      [1, 5, 5, 2],
      [4, 4, 2, 2],
      [2, 2],
      [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ],
    ],
  ];
  test.each(geometries)('%s: dx and dW match cpu', async (_, xs, ws, stride, pad) => {
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad)));
    expectClose(...(await onBoth([xs, ws], (x, w) => tf.grads(f)([x!, w!]))));
  });

  test('conv2dTranspose gradients (CROWN backward through a conv layer)', async () => {
    const f = (a: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2dTranspose(a as tf.Tensor4D, w as tf.Tensor4D, [3, 14, 14, 1], 2, 1)));
    expectClose(
      ...(await onBoth(
        [
          [3, 7, 7, 16],
          [4, 4, 1, 16],
        ],
        (a, w) => tf.grads(f)([a!, w!]),
      )),
    );
  });
});

describe('depthwise and gather gradients', () => {
  test.each([
    [1, 'same'],
    [2, 'valid'],
  ] as const)('depthwiseConv2d stride %s %s', async (stride, pad) => {
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad)));
    expectClose(
      ...(await onBoth(
        [
          [2, 8, 8, 3],
          [3, 3, 3, 2],
        ],
        (x, w) => tf.grads(f)([x!, w!]),
      )),
    );
  });

  test('gather: contiguous rows, single elements, batchDims, bad index', async () => {
    const rows = tf.tensor1d([4, 0, 4, 17], 'int32');
    expectClose(...(await onBoth([[18, 20]], (x) => tf.gather(x!, rows))));
    expectClose(...(await onBoth([[3, 18, 2]], (x) => tf.gather(x!, rows, 1))));
    expectClose(
      ...(await onBoth([[2, 5, 3]], (x) =>
        tf.gather(
          x!,
          tf.tensor2d(
            [
              [0, 4],
              [3, 3],
            ],
            [2, 2],
            'int32',
          ),
          1,
          1,
        ),
      )),
    );
    await tf.setBackend('wasm');
    expect(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], 'int32'))).toThrow(/not in \[0, 2\]/);
  });

  test('slice and split read in place: inner, outer, whole and empty parts, gradients', async () => {
    const shape = [3, 4, 5, 6];
    expectClose(
      ...(await onBoth([shape], (x) => [
        tf.slice(x!, [1, 0, 0, 0], [2, 4, 5, 6]),
        tf.slice(x!, [0, 1, 2, 3], [3, 2, 3, 2]),
        tf.slice(x!, [0, 0, 0, 0], shape),
        tf.slice(x!, [2, 3, 4, 5], [1, 1, 1, 1]),
        tf.slice(x!, [0, 1, 0, 0], [-1, 0, -1, -1]),
        tf.slice(tf.reshape(x!, [-1]), [7], [300]),
        ...tf.split(x!, [1, 3, 2], 3),
        ...tf.split(x!, 3, 0),
        ...tf.unstack(x!, 1),
        ...tf.unstack(tf.reshape(x!, [3, -1])),
        tf.grad((y: tf.Tensor) => tf.sum(tf.square(tf.slice(y, [0, 1, 1, 0], [2, 2, 3, 6]))))(x!),
      ])),
    );
  });

  test('gather whose output grows the wasm heap reads its indices correctly', async () => {
    await tf.setBackend('wasm');
    const rows = 16384; // 16384 × 4096 floats = 256 MiB: more than anything allocated before
    const x = tf.tensor2d(values(8 * 4096, 5), [8, 4096]);
    const ids = Int32Array.from({ length: rows }, (_, i) => (i * 5 + 3) % 8);
    const out = tf.gather(x, tf.tensor1d(ids, 'int32'));
    const firsts = tf.slice(out, [0, 0], [rows, 1]).dataSync();
    const xs = x.dataSync();
    ids.forEach((id, i) => expect(firsts[i]).toBe(xs[id * 4096]));
    tf.dispose([x, out]);
    await tf.setBackend('cpu');
  });

  test('gather (UnsortedSegmentSum), axis 0 and 1', async () => {
    const idx = [0, 2, 2, 4];
    const f = (x: tf.Tensor) =>
      tf.add(
        tf.sum(tf.square(tf.gather(x, tf.tensor1d(idx, 'int32')))),
        tf.sum(tf.gather(x, tf.tensor1d([1, 1], 'int32'), 1)),
      );
    expectClose(...(await onBoth([[5, 3]], (x) => tf.grad(f)(x!))));
  });
});

test('oneHot with a float dtype (the wasm kernel alone returns int32 bits)', async () => {
  const ids = [3, 0, 2, 2];
  expectClose(...(await onBoth([], () => tf.oneHot(tf.tensor1d(ids, 'int32'), 4, 1, 0, 'float32'))));
  expectClose(...(await onBoth([], () => tf.oneHot(tf.tensor1d(ids, 'int32'), 4, 0.9, 0.025, 'float32'))));
  const [cpu] = await onBoth([], () => tf.oneHot(tf.tensor1d(ids, 'int32'), 4, 0.9, 0.025, 'float32'));
  expect(cpu[0]![3]).toBeCloseTo(0.9, 6);
  expectClose(...(await onBoth([], () => tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), 4), 'float32'))));
});

test('a small conv net: all parameter gradients agree with cpu', async () => {
  const net = (x: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor) => {
    const h1 = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 1), b1)) as tf.Tensor4D;
    const h2 = tf.leakyRelu(tf.conv2d(h1, w2 as tf.Tensor4D, 2, 1), 0.01);
    const logits = tf.matMul(tf.reshape(h2, [4, -1]), w3 as tf.Tensor2D);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10), logits);
  };
  const shapes = [[4, 12, 12, 1], [4, 4, 1, 8], [8], [4, 4, 8, 16], [3 * 3 * 16, 10]];
  expectClose(
    ...(await onBoth(shapes, (...p) =>
      tf.grads((...q: tf.Tensor[]) => net(p[0]!, ...(q as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])))(
        p.slice(1),
      ),
    )),
  );
});
