/**
 * `sigmoid`, `tanh` and `maxpool` end to end through the compiler (spec → generated module →
 * bounds), on random chains and graphs: every method × line strategy agrees with the float64
 * reference and is sound on sampled points of the input set (box corners too); constant lines
 * equal IBP. The pattern of generated-bounds.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/semantics/index.js';
import { emitModule } from '../../src/codegen/emit-module.js';
import { runtimeImportFrom, VNET_ROOT } from '../../src/codegen/load.js';
import type { GeneratedModule, ParamSet } from '../../src/runtime/module.js';
import { chwToHwc, internalToTorch } from '../../src/runtime/layout.js';
import { inputBox } from '../../src/runtime/input.js';
import { rngFromSeed } from '../../src/runtime/init.js';
import { initBackend } from '../../src/runtime/backend.js';
import { refBounds } from '../../src/reference/index.js';
import type { BoundMethod, LineStrategy, ModelIR } from '../../src/ir/ir.js';

const THREAT = (eps: number): string => `
threat { norm = linf  train_eps = ${eps}  test_eps = [${eps}] }`;

const SPECS: Record<string, string> = {
  // vectors: both S-shaped functions, a ReLU between them
  smooth: `network gen_smooth {
  input = 20  domain = [0, 1]  classes = 10
  layers { fc1 = dense(16)  sigmoid  fc2 = dense(12)  tanh  fc3 = dense(12)  relu  fc4 = dense(10)  tanh  out = dense(10) }
}${THREAT(0.15)}`,
  // maps: non-overlapping and overlapping windows, maxpool right after the input and after an
  // S-shaped activation, a non-square kernel
  pool: `network gen_pool {
  input = 2x9x9  domain = [0, 1]  mean = [0.3, 0.4]  std = [0.5, 0.4]  classes = 10
  layers {
    p0 = maxpool(2, stride: 1)
    c1 = conv2d(4, kernel: 3, padding: 1)  t1 = tanh  p1 = maxpool(2)
    c2 = conv2d(5, kernel: 3, padding: 1)  r2 = relu  p2 = maxpool(3, stride: 1)
    c3 = conv2d(3, kernel: 1)  s3 = sigmoid  p3 = maxpool([1, 2], stride: 1)
    flatten  out = dense(10)
  }
}${THREAT(0.05)}`,
  // a graph: maxpool in a branch of a residual sum, read by two consumers
  graph: `network gen_graph {
  input = 1x8x8  domain = [0, 1]  classes = 10
  layers {
    stem = conv2d(3, kernel: 3, padding: 1)  r0 = relu  p0 = maxpool(2)
    c1 = conv2d(3, kernel: 3, padding: 1)  t1 = tanh
    s = add(t1, p0)  sg = sigmoid
    p1 = maxpool(s, 2, stride: 1)
    c2 = conv2d(sg, 3, kernel: 2)
    m = add(p1, c2)  relu
    flatten  out = dense(10)
  }
}${THREAT(0.05)}`,
};

const METHODS: readonly BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];
const LINES: readonly LineStrategy[] = ['tight', 'adaptive', 'constant'];
const B = 3;

interface Case {
  model: ModelIR;
  mod: GeneratedModule;
  p: ParamSet;
  torch: Record<string, Float64Array>;
  xTorch: Float64Array;
  x: tf.Tensor;
  labels: number[];
  eps: number;
}

const rng = (seed: number): (() => number) => {
  const g = rngFromSeed(seed);
  return () => g.next();
};

const cases: Record<string, Case> = {};

beforeAll(async () => {
  await initBackend('wasm', { threads: 1 });
  const dir = join(VNET_ROOT, '.vnet-cache', 'test-generated-nonlinear');
  mkdirSync(dir, { recursive: true });
  let seed = 11;
  for (const [name, text] of Object.entries(SPECS)) {
    const { model, diagnostics } = checkSource(`${name}.vnet`, text);
    expect(diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, emitModule(model!, { runtimeImport: runtimeImportFrom(dir) }));
    const mod = (await import(pathToFileURL(file).href)) as GeneratedModule;
    const r = rng(seed++);
    const p = mod.initParams(seed);
    // larger weights than PyTorch's init, so the S-shaped activations see every case (convex,
    // concave, crossing with tangents and with chords) and windows are often not dominated
    for (const spec of mod.meta.params) p[spec.ident]!.assign(tf.mul(p[spec.ident]!, 2.5 + r()));
    const torch: Record<string, Float64Array> = {};
    for (const spec of mod.meta.params)
      torch[spec.name] = Float64Array.from(internalToTorch(spec, p[spec.ident]!.dataSync() as Float32Array));
    const [c, h, w] = model!.input.shape.length === 3 ? model!.input.shape : [1, 1, model!.input.shape[0]!];
    const n = c! * h! * w!;
    const xTorch = Float64Array.from({ length: B * n }, () => (r() < 0.3 ? 0 : r()));
    const x = tf.tensor(chwToHwc(Float32Array.from(xTorch), c!, h!, w!), [B, ...mod.meta.inputCfg.shape]);
    cases[name] = {
      model: model!,
      mod,
      p,
      torch,
      xTorch,
      x,
      labels: [3, 7, 0],
      eps: model!.threat!.trainEps,
    };
  }
});

function run(c: Case, method: BoundMethod, lines: LineStrategy, eps = c.eps) {
  return tf.tidy(() => {
    const box = inputBox(c.x, eps, c.mod.meta.inputCfg);
    const res = c.mod.bounds(c.p, box, method, { labels: tf.tensor1d(c.labels, 'int32'), lines });
    return { lower: res.lower.arraySync(), upper: res.upper.arraySync() };
  });
}

describe.each(Object.keys(SPECS))('generated module %s', (name) => {
  it('forward matches the reference', () => {
    const c = cases[name]!;
    const ref = refBounds(c.model, c.torch, c.xTorch, B, c.eps, 'ibp', { labels: c.labels });
    const logits = (c.mod.forward(c.p, c.x) as tf.Tensor2D).arraySync();
    for (let b = 0; b < B; b++)
      for (let k = 0; k < 10; k++) expect(logits[b]![k]!).toBeCloseTo(ref.logits[b]![k]!, 4);
  });

  for (const method of METHODS)
    for (const lines of LINES)
      it(`${method} / ${lines}: agrees with the float64 reference and is sound`, () => {
        const c = cases[name]!;
        const got = run(c, method, lines);
        const ref = refBounds(c.model, c.torch, c.xTorch, B, c.eps, method, { labels: c.labels, lines });
        for (let b = 0; b < B; b++)
          for (let j = 0; j < 9; j++) {
            const [gl, gu, rl, ru] = [
              got.lower[b]![j]!,
              got.upper[b]![j]!,
              ref.lower[b]![j]!,
              ref.upper[b]![j]!,
            ];
            const tol = 2e-4 * (1 + Math.abs(rl) + Math.abs(ru));
            expect(Math.abs(gl - rl)).toBeLessThanOrEqual(tol);
            expect(Math.abs(gu - ru)).toBeLessThanOrEqual(tol);
            expect(gl).toBeLessThanOrEqual(gu + tol);
          }
        // soundness: random points and random corners of the box
        const r = rng(99);
        const [lo, hi] = tf.tidy(() => {
          const box = inputBox(c.x, c.eps, c.mod.meta.inputCfg);
          return [box.lo.dataSync().slice(), box.hi.dataSync().slice()];
        });
        const n = lo.length / B;
        const pts: number[] = [];
        const owner: number[] = [];
        const { mean, std } = c.mod.meta.inputCfg;
        const C = mean.length;
        for (let b = 0; b < B; b++)
          for (let s = 0; s < 32; s++) {
            const corner = s % 2 === 0;
            for (let i = 0; i < n; i++) {
              const t = corner ? (r() < 0.5 ? 0 : 1) : r();
              const z = lo[b * n + i]! + t * (hi[b * n + i]! - lo[b * n + i]!);
              const ch = i % C;
              pts.push(z * std[ch]! + mean[ch]!);
            }
            owner.push(b);
          }
        const logits = tf.tidy(() =>
          c.mod.forward(c.p, tf.tensor(pts, [owner.length, ...c.mod.meta.inputCfg.shape])).arraySync(),
        );
        logits.forEach((z, s) => {
          const b = owner[s]!;
          const y = c.labels[b]!;
          let j = 0;
          for (let k = 0; k < 10; k++) {
            if (k === y) continue;
            const margin = z[y]! - z[k]!;
            const tol = 1e-4 * (1 + Math.abs(margin));
            expect(margin).toBeGreaterThanOrEqual(got.lower[b]![j]! - tol);
            expect(margin).toBeLessThanOrEqual(got.upper[b]![j]! + tol);
            j++;
          }
        });
      });

  it('constant lines give IBP for every method; at a small ε CROWN is tighter than IBP', () => {
    const c = cases[name]!;
    const ibp = run(c, 'ibp', 'tight');
    for (const m of METHODS) {
      const k = run(c, m, 'constant');
      k.lower.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(ibp.lower[i]![j]!, 4)));
    }
    // Not a theorem for these relaxations (on wide intervals the S-shaped lines concretize below
    // [f(l), f(u)], which IBP uses exactly), but on small boxes the lines are nearly exact and
    // full CROWN must beat IBP on every margin (a relaxation degenerated to constants would not).
    const small = c.eps / 20;
    const [ci, cc] = [run(c, 'ibp', 'tight', small), run(c, 'crown', 'tight', small)];
    cc.lower.forEach((row, i) => row.forEach((v, j) => expect(v).toBeGreaterThan(ci.lower[i]![j]!)));
  });
});
