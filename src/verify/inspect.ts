/**
 * Neuron-status statistics of a generated module under IBP or LBP bounds (`vnet inspect`, the
 * report's status chart): per activation layer, the pre-activation bounds of every sample in the
 * ε-ball are classified by status.ts and counted. ParamRamp layers use their r, clamped at 1e-4 as
 * the network does (paper-notes §1), so the statuses describe the function actually bounded.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as rt from '../runtime/index.js';
import type { GeneratedModule, ParamSet } from '../runtime/module.js';
import type { BoundResult, RunOptions } from '../runtime/types.js';
import { layerStatus, mergeStatus, type LayerStatus } from './status.js';
import { disposeResult, type EvalData } from './evaluate.js';
import { boundsChunked } from './model.js';

/** Methods whose intermediate bounds `vnet inspect` reports. */
export type StatusMethod = 'ibp' | 'lbp';

/**
 * Counts neuron statuses over `data` at radius `eps` with `method`'s pre-activation bounds,
 * `batch` samples at a time. Returns one entry per activation layer, in network order.
 */
export async function neuronStatus(
  mod: GeneratedModule,
  p: ParamSet,
  data: EvalData,
  eps: number,
  method: StatusMethod,
  batch: number,
  o: RunOptions,
): Promise<LayerStatus[]> {
  const meta = mod.meta;
  const per = meta.inputCfg.shape.reduce((a, b) => a * b, 1);
  const N = data.labels.length;
  const kinds = new Map(meta.layers.map((l) => [l.name, l]));
  const rOf = new Map<string, Float32Array>();
  for (const name of meta.activations) {
    const layer = kinds.get(name)!;
    if (layer.kind !== 'paramramp') continue;
    const spec = meta.params.find((q) => layer.params.includes(q.name) && q.role === 'ramp.r')!;
    rOf.set(
      name,
      Float32Array.from(await p[spec.ident]!.data(), (v) => Math.max(v, rt.R_MIN)),
    );
  }
  const acc = new Map<string, LayerStatus>();
  for (let start = 0; start < N; start += batch) {
    const end = Math.min(N, start + batch);
    const x = tf.tensor(data.x.subarray(start * per, end * per), [end - start, ...meta.inputCfg.shape]);
    let r: BoundResult;
    try {
      r = boundsChunked(mod, p, x, eps, method, { ...o, intermediate: true });
    } finally {
      x.dispose();
    }
    const found: { layer: string; lower: ArrayLike<number>; upper: ArrayLike<number> }[] = [];
    try {
      for (const L of r.intermediate ?? [])
        found.push({ layer: L.layer, lower: await L.lower.data(), upper: await L.upper.data() });
    } finally {
      disposeResult(r);
    }
    for (const L of found) {
      const kind = kinds.get(L.layer)?.kind;
      if (kind !== 'relu' && kind !== 'leaky_relu' && kind !== 'paramramp') continue;
      const s = layerStatus(L.layer, kind, L.lower, L.upper, rOf.get(L.layer));
      const prev = acc.get(L.layer);
      acc.set(L.layer, prev ? mergeStatus(prev, s) : s);
    }
  }
  return meta.activations.flatMap((a) => (acc.has(a) ? [acc.get(a)!] : []));
}
