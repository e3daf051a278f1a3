/**
 * A spec and a weight file as a rigorous network, without TensorFlow.js computation: the checked IR, the
 * file's tensors (PyTorch layout, float32 values as binary64), η at evaluation as `vnet verify`
 * uses it, and the sha256 of the spec text and of the weight file (what certificates carry).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ModelIR } from '../../ir/ir.js';
import { checkOrThrow } from '../../codegen/load.js';
import { readSafetensors } from '../../runtime/io/safetensors.js';
import { fileError } from '../../base/errors.js';
import { hwcToChw } from '../../runtime/layout.js';
import type { SampleConfirmer } from '../evaluate.js';
import { confirm } from './confirm.js';
import { rigorousNet, type RigorousNet } from './net.js';

export const sha256Bytes = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** sha256 of a file's bytes, hex. */
export function sha256File(path: string): string {
  try {
    return sha256Bytes(readFileSync(path));
  } catch (e) {
    throw fileError(path, `cannot read (${(e as Error).message})`);
  }
}

export interface LoadedRigorous {
  readonly model: ModelIR;
  readonly net: RigorousNet;
  readonly specHash: string;
  readonly weightsHash: string;
}

/** η at evaluation: the η schedule's end value when the recipe has one (as `evalOptions`). */
export const evalEtaOf = (m: ModelIR): number | undefined => m.train?.etaSchedule?.to;

/** Loads a spec and its weights for the rigorous checker; missing or mis-shaped tensors are UserErrors. */
export function loadRigorous(specPath: string, weightsPath: string): LoadedRigorous {
  const model = checkOrThrow(specPath);
  const file = readSafetensors(weightsPath);
  const params: Record<string, Float64Array> = {};
  const problems: string[] = [];
  for (const p of model.params) {
    const t = file.tensors.get(p.name);
    if (!t) problems.push(`missing tensor ${p.name}`);
    else if (t.shape.join('x') !== p.torchShape.join('x'))
      problems.push(`${p.name} has shape [${t.shape.join(', ')}], expected [${p.torchShape.join(', ')}]`);
    else params[p.name] = Float64Array.from(t.data);
  }
  if (problems.length) throw fileError(weightsPath, `does not match ${specPath}: ${problems.join('; ')}`);
  const eta = evalEtaOf(model);
  return {
    model,
    net: rigorousNet(model, params, eta !== undefined ? { eta } : {}),
    specHash: model.specHash,
    weightsHash: sha256File(weightsPath),
  };
}

/**
 * The evaluation loop's confirmer for a rigorous network: samples arrive in the runtime's
 * internal layout (H,W,C) and are checked in PyTorch layout (C,H,W).
 */
export function sampleConfirmer(net: RigorousNet): SampleConfirmer {
  const shape = net.input.shape;
  const toTorch =
    shape.length === 3
      ? (x: Float32Array): Float32Array => hwcToChw(x, shape[0]!, shape[1]!, shape[2]!)
      : (x: Float32Array): Float32Array => x;
  return (x, label, eps, method, lines, cache) => confirm(net, toTorch(x), label, eps, method, lines, cache);
}
