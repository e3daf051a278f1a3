/**
 * ONNX graphs in and out (issue 12 §4):
 * - `vnet export` of the shipped graph specs (fmnist-cnn7-bn, fmnist-resnet; fresh weights with
 *   non-trivial BatchNorm statistics) runs in onnxruntime-node with vnet's logits (max relative
 *   difference ≤ 1e-5), and import → export → import is a fixed point (text and weights);
 * - small ONNX graphs written with the protobuf writer (a residual block with BatchNormalization,
 *   Concat of maps and of vectors, Transpose / Reshape / Squeeze / Unsqueeze, Pad, AveragePool,
 *   GlobalAveragePool, normalisation constants inside the network) import to graph specs whose
 *   logits equal onnxruntime-node's, whose five bound methods are sound on sampled points and box
 *   corners, and which export back to ONNX with the same logits;
 * - an unsupported operator is refused with exit 1, naming the node, its op type and the
 *   supported operators.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BoundMethod } from '../../src/ir/ir.js';
import { checkOrThrow, loadSpecModule } from '../../src/codegen/load.js';
import { exportModel, readTorchParams } from '../../src/onnx/export.js';
import { importBytes, importFile } from '../../src/onnx/import.js';
import { encodeModel, type NodeOut, type TensorOut } from '../../src/onnx/proto.js';
import { initBackend } from '../../src/runtime/backend.js';
import { normalize } from '../../src/runtime/input.js';
import { readSafetensors, saveParams } from '../../src/runtime/io/safetensors.js';
import { evalOptions } from '../../src/verify/model.js';
import { cli } from '../cli-run.js';
import { maxRelDiff, ortLogits, rng, samples, tmpDir, vnetNet, type VnetNet } from './helpers.js';

beforeAll(async () => {
  await initBackend('wasm', { threads: 1 });
});

const stripComments = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.replace(/\s*\/\/.*$/, ''))
    .filter((l) => l !== '')
    .join('\n');

const METHODS: readonly BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];

/** Imports ONNX bytes into a fresh folder and loads the network. */
async function importOnnx(bytes: Uint8Array, name: string): Promise<VnetNet> {
  const d = tmpDir();
  mkdirSync(d, { recursive: true });
  const file = join(d, `${name}.onnx`);
  writeFileSync(file, bytes);
  const r = importFile(file, d, { name });
  return vnetNet(r.specPath, r.weightsPath);
}

/** Export → ONNX bytes of a loaded network. */
function exported(net: VnetNet): Uint8Array {
  const model = checkOrThrow(net.specPath);
  return exportModel(model, readTorchParams(net.weightsPath, model));
}

/** Every bound method over the box [lo, hi] contains the logits of samples and corners. */
function expectSound(net: VnetNet, lo: Float64Array, hi: Float64Array): void {
  const pts = samples(lo, hi, 16, 7, 16);
  const ys = net.logits(pts);
  for (const method of METHODS) {
    const l = net.input(Float32Array.from(lo));
    const h = net.input(Float32Array.from(hi));
    const mid = tf.div(tf.add(l, h), 2);
    const cfg = net.mod.meta.inputCfg;
    const r = net.mod.bounds(
      net.params,
      { x: normalize(mid, cfg), lo: normalize(l, cfg), hi: normalize(h, cfg) },
      method,
      evalOptions(net.mod.meta),
    );
    const L = r.lower.dataSync();
    const U = r.upper.dataSync();
    let checked = 0;
    for (const y of ys)
      y.forEach((v, k) => {
        const tol = 1e-5 * (1 + Math.abs(v));
        expect(v, `${method} lower bound of output ${k}`).toBeGreaterThanOrEqual(L[k]! - tol);
        expect(v, `${method} upper bound of output ${k}`).toBeLessThanOrEqual(U[k]! + tol);
        checked++;
      });
    expect(checked).toBe(32 * net.mod.meta.classes);
    tf.dispose([l, h, mid, r.lower, r.upper, r.logits]);
  }
}

/* ---- the protobuf writer's models ---- */

