/**
 * A hand-built ModuleMeta for the I/O tests (what codegen would emit for: conv1 = conv2d(2, 3x3) on
 * a 1x4x4 input, ramp1 = paramramp, flatten, fc1 = dense(3)), so these tests do not need the
 * compiler. Matches the Python-written fixtures in ./fixtures.
 */
import type { ParamSpec } from '../../src/ir/ir.js';
import { internalShape } from '../../src/runtime/layout.js';
import type { ModuleMeta, ParamMeta } from '../../src/runtime/module.js';

const spec = (p: Omit<ParamSpec, 'ident'>): ParamMeta => {
  const full: ParamSpec = { ...p, ident: p.name.replace('.', '_') };
  return { ...full, shape: internalShape(full) };
};

export const tinyParams: readonly ParamMeta[] = [
  spec({ name: 'conv1.weight', role: 'conv.weight', torchShape: [2, 1, 3, 3], fanIn: 9 }),
  spec({ name: 'conv1.bias', role: 'bias', torchShape: [2], fanIn: 9 }),
  spec({ name: 'ramp1.r', role: 'ramp.r', torchShape: [2, 2, 2], fanIn: 1 }),
  spec({ name: 'fc1.weight', role: 'dense.weight', torchShape: [3, 8], flattenedFrom: [2, 2, 2], fanIn: 8 }),
  spec({ name: 'fc1.bias', role: 'bias', torchShape: [3], fanIn: 8 }),
];

export const tinyMeta: ModuleMeta = {
  name: 'tiny',
  moduleName: 'tiny',
  sourcePath: 'specs/tiny.vnet',
  specHash: 'ab'.repeat(32),
  compilerVersion: '0.1.0',
  input: { shape: [1, 4, 4], domain: [0, 1], mean: [0], std: [1] },
  inputCfg: { shape: [4, 4, 1], domain: [0, 1], mean: [0], std: [1] },
  classes: 3,
  layers: [
    {
      name: 'conv1',
      kind: 'conv2d',
      inShape: [1, 4, 4],
      outShape: [2, 2, 2],
      line: 3,
      params: ['conv1.weight', 'conv1.bias'],
    },
    {
      name: 'ramp1',
      kind: 'paramramp',
      inShape: [2, 2, 2],
      outShape: [2, 2, 2],
      line: 4,
      params: ['ramp1.r'],
    },
    { name: 'flatten1', kind: 'flatten', inShape: [2, 2, 2], outShape: [8], line: 5, params: [] },
    { name: 'fc1', kind: 'dense', inShape: [8], outShape: [3], line: 6, params: ['fc1.weight', 'fc1.bias'] },
  ],
  activations: ['ramp1'],
  params: tinyParams,
  paramCount: 18 + 2 + 8 + 24 + 3,
  threat: { norm: 'linf', trainEps: 0.1, testEps: [0.1] },
  train: {
    dataset: 'fashion-mnist',
    epochs: 1,
    batchSize: 8,
    optimizer: { kind: 'adam', lr: 1e-3, weightDecay: 0 },
    lrMilestones: [],
    lrFactor: 0.1,
    epsSchedule: { start: 0, length: 1, shape: 'linear' },
    method: 'ibp',
    kappa: [1, 0.5],
    beta: [1, 0],
    lines: 'adaptive',
    seed: 0,
    valSplit: 0.1,
    rNoise: 0,
  },
  verify: { methods: ['ibp'], lines: 'tight', pgd: { steps: 10, restarts: 1, stepSize: 0.01 } },
  evalEta: undefined,
};

/** The values the fixture script writes: arange(n) * scale + offset, in torch layout. */
export function fixtureValues(name: string): Float32Array {
  const table: Record<string, [number, number, number]> = {
    'conv1.weight': [18, 0.01, -0.05],
    'conv1.bias': [2, 0.5, -0.25],
    'ramp1.r': [8, 0.125, 0.25],
    'fc1.weight': [24, 0.03125, -0.375],
    'fc1.bias': [3, 1, 0],
  };
  const [n, scale, offset] = table[name]!;
  return Float32Array.from({ length: n }, (_, i) => i * scale + offset);
}
