import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from './src/runtime/backend.ts';
function time(label: string, f: () => tf.Tensor, reps = 10) {
  for (let i = 0; i < 2; i++) tf.tidy(() => f().dataSync());
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) tf.tidy(() => f().dataSync());
  console.log(label.padEnd(58), ((performance.now() - t0) / reps).toFixed(1), 'ms');
}
const bpf = (x: tf.Tensor, dy: tf.Tensor, filterShape: number[]) => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 2, pad: 1, dataFormat: 'NHWC', filterShape } as never) as tf.Tensor;
for (const b of ['wasm', 'cpu']) {
  await initBackend(b);
  const x1 = tf.randomNormal([100, 28, 28, 1]) as tf.Tensor4D, dy1 = tf.randomNormal([100, 14, 14, 16]) as tf.Tensor4D;
  const x2 = tf.randomNormal([100, 14, 14, 16]) as tf.Tensor4D, dy2 = tf.randomNormal([100, 7, 7, 32]) as tf.Tensor4D;
  time(`${b}: Conv2DBackpropFilter 1x28x28 -> 16, 4x4/2, B=100`, () => bpf(x1, dy1, [4, 4, 1, 16]));
  time(`${b}: Conv2DBackpropFilter 16x14x14 -> 32, 4x4/2, B=100`, () => bpf(x2, dy2, [4, 4, 16, 32]));
  time(`${b}: conv2d forward 16x14x14 -> 32, 4x4/2, B=100`, () => tf.conv2d(x2, tf.randomNormal([4, 4, 16, 32]) as tf.Tensor4D, 2, 1));
}
