/**
 * A spec network lowered for the complete verifier (src/complete/spec-net.ts) and `vnet bounds
 * --method alpha-crown`: on a small normalised conv net (3x32x32 → conv stride 4 → relu → dense → relu → dense),
 * the float64 logits agree with the generated module's, and α-CROWN's margin bounds are sound on
 * sampled points (box corners too) and not looser than the generated module's CROWN. BatchNorm
 * (2-D after a conv, 1-D after a dense layer, with and without `affine`) is lowered in evaluation
 * mode: with trained-like random running statistics the float64 logits equal the module's.
 */
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureCli } from '../io/cli-capture.js';
import type { BoundsJson } from '../../src/verify/bounds.js';
import { forward } from '../../src/complete/crown.js';
import { specToSeqNet } from '../../src/complete/spec-net.js';
import { checkFile } from '../../src/semantics/index.js';
import { readSafetensors, writeSafetensors } from '../../src/runtime/io/safetensors.js';
import type { VnnlibVerifyJson } from '../../src/verify/vnnlib-verify.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnet-specnet-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SPEC = `network tiny_conv {
  input   = 3x32x32
  domain  = [0, 1]
  mean    = [0.4, 0.5, 0.6]
  std     = [0.2, 0.25, 0.3]
  classes = 10
  layers {
    conv1 = conv2d(4, kernel: 3, stride: 4, padding: 1)
    relu
    flatten
    fc1 = dense(6)
    relu
    fc2 = dense(10)
  }
}
threat {
  norm      = linf
  train_eps = 0.01
  test_eps  = [0.01]
}
train {
  dataset    = cifar10
  epochs     = 1
  batch_size = 8
  optimizer  = adam(lr: 1e-3, weight_decay: 0)
  method     = ibp
  seed       = 1
}
`;

describe('spec networks in the complete verifier', () => {
  const { out, err, cli } = captureCli();
  afterEach(() => vi.restoreAllMocks());
  const spec = join(tmp, 'tiny-conv.vnet');
  const weights = join(tmp, 'tiny-conv.safetensors');
  const input = join(tmp, 'x.json');
  const x = Array.from({ length: 3072 }, (_, i) => ((i * 37) % 101) / 101);

  test('alpha-crown: logits match the generated module; margins sound and not looser than CROWN', async () => {
    writeFileSync(spec, SPEC);
    expect(await cli('init', spec, '--seed', '3', '--out', weights, '--backend', 'cpu'), err.join('\n')).toBe(
      0,
    );
    writeFileSync(input, JSON.stringify({ x: [x], labels: [1] }));
    const base = ['bounds', spec, '--weights', weights, '--input', input, '--backend', 'cpu', '--json'];
    expect(await cli(...base, '--eps', '0.02', '--method', 'crown')).toBe(0);
    const crown = JSON.parse(out.join('')) as BoundsJson;
    expect(await cli(...base, '--eps', '0.02', '--method', 'alpha-crown'), err.join('\n')).toBe(0);
    const alpha = JSON.parse(out.join('')) as BoundsJson;
    expect(alpha.method).toBe('alpha-crown');
    alpha.logits[0]!.forEach((z, k) => expect(z).toBeCloseTo(crown.logits[0]![k]!, 4));
    alpha.lower[0]!.forEach((l, k) => {
      expect(l).toBeGreaterThanOrEqual(crown.lower[0]![k]! - 1e-4);
      expect(l).toBeLessThanOrEqual(alpha.upper[0]![k]!);
    });
    // soundness on sampled points of the ε-ball ∩ [0, 1] (signs: corners)
    const net = specToSeqNet(checkFile(spec).model!, readSafetensors(weights).tensors);
    let seed = 5;
    const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let s = 0; s < 50; s++) {
      const xs = x.map((v) => Math.min(1, Math.max(0, v + 0.02 * (s % 2 ? Math.sign(rnd()) : rnd()))));
      const y = forward(net, xs);
      [0, 2, 3, 4, 5, 6, 7, 8, 9].forEach((j, k) => {
        expect(y[1]! - y[j]!).toBeGreaterThanOrEqual(alpha.lower[0]![k]! - 1e-9);
        expect(y[1]! - y[j]!).toBeLessThanOrEqual(alpha.upper[0]![k]! + 1e-9);
      });
    }
    expect(await cli(...base, '--eps', '0.02', '--method', 'alpha-crown', '--intermediate')).toBe(1);
    expect(err.join('\n')).toContain('--intermediate is not available with alpha-crown');
  }, 120_000);

  test('verify --vnnlib: holds below the α-CROWN margin bound, violated (with a checked counterexample) above the clean one', async () => {
    const base = ['bounds', spec, '--weights', weights, '--input', input, '--backend', 'cpu', '--json'];
    expect(await cli(...base, '--eps', '0.02', '--method', 'alpha-crown')).toBe(0);
    const alpha = JSON.parse(out.join('')) as BoundsJson;
    const lower = alpha.lower[0]![0]!; // Y_1 − Y_0
    const clean = alpha.logits[0]![1]! - alpha.logits[0]![0]!;
    const prop = (t: number): string => {
      const p = join(tmp, `p${t}.vnnlib`);
      writeFileSync(
        p,
        [
          ...x.map((_, i) => `(declare-const X_${i} Real)`),
          ...Array.from({ length: 10 }, (_, k) => `(declare-const Y_${k} Real)`),
          ...x.flatMap((v, i) => [
            `(assert (>= X_${i} ${Math.max(0, v - 0.02)}))`,
            `(assert (<= X_${i} ${Math.min(1, v + 0.02)}))`,
          ]),
          `(assert (<= (- Y_1 Y_0) ${t}))`,
        ].join('\n'),
      );
      return p;
    };
    const run = async (t: number): Promise<VnnlibVerifyJson> => {
      expect(
        await cli('verify', spec, '--weights', weights, '--vnnlib', prop(t), '--timeout', '20', '--json'),
        err.join('\n'),
      ).toBe(0);
      return JSON.parse(out.join('')) as VnnlibVerifyJson;
    };
    expect((await run(lower - 0.1)).result).toBe('holds');
    const v = await run(clean + 0.01);
    expect(v.result).toBe('violated');
    const xs: number[] = [];
    for (const m of v.counterexample!.matchAll(/\(X_(\d+) ([^()\s]+)\)/g)) xs[Number(m[1])] = Number(m[2]);
    const net = specToSeqNet(checkFile(spec).model!, readSafetensors(weights).tensors);
    const y = forward(net, xs);
    expect(y[1]! - y[0]!).toBeLessThanOrEqual(clean + 0.01);
    xs.forEach((xv, i) => expect(Math.abs(xv - x[i]!)).toBeLessThanOrEqual(0.02 + 1e-12));
  }, 120_000);

  test('a LeakyReLU spec is refused with the layer named', async () => {
    const leaky = join(tmp, 'leaky.vnet');
    writeFileSync(leaky, SPEC.replace('    relu\n    flatten', '    leaky_relu(0.1)\n    flatten'));
    const w = join(tmp, 'leaky.safetensors');
    expect(await cli('init', leaky, '--out', w, '--backend', 'cpu'), err.join('\n')).toBe(0);
    expect(() => specToSeqNet(checkFile(leaky).model!, readSafetensors(w).tensors)).toThrow(
      /leaky_relu.*ReLU networks \(dense, conv2d, batchnorm, flatten, relu\) only/,
    );
  }, 60_000);

  test('batchnorm in evaluation mode: logits match the generated module with random running statistics', async () => {
    const bnSpec = join(tmp, 'bn.vnet');
    writeFileSync(
      bnSpec,
      SPEC.replace('    relu\n    flatten', '    bn1 = batchnorm\n    relu\n    flatten').replace(
        '    fc1 = dense(6)\n    relu',
        '    fc1 = dense(6)\n    bn2 = batchnorm(eps: 0.001, affine: false)\n    relu',
      ),
    );
    const w0 = join(tmp, 'bn0.safetensors');
    const w = join(tmp, 'bn.safetensors');
    expect(await cli('init', bnSpec, '--seed', '4', '--out', w0, '--backend', 'cpu'), err.join('\n')).toBe(0);
    // trained-like statistics: means of either sign, variances far from 1, γ of either sign
    let seed = 11;
    const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const file = readSafetensors(w0);
    const tensors = [...file.tensors.values()].map((t) => {
      const f = (v: () => number): Float32Array => Float32Array.from(t.data, v);
      if (t.name.endsWith('running_mean')) return { ...t, data: f(() => 2 * rnd() - 1) };
      if (t.name.endsWith('running_var')) return { ...t, data: f(() => 0.01 + 3 * rnd() ** 2) };
      if (t.name.startsWith('bn') && t.name.endsWith('weight')) return { ...t, data: f(() => 3 * rnd() - 1) };
      if (t.name.startsWith('bn') && t.name.endsWith('bias')) return { ...t, data: f(() => rnd() - 0.5) };
      return t;
    });
    expect(
      tensors
        .filter((t) => t.name.startsWith('bn'))
        .map((t) => t.name)
        .sort(),
    ).toEqual([
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.weight',
      'bn2.running_mean',
      'bn2.running_var',
    ]);
    writeSafetensors(w, tensors);
    const xs = Array.from({ length: 4 }, () => Array.from({ length: 3072 }, rnd));
    const inp = join(tmp, 'bn-x.json');
    writeFileSync(inp, JSON.stringify({ x: xs }));
    expect(
      await cli(
        'bounds',
        bnSpec,
        '--weights',
        w,
        '--input',
        inp,
        '--eps',
        '0',
        '--method',
        'ibp',
        '--backend',
        'cpu',
        '--json',
      ),
      err.join('\n'),
    ).toBe(0);
    const mod = JSON.parse(out.join('')) as BoundsJson;
    const net = specToSeqNet(checkFile(bnSpec).model!, readSafetensors(w).tensors);
    // the statistics matter: the same net with the initial (identity-like) statistics differs
    const net0 = specToSeqNet(checkFile(bnSpec).model!, readSafetensors(w0).tensors);
    let differs = 0;
    xs.forEach((x, n) => {
      const y = forward(net, x);
      const y0 = forward(net0, x);
      y.forEach((z, k) => {
        const ref = mod.logits[n]![k]!;
        expect(Math.abs(z - ref)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref)));
        differs = Math.max(differs, Math.abs(y0[k]! - ref));
      });
    });
    expect(differs).toBeGreaterThan(1e-2);
  }, 60_000);

  test('a graph network is refused with the layer named', async () => {
    const graph = join(tmp, 'graph.vnet');
    writeFileSync(
      graph,
      SPEC.replace(
        '    fc1 = dense(6)\n    relu\n    fc2 = dense(10)',
        '    fc1 = dense(6)\n    r1 = relu\n    fc2 = dense(6)\n    s = add(r1, fc2)\n    fc3 = dense(10)',
      ),
    );
    const w = join(tmp, 'graph.safetensors');
    expect(await cli('init', graph, '--out', w, '--backend', 'cpu'), err.join('\n')).toBe(0);
    expect(() => specToSeqNet(checkFile(graph).model!, readSafetensors(w).tensors)).toThrow(
      /layer 's' reads 'r1', 'fc2'.*chains only/,
    );
  }, 60_000);
});
