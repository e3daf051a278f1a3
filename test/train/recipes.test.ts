/**
 * The newer certified-training recipes (src/runtime/train/recipes.ts, docs/training.md): Shi et
 * al.'s IBP initialisation and warm-up regularisers against the formulas computed by hand in
 * float64, the training attack and SABR's small box against their geometric contracts, MTL-IBP's
 * loss, gradient clipping, the checker's options, and the generated trainers of every loss end to
 * end on synthetic data (BatchNorm and ParamRamp included).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/semantics/index.js';
import type { GeneratedModule, ModuleMeta } from '../../src/runtime/module.js';
import {
  clipGradients,
  ibpInitPlan,
  mtlIbpLoss,
  sabrBox,
  trainPgd,
  warmupRegularizer,
  warmupWeight,
} from '../../src/runtime/train/recipes.js';
import { naturalCrossEntropy, robustCrossEntropy } from '../../src/runtime/train/loss.js';
import { TrainSession } from '../../src/runtime/train/run.js';
import type { InputCfg } from '../../src/runtime/types.js';
import { useCpu } from './helpers.js';
import { compileTiny, syntheticData } from './tiny.js';

beforeAll(useCpu);

const REGS = { lambda: 0.5, tol: 0.5, tightness: true, relu: true };

/** A spec with BatchNorm (and optionally ParamRamp) and the given extra train-block lines. */
const specWith = (train: string, act = 'relu'): string => `
network tiny_bn {
  input   = 1x28x28
  domain  = [0, 1]
  classes = 10
  layers {
    conv1 = conv2d(3, kernel: 7, stride: 7, padding: valid)
    bn1   = batchnorm
    ${act}
    flatten
    fc1   = dense(12)
    bn2   = batchnorm
    ${act}
    fc2   = dense(10)
  }
}
threat { norm = linf  train_eps = 0.1  test_eps = [0.1] }
train {
  dataset    = fashion-mnist
  epochs     = 3
  batch_size = 20
  optimizer  = adam(lr: 1e-2, weight_decay: 0)
  eps_schedule { start = 1  length = 2  shape = smoothed }
  seed       = 3
  val_split  = 0.25
  ${train}
}
`;

const check = (text: string) => checkSource('recipe.vnet', text);

describe('the train block options', () => {
  it('reads init, regularizers, grad_clip and the losses with the documented defaults', () => {
    const r = check(specWith('init = ibp\n regularizers { }\n grad_clip = 10\n loss = sabr'));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const t = r.model!.train!;
    expect(t.init).toBe('ibp');
    expect(t.regularizers).toEqual(REGS);
    expect(t.gradClip).toBe(10);
    expect(t.loss).toEqual({ kind: 'sabr', lambda: 0.4, steps: 8, step: 0.5 });
    const m = check(specWith('loss = mtl_ibp(alpha: 0.3)')).model!.train!;
    expect(m.loss).toEqual({ kind: 'mtl_ibp', alpha: 0.3, steps: 1, step: 1.25 });
  });

  it('leaves the recipe of a spec without them as it was (no new fields)', () => {
    const t = check(specWith('')).model!.train!;
    for (const k of ['init', 'regularizers', 'gradClip', 'loss']) expect(t).not.toHaveProperty(k);
    expect(check(specWith('loss = robust\n init = pytorch')).model!.train).not.toHaveProperty('loss');
  });

  it('reports bad values with the usual diagnostics', () => {
    const codes = (train: string) =>
      check(specWith(train))
        .diagnostics.filter((d) => d.severity === 'error')
        .map((d) => d.code);
    expect(codes('loss = mtl_ib(alpha: 0.5)')).toEqual([2013]);
    const typo = check(specWith('loss = mtl_ib(alpha: 0.5)')).diagnostics[0]!;
    expect(typo.help.join(' ')).toContain('mtl_ibp');
    expect(codes('loss = mtl_ibp(alpha: 2)')).toEqual([2012]);
    expect(codes('loss = sabr(lambda: 0)')).toEqual([2012]);
    expect(codes('init = xavier')).toEqual([2013]);
    expect(codes('grad_clip = 0')).toEqual([2012]);
    expect(codes('regularizers { tol = 2 }')).toEqual([2012]);
    expect(codes('method = natural\n loss = mtl_ibp')).toEqual([4009]);
    expect(codes('method = natural\n regularizers { }')).toEqual([4009]);
  });
});