class Builder {
  readonly nodes: NodeOut[] = [];
  readonly inits: TensorOut[] = [];
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  /** A random float initializer, values in ±scale (or in [lo, lo + scale] with `lo`). */
  rand(name: string, dims: readonly number[], scale = 0.5, lo?: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = Array.from({ length: n }, () =>
      lo === undefined ? (2 * this.r() - 1) * scale : lo + scale * this.r(),
    );
    this.inits.push({ name, dims, data, type: 'float' });
    return name;
  }
  value(
    name: string,
    dims: readonly number[],
    data: readonly number[],
    type: 'float' | 'int64' = 'float',
  ): string {
    this.inits.push({ name, dims, data, type });
    return name;
  }
  node(opType: string, inputs: readonly string[], name: string, attrs?: NodeOut['attrs']): string {
    this.nodes.push({ name, opType, inputs, outputs: [name], ...(attrs ? { attrs } : {}) });
    return name;
  }
  conv(x: string, name: string, out: number, cin: number, k: number, attrs: NodeOut['attrs'] = {}): string {
    const w = this.rand(`${name}.w`, [out, cin, k, k], 1 / Math.sqrt(cin * k * k));
    const b = this.rand(`${name}.b`, [out], 0.1);
    return this.node('Conv', [x, w, b], name, { kernel_shape: [k, k], ...attrs });
  }
  bn(x: string, name: string, c: number): string {
    return this.node(
      'BatchNormalization',
      [
        x,
        this.rand(`${name}.scale`, [c], 0.8, 0.6),
        this.rand(`${name}.bias`, [c], 0.3),
        this.rand(`${name}.mean`, [c], 0.3),
        this.rand(`${name}.var`, [c], 1.5, 0.3),
      ],
      name,
      { epsilon: { float: 0.001 }, momentum: { float: 0.8 } },
    );
  }
  gemm(x: string, name: string, out: number, inN: number): string {
    const w = this.rand(`${name}.w`, [out, inN], 1 / Math.sqrt(inN));
    return this.node('Gemm', [x, w, this.rand(`${name}.b`, [out], 0.1)], name, { transB: 1 });
  }
  model(input: readonly number[], output: string, outDims: readonly number[], opset = 13): Uint8Array {
    return encodeModel({
      opset,
      producer: 'vnet-test',
      graphName: 'g',
      nodes: this.nodes,
      initializers: this.inits,
      input: { name: 'x', dims: input },
      output: { name: output, dims: outDims },
    });
  }
}

/** Conv/BN/Relu residual block, Pad + AveragePool, GlobalAveragePool, Flatten, Gemm. */
function residualModel(): Uint8Array {
  const b = new Builder(11);
  const y1 = b.node('Relu', [b.bn(b.conv('x', 'c1', 4, 2, 3, { pads: [1, 1, 1, 1] }), 'bn1', 4)], 'r1');
  const y2 = b.bn(b.conv(y1, 'c2', 4, 4, 3, { pads: [1, 1, 1, 1] }), 'bn2', 4);
  const s = b.node('Relu', [b.node('Add', [y2, y1], 'sum')], 'r2');
  const p = b.node('Pad', [s, b.value('pads', [8], [0, 0, 1, 1, 0, 0, 0, 0], 'int64')], 'pad');
  const a = b.node('AveragePool', [p], 'pool', { kernel_shape: [2, 2], strides: [2, 2] });
  const sc = b.conv(s, 'shortcut', 4, 4, 1, { strides: [2, 2] }); // 4x4x4 from the 8x8 sum
  const s2 = b.node('Relu', [b.node('Add', [a, sc], 'sum2')], 'r3');
  const g = b.node('GlobalAveragePool', [s2], 'gap');
  const f = b.node('Flatten', [g], 'flat', { axis: 1 });
  b.gemm(f, 'head', 3, 4);
  return b.model([1, 2, 8, 8], 'head', [1, 3]);
}

