/**
 * Certified training through sigmoid, tanh and maxpool: the generated trainer of a small spec
 * with all three runs IBP and CROWN-IBP epochs on synthetic data (forward with tfjs ops, bounds
 * with gradients through the relaxations), the parameters move, and the losses are finite.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/io/safetensors.js';
import { RunDir } from '../../src/runtime/train/rundir.js';
import { TrainSession } from '../../src/runtime/train/run.js';
import { useCpu } from './helpers.js';
import { compileTiny, syntheticData } from './tiny.js';

const spec = (method: string): string => `
network tiny_smooth {
  input = 1x28x28  domain = [0, 1]  classes = 10
  layers {
    c1 = conv2d(3, kernel: 4, stride: 2)  tanh  p1 = maxpool(3, stride: 2)
    flatten  fc1 = dense(16)  sigmoid  out = dense(10)
  }
}
threat { norm = linf  train_eps = 0.05  test_eps = [0.05] }
train {
  dataset = fashion-mnist  epochs = 2  batch_size = 20
  optimizer = adam(lr: 1e-2, weight_decay: 0)
  eps_schedule { start = 1  length = 1  shape = linear }
  method = ${method}  seed = 3  val_split = 0.25
}`;

const quiet = { write: (): boolean => true, isTTY: false };
const data = syntheticData(40);

beforeAll(async () => {
  await useCpu();
});

describe.each(['ibp', 'crown-ibp'])('training %s through sigmoid, tanh and maxpool', (method) => {
  it('runs two epochs (ε ramp to train_eps) with finite losses and moves every parameter', async () => {
    const mod = await compileTiny(spec(method), `tiny-smooth-${method}`);
    const dir = mkdtempSync(join(tmpdir(), 'vnet-smooth-'));
    const s = TrainSession.open({
      module: mod,
      recipe: mod.recipe!,
      data,
      outDir: dir,
      resume: false,
      stream: quiet,
    });
    const init = mod.initParams(mod.recipe!.seed); // the trainer's own initial parameters
    const before = Object.fromEntries(
      mod.meta.params.map((p) => [p.name, Array.from(init[p.ident]!.dataSync())]),
    );
    await mod.train!(s);
    s.dispose();
    const m = new RunDir(dir).readMetrics();
    // (no ParamRamp: no clean phase; the last epoch trains at train_eps)
    expect(m.map((r) => r.phase)).toEqual(['certified', 'certified']);
    expect(m[1]!.eps).toBe(0.05);
    for (const r of m) expect(Number.isFinite(r.loss)).toBe(true);
    expect(Number.isFinite(m[1]!.robustLoss!)).toBe(true);
    const last = readSafetensors(join(dir, 'last.safetensors')).tensors;
    for (const p of mod.meta.params) {
      const after = Array.from(last.get(p.name)!.data);
      expect(
        after.some((v, i) => v !== before[p.name]![i]),
        p.name,
      ).toBe(true);
    }
  });
});
