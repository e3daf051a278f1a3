/**
 * `vnet import`: an ONNX model → `DIR/N.vnet` + `DIR/N.safetensors`. The phases are pure
 * functions: decode (proto.ts) → normalise, fold constants, infer shapes (graph.ts) → map onto
 * vnet layers (map.ts) → spec text (write-vnet.ts) and weights (PyTorch names and layouts, as
 * src/runtime/io/safetensors.ts reads them: dense weight [out, in], conv weight [out, in, kh, kw]).
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../base/errors.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { encodeSafetensors, type NamedTensor } from '../runtime/io/safetensors.js';
import { buildGraph } from './graph.js';
import { mapGraph, type VNetwork } from './map.js';
import { decodeModel, readModelFile, type OnnxModel } from './proto.js';
import { writeVnet } from './write-vnet.js';

export interface ImportOptions {
  /** Network name (an identifier); default: the file's base name made into one. */
  readonly name?: string;
  /** Raw input domain; undefined: unbounded. */
  readonly domain?: readonly [number, number];
}

export interface Imported {
  readonly name: string;
  readonly net: VNetwork;
  readonly specText: string;
  readonly tensors: readonly NamedTensor[];
}

/** The base name of a model file without `.onnx` / `.onnx.gz`. */
export const modelBaseName = (path: string): string =>
  basename(path)
    .replace(/\.gz$/i, '')
    .replace(/\.onnx$/i, '');

/** A file base name as a vnet identifier: letters, digits, '_' (not starting with a digit). */
export function identifierFrom(base: string): string {
  const s = base.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(s) ? s : `net_${s}`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The weights of a mapped network, as float32 tensors with PyTorch names. */
export function tensorsOf(net: VNetwork): NamedTensor[] {
  return net.layers.flatMap((l) =>
    l.params.map((p) => ({
      name: `${l.name}.${p.param}`,
      shape: [...p.shape],
      data: Float32Array.from(p.data),
    })),
  );
}

/** Imports a decoded model (pure). */
export function importModel(model: OnnxModel, fileName: string, o: ImportOptions = {}): Imported {
  const name = o.name ?? identifierFrom(modelBaseName(fileName));
  if (!IDENT.test(name))
    throw new UserError(
      `--name ${JSON.stringify(name)}: not an identifier (letters, digits and '_', not starting with a digit)`,
    );
  if (o.domain && !(o.domain[0] < o.domain[1]))
    throw new UserError(`--domain ${o.domain.join(',')}: needs lo < hi`);
  const net = mapGraph(buildGraph(model));
  const specText = writeVnet(name, net, o.domain, {
    file: basename(fileName),
    producer: model.producer,
    opset: model.opset,
    irVersion: model.irVersion,
    weightsFile: `${name}.safetensors`,
  });
  return { name, net, specText, tensors: tensorsOf(net) };
}

/** Imports bytes (e.g. a file already read) — used by tests. */
export const importBytes = (bytes: Uint8Array, fileName: string, o: ImportOptions = {}): Imported =>
  importModel(decodeModel(bytes), fileName, o);

/** Reads `path`, imports it, writes `outDir/N.vnet` and `outDir/N.safetensors` (atomically). */
export function importFile(
  path: string,
  outDir: string,
  o: ImportOptions = {},
): Imported & { readonly specPath: string; readonly weightsPath: string } {
  const r = importModel(readModelFile(path), path, o);
  mkdirSync(outDir, { recursive: true });
  const specPath = join(outDir, `${r.name}.vnet`);
  const weightsPath = join(outDir, `${r.name}.safetensors`);
  writeFileAtomic(weightsPath, encodeSafetensors(r.tensors, { source: 'vnet import', onnx: basename(path) }));
  writeFileAtomic(specPath, r.specText);
  return { ...r, specPath, weightsPath };
}