/** Concat of maps and of vectors, Transpose, Pad folded into a Conv, Reshape, Unsqueeze/Squeeze. */
function concatModel(): Uint8Array {
  const b = new Builder(12);
  const ar = b.node('Relu', [b.conv('x', 'a', 3, 1, 3, { pads: [1, 1, 1, 1] })], 'ar');
  const br = b.node('LeakyRelu', [b.conv('x', 'b', 2, 1, 1)], 'br', { alpha: { float: 0.1 } });
  const cat = b.node('Concat', [ar, br], 'cat', { axis: 1 }); // [1, 5, 6, 6]
  const tr = b.node('Transpose', [cat], 'tr', { perm: [0, 1, 3, 2] });
  const p = b.node('Pad', [tr, b.value('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1], 'int64')], 'pad');
  const cv = b.node('Relu', [b.conv(p, 'cv', 4, 5, 3)], 'cvr'); // [1, 4, 6, 6]
  const ap = b.node('AveragePool', [cv], 'pool', { kernel_shape: [2, 2], strides: [2, 2] }); // [1, 4, 3, 3]
  const rs = b.node('Reshape', [ap, b.value('shape', [4], [1, 2, 6, 3], 'int64')], 'rs');
  const c2 = b.node('Relu', [b.conv(rs, 'c2', 2, 2, 1)], 'c2r'); // [1, 2, 6, 3]
  const f = b.node('Flatten', [c2], 'flat', { axis: 1 }); // [1, 36]
  const u = b.node('Unsqueeze', [f, b.value('axes', [1], [2], 'int64')], 'unsq'); // [1, 36, 1]
  const sq = b.node('Squeeze', [u, b.value('axes2', [1], [2], 'int64')], 'sq'); // [1, 36]
  const g1 = b.node('Relu', [b.gemm(sq, 'g1', 8, 36)], 'g1r');
  const cat2 = b.node('Concat', [sq, g1], 'cat2', { axis: -1 }); // [1, 44]
  b.gemm(cat2, 'head', 5, 44);
  return b.model([1, 1, 6, 6], 'head', [1, 5]);
}

/** Sub/Div/Mul/Add by constants at the input and inside, folded and as nodes; BatchNorm1d. */
function normModel(): Uint8Array {
  const b = new Builder(13);
  const n1 = b.node('Sub', ['x', b.value('mean', [1, 3, 1, 1], [0.4, 0.5, 0.6])], 'sub_mean');
  const n2 = b.node('Div', [n1, b.value('std', [1, 3, 1, 1], [0.2, 0.25, 0.3])], 'div_std');
  const c = b.node('Relu', [b.conv(n2, 'c1', 4, 3, 3, { pads: [1, 1, 1, 1] })], 'r1');
  const s = b.node('Sub', [c, b.value('k1', [1, 4, 1, 1], [0.1, -0.2, 0.3, 0])], 'sub_c');
  const d = b.node('Div', [s, b.value('k2', [1, 4, 1, 1], [2, -0.5, 1.5, 4])], 'div_c');
  const m = b.node('Mul', [d, b.value('k3', [], [0.7])], 'mul_s');
  const a = b.node('Add', [m, b.value('k4', [4, 1, 1], [0.05, 0.1, -0.1, 0.2])], 'add_c');
  const neg = b.node('Sub', [b.value('k5', [1], [0.25]), a], 'rsub');
  const c2 = b.conv(neg, 'c2', 2, 4, 1);
  const mf = b.node('Mul', [c2, b.value('k6', [1, 2, 1, 1], [1.5, -0.5])], 'mul_fold');
  const af = b.node('Add', [mf, b.value('k7', [1, 2, 1, 1], [0.1, 0.2])], 'add_fold');
  const f = b.node('Flatten', [b.node('Relu', [af], 'r2')], 'flat', { axis: 1 }); // [1, 32]
  const mm = b.node('MatMul', [f, b.rand('M', [32, 6], 0.3)], 'mm');
  const bias = b.node('Add', [mm, b.rand('mb', [6], 0.1)], 'mm_bias');
  const bn = b.bn(b.node('Relu', [bias], 'r3'), 'bn1d', 6);
  b.gemm(bn, 'head', 4, 6);
  return b.model([1, 3, 4, 4], 'head', [1, 4]);
}

const MODELS = [
  {
    name: 'residual',
    bytes: residualModel,
    expect: [
      'add(batchnorm2, relu1)',
      'pad([1, 0, 1, 0])',
      'avgpool(2)',
      'batchnorm(eps: 0.001, momentum: 0.2)',
      'conv3 = conv2d(relu2, 4, kernel: 1, stride: 2)',
      'add(avgpool1, conv3)',
    ],
  },
  {
    name: 'concat',
    bytes: concatModel,
    expect: [
      'concat(relu1, leaky_relu1)',
      'transpose([0, 2, 1])',
      'reshape(2x6x3)',
      'concat(flatten1, relu4)',
      '// pad (Pad), cv (Conv)',
    ],
  },
  {
    name: 'norm',
    bytes: normModel,
    expect: [
      'mean    = [0.4',
      'sub([0.1',
      'div([2, -0.5, 1.5, 4])',
      'mul(0.699999988079071)',
      'add([0.05',
      'mul(-1)',
      'add(0.25)',
      '// c2 (Conv), mul_fold (Mul), add_fold (Add)',
      '// mm (MatMul), mm_bias (Add)',
      'batchnorm(eps: 0.001, momentum: 0.2)',
    ],
  },
];

describe.each(MODELS)('ONNX graph $name', ({ name, bytes, expect: lines }) => {
  let net: VnetNet;
  let onnx: Uint8Array;
  let lo: Float64Array;
  let hi: Float64Array;
  beforeAll(async () => {
    onnx = bytes();
    net = await importOnnx(onnx, name);
    const n = net.mod.meta.input.shape.reduce((p, q) => p * q, 1);
    const r = rng(5);
    const c = Float64Array.from({ length: n }, () => r());
    lo = c.map((v) => v - 0.03);
    hi = c.map((v) => v + 0.03);
  });

  it('imports as a graph spec with one line per node', () => {
    for (const l of lines) expect(net.specText).toContain(l);
  });

  it('imported logits equal onnxruntime-node', async () => {
    const x = samples(lo, hi, 6, 1, 2);
    expect(maxRelDiff(net.logits(x), await ortLogits(onnx, x))).toBeLessThanOrEqual(1e-5);
  });

  it('every bound method is sound on sampled points and box corners', () => {
    expectSound(net, lo, hi);
  });

  it('exports back to ONNX with the same logits, and re-imports to the same network', async () => {
    const out = exported(net);
    const x = samples(lo, hi, 4, 3, 1);
    expect(maxRelDiff(await ortLogits(out, x), net.logits(x))).toBeLessThanOrEqual(1e-5);
    const again = await importOnnx(out, name);
    expect(stripComments(again.specText)).toBe(stripComments(net.specText));
  });
});

/** Shipped graph specs with fresh weights and non-trivial BatchNorm statistics. */
describe.each(['fmnist-cnn7-bn', 'fmnist-resnet'])('vnet export of specs/%s.vnet', (spec) => {
  let net: VnetNet;
  beforeAll(async () => {
    const path = `specs/${spec}.vnet`;
    const mod = await loadSpecModule(path);
    const p = mod.initParams(3);
    const r = rng(9);
    for (const q of mod.meta.params) {
      const v = p[q.ident]!;
      const draw = (f: () => number): void => v.assign(tf.tensor(Array.from({ length: v.size }, f), v.shape));
      if (q.role === 'bn.mean' || q.role === 'bn.bias') draw(() => 0.4 * (r() - 0.5));
      if (q.role === 'bn.var') draw(() => 0.5 + r());
      if (q.role === 'bn.weight') draw(() => 0.5 + r());
    }
    const w = join(tmpDir(), `${spec}.safetensors`);
    mkdirSync(join(w, '..'), { recursive: true });
    saveParams(w, mod.meta, p);
    net = await vnetNet(path, w);
  });

  it('runs in onnxruntime-node with the same logits', async () => {
    const n = 28 * 28;
    const x = samples(new Float64Array(n), new Float64Array(n).fill(1), 4, 2);
    expect(maxRelDiff(await ortLogits(exported(net), x), net.logits(x))).toBeLessThanOrEqual(1e-5);
  });

  it('import → export → import is a fixed point (text and weights)', () => {
    const name = spec.replace(/-/g, '_');
    const d = tmpDir();
    mkdirSync(d, { recursive: true });
    const file = join(d, `${name}.onnx`);
    const round = (bytes: Uint8Array): ReturnType<typeof importFile> => {
      writeFileSync(file, bytes);
      return importFile(file, d, { name });
    };
    const again = (i: ReturnType<typeof importFile>): Uint8Array => {
      const m = checkOrThrow(i.specPath);
      return exportModel(m, readTorchParams(i.weightsPath, m));
    };
    const a = round(exported(net));
    const textA = a.specText;
    const weightsA = readSafetensors(a.weightsPath).tensors;
    const b = round(again(a));
    // the comments name the ONNX nodes, which the first export named after the spec's layers
    expect(stripComments(b.specText)).toBe(stripComments(textA));
    const c = importBytes(again(b), file, { name });
    expect(c.specText).toBe(b.specText);
    for (const i of [b, c]) {
      expect(i.tensors.map((t) => t.name).sort()).toEqual([...weightsA.keys()].sort());
      for (const t of i.tensors)
        expect(Buffer.from(t.data.buffer).equals(Buffer.from(weightsA.get(t.name)!.data.buffer))).toBe(true);
    }
    // the imported spec keeps the graph: BatchNorm nodes, residual adds
    expect(textA).toMatch(/^ *batchnorm +\/\/ bn\d \(BatchNormalization\)$/m);
    if (spec === 'fmnist-resnet') expect(textA).toMatch(/add\(batchnorm\d+, relu1\)/);
  });
});

describe('unsupported ONNX', () => {
  it('an unknown operator: exit 1 naming the node, its op type and the supported operators', async () => {
    const b = new Builder(1);
    const h = b.gemm('x', 'fc', 3, 4);
    b.node('Softmax', [h], 'probs', { axis: 1 });
    const d = tmpDir();
    mkdirSync(d, { recursive: true });
    const file = join(d, 'soft.onnx');
    writeFileSync(file, b.model([1, 4], 'probs', [1, 3]));
    const r = await cli('import', file, '--out', d);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ONNX node 'probs' (Softmax): operator not supported");
    expect(r.err).toMatch(/supported ONNX operators: Gemm, MatMul, Add, .*Concat/);
    expect(r.err).not.toMatch(/at .*\.[jt]s:\d+/);
  });

  it('Sub of two computed values and a constant varying within a channel are refused by name', () => {
    const b = new Builder(2);
    const c = b.conv('x', 'c', 2, 1, 3);
    const r1 = b.node('Relu', [c], 'r');
    b.node('Sub', [c, r1], 'diff');
    const f = b.node('Flatten', ['diff'], 'f', { axis: 1 });
    b.gemm(f, 'head', 2, 8);
    expect(() => importBytes(b.model([1, 1, 4, 4], 'head', [1, 2]), 'm.onnx')).toThrow(
      /ONNX node 'diff' \(Sub\): Sub of two computed values is not supported/,
    );
    const b2 = new Builder(3);
    const r2 = b2.node('Relu', [b2.conv('x', 'c', 2, 1, 3)], 'r');
    b2.node('Add', [r2, b2.rand('pos', [1, 2, 2, 2])], 'bias');
    const f2 = b2.node('Flatten', ['bias'], 'f', { axis: 1 });
    b2.gemm(f2, 'head', 2, 8);
    expect(() => importBytes(b2.model([1, 1, 4, 4], 'head', [1, 2]), 'm.onnx')).toThrow(
      /ONNX node 'bias' \(Add\): the constant varies within a channel/,
    );
  });
});
