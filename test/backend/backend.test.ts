import { describe, expect, test } from 'vitest';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../src/base/errors.js';
import { initBackend } from '../../src/runtime/backend.js';
import { node } from '../child.js';

const installed = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

/** Runs a script in a fresh Node process (plain Node ESM resolution, as the CLI runs) and parses its last line. */
async function child(body: string): Promise<Record<string, unknown>> {
  const backend = resolve(import.meta.dirname, '../../src/runtime/backend.ts');
  const script = `
    const tf = await import('@tensorflow/tfjs-core');
    const { initBackend } = await import(${JSON.stringify(backend)});
    const out = {};
    try { ${body} } catch (e) { out.error = e.name + ': ' + e.message; }
    console.log(JSON.stringify(out));
    process.exit(0);
  `;
  const r = await node(['--import', 'tsx', '--input-type=module', '-e', script], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`child exited with ${r.code}: ${r.err}`);
  return JSON.parse(r.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('initBackend', () => {
  test('cpu and wasm start, with gradients registered', async () => {
    const cpu = await initBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.getGradient('Conv2D')).toBeTruthy();
    const wasm = await initBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.detail).toMatch(/^wasm \((no )?SIMD, \d+ threads?\)$/);
    // The wasm kernels are installed: a conv2d filter gradient runs.
    const g = tf.grad((w: tf.Tensor) =>
      tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')),
    )(tf.ones([3, 3, 1, 1]));
    expect(Array.from(g.dataSync())).toEqual(new Array(9).fill(4));
  });

  test.skipIf(installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu'))(
    'tensorflow, when not installed: a clear error; auto falls back to wasm',
    async () => {
      await expect(initBackend('tensorflow')).rejects.toThrow(UserError);
      await expect(initBackend('tensorflow')).rejects.toThrow(
        /@tensorflow\/tfjs-node-gpu: not installed; @tensorflow\/tfjs-node: not installed/,
      );
      const auto = await initBackend(undefined);
      expect(auto.name).toBe('wasm');
      expect(auto.detail).not.toContain('tensorflow');
      expect(auto.choice).toMatch(/^auto: wasm, since 'tensorflow' is not available/);
    },
  );

  test('unknown names and bad thread counts are user errors', async () => {
    await expect(initBackend('cuda')).rejects.toThrow(/unknown backend 'cuda'/);
    await expect(initBackend('wasm', { threads: 0 })).rejects.toThrow(/--threads must be a positive integer/);
  });

  test('in plain Node (the CLI), gradients register through the resolve hook', async () => {
    const out = await child(`
      out.before = !!tf.getGradient('Sum');
      const info = await initBackend('wasm');
      out.after = !!tf.getGradient('Sum');
      out.grad = Array.from(tf.grad((x) => tf.sum(tf.square(x)))(tf.tensor1d([1, -2])).dataSync());
      out.name = info.name;
    `);
    expect(out).toEqual({ before: false, after: true, grad: [2, -4], name: 'wasm' });
  });

  test('webgpu: runs (natively or on Mesa OpenGL ES) and matches cpu, or fails with a clear reason', async () => {
    const out = await child(`
      const x = () => tf.div(tf.reshape(tf.range(0, 50), [2, 5, 5, 1]), 50);
      const f = (w) => tf.sum(tf.square(tf.relu(tf.conv2d(x(), w, 1, 'same'))));
      const w0 = () => tf.div(tf.sub(tf.reshape(tf.range(0, 18), [3, 3, 1, 2]), 9), 9);
      await initBackend('cpu');
      const ref = Array.from(await tf.grad(f)(w0()).data());
      const info = await initBackend('webgpu');
      const got = Array.from(await tf.grad(f)(w0()).data());
      out.name = info.name;
      out.detail = info.detail;
      out.maxDiff = Math.max(...ref.map((v, i) => Math.abs(v - got[i]) / (1 + Math.abs(v))));
    `);
    if (out['error'] !== undefined) {
      expect(out['error']).toMatch(/^UserError: backend 'webgpu' (is not available|could not start): /);
    } else {
      expect(out['name']).toBe('webgpu');
      expect(out['detail']).toMatch(/^webgpu \(.+, (native|OpenGL ES), via Dawn\)$/);
      expect(out['maxDiff']).toBeLessThan(1e-4);
    }
  });
});
