/**
 * The WGSL fused kernels (src/runtime/webgpu-kernels.ts) against the plain op path on the webgpu
 * backend, in a child process (fused-webgpu.child.ts): natively on a GPU, else on Dawn's OpenGL
 * ES backend on Mesa; where neither starts, the backend's clear refusal is what is checked.
 */
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { node } from '../child.js';

test('WGSL fused kernels equal the op path on webgpu: formsLower values and gradients, Adam, a CROWN-IBP training bound', async () => {
  const script = resolve(import.meta.dirname, 'fused-webgpu.child.ts');
  const r = await node(['--import', 'tsx', script], {
    cwd: resolve(import.meta.dirname, '../..'),
    timeoutMs: 240_000,
  });
  expect(r.code, r.err).toBe(0);
  const stdout = r.out;
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  if (
    typeof out['error'] === 'string' &&
    /backend 'webgpu' (is not available|could not start)/.test(out['error'])
  ) {
    expect(out['error']).toMatch(/^UserError: /);
    return;
  }
  expect(out['error']).toBeUndefined();
  expect(out['active']).toBe(true);
  const forms = out['forms'] as { values: number; grads: number };
  expect(forms.values).toBeLessThan(1e-5);
  expect(forms.grads).toBeLessThan(1e-5);
  expect(out['adam']).toBeLessThan(1e-6);
  expect(out['adamMoved']).toBeGreaterThan(1e-3); // the update did something
  expect(out['e2e']).toBeLessThan(1e-4);
}, 300_000);