/** A ModuleMeta fragment: dense layers d1 → add → d2 → d3 (the last layer keeps its init). */
const metaOf = (): Pick<ModuleMeta, 'params' | 'layers'> => {
  const w = (name: string, fanIn: number, role: 'dense.weight' | 'conv.weight' = 'dense.weight') => ({
    name,
    ident: name.replace('.', '_'),
    role,
    torchShape: [2, fanIn],
    shape: [fanIn, 2],
    fanIn,
  });
  const layer = (name: string, kind: string, params: string[], inputs?: string[]) => ({
    name,
    kind,
    inShape: [4],
    outShape: [2],
    line: 1,
    params,
    ...(inputs ? { inputs } : {}),
  });
  return {
    params: [w('c1.weight', 27, 'conv.weight'), w('d2.weight', 4), w('d3.weight', 2)],
    layers: [
      layer('c1', 'conv2d', ['c1.weight']),
      layer('sum', 'add', [], ['c1', 'c1']),
      layer('d2', 'dense', ['d2.weight']),
      layer('d3', 'dense', ['d3.weight']),
    ],
  } as unknown as Pick<ModuleMeta, 'params' | 'layers'>;
};

describe('Shi et al. IBP initialisation', () => {
  it('draws σ = √(2π)/n_in for every weight but the last, halved after an add', () => {
    const plan = ibpInitPlan(metaOf());
    expect(plan.map((p) => p.name)).toEqual(['c1.weight', 'd2.weight']);
    expect(plan[0]!.std).toBeCloseTo(Math.sqrt(2 * Math.PI) / 27, 12);
    expect(plan[1]!.std).toBeCloseTo(Math.sqrt(2 * Math.PI) / 4 / 2, 12);
  });

  it('a fresh run of an `init = ibp` spec starts from those weights (empirical std), biases untouched', async () => {
    const mod = await compileTiny(specWith('init = ibp'), 'init-ibp');
    const plain = mod.initParams(mod.recipe!.seed);
    const s = TrainSession.open({
      module: mod,
      recipe: { ...mod.recipe!, epochs: 0 },
      data: syntheticData(40),
      outDir: mkdtempSync(join(tmpdir(), 'vnet-init-')),
      stream: { write: () => true, isTTY: false },
    });
    const std = (t: tf.Tensor) => {
      const v = Array.from(t.dataSync());
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    };
    const fc1 = s.params['fc1_weight']!; // fan-in 3·4·4 = 48, 576 values
    expect(std(fc1) / (Math.sqrt(2 * Math.PI) / 48)).toBeGreaterThan(0.85);
    expect(std(fc1) / (Math.sqrt(2 * Math.PI) / 48)).toBeLessThan(1.15);
    // the last layer and every bias keep PyTorch's init
    expect(Array.from(s.params['fc2_weight']!.dataSync())).toEqual(
      Array.from(plain['fc2_weight']!.dataSync()),
    );
    expect(Array.from(s.params['fc1_bias']!.dataSync())).toEqual(Array.from(plain['fc1_bias']!.dataSync()));
    s.dispose();
    tf.dispose(Object.values(plain));
  });
});

/** L_tightness + L_relu of Shi et al. in float64, straight from the formulas. */
function regByHand(boxLo: number[], boxHi: number[], layers: { l: number[]; u: number[] }[], tau: number) {
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const t0 = mean(boxHi.map((h, i) => (h - boxLo[i]!) / 2));
  let tight = 0;
  let relu = 0;
  for (const { l, u } of layers) {
    const c = l.map((x, i) => (x + u[i]!) / 2);
    const d = l.map((x, i) => (u[i]! - x) / 2);
    tight += Math.max(0, tau - t0 / mean(d)) / tau;
    const act = l.map((x) => x > 0);
    const inact = u.map((x) => x < 0);
    const mc = mean(c);
    const mAct = mean(c.map((x, i) => (act[i] ? x : 0)));
    const mInact = -mean(c.map((x, i) => (inact[i] ? x : 0)));
    const vAct = c.reduce((a, x, i) => a + (act[i] ? (x - mc) ** 2 : 0), 0);
    const vInact = c.reduce((a, x, i) => a + (inact[i] ? (x - mc) ** 2 : 0), 0);
    if (mAct > 0 && mInact > 0 && vAct > 0 && vInact > 0) {
      const fold = (r: number) => Math.min(r, 1 / r);
      relu += (Math.max(0, tau - fold(mAct / mInact)) + Math.max(0, tau - fold(vAct / vInact))) / tau;
    }
  }
  return (tight + relu) / layers.length;
}

