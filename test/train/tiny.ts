/**
 * A tiny ParamRamp network compiled by the real code generator (conv 7x7/7 → ParamRamp → dense,
 * 462 parameters, CROWN-IBP with a κ and an η schedule) and a synthetic data set for it, so the
 * trainer's tests run the generated trainer end to end in a few seconds.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpecModule } from '../../src/codegen/load.js';
import type { Dataset } from '../../src/runtime/io/datasets.js';
import type { GeneratedModule } from '../../src/runtime/module.js';

export const TINY_SPEC = `
network tiny_ramp {
  input   = 1x28x28
  domain  = [0, 1]
  classes = 10
  layers {
    conv1 = conv2d(2, kernel: 7, stride: 7, padding: valid)
    paramramp(0.01)
    flatten
    fc1 = dense(10)
  }
}
threat {
  norm      = linf
  train_eps = 0.1
  test_eps  = [0.1]
}
train {
  dataset    = fashion-mnist
  epochs     = 3
  batch_size = 20
  optimizer  = adam(lr: 1e-2, weight_decay: 0)
  lr_milestones = [2]
  lr_factor  = 0.5
  eps_schedule { start = 1  length = 2  shape = linear }
  method     = crown-ibp
  kappa      = 1 -> 0.5
  eta_schedule { from = 0.01  to = 0  start = 1  length = 2  shape = smoothed }
  lines      = adaptive
  seed       = 7
  val_split  = 0.25
}
verify {
  methods = [ibp]
  lines   = tight
  pgd { steps = 2  restarts = 1  step_size = 0.01 }
}
`;

/** Writes `text` as `<name>.vnet` in a fresh temporary folder; returns its path. */
export function writeSpec(text: string, name = 'tiny-ramp'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'vnet-train-')), `${name}.vnet`);
  writeFileSync(path, text);
  return path;
}

/** The generated module of a spec text. */
export async function compileTiny(text = TINY_SPEC, name = 'tiny-ramp'): Promise<GeneratedModule> {
  return loadSpecModule(writeSpec(text, name));
}

/** n synthetic 28x28 images: noise in [0, 0.5) plus a bright 7x7 block chosen by the label. */
export function syntheticData(n: number, seed = 1): Dataset {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const x = new Float32Array(n * 784);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 10;
    y[i] = label;
    const by = Math.floor(label / 4) * 7;
    const bx = (label % 4) * 7;
    for (let p = 0; p < 784; p++) {
      const [r, c] = [Math.floor(p / 28), p % 28];
      const bump = r >= by && r < by + 7 && c >= bx && c < bx + 7 ? 0.5 : 0;
      x[i * 784 + p] = rand() * 0.5 + bump;
    }
  }
  return {
    name: 'fashion-mnist',
    split: 'train',
    x,
    y,
    n,
    shape: [1, 28, 28],
    internalShape: [28, 28, 1],
    classes: 10,
    source: 'synthetic',
  };
}
