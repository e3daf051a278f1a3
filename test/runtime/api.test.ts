/**
 * The runtime's small contracts: the input set and margin spec, activation resolution (η override,
 * ParamRamp as LeakyReLU, r clamp with a straight-through gradient, r noise), finite gradients of
 * every bound method w.r.t. every parameter (r included), no leaked tensors, and seeded init.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { BoundMethod } from '../../src/ir/ir.js';
import * as rt from '../../src/runtime/index.js';
import { buildNet, randomInputs, runBounds, toInternal, useBackend } from './nets.js';

await useBackend('wasm');

const cfg: rt.InputCfg = { shape: [2, 2, 2], domain: [0, 1], mean: [0.5, 0.25], std: [0.5, 0.25] };

describe('input set and specification', () => {
  it('clamps x ± ε to the domain, then normalises per channel (last axis)', () => {
    tf.tidy(() => {
      const x = tf.tensor4d([0, 0.05, 0.5, 1, 0.3, 0.98, 0.7, 0.02], [1, 2, 2, 2]);
      const box = rt.inputBox(x, 0.1, cfg);
      const lo = [0, 0, 0.4, 0.9, 0.2, 0.88, 0.6, 0];
      const hi = [0.1, 0.15, 0.6, 1, 0.4, 1, 0.8, 0.12];
      const norm = (v: number[]): number[] => v.map((a, i) => (a - cfg.mean[i % 2]!) / cfg.std[i % 2]!);
      Array.from(box.lo.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(norm(lo)[i]!, 6));
      Array.from(box.hi.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(norm(hi)[i]!, 6));
      Array.from(box.x.dataSync()).forEach((v, i) =>
        expect(v).toBeCloseTo(norm(Array.from(x.dataSync()))[i]!, 6),
      );
    });
  });

  it('takes one ε per sample, and rejects a negative ε', () => {
    tf.tidy(() => {
      const x = tf.fill([2, 2, 2, 2], 0.5);
      const box = rt.inputBox(x, tf.tensor1d([0.1, 0.2]), { ...cfg, mean: [0], std: [1] });
      const w = tf.sub(box.hi, box.lo).arraySync() as number[][][][];
      expect(w[0]![0]![0]![0]).toBeCloseTo(0.2, 6);
      expect(w[1]![1]![1]![1]).toBeCloseTo(0.4, 6);
    });
    expect(() => rt.inputBox(tf.zeros([1, 2, 2, 2]), -0.1, cfg)).toThrow(/ε must be a number ≥ 0/);
  });

  it('margin spec rows are e_y − e_j for j ≠ y ascending (host-built on wasm, ops elsewhere)', () => {
    // the op form that backends without synchronous reads (webgpu) use gives the same rows
    const viaOps = tf.tidy(() => {
      const y = tf.tensor1d([0, 2, 1], 'int32');
      const j = tf.range(0, 2, 1, 'int32');
      const skip = tf.cast(tf.greaterEqual(tf.expandDims(j, 0), tf.expandDims(y, 1)), 'int32');
      return tf.sub(tf.expandDims(tf.oneHot(y, 3), 1), tf.oneHot(tf.add(j, skip), 3)).arraySync();
    });
    expect(rt.marginSpec(tf.tensor1d([0, 2, 1], 'int32'), 3).arraySync()).toEqual(viaOps);
    expect(() => rt.marginSpec(tf.tensor1d([3], 'int32'), 3)).toThrow(/label 3/);
    const C = rt.marginSpec(tf.tensor1d([0, 2], 'int32'), 3);
    expect(C.dtype).toBe('float32');
    expect(C.arraySync()).toEqual([
      [
        [1, -1, 0],
        [1, 0, -1],
      ],
      [
        [-1, 0, 1],
        [0, -1, 1],
      ],
    ]);
    C.dispose();
  });
});

describe('activation resolution', () => {
  it('applies the η override, and ParamRamp acts as LeakyReLU(η) in the clean phase', () => {
    expect(rt.leakyRelu(0.1, { eta: 0.02 })).toEqual({ kind: 'leaky_relu', slope: 0.02 });
    const r = tf.ones([3]);
    expect(rt.paramRamp(r, 0.01, { rampAsLeaky: true, eta: 0 })).toEqual({ kind: 'leaky_relu', slope: 0 });
    expect(() => rt.leakyRelu(0.1, { eta: 1.5 })).toThrow(/slope η must be in \[0, 1\]/);
    r.dispose();
  });

  it('clamps r ≥ 1e-4 in the forward pass and lets the gradient through unchanged', () => {
    const r = tf.variable(tf.tensor1d([-1, 0.5, 2]));
    const z = tf.tensor1d([1, 1, 3]);
    const { value, grads } = tf.variableGrads(() => tf.sum(rt.actForward(z, rt.paramRamp(r, 0, {}))), [r]);
    // σ(z) = min(max(z, 0), r): [1e-4, 0.5, 2]; dσ/dr = 1 where z > r (straight through the clamp at −1).
    expect(value.dataSync()[0]).toBeCloseTo(1e-4 + 0.5 + 2, 5);
    expect(Array.from(grads[r.name]!.dataSync())).toEqual([1, 1, 1]);
    tf.dispose([r, z, value, grads[r.name]!]);
  });

  it('adds noise to r when rNoise > 0, with finite gradients', () => {
    const r = tf.variable(tf.fill([1000], 0.5));
    const a = rt.paramRamp(r, 0, { rNoise: 0.1 });
    const rr = Array.from((a as { r: tf.Tensor }).r.dataSync());
    const mean = rr.reduce((s, v) => s + v, 0) / rr.length;
    const sd = Math.sqrt(rr.reduce((s, v) => s + (v - mean) ** 2, 0) / rr.length);
    expect(sd).toBeGreaterThan(0.04);
    expect(sd).toBeLessThan(0.06);
    const { grads } = tf.variableGrads(
      () => tf.sum(rt.actForward(tf.fill([1000], 2), rt.paramRamp(r, 0, { rNoise: 0.1 }))),
      [r],
    );
    expect(Array.from(grads[r.name]!.dataSync()).every((v) => v === 1)).toBe(true);
    tf.dispose([r, (a as { r: tf.Tensor }).r, grads[r.name]!]);
  });

  it('draws the r noise from noiseSeed and the layer salt (a resumed run redraws the same noise)', () => {
    const r = tf.fill([200], 0.5);
    const draw = (seed: number | undefined, salt = 0) =>
      Array.from(
        (
          rt.paramRamp(r, 0, { rNoise: 0.1, ...(seed === undefined ? {} : { noiseSeed: seed }) }, salt) as {
            r: tf.Tensor;
          }
        ).r.dataSync(),
      );
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(draw(7, 1)).not.toEqual(draw(7, 0));
    expect(draw(undefined)).not.toEqual(draw(undefined));
    r.dispose();
  });
});

describe('every bound method', () => {
  const net = buildNet(
    { shape: [1, 5, 5] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      { kind: 'paramramp', eta: 0.01 },
      { kind: 'conv2d', out: 3, k: 3, s: 2, p: 1 },
      { kind: 'leaky_relu', slope: 0.1 },
      { kind: 'flatten' },
      { kind: 'dense', out: 6 },
      { kind: 'paramramp', eta: 0 },
      { kind: 'dense', out: 4 },
    ],
    41,
    { wScale: 1.5 },
  );
  const x = randomInputs(net, 2, 41);
  const METHODS: BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];

  it.each(METHODS)('%s: finite gradients w.r.t. every parameter, r included', (method) => {
    const vars = Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, tf.variable(v)]));
    const vnet = { ...net, params: vars };
    const { value, grads } = tf.variableGrads(() => {
      const box = rt.inputBox(toInternal(net, x, 2), 0.1, net.inputCfg);
      const C = rt.marginSpec(tf.tensor1d([1, 2], 'int32'), 4);
      const r = runBounds(vnet, box, method, { lines: 'adaptive', C, lowerOnly: method !== 'lbp' });
      return tf.sum(r.lower);
    }, Object.values(vars));
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const [name, v] of Object.entries(vars)) {
      const g = grads[v.name]!.dataSync();
      expect(Array.from(g).every(Number.isFinite), name).toBe(true);
      if (name.endsWith('.weight'))
        expect(
          Array.from(g).some((e) => e !== 0),
          name,
        ).toBe(true);
    }
    expect(Array.from(grads[vars['paramramp1.r']!.name]!.dataSync()).some((e) => e !== 0)).toBe(true);
    tf.dispose([value, ...Object.values(grads), ...Object.values(vars)]);
  });

  it.each(METHODS)('%s: leaks no tensor inside tf.tidy', (method) => {
    const run = (): void =>
      tf.tidy(() => {
        const box = rt.inputBox(toInternal(net, x, 2), 0.1, net.inputCfg);
        const r = runBounds(net, box, method, { C: rt.marginSpec(tf.tensor1d([1, 2], 'int32'), 4) });
        r.lower.dataSync();
      });
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('seeded init', () => {
  const meta = (role: rt.ParamMeta['role'], torchShape: number[], fanIn: number): rt.ParamMeta => {
    const p = { name: 'l.w', ident: 'l_w', role, torchShape, fanIn };
    return { ...p, shape: rt.internalShape(p) };
  };

  it('is reproducible per seed and distinct across seeds', () => {
    const a = rt.rngFromSeed(2019);
    const b = rt.rngFromSeed(2019);
    const c = rt.rngFromSeed(2020);
    const sa = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(sa);
    const u = Array.from({ length: 20000 }, () => a.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((s, v) => s + v, 0) / u.length).toBeCloseTo(0.5, 1);
    const n = Array.from({ length: 20000 }, () => a.normal());
    expect(n.reduce((s, v) => s + v * v, 0) / n.length).toBeCloseTo(1, 1);
  });

  it('draws U(±1/√fanIn) in PyTorch order into the internal layout; r = 1', () => {
    const rng = rt.rngFromSeed(7);
    const w = rt.initParam(meta('conv.weight', [4, 3, 2, 2], 12), rng);
    expect(w.shape).toEqual([2, 2, 3, 4]);
    const v = w.dataSync();
    expect(Math.max(...Array.from(v).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(12));
    expect(Math.max(...Array.from(v).map(Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(12));
    const torch = rt.initTorchValues(meta('conv.weight', [4, 3, 2, 2], 12), rt.rngFromSeed(7));
    expect(
      Array.from(rt.internalToTorch(meta('conv.weight', [4, 3, 2, 2], 12), Float32Array.from(v))),
    ).toEqual(Array.from(torch));
    const r = rt.initParam(meta('ramp.r', [3, 2, 2], 1), rng);
    expect(r.shape).toEqual([2, 2, 3]);
    expect(Array.from(r.dataSync()).every((e) => e === 1)).toBe(true);
    const before = tf.memory().numTensors;
    const b = rt.initParam(meta('bias', [4], 12), rng);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([w, r, b]);
  });
});
