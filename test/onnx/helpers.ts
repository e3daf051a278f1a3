/**
 * Helpers of the ONNX tests: onnxruntime-node as the reference evaluator, the vnet side (import
 * into a temporary folder, compile, load the weights, run), the boxes of VNN-LIB properties (parsed
 * crudely: every `(<= X_i v)` / `(>= X_i v)`), and seeded sampling.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { loadSpecModule } from '../../src/codegen/load.js';
import { loadParams } from '../../src/runtime/io/safetensors.js';
import { chwToHwc } from '../../src/runtime/layout.js';
import type { GeneratedModule, ParamSet } from '../../src/runtime/module.js';
import { importFile } from '../../src/onnx/import.js';
import { evalOptions } from '../../src/verify/model.js';

export const FIXTURES = new URL('../fixtures/onnx/', import.meta.url).pathname;
export const SHARED = new URL('../../../shared/benchmarks/vnncomp2021/', import.meta.url).pathname;

export interface Benchmark {
  readonly name: string;
  readonly onnx: string;
  readonly vnnlib: string;
}

/** The vnncomp2021 models: the small ones from the repo, the larger ones from ../shared when present. */
export function benchmarks(): { readonly present: Benchmark[]; readonly absent: string[] } {
  const f = (n: string): string => join(FIXTURES, n);
  const present: Benchmark[] = [
    { name: 'test_nano', onnx: f('test_nano.onnx'), vnnlib: f('test_nano.vnnlib') },
    { name: 'test_tiny', onnx: f('test_tiny.onnx'), vnnlib: f('test_tiny.vnnlib') },
    { name: 'test_small', onnx: f('test_small.onnx'), vnnlib: f('test_small.vnnlib') },
    { name: 'test_sat', onnx: f('test_sat.onnx'), vnnlib: f('test_prop.vnnlib') },
    { name: 'test_unsat', onnx: f('test_unsat.onnx'), vnnlib: f('test_prop.vnnlib') },
    {
      name: 'cifar_deep_kw',
      onnx: f('cifar_deep_kw.onnx.gz'),
      vnnlib: f('cifar_deep_kw-img386-eps0.024183006535947717.vnnlib.gz'),
    },
  ];
  const shared: Benchmark[] = [
    ...['256x2', '256x4', '256x6'].map((w) => ({
      name: `mnist-net_${w}`,
      onnx: join(SHARED, `mnistfc/mnist-net_${w}.onnx`),
      vnnlib: join(SHARED, 'mnistfc/prop_0_0.03.vnnlib'),
    })),
    {
      name: 'cifar_base_kw',
      onnx: join(SHARED, 'oval21/nets/cifar_base_kw.onnx'),
      vnnlib: join(SHARED, 'oval21/vnnlib/cifar_base_kw-img4549-eps0.00392156862745098.vnnlib'),
    },
    {
      name: 'cifar_wide_kw',
      onnx: join(SHARED, 'oval21/nets/cifar_wide_kw.onnx'),
      vnnlib: join(SHARED, 'oval21/vnnlib/cifar_wide_kw-img19-eps0.007973856209150327.vnnlib'),
    },
  ];
  const absent: string[] = [];
  for (const b of shared)
    if (existsSync(b.onnx) && existsSync(b.vnnlib)) present.push(b);
    else absent.push(b.name);
  return { present, absent };
}

/** The input box of a VNN-LIB property: lo[i] ≤ X_i ≤ hi[i] (crude: all bounds on X_i anywhere). */
export function vnnlibBox(path: string, n: number): { lo: Float64Array; hi: Float64Array } {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  const lo = new Float64Array(n).fill(-Infinity);
  const hi = new Float64Array(n).fill(Infinity);
  for (const m of text.matchAll(/\(\s*(<=|>=)\s+X_(\d+)\s+([-+0-9.eE]+)\s*\)/g)) {
    const i = Number(m[2]);
    const v = Number(m[3]);
    if (m[1] === '<=') hi[i] = Math.min(hi[i]!, v);
    else lo[i] = Math.max(lo[i]!, v);
  }
  if (lo.some((v) => !Number.isFinite(v)) || hi.some((v) => !Number.isFinite(v)))
    throw new Error(`${path}: not every X_i is bounded`);
  return { lo, hi };
}

