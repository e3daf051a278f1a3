/**
 * ONNX export and import of `sigmoid`, `tanh` and `maxpool`: a spec with all three exports to a
 * model whose onnxruntime-node logits equal the float64 reference's, and the model imports back
 * to the same layers and weights (MaxPool without padding, dilation or ceil_mode).
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/semantics/index.js';
import { exportModel, type TorchParams } from '../../src/onnx/export.js';
import { importBytes } from '../../src/onnx/import.js';
import { refForward } from '../../src/reference/index.js';
import type { ModelIR } from '../../src/ir/ir.js';
import { maxRelDiff, ortLogits, rng, samples } from './helpers.js';

const SPEC = `network nl {
  input = 1x12x12  domain = [0, 1]  classes = 10
  layers {
    c1 = conv2d(3, kernel: 3)  t1 = tanh  p1 = maxpool(2)
    c2 = conv2d(4, kernel: 2)  r2 = relu  p2 = maxpool(3, stride: 1)
    flatten  fc = dense(8)  s = sigmoid  out = dense(10)
  }
}`;

function check(text: string): ModelIR {
  const { model, diagnostics } = checkSource('nl.vnet', text);
  expect(diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return model!;
}

const reference = (m: ModelIR, p: TorchParams, x: Float32Array, B: number): Float32Array[] =>
  refForward(
    m,
    Object.fromEntries([...p].map(([k, t]) => [k, Float64Array.from(t.data)])),
    Float64Array.from(x),
    B,
  ).map((r) => Float32Array.from(r));

describe('ONNX Sigmoid, Tanh, MaxPool', () => {
  const model = check(SPEC);
  const r = rng(4);
  const params: TorchParams = new Map(
    model.params.map((p) => [
      p.name,
      {
        shape: p.torchShape,
        data: Float32Array.from({ length: p.torchShape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 1.5),
      },
    ]),
  );
  const n = 144;
  const x = samples(new Float64Array(n), new Float64Array(n).fill(1), 4, 2, 2);

  it('exports: onnxruntime-node gives the float64 reference logits', async () => {
    const bytes = exportModel(model, params);
    expect(maxRelDiff(await ortLogits(bytes, x), reference(model, params, x, 6))).toBeLessThanOrEqual(1e-5);
  });

  it('imports the exported model back to the same layers and weights', async () => {
    const bytes = exportModel(model, params);
    const imp = importBytes(bytes, 'nl.onnx', { name: 'nl', domain: [0, 1] });
    const text = imp.specText;
    for (const s of ['maxpool(2)', 'maxpool(3, stride: 1)', 'sigmoid', 'tanh']) expect(text).toContain(s);
    const m2 = check(text);
    expect(m2.layers.map((l) => l.op)).toEqual(model.layers.map((l) => l.op));
    const p2: TorchParams = new Map(imp.tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
    expect(maxRelDiff(reference(m2, p2, x, 6), await ortLogits(bytes, x))).toBeLessThanOrEqual(1e-5);
  });
});
