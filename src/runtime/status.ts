/**
 * Neuron status for the fast paths of the linear bound passes (LBP, CROWN): after an activation,
 * a dead neuron of sample b (both slopes 0) contributes nothing to b's linear forms, and a stable
 * one (sL = sU) nothing to their radius part. On IBP-trained nets most neurons are dead, so the
 * products that follow a flat activation run per sample on the live columns only (exact: the
 * skipped terms are zero). That takes a synchronous read of the slopes and one small product per
 * sample, which suits the CPU backends (wasm, cpu, tensorflow); elsewhere, or when switched off,
 * the passes use their plain batched tfjs form, which is also the reference the fast paths are
 * tested against.
 */
import * as tf from '@tensorflow/tfjs-core';

const SYNC_BACKENDS = new Set(['wasm', 'cpu', 'tensorflow']);

/**
 * Rows per sample (LBP: input dimensions; CROWN: specification rows) from which per-sample forms
 * pay: below, one batched product beats a loop of small ones.
 */
export const SAMPLE_ROWS_MIN = 32;
let enabled = true;

/** Turns the status-driven fast paths on (default) or off, e.g. to compare both in tests. */
export function setStatusGather(on: boolean): void {
  enabled = on;
}

/** Whether the current backend reads tensors synchronously (wasm, cpu, tensorflow; not webgpu). */
export function syncReads(): boolean {
  return SYNC_BACKENDS.has(tf.getBackend());
}

/** Whether the bound passes gather the live columns of each sample on the current backend. */
export function statusGather(): boolean {
  return enabled && syncReads();
}

/**
 * For each row b of v [B, N]: the indices j with v[b, j] ≠ 0 as an int32 tensor, or null when that
 * is every column (reads v back).
 */
export function nonzeroColumns(v: tf.Tensor): (tf.Tensor1D | null)[] {
  const B = v.shape[0]!;
  const N = v.size / B;
  const d = v.dataSync();
  const out: (tf.Tensor1D | null)[] = [];
  const buf = new Int32Array(N);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let j = 0; j < N; j++) if (d[b * N + j] !== 0) buf[k++] = j;
    out.push(k === N ? null : tf.tensor1d(buf.slice(0, k), 'int32'));
  }
  return out;
}

/**
 * Σⱼ t[:, j] of a matrix [N, n] as [N]: a product with a ones column, several times faster than
 * tf.sum on wasm (the column is packed, t is streamed once).
 */
export function rowSums(t: tf.Tensor2D): tf.Tensor1D {
  const [N, n] = t.shape;
  return tf.reshape(tf.matMul(t, tf.ones([n, 1]) as tf.Tensor2D), [N]) as tf.Tensor1D;
}