/** A seeded uniform generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` points in the box, row-major [count × n]: random ones, and box corners when `corners`. */
export function samples(
  lo: Float64Array,
  hi: Float64Array,
  count: number,
  seed: number,
  corners = 0,
): Float32Array {
  const n = lo.length;
  const r = rng(seed);
  const out = new Float32Array((count + corners) * n);
  for (let k = 0; k < count + corners; k++)
    for (let i = 0; i < n; i++) {
      const u = k < count ? r() : r() < 0.5 ? 0 : 1;
      out[k * n + i] = lo[i]! + u * (hi[i]! - lo[i]!);
    }
  return out;
}

/** onnxruntime-node's outputs for each row of `x` (the model's input shape). */
export async function ortLogits(model: string | Uint8Array, x: Float32Array): Promise<Float32Array[]> {
  const bytes = typeof model === 'string' ? readFileSync(model) : model;
  const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const s = await ort.InferenceSession.create(plain);
  const meta = s.inputMetadata[0] as { shape: readonly (number | string)[] };
  const dims = meta.shape.map((d) => (typeof d === 'number' ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  for (let k = 0; k < x.length / n; k++) {
    const r = await s.run({
      [s.inputNames[0]!]: new ort.Tensor('float32', x.slice(k * n, (k + 1) * n), dims),
    });
    rows.push(Float32Array.from(r[s.outputNames[0]!]!.data as Float32Array));
  }
  await s.release();
  return rows;
}

export interface VnetNet {
  readonly mod: GeneratedModule;
  readonly params: ParamSet;
  readonly specText: string;
  readonly specPath: string;
  readonly weightsPath: string;
  /** Row-major C,H,W (or vector) inputs → internal layout tensor [B, ...]. */
  input(x: Float32Array): tf.Tensor;
  logits(x: Float32Array): Float32Array[];
}

let dirNo = 0;
const tmp = mkdtempSync(join(tmpdir(), 'vnet-onnx-'));
export const tmpDir = (): string => join(tmp, `d${dirNo++}`);

/** A vnet network from a spec and weights (compiled into the cache). */
export async function vnetNet(specPath: string, weightsPath: string): Promise<VnetNet> {
  const mod = await loadSpecModule(specPath);
  const params = loadParams(weightsPath, mod.meta);
  const shape = mod.meta.input.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const input = (x: Float32Array): tf.Tensor => {
    const B = x.length / n;
    const rows = Array.from({ length: B }, (_, k) => {
      const r = x.slice(k * n, (k + 1) * n);
      return shape.length === 3 ? chwToHwc(r, shape[0]!, shape[1]!, shape[2]!) : r;
    });
    const flat = new Float32Array(B * n);
    rows.forEach((r, k) => flat.set(r, k * n));
    return tf.tensor(flat, [B, ...mod.meta.inputCfg.shape]);
  };
  return {
    mod,
    params,
    specText: readFileSync(specPath, 'utf8'),
    specPath,
    weightsPath,
    input,
    logits(x) {
      const t = input(x);
      const y = mod.forward(params, t, evalOptions(mod.meta));
      const d = y.dataSync() as Float32Array;
      const K = y.shape[1];
      tf.dispose([t, y]);
      return Array.from({ length: d.length / K }, (_, k) => d.slice(k * K, (k + 1) * K));
    },
  };
}

/** Imports an ONNX file into a fresh folder and loads it. */
export async function importNet(onnx: string, domain?: readonly [number, number]): Promise<VnetNet> {
  const r = importFile(onnx, tmpDir(), domain ? { domain } : {});
  return vnetNet(r.specPath, r.weightsPath);
}

/** max |a − b| / max |b| over each row (the scale of the logits; 1e-6 floor). */
export function maxRelDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((row, k) => {
    const ref = b[k]!;
    if (row.length !== ref.length) throw new Error(`row ${k}: ${row.length} vs ${ref.length} outputs`);
    const scale = Math.max(1e-6, ...Array.from(ref, Math.abs));
    row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]!) / scale)));
  });
  return worst;
}
