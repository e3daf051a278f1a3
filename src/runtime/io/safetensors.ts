/**
 * Safetensors files (format and checks in safetensors-codec.ts): reading and decoding a file,
 * loading a network's parameters from one (`loadParams`), and writing parameters back in the
 * PyTorch layout, atomically (`saveParams`).
 */
import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import { fileError } from '../../base/errors.js';
import { internalToTorch } from '../layout.js';
import type { ModuleMeta, ParamSet } from '../module.js';
import { writeFileAtomic } from './atomic.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  fmtShape,
  listError,
  paramsFromBytes,
  sameShape,
  type DecodedSafetensors,
  type NamedTensor,
} from './safetensors-codec.js';

export {
  checkParamBytes,
  decodeSafetensors,
  encodeSafetensors,
  paramsFromBytes,
  READABLE_DTYPES,
  type DecodedSafetensors,
  type NamedTensor,
  type StoredTensor,
} from './safetensors-codec.js';

/** Reads and decodes a safetensors file; any defect is a UserError listing all of them. */
export function readSafetensors(path: string): DecodedSafetensors {
  const d = decodeSafetensors(readBytes(path), path);
  if (d.problems.length) throw listError(path, 'is not a valid safetensors file', d.problems);
  return d;
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
}

/** Writes tensors (F32) to `path` atomically. */
export function writeSafetensors(
  path: string,
  tensors: readonly NamedTensor[],
  metadata: Readonly<Record<string, string>> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Loads a network's parameters from a safetensors file (checks and layout: `paramsFromBytes`).
 * Every difference from `meta.params` is reported at once in one UserError that names the path.
 */
export function loadParams(path: string, meta: ModuleMeta): ParamSet {
  return paramsFromBytes(readBytes(path), path, meta);
}

/** Checks that `p` holds every parameter of `meta` in its internal shape (an internal error otherwise). */
function checkedVariables(meta: ModuleMeta, p: ParamSet): tf.Variable[] {
  return meta.params.map((spec) => {
    const v = p[spec.ident];
    if (!v)
      throw new Error(
        `saveParams: parameter '${spec.ident}' (${spec.name}) is missing from the parameter set`,
      );
    if (!sameShape(v.shape, spec.shape))
      throw new Error(
        `saveParams: '${spec.ident}' has shape ${fmtShape(v.shape)}, expected ${fmtShape(spec.shape)}`,
      );
    return v;
  });
}

/** Internal-layout values (in meta.params order) → the tensors saveParams writes. */
function toTorch(meta: ModuleMeta, values: readonly Float32Array[]): NamedTensor[] {
  return meta.params.map((spec, i) => ({
    name: spec.name,
    shape: spec.torchShape,
    data: internalToTorch(spec, values[i]!),
  }));
}

const saveMetadata = (
  meta: ModuleMeta,
  metadata: Readonly<Record<string, string>>,
): Record<string, string> => ({
  format: 'pt',
  network: meta.name,
  spec_hash: meta.specHash,
  ...metadata,
});

/**
 * Writes a network's parameters to `path` (F32, PyTorch names and layouts) atomically. The
 * `__metadata__` map holds `format: pt` (what safetensors.torch writes), the network and spec hash,
 * plus `metadata`. Reads the values synchronously: on the webgpu backend use `saveParamsAsync`.
 */
export function saveParams(
  path: string,
  meta: ModuleMeta,
  p: ParamSet,
  metadata: Readonly<Record<string, string>> = {},
): void {
  const values = checkedVariables(meta, p).map((v) => v.dataSync() as Float32Array);
  writeSafetensors(path, toTorch(meta, values), saveMetadata(meta, metadata));
}

/** `saveParams` for every backend (reads the values with `await data()`, which webgpu requires). */
export async function saveParamsAsync(
  path: string,
  meta: ModuleMeta,
  p: ParamSet,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const values = await Promise.all(checkedVariables(meta, p).map((v) => v.data() as Promise<Float32Array>));
  writeSafetensors(path, toTorch(meta, values), saveMetadata(meta, metadata));
}