describe('Shi et al. warm-up regularisers', () => {
  const box = { lo: [0, 0.1, 0.2, 0.3], hi: [0.2, 0.3, 0.4, 0.5] };
  const layers = [
    // grown 10× (tightness penalised), 3 active, 1 inactive, 2 unstable
    { l: [0.5, 1, 2, -3, -1, -0.5], u: [2.5, 3, 4, -1, 1, 1.5] },
    // tight, no inactive neuron: no L_relu from this layer
    { l: [0.01, 0.02, -0.05], u: [0.1, 0.12, 0.05] },
  ];
  const t = (v: number[]) => tf.tensor2d(v, [1, v.length]);

  it('equals the formula computed by hand', () => {
    const b = { x: t(box.lo), lo: t(box.lo), hi: t(box.hi) };
    const got = warmupRegularizer(
      b,
      layers.map((x, i) => ({ layer: `r${i}`, lower: t(x.l), upper: t(x.u) })),
      REGS,
    ).dataSync()[0]!;
    const want = regByHand(box.lo, box.hi, layers, 0.5);
    expect(want).toBeGreaterThan(0.5); // both terms are active in this example
    expect(got).toBeCloseTo(want, 5);
  });

  it('each term can be switched off, and the weight follows λ₀(1 − ε/ε_max) during the ramp only', () => {
    const b = { x: t(box.lo), lo: t(box.lo), hi: t(box.hi) };
    const ls = layers.map((x, i) => ({ layer: `r${i}`, lower: t(x.l), upper: t(x.u) }));
    const both = warmupRegularizer(b, ls, REGS).dataSync()[0]!;
    const tight = warmupRegularizer(b, ls, { ...REGS, relu: false }).dataSync()[0]!;
    const relu = warmupRegularizer(b, ls, { ...REGS, tightness: false }).dataSync()[0]!;
    expect(tight).toBeGreaterThan(0);
    expect(relu).toBeGreaterThan(0);
    expect(tight + relu).toBeCloseTo(both, 6);
    expect(warmupWeight(REGS, 0.025, 0.1)).toBeCloseTo(0.375, 12);
    expect(warmupWeight(REGS, 0.1, 0.1)).toBe(0);
    expect(warmupWeight(REGS, 0, 0)).toBe(0);
  });

  it('has finite gradients even where a layer has no inactive neuron', () => {
    const lower = tf.variable(t(layers[1]!.l));
    const upper = tf.variable(t(layers[1]!.u));
    const b = { x: t(box.lo), lo: t(box.lo), hi: t(box.hi) };
    const { grads } = tf.variableGrads(
      () => warmupRegularizer(b, [{ layer: 'r', lower, upper }], REGS),
      [lower, upper],
    );
    for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
  });
});

describe('the attack inside training and SABR’s small box', () => {
  const cfg: InputCfg = { shape: [4], domain: [0, 1], mean: [0], std: [1] };
  // a linear "network": logits = x·W, with W pushing class 0 down as x grows
  const logitsOf = (x: tf.Tensor): tf.Tensor2D =>
    tf.matMul(x as tf.Tensor2D, tf.tensor2d([-1, 1, -2, 2, -0.5, 0.5, -1, 1], [4, 2]));
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(() => {
    x = tf.tensor2d([0.05, 0.5, 0.97, 0.3, 0.6, 0.2, 0.01, 0.99], [2, 4]);
    y = tf.tensor1d([0, 0], 'int32');
  });

  it('stays in B(x, ε) ∩ domain and raises the loss over the clean point', () => {
    const eps = 0.1;
    const adv = trainPgd(logitsOf, x, y, eps, cfg, { steps: 5, step: 0.5, seed: 1 });
    const a = adv.dataSync();
    const c = x.dataSync();
    for (let i = 0; i < a.length; i++) {
      expect(a[i]!).toBeGreaterThanOrEqual(Math.max(0, c[i]! - eps) - 1e-7);
      expect(a[i]!).toBeLessThanOrEqual(Math.min(1, c[i]! + eps) + 1e-7);
    }
    const clean = naturalCrossEntropy(logitsOf(x) as tf.Tensor2D, y).dataSync()[0]!;
    const attacked = naturalCrossEntropy(logitsOf(adv) as tf.Tensor2D, y).dataSync()[0]!;
    expect(attacked).toBeGreaterThan(clean);
    // the linear objective's maximiser is the ball's corner: 5 half-ε steps reach it
    const corner = Array.from(c).map((v) => Math.min(1, v + eps));
    for (let i = 0; i < a.length; i++) expect(a[i]!).toBeCloseTo(corner[i]!, 5);
    expect(Array.from(trainPgd(logitsOf, x, y, 0, cfg, { steps: 3, step: 1, seed: 1 }).dataSync())).toEqual(
      Array.from(c),
    );
  });

  it('the small box has radius λε, lies inside B(x, ε) ∩ domain, and is centred near the attack', () => {
    const eps = 0.1;
    const adv = tf.tensor2d([0.2, 0.45, 0.9, 0.3, 0.6, 0.25, 0, 1], [2, 4]);
    const b = sabrBox(x, adv, eps, 0.4, cfg);
    const lo = b.lo.dataSync();
    const hi = b.hi.dataSync();
    const c = x.dataSync();
    for (let i = 0; i < lo.length; i++) {
      expect(lo[i]!).toBeGreaterThanOrEqual(Math.max(0, c[i]! - eps) - 1e-7);
      expect(hi[i]!).toBeLessThanOrEqual(Math.min(1, c[i]! + eps) + 1e-7);
      expect(hi[i]! - lo[i]!).toBeLessThanOrEqual(2 * 0.4 * eps + 1e-7);
    }
    // an interior point keeps the full width 2λε: x = 0.5, adv = 0.45 (inside B(x, 0.6ε))
    expect(hi[1]! - lo[1]!).toBeCloseTo(0.08, 6);
    expect((hi[1]! + lo[1]!) / 2).toBeCloseTo(0.45, 6);
  });
});

