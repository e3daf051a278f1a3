/** Shape inference and parameter counts of every shipped spec, computed here by hand. */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ModelIR } from '../../src/ir/ir.js';
import { checkFile } from '../../src/semantics/index.js';

function load(name: string): ModelIR {
  const r = checkFile(`specs/${name}.vnet`);
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.model!;
}

const shapes = (m: ModelIR) => Object.fromEntries(m.layers.map((l) => [l.name, l.outShape.join('x')]));
const dense = (i: number, o: number) => i * o + o;
const conv = (cin: number, cout: number, k: number) => cout * cin * k * k + cout;

describe('shipped specs', () => {
  it('every spec in specs/ checks without diagnostics', () => {
    const files = readdirSync('specs').filter((f) => f.endsWith('.vnet'));
    expect(files.length).toBe(14);
    for (const f of files) expect(checkFile(`specs/${f}`).diagnostics, f).toEqual([]);
  });

  it('fmnist-mlp: 784-512-512-10', () => {
    const m = load('fmnist-mlp');
    expect(shapes(m)).toEqual({
      flatten1: '784',
      fc1: '512',
      relu1: '512',
      fc2: '512',
      relu2: '512',
      fc3: '10',
    });
    expect(m.paramCount).toBe(dense(784, 512) + dense(512, 512) + dense(512, 10));
  });

  it('fmnist-cnn-small: padding 1, stride 2 → 16x14x14, 32x7x7, 1568', () => {
    const m = load('fmnist-cnn-small');
    expect(shapes(m)).toMatchObject({
      conv1: '16x14x14',
      conv2: '32x7x7',
      flatten1: '1568',
      fc1: '100',
      fc2: '10',
    });
    expect(m.paramCount).toBe(conv(1, 16, 4) + conv(16, 32, 4) + dense(1568, 100) + dense(100, 10));
  });

  it('mnist-dm-small: VALID → 13, 10; flatten 3200', () => {
    const m = load('mnist-dm-small');
    expect(shapes(m)).toMatchObject({ conv1: '16x13x13', conv2: '32x10x10', flatten1: '3200' });
    expect(m.paramCount).toBe(conv(1, 16, 4) + conv(16, 32, 4) + dense(3200, 100) + dense(100, 10));
    expect(m.layers[0]!.op).toMatchObject({ kernel: [4, 4], stride: [2, 2], padding: [0, 0, 0, 0] });
  });

  it('mnist-dm-medium: VALID → 26, 12, 10, 4; flatten 1024', () => {
    const m = load('mnist-dm-medium');
    expect(shapes(m)).toMatchObject({
      conv1: '32x26x26',
      conv2: '32x12x12',
      conv3: '64x10x10',
      conv4: '64x4x4',
      flatten1: '1024',
    });
    expect(m.paramCount).toBe(
      conv(1, 32, 3) +
        conv(32, 32, 4) +
        conv(32, 64, 3) +
        conv(64, 64, 4) +
        dense(1024, 512) +
        dense(512, 512) +
        dense(512, 10),
    );
  });

  it('mnist-dm-large: padding 1 → 28, 28, 14, 14, 14; flatten 25088', () => {
    const m = load('mnist-dm-large');
    expect(shapes(m)).toMatchObject({
      conv1: '64x28x28',
      conv2: '64x28x28',
      conv3: '128x14x14',
      conv5: '128x14x14',
      flatten1: '25088',
    });
    expect(m.paramCount).toBe(
      conv(1, 64, 3) +
        conv(64, 64, 3) +
        conv(64, 128, 3) +
        2 * conv(128, 128, 3) +
        dense(25088, 512) +
        dense(512, 10),
    );
  });

  it('cifar-dm-large: 3x32x32 → flatten 32768, normalised per channel', () => {
    const m = load('cifar-dm-large');
    expect(shapes(m)).toMatchObject({ conv1: '64x32x32', conv3: '128x16x16', flatten1: '32768' });
    expect(m.paramCount).toBe(
      conv(3, 64, 3) +
        conv(64, 64, 3) +
        conv(64, 128, 3) +
        2 * conv(128, 128, 3) +
        dense(32768, 512) +
        dense(512, 10),
    );
    expect(m.input).toEqual({
      shape: [3, 32, 32],
      domain: [0, 1],
      mean: [0.4914, 0.4822, 0.4465],
      std: [0.2023, 0.1994, 0.201],
    });
    expect(m.threat!.trainEps).toBeCloseTo(8.8 / 255, 12);
    expect(m.train).toMatchObject({
      dataset: 'cifar10',
      batchSize: 1024,
      epochs: 3200,
      lrMilestones: [2600, 3040],
    });
  });

  it('fmnist-dm-small-ramp: per-neuron r for each ParamRamp, and an η schedule', () => {
    const m = load('fmnist-dm-small-ramp');
    const rs = m.params.filter((p) => p.role === 'ramp.r');
    expect(rs.map((p) => [p.name, p.ident, p.torchShape])).toEqual([
      ['paramramp1.r', 'paramramp1_r', [16, 13, 13]],
      ['paramramp2.r', 'paramramp2_r', [32, 10, 10]],
      ['paramramp3.r', 'paramramp3_r', [100]],
    ]);
    expect(m.paramCount).toBe(load('fmnist-dm-small-relu').paramCount + 16 * 13 * 13 + 32 * 10 * 10 + 100);
    expect(m.train!.etaSchedule).toEqual({ from: 0.01, to: 0, start: 20, length: 12, shape: 'smoothed' });
    expect(m.layers.filter((l) => l.op.kind === 'paramramp').map((l) => l.op)).toEqual(
      Array(3).fill({ kind: 'paramramp', eta: 0.01 }),
    );
  });

  it('the ReLU twin has the ramp spec’s architecture and recipe, without the η schedule', () => {
    const ramp = load('fmnist-dm-small-ramp');
    const relu = load('fmnist-dm-small-relu');
    const arch = (m: ModelIR) =>
      m.layers.map((l) => [
        l.op.kind === 'paramramp' ? 'act' : l.op.kind === 'relu' ? 'act' : l.op,
        l.outShape,
      ]);
    expect(arch(relu)).toEqual(arch(ramp));
    const { etaSchedule, ...rest } = ramp.train!;
    expect(etaSchedule).toBeDefined();
    expect(relu.train).toEqual(rest);
    expect(relu.threat).toEqual(ramp.threat);
  });

  it('MNIST specs use the paper recipe (§5)', () => {
    for (const name of ['mnist-dm-small', 'mnist-dm-medium', 'mnist-dm-large']) {
      const m = load(name);
      expect(m.threat).toEqual({ norm: 'linf', trainEps: 0.4, testEps: [0.2, 0.3, 0.4] });
      expect(m.train).toMatchObject({
        dataset: 'mnist',
        epochs: 200,
        batchSize: 256,
        optimizer: { kind: 'adam', lr: 5e-4, weightDecay: 0 },
        lrMilestones: [130, 190],
        lrFactor: 0.1,
        epsSchedule: { start: 10, length: 51, shape: 'linear' },
        kappa: [0, 0],
        seed: 2019,
      });
    }
  });

  it('a dense weight after flatten records the flattened map; other weights do not', () => {
    const m = load('fmnist-cnn-small');
    const flat = m.params.filter((p) => p.flattenedFrom !== undefined);
    expect(flat.map((p) => [p.name, p.flattenedFrom])).toEqual([['fc1.weight', [32, 7, 7]]]);
    expect(m.params.find((p) => p.name === 'fc1.weight')).toMatchObject({
      torchShape: [100, 1568],
      fanIn: 1568,
    });
    expect(m.params.find((p) => p.name === 'conv2.weight')).toMatchObject({
      torchShape: [32, 16, 4, 4],
      fanIn: 256,
    });
  });
});
