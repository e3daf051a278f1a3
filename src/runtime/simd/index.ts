/**
 * Loads the fused SIMD kernels (kernels.wat, assembled into kernels-wasm.ts) into the tfjs wasm
 * backend's memory: the module imports that memory, so the kernels read and write tensors in
 * place, by byte offset. One instance per backend memory; null where the backend exposes none or
 * shares it between threads.
 */
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { KERNELS_WASM } from './kernels-wasm.js';

/** The exports of kernels.wat (pointers are byte offsets; -1 = none, see the .wat comments). */
export interface SimdKernels {
  adam(
    p: number,
    g: number,
    m: number,
    v: number,
    op: number,
    om: number,
    ov: number,
    n: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    eps: number,
    step: number,
    bc: number,
    decay: number,
  ): void;
  dotRow(a: number, l: number, u: number, n: number): number;
  formRow(a: number, l: number, u: number, n: number, out: number): void;
  gradRow(
    a: number,
    l: number,
    u: number,
    n: number,
    w: number,
    ws: number,
    da: number,
    dl: number,
    du: number,
  ): void;
  gatherRow(src: number, idx: number, k: number, out: number): void;
  scatterRow(src: number, idx: number, k: number, out: number, n: number): void;
}

/** The parts of tfjs's wasm backend the kernels use. */
export interface HeapBackend {
  readonly wasm?: { readonly asm?: { readonly memory?: unknown } };
  readonly dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(id: object): boolean;
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

/** The kernels bound to this backend's memory, or null (not the wasm backend, or no memory export). */
export function simdKernels(backend: KernelBackend): SimdKernels | null {
  const memory = (backend as unknown as HeapBackend).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  // (the threaded build's memory is shared, which this module's import does not declare: the op
  // path runs there)
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) return null;
  let k = instances.get(memory);
  if (!k) {
    compiled ??= new WebAssembly.Module(fromBase64(KERNELS_WASM));
    k = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}

/** Bytes of a base64 string (atob: in Node and in browsers alike). */
function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A tensor's byte offset in the backend's memory. */
export function heapOffset(backend: HeapBackend, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error('internal: tensor not on the wasm backend');
  return d.memoryOffset;
}
