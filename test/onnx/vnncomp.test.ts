/**
 * Every vnncomp2021 model (mnistfc, oval21, test) through `vnet import`: the imported network's
 * logits equal onnxruntime-node's on random points of the property's box (max relative difference
 * ≤ 1e-5); its IBP, CROWN-IBP and CROWN bounds over that box contain the logits of sampled points
 * and box corners; `vnet export` of it runs in onnxruntime-node with the same logits; and
 * import → export → import is a fixed point (the .vnet text equal but for the `//` comments that
 * name the source's ONNX nodes, exactly equal from the second round on, and the same weights).
 * The small models are in test/fixtures/onnx; the larger ones are read from ../shared/benchmarks.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BoundMethod } from '../../src/ir/ir.js';
import { initBackend } from '../../src/runtime/backend.js';
import { normalize } from '../../src/runtime/input.js';
import { readSafetensors } from '../../src/runtime/io/safetensors.js';
import { checkOrThrow } from '../../src/codegen/load.js';
import { exportModel, readTorchParams } from '../../src/onnx/export.js';
import { importBytes, importFile } from '../../src/onnx/import.js';
import { evalOptions } from '../../src/verify/model.js';
import {
  benchmarks,
  importNet,
  maxRelDiff,
  ortLogits,
  samples,
  tmpDir,
  vnnlibBox,
  type VnetNet,
} from './helpers.js';

const { present, absent } = benchmarks();
if (absent.length)
  console.warn(`onnx tests: ../shared/benchmarks/vnncomp2021 not found; skipped ${absent.join(', ')}`);

beforeAll(async () => {
  await initBackend('wasm', { threads: 1 });
});

const stripComments = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.replace(/\s*\/\/.*$/, ''))
    .filter((l) => l !== '')
    .join('\n');

const METHODS: readonly BoundMethod[] = ['ibp', 'crown-ibp', 'crown'];

describe.each(present)('$name', (b) => {
  let net: VnetNet;
  let box: { lo: Float64Array; hi: Float64Array };
  let n: number;
  beforeAll(async () => {
    net = await importNet(b.onnx);
    n = net.mod.meta.input.shape.reduce((p, q) => p * q, 1);
    box = vnnlibBox(b.vnnlib, n);
  });

  it('imports, and its logits equal onnxruntime-node on random points of the property box', async () => {
    const x = samples(box.lo, box.hi, 6, 1, 2);
    const ref = await ortLogits(b.onnx, x);
    const got = net.logits(x);
    expect(got[0]!.length).toBe(net.mod.meta.classes);
    expect(maxRelDiff(got, ref)).toBeLessThanOrEqual(1e-5);
  });

  it.each(METHODS)('%s bounds over the box contain the logits of samples and corners', (method) => {
    const lo = net.input(Float32Array.from(box.lo));
    const hi = net.input(Float32Array.from(box.hi));
    const mid = tf.div(tf.add(lo, hi), 2);
    const cfg = net.mod.meta.inputCfg;
    const r = net.mod.bounds(
      net.params,
      { x: normalize(mid, cfg), lo: normalize(lo, cfg), hi: normalize(hi, cfg) },
      method,
      {
        ...evalOptions(net.mod.meta),
      },
    );
    const L = r.lower.dataSync();
    const U = r.upper.dataSync();
    const pts = samples(box.lo, box.hi, 24, 7, 24);
    const ys = net.logits(pts);
    let inside = 0;
    for (const y of ys)
      y.forEach((v, k) => {
        const tol = 1e-5 * (1 + Math.abs(v));
        expect(v).toBeGreaterThanOrEqual(L[k]! - tol);
        expect(v).toBeLessThanOrEqual(U[k]! + tol);
        inside++;
      });
    expect(inside).toBe(48 * net.mod.meta.classes);
    for (let k = 0; k < L.length; k++) expect(L[k]).toBeLessThanOrEqual(U[k]!);
    tf.dispose([lo, hi, mid, r.lower, r.upper, r.logits]);
  });

  it('exports to ONNX with the same logits, and import → export → import is a fixed point', async () => {
    const model = checkOrThrow(net.specPath);
    const bytes = exportModel(model, readTorchParams(net.weightsPath, model));
    const x = samples(box.lo, box.hi, 4, 3, 1);
    expect(maxRelDiff(await ortLogits(bytes, x), net.logits(x))).toBeLessThanOrEqual(1e-5);
    // round 2: the exported model imports to the same network (comments name other ONNX nodes)
    const name = net.mod.meta.name;
    const d2 = tmpDir();
    const file2 = join(d2, `${name}.onnx`);
    const r2 = importBytes(bytes, file2, { name });
    expect(stripComments(r2.specText)).toBe(stripComments(net.specText));
    const w1 = readSafetensors(net.weightsPath).tensors;
    expect(r2.tensors.map((t) => t.name).sort()).toEqual([...w1.keys()].sort());
    for (const t of r2.tensors) {
      expect(t.shape).toEqual(w1.get(t.name)!.shape);
      expect(Buffer.from(t.data.buffer).equals(Buffer.from(w1.get(t.name)!.data.buffer))).toBe(true);
    }
    // round 3: exactly the same text and weights
    mkdirSync(d2, { recursive: true });
    writeFileSync(file2, bytes);
    const i2 = importFile(file2, d2, { name });
    const m2 = checkOrThrow(i2.specPath);
    const bytes3 = exportModel(m2, readTorchParams(i2.weightsPath, m2));
    const r3 = importBytes(bytes3, file2, { name });
    expect(r3.specText).toBe(readFileSync(i2.specPath, 'utf8'));
    expect(r3.tensors).toEqual(r2.tensors);
  });
});
