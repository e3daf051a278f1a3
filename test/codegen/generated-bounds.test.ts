/**
 * End to end through the compiler: spec text → checked IR → generated module (written under
 * .vnet-cache/, imported) → bounds, checked three ways on random nets with ≥ 3 hidden layers,
 * conv layers, normalisation and every activation:
 * 1. agreement with the float64 reference interpreter for every method × lines;
 * 2. soundness: sampled points of the input set (box corners too) stay inside the bounds;
 * 3. Theorem 2 with tight lines, and constant lines = IBP.
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

const RECIPE = (dataset: string, eps: number): string => `
threat { norm = linf  train_eps = ${eps}  test_eps = [${eps}] }
train { dataset = ${dataset}  epochs = 2  batch_size = 8  eps_schedule { start = 0 length = 1 } method = ibp }`;

const SPECS: Record<string, string> = {
  mlp: `network gen_mlp {
  input = 784  domain = [0, 1]  classes = 10
  layers { fc1 = dense(16)  relu  fc2 = dense(12)  leaky_relu(0.05)  fc3 = dense(10)  paramramp(0.02)  out = dense(10) }
}${RECIPE('fashion-mnist', 0.05)}`,
  conv: `network gen_conv {
  input = 1x28x28  domain = [0, 1]  mean = [0.2]  std = [0.3]  classes = 10
  layers {
    c1 = conv2d(4, kernel: 4, stride: 4)  paramramp(0.01)
    c2 = conv2d(6, kernel: 3, stride: 2, padding: same)  relu
    flatten  fc = dense(12)  leaky_relu(0.1)  out = dense(10)
  }
}${RECIPE('fashion-mnist', 0.02)}`,
  rgb: `network gen_rgb {
  input = 3x32x32  domain = [0, 1]  mean = [0.49, 0.48, 0.45]  std = [0.2, 0.2, 0.2]  classes = 10
  layers {
    c1 = conv2d(4, kernel: 4, stride: 4, padding: [1, 0, 1, 0])  relu
    c2 = conv2d(5, kernel: 3, stride: 1, padding: 1)  paramramp(0.0)
    flatten  fc = dense(10)  relu  out = dense(10)
  }
}${RECIPE('cifar10', 2 / 255)}`,
  // graph networks: BatchNorm, residual adds (identity and strided 1x1 shortcut), zero padding,
  // average and global average pooling, every activation; no recipe (bounds only)
  residual: `network gen_residual {
  input = 1x8x8  domain = [0, 1]  mean = [0.2]  std = [0.3]  classes = 10
  layers {
    stem = conv2d(3, kernel: 3, padding: 1)  bn0 = batchnorm  r0 = relu
    c1 = conv2d(3, kernel: 3, padding: 1)  bn1 = batchnorm  r1 = relu
    c2 = conv2d(3, kernel: 3, padding: 1)  bn2 = batchnorm(eps: 0.001)
    sum1 = add(bn2, r0)  r2 = relu
    c3 = conv2d(4, kernel: 3, stride: 2, padding: 1)  r3 = leaky_relu(0.1)
    sc = conv2d(r2, 4, kernel: 1, stride: 2, bias: false)
    sum2 = add(r3, sc)  r4 = paramramp(0.01)
    p = pad([1, 0, 1, 0])  pool = avgpool(2, stride: 1)  gp = global_avgpool
    flatten  out = dense(10)
  }
}
threat { norm = linf  train_eps = 0.03  test_eps = [0.03] }`,
  // the linear graph ops: constants (per channel, per feature, scalar), concat of maps and of
  // vectors, transpose, reshape (map → map, map → vector, vector → map), flatten read by concat,
  // add and batchnorm (gathered into C,H,W order)
  linops: `network gen_linops {
  input = 2x6x6  domain = [0, 1]  classes = 10
  layers {
    n1 = sub([0.4, 0.5])  n2 = div([0.3, -0.2])
    c1 = conv2d(3, kernel: 3, padding: 1)  r1 = relu
    c2 = conv2d(n2, 2, kernel: 3, padding: 1)  r2 = leaky_relu(0.1)
    cat = concat(r1, r2, n2)
    m1 = mul([1.5, -0.5, 2, 1, 0.5, -1, 0.25])  a1 = add(0.1)
    t = transpose([0, 2, 1])  c3 = conv2d(4, kernel: 3, stride: 2)  r3 = relu
    rs = reshape(2x4x2)  c4 = conv2d(3, kernel: [2, 1])  r4 = relu
    f1 = flatten(r4)  rv = reshape(r3, 16)  v = concat(f1, rv)
    bn = batchnorm  r5 = relu  fc1 = dense(12)  r6 = relu
    sv = sub(r6, 0.2)  mv = mul([1, 2, -1, 0.5, 1, 1, -2, 1, 0.3, 1, 1, 4])
    up = reshape(3x2x2)  cu = conv2d(2, kernel: 1)  r7 = relu  f2 = flatten
    fc2 = dense(r6, 8)  s = add(f2, fc2)  r8 = paramramp(0.01)
    out = dense(10)
  }
}
threat { norm = linf  train_eps = 0.05  test_eps = [0.05] }`,
  vector: `network gen_vector {
  input = 20  domain = [0, 1]  classes = 10
  layers {
    fc1 = dense(12)  bn1 = batchnorm  r1 = relu
    fc2 = dense(12)  bn2 = batchnorm(affine: false)  r2 = relu
    s = add(r2, r1)  fc3 = dense(10)  relu
    out = dense(10)
  }
}
threat { norm = linf  train_eps = 0.05  test_eps = [0.05] }`,
};

/** Non-trivial BatchNorm parameters and statistics (γ of both signs, var in [0.3, 2]). */
function randomBn(role: string, n: number, r: () => number): number[] | undefined {
  const draw = (f: () => number): number[] => Array.from({ length: n }, f);
  if (role === 'bn.weight') return draw(() => (r() < 0.2 ? -1 : 1) * (0.5 + r()));
  if (role === 'bn.bias' || role === 'bn.mean') return draw(() => r() - 0.5);
  if (role === 'bn.var') return draw(() => 0.3 + 1.7 * r());
  return undefined;
}

