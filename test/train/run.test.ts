/**
 * The generated trainer end to end on a tiny ParamRamp CROWN-IBP network and synthetic data:
 * resume determinism, the clean phase (r frozen), r's re-initialisation from the mean activation,
 * the run directory's files, and the refusals of `open`.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/base/errors.js';
import { validationSplit, subset } from '../../src/runtime/io/datasets.js';
import { readSafetensors } from '../../src/runtime/io/safetensors.js';
import type { GeneratedModule } from '../../src/runtime/module.js';
import { resetRamp } from '../../src/runtime/train/ramp.js';
import { RunDir, type EpochRecord } from '../../src/runtime/train/rundir.js';
import { TrainSession } from '../../src/runtime/train/run.js';
import type { TrainConstants } from '../../src/runtime/train/types.js';
import { useCpu } from './helpers.js';
import { compileTiny, syntheticData } from './tiny.js';

const quiet = { write: (): boolean => true, isTTY: false };
const data = syntheticData(80);
let mod: GeneratedModule;

beforeAll(async () => {
  await useCpu();
  mod = await compileTiny();
});

const newDir = (): string => mkdtempSync(join(tmpdir(), 'vnet-run-'));

async function trainTo(dir: string, recipe: TrainConstants, resume = false): Promise<TrainSession> {
  const s = TrainSession.open({ module: mod, recipe, data, outDir: dir, resume, stream: quiet });
  await mod.train!(s);
  s.dispose();
  return s;
}

const withoutTime = (ms: readonly EpochRecord[]): Omit<EpochRecord, 'seconds'>[] =>
  ms.map(({ seconds: _s, ...rest }) => rest);

describe('TrainSession with a generated trainer', () => {
  it('resuming after each epoch gives the same parameters, optimizer state and metrics', async () => {
    const recipe = (epochs: number): TrainConstants => ({ ...mod.recipe!, epochs });
    const a = newDir();
    await trainTo(a, recipe(3));
    const b = newDir();
    await trainTo(b, recipe(1));
    // After the clean epoch r is still its initial 1 (frozen, not yet re-initialised).
    const r0 = readSafetensors(join(b, 'state.safetensors')).tensors.get('param/paramramp1_r')!;
    expect(Array.from(r0.data).every((v) => v === 1)).toBe(true);
    await trainTo(b, recipe(2), true);
    await trainTo(b, recipe(3), true);

    const sa = readSafetensors(join(a, 'state.safetensors'));
    const sb = readSafetensors(join(b, 'state.safetensors'));
    expect([...sb.tensors.keys()].sort()).toEqual([...sa.tensors.keys()].sort());
    for (const [name, t] of sa.tensors)
      expect(Array.from(sb.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
    expect(sb.metadata).toEqual(sa.metadata);
    for (const f of ['last.safetensors', 'best.safetensors'])
      expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
    const ma = new RunDir(a).readMetrics();
    expect(withoutTime(new RunDir(b).readMetrics())).toEqual(withoutTime(ma));
    expect(ma.map((m) => m.phase)).toEqual(['clean', 'certified', 'certified']);
    // the ramp (start 1, length 2) runs through epoch 1: ε, κ, β at the end of each epoch
    expect(ma.map((m) => m.eps)).toEqual([0, 0.1, 0.1]);
    expect(ma.map((m) => m.beta)).toEqual([1, 0, 0]);
    expect(ma.map((m) => m.kappa)).toEqual([1, 0.5, 0.5]);
    expect(ma.map((m) => m.eta)).toEqual([0.01, 0.01, 0]);
    expect(ma.map((m) => m.best)).toEqual([false, false, true]); // selection once the ramp has ended
    const sidecar = JSON.parse(readFileSync(join(a, 'best.json'), 'utf8')) as {
      epoch: number;
      sha256: string;
    };
    expect(sidecar.epoch).toBe(3);
    expect(sidecar.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('re-initialises r to the mean LeakyReLU(η) activation over the training split', async () => {
    // lr = 0: the weights stay at their initial values, so r after the first certified epoch is
    // exactly the re-initialised value. Seed 3 gives 25 positive channel means and 7 clamped ones.
    const recipe: TrainConstants = {
      ...mod.recipe!,
      epochs: 2,
      seed: 3,
      optimizer: { ...mod.recipe!.optimizer, lr: 0 },
    };
    const dir = newDir();
    await trainTo(dir, recipe);
    const r = readSafetensors(join(dir, 'state.safetensors')).tensors.get('param/paramramp1_r')!.data;

    const p = mod.initParams(recipe.seed);
    const train = subset(data, validationSplit(data.n, recipe.valSplit, recipe.seed).train);
    const eta = mod.schedule!(1, 0, Math.ceil(train.n / recipe.batchSize), recipe).eta;
    const want = tf.tidy(() => {
      const x = tf.tensor(train.x, [train.n, 28, 28, 1]);
      const act = mod.activations(p, x, { eta, rampAsLeaky: true }).acts['paramramp1']!;
      return tf.maximum(tf.mean(act, 0), 1e-4).dataSync();
    });
    expect(r.length).toBe(32);
    for (let i = 0; i < r.length; i++) expect(r[i]).toBeCloseTo(want[i]!, 5);
    expect(new Set(Array.from(r)).size).toBeGreaterThan(10); // per neuron, not per layer
    const clamped = r.filter((v) => v === Math.fround(1e-4)).length;
    expect(clamped).toBeGreaterThan(0); // negative means are clamped to 1e-4
    expect(clamped).toBeLessThan(16);
    tf.dispose(Object.values(p));
  });

  it('refuses to overwrite a run, and to resume with a different recipe', async () => {
    const dir = newDir();
    await trainTo(dir, { ...mod.recipe!, epochs: 1 });
    const open = (recipe: TrainConstants, o: { resume?: boolean; force?: boolean } = {}): TrainSession =>
      TrainSession.open({ module: mod, recipe, data, outDir: dir, stream: quiet, ...o });
    expect(() => open(mod.recipe!)).toThrow(/already holds a training run \(1 epoch done\)/);
    expect(() => open({ ...mod.recipe!, seed: 8 }, { resume: true })).toThrow(/recipe\.seed was 7, now 8/);
    expect(() => open(mod.recipe!, { resume: true, force: true })).not.toThrow(UserError);
    expect(() =>
      TrainSession.open({
        module: mod,
        recipe: mod.recipe!,
        data,
        outDir: newDir(),
        resume: true,
        stream: quiet,
      }),
    ).toThrow(/holds no run to resume/);
    const fresh = open(mod.recipe!, { force: true });
    expect(fresh.startEpoch).toBe(0);
    expect(new RunDir(dir).readMetrics()).toEqual([]);
    fresh.dispose();
  });
});

describe('resetRamp', () => {
  it('clamps the mean activation at 1e-4', () => {
    const r = tf.variable(tf.ones([3]));
    tf.tidy(() => resetRamp(r, tf.tensor1d([-0.3, 0.5, 0])));
    expect(Array.from(r.dataSync())).toEqual([Math.fround(1e-4), 0.5, Math.fround(1e-4)]);
    expect(() => tf.tidy(() => resetRamp(r, tf.zeros([2])))).toThrow(/does not match/);
    r.dispose();
  });
});