describe('MTL-IBP loss and gradient clipping', () => {
  it('is (1 − α)·CE(adv) + α·CE(−lb), mixed with the clean CE by κ', () => {
    const z = tf.tensor2d([[2, 0, -1]]);
    const za = tf.tensor2d([[0.5, 0.4, 0.1]]);
    const y = tf.tensor1d([0], 'int32');
    const lb = tf.tensor2d([[0.3, -0.2]]);
    const ce = (l: tf.Tensor2D) => naturalCrossEntropy(l, y).dataSync()[0]!;
    const rob = robustCrossEntropy(lb).dataSync()[0]!;
    const a = 0.3;
    expect(mtlIbpLoss(z, za, y, lb, a, 0).loss.dataSync()[0]!).toBeCloseTo((1 - a) * ce(za) + a * rob, 5);
    const k = 0.25;
    expect(mtlIbpLoss(z, za, y, lb, a, k).loss.dataSync()[0]!).toBeCloseTo(
      k * ce(z) + (1 - k) * ((1 - a) * ce(za) + a * rob),
      5,
    );
  });

  it('scales the gradients to the global norm and leaves small ones alone', () => {
    const g = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }; // global norm 5
    const c = clipGradients(g, 1);
    expect(Array.from(c['a']!.dataSync())[0]).toBeCloseTo(0.6, 5);
    expect(Array.from(c['b']!.dataSync())[1]).toBeCloseTo(0.8, 5);
    const same = clipGradients(g, 10);
    expect(Array.from(same['b']!.dataSync())).toEqual([0, 4]);
  });
});

describe('generated trainers of every recipe, end to end', () => {
  const run = async (mod: GeneratedModule) => {
    const s = TrainSession.open({
      module: mod,
      recipe: mod.recipe!,
      data: syntheticData(60),
      outDir: mkdtempSync(join(tmpdir(), 'vnet-recipe-')),
      stream: { write: () => true, isTTY: false },
    });
    await mod.train!(s);
    const m = s.metrics;
    s.dispose();
    return m;
  };

  for (const [name, train, act] of [
    ['shi', 'init = ibp\n regularizers { }\n grad_clip = 10', 'relu'],
    ['mtl', 'loss = mtl_ibp(alpha: 0.5, steps: 2)', 'relu'],
    ['sabr', 'loss = sabr(lambda: 0.4, steps: 2)\n method = crown-ibp', 'relu'],
    ['ramp', 'init = ibp\n regularizers { }\n loss = mtl_ibp', 'paramramp(0.01)'],
  ] as const)
    it(`${name}: trains three epochs (clean, ramp, full ε) with finite losses and bounds`, async () => {
      const mod = await compileTiny(specWith(train, act), `recipe-${name}`);
      const m = await run(mod);
      expect(m.map((e) => e.phase)).toEqual(['clean', 'certified', 'certified']);
      for (const e of m) expect(Number.isFinite(e.loss)).toBe(true);
      expect(m[2]!.eps).toBeCloseTo(0.1, 12);
      expect(m[2]!.robustLoss).not.toBeNull();
    });

  it('the attack leaves BatchNorm’s running statistics alone (bnFrozen)', async () => {
    const mod = await compileTiny(specWith('loss = mtl_ibp'), 'recipe-frozen');
    const p = mod.initParams(1);
    const x = tf.randomUniform([5, 28, 28, 1]);
    const before = Array.from(p['bn1_running_mean']!.dataSync());
    mod.forward(p, x, { bnTrain: true, bnFrozen: true });
    expect(Array.from(p['bn1_running_mean']!.dataSync())).toEqual(before);
    mod.forward(p, x, { bnTrain: true });
    expect(Array.from(p['bn1_running_mean']!.dataSync())).not.toEqual(before);
  });
});