const METHODS: readonly BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];
const LINES: readonly LineStrategy[] = ['tight', 'adaptive', 'constant'];
const B = 3;

interface Case {
  model: ModelIR;
  mod: GeneratedModule;
  p: ParamSet;
  torch: Record<string, Float64Array>;
  xTorch: Float64Array; // raw, C,H,W rows
  x: tf.Tensor; // raw, internal layout
  labels: number[];
  eps: number;
}

/** A seeded uniform stream in [0, 1) (the runtime's own generator). */
const rng = (seed: number): (() => number) => {
  const g = rngFromSeed(seed);
  return () => g.next();
};

const cases: Record<string, Case> = {};

beforeAll(async () => {
  await initBackend('wasm', { threads: 1 });
  const dir = join(VNET_ROOT, '.vnet-cache', 'test-generated');
  mkdirSync(dir, { recursive: true });
  let seed = 1;
  for (const [name, text] of Object.entries(SPECS)) {
    const { model, diagnostics } = checkSource(`${name}.vnet`, text);
    expect(diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, emitModule(model!, { runtimeImport: runtimeImportFrom(dir) }));
    const mod = (await import(pathToFileURL(file).href)) as GeneratedModule;
    const r = rng(seed++);
    const p = mod.initParams(seed);
    for (const spec of mod.meta.params) {
      const bn = randomBn(spec.role, p[spec.ident]!.size, r);
      if (bn) p[spec.ident]!.assign(tf.tensor(bn, p[spec.ident]!.shape));
      // spread r over [0.05, 0.65] so every ParamRamp case occurs
      if (spec.role === 'ramp.r')
        p[spec.ident]!.assign(
          tf.tensor(
            Array.from({ length: p[spec.ident]!.size }, () => 0.05 + 0.6 * r()),
            p[spec.ident]!.shape,
          ),
        );
    }
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

function run(c: Case, method: BoundMethod, lines: LineStrategy) {
  return tf.tidy(() => {
    const box = inputBox(c.x, c.eps, c.mod.meta.inputCfg);
    const res = c.mod.bounds(c.p, box, method, { labels: tf.tensor1d(c.labels, 'int32'), lines });
    return { lower: res.lower.arraySync(), upper: res.upper.arraySync(), logits: res.logits.arraySync() };
  });
}

describe.each(Object.keys(SPECS))('generated module %s', (name) => {
  it('compiles to a module whose forward matches the reference', async () => {
    const c = cases[name]!;
    const ref = refBounds(c.model, c.torch, c.xTorch, B, c.eps, 'ibp', { labels: c.labels });
    const logits = (c.mod.forward(c.p, c.x) as tf.Tensor2D).arraySync();
    for (let b = 0; b < B; b++)
      for (let k = 0; k < 10; k++) expect(logits[b]![k]!).toBeCloseTo(ref.logits[b]![k]!, 4);
  });

  for (const method of METHODS)
    for (const lines of LINES)
      it(`${method} / ${lines}: agrees with the float64 reference and is sound`, async () => {
        const c = cases[name]!;
        // yield between the long synchronous phases so that the worker answers vitest in between
        const tick = (): Promise<void> => new Promise((res) => setTimeout(res, 0));
        const got = run(c, method, lines);
        await tick();
        const ref = refBounds(c.model, c.torch, c.xTorch, B, c.eps, method, { labels: c.labels, lines });
        await tick();
        for (let b = 0; b < B; b++) {
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
        const mean = c.mod.meta.inputCfg.mean;
        const std = c.mod.meta.inputCfg.std;
        const C = mean.length;
        for (let b = 0; b < B; b++)
          for (let s = 0; s < 24; s++) {
            const corner = s % 2 === 0;
            for (let i = 0; i < n; i++) {
              const t = corner ? (r() < 0.5 ? 0 : 1) : r();
              const z = lo[b * n + i]! + t * (hi[b * n + i]! - lo[b * n + i]!); // normalised
              const ch = i % C;
              pts.push(z * std[ch]! + mean[ch]!); // back to raw
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

  it('noLogits skips the clean pass: the same bounds, logits [B, 0]', () => {
    const c = cases[name]!;
    for (const method of METHODS) {
      const [withX, without, shape] = tf.tidy(() => {
        const box = inputBox(c.x, c.eps, c.mod.meta.inputCfg);
        const o = { labels: tf.tensor1d(c.labels, 'int32'), lines: 'adaptive' as const };
        const a = c.mod.bounds(c.p, box, method, o);
        const b = c.mod.bounds(c.p, box, method, { ...o, noLogits: true });
        return [
          [a.lower.arraySync(), a.upper.arraySync()],
          [b.lower.arraySync(), b.upper.arraySync()],
          b.logits.shape,
        ];
      });
      expect(without).toEqual(withX);
      expect(shape).toEqual([B, 0]);
    }
  });

  it('CROWN-IBP / CROWN-LBP carry exactly the IBP / LBP bounds of the same pass (base)', () => {
    const c = cases[name]!;
    for (const [hybrid, baseM] of [
      ['crown-ibp', 'ibp'],
      ['crown-lbp', 'lbp'],
    ] as const)
      for (const lines of ['tight', 'adaptive'] as const) {
        const [got, want] = tf.tidy(() => {
          const box = inputBox(c.x, c.eps, c.mod.meta.inputCfg);
          const o = { labels: tf.tensor1d(c.labels, 'int32'), lines };
          const h = c.mod.bounds(c.p, box, hybrid, o);
          const w = c.mod.bounds(c.p, box, baseM, o);
          expect(h.base).toBeDefined();
          return [
            [h.base!.lower.arraySync(), h.base!.upper.arraySync(), h.logits.arraySync()],
            [w.lower.arraySync(), w.upper.arraySync(), w.logits.arraySync()],
          ];
        });
        // the same ops on the same inputs: equal to the last bit
        expect(got).toEqual(want);
      }
  });

  it('tight lines: IBP ≤ {LBP, CROWN-IBP} ≤ CROWN-LBP ≤ CROWN (Theorem 2); constant lines = IBP', () => {
    const c = cases[name]!;
    const b: Record<string, ReturnType<typeof run>> = {};
    for (const m of METHODS) b[m] = run(c, m, 'tight');
    const tol = 1e-4;
    const le = (a: number[][], z: number[][]) =>
      a.forEach((row, i) =>
        row.forEach((v, j) => expect(v).toBeLessThanOrEqual(z[i]![j]! + tol * (1 + Math.abs(v)))),
      );
    le(b['ibp']!.lower, b['lbp']!.lower);
    le(b['ibp']!.lower, b['crown-ibp']!.lower);
    le(b['lbp']!.lower, b['crown-lbp']!.lower);
    le(b['crown-ibp']!.lower, b['crown-lbp']!.lower);
    le(b['crown-lbp']!.lower, b['crown']!.lower);
    le(b['crown']!.upper, b['crown-lbp']!.upper);
    le(b['crown-lbp']!.upper, b['lbp']!.upper);
    le(b['crown-lbp']!.upper, b['crown-ibp']!.upper);
    le(b['lbp']!.upper, b['ibp']!.upper);
    for (const m of METHODS) {
      const k = run(c, m, 'constant');
      k.lower.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(b['ibp']!.lower[i]![j]!, 4)));
    }
  });
});

describe('BatchNorm training mode (bnTrain)', () => {
  it('evaluation leaves the running statistics alone; training moves them by the momentum rule', () => {
    const c = cases.vector!;
    const ident = (name: string): string => c.mod.meta.params.find((q) => q.name === name)!.ident;
    const mean = c.p[ident('bn1.running_mean')]!;
    const vari = c.p[ident('bn1.running_var')]!;
    const before = [Array.from(mean.dataSync()), Array.from(vari.dataSync())];
    tf.tidy(() => c.mod.forward(c.p, c.x));
    expect([Array.from(mean.dataSync()), Array.from(vari.dataSync())]).toEqual(before);
    // the input of bn1 is fc1's output x·W + b (internal layout: W [in, out])
    const z = tf.tidy(() =>
      tf
        .add(tf.matMul(c.x as tf.Tensor2D, c.p[ident('fc1.weight')]! as tf.Tensor2D), c.p[ident('fc1.bias')]!)
        .arraySync(),
    ) as number[][];
    const logitsTrain = tf.tidy(() =>
      (c.mod.forward(c.p, c.x, { bnTrain: true }) as tf.Tensor2D).arraySync(),
    );
    const after = [Array.from(mean.dataSync()), Array.from(vari.dataSync())];
    for (let j = 0; j < 12; j++) {
      const col = z.map((r) => r[j]!);
      const mu = col.reduce((a, b) => a + b, 0) / B;
      const unbiased = col.reduce((a, b) => a + (b - mu) ** 2, 0) / (B - 1);
      expect(after[0]![j]!).toBeCloseTo(0.9 * before[0]![j]! + 0.1 * mu, 5);
      expect(after[1]![j]!).toBeCloseTo(0.9 * before[1]![j]! + 0.1 * unbiased, 5);
    }
    // batch statistics change the function: the training-mode logits differ from evaluation's
    const logitsEval = tf.tidy(() => (c.mod.forward(c.p, c.x) as tf.Tensor2D).arraySync());
    expect(logitsTrain).not.toEqual(logitsEval);
    mean.assign(tf.tensor(before[0]!));
    vari.assign(tf.tensor(before[1]!));
  });

  it('a bound pass in training mode bounds the training-mode network (batch statistics as constants)', () => {
    const c = cases.vector!;
    const buffers = c.mod.meta.params.filter((q) => q.role === 'bn.mean' || q.role === 'bn.var');
    const saved = buffers.map((q) => c.p[q.ident]!.clone());
    const [lower, upper] = tf.tidy(() => {
      const box = inputBox(c.x, c.eps, c.mod.meta.inputCfg);
      const r = c.mod.bounds(c.p, box, 'crown-ibp', { bnTrain: true });
      return [r.lower.arraySync(), r.upper.arraySync()];
    });
    // the same batch statistics come from the same clean batch: logits of that batch are inside
    const logits = tf.tidy(() => (c.mod.forward(c.p, c.x, { bnTrain: true }) as tf.Tensor2D).arraySync());
    logits.forEach((z, b) =>
      z.forEach((v, k) => {
        expect(v).toBeGreaterThanOrEqual(lower[b]![k]! - 1e-4);
        expect(v).toBeLessThanOrEqual(upper[b]![k]! + 1e-4);
      }),
    );
    buffers.forEach((q, i) => c.p[q.ident]!.assign(saved[i]!));
    tf.dispose(saved);
  });
});
