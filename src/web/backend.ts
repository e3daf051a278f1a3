/**
 * The TensorFlow.js backend of the `vnet bundle` page: WebGPU where the browser has an adapter,
 * else wasm (SIMD where the browser has it) with vnet's wasm kernels, the same kernels the CLI
 * installs (src/runtime/wasm-kernels.ts, webgpu-kernels.ts). The wasm binaries are the bundle's
 * own files, next to index.html: nothing is fetched from elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// registers the 'webgpu' backend where navigator.gpu exists
import '@tensorflow/tfjs-backend-webgpu';
import { WASM_FILES } from '../bundle/manifest.js';
import { simdKernels } from '../runtime/simd/index.js';
import { installWasmKernels } from '../runtime/wasm-kernels.js';
import { installWebgpuKernels } from '../runtime/webgpu-kernels.js';

export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

export interface PageBackend {
  readonly name: 'webgpu' | 'wasm';
  /** What runs, for the page (adapter, SIMD, threads; why WebGPU was not used). */
  readonly detail: string;
}

/** Why WebGPU cannot run here, or undefined when it started. */
async function tryWebgpu(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return 'this browser has no WebGPU';
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return `requesting a WebGPU adapter failed (${(e as Error).message})`;
  }
  if (!adapter) return 'no WebGPU adapter';
  if (!tf.findBackendFactory('webgpu')) return 'the WebGPU backend did not register';
  try {
    if (!(await tf.setBackend('webgpu'))) return 'the WebGPU backend did not start';
  } catch (e) {
    return `the WebGPU backend did not start (${(e as Error).message})`;
  }
  installWebgpuKernels();
  return undefined;
}

async function startWasm(base: string): Promise<string> {
  setWasmPaths(Object.fromEntries(WASM_FILES.map((f) => [f, new URL(f, base).href])));
  installWasmKernels();
  if (!(await tf.setBackend('wasm')))
    throw new Error(`the wasm backend did not start (are the .wasm files next to index.html?)`);
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? getThreadsCount() : 1;
  const kernels = simdKernels(tf.backend()) !== null ? ', vnet SIMD kernels' : '';
  return `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}${kernels})`;
}

/**
 * Starts the page's backend: `auto` tries WebGPU and falls back to wasm (saying why), `webgpu`
 * fails where WebGPU cannot start, `wasm` skips WebGPU. `base` is the URL the wasm files are under.
 */
export async function startPageBackend(choice: BackendChoice, base: string): Promise<PageBackend> {
  if (choice !== 'wasm') {
    const why = await tryWebgpu();
    if (why === undefined) {
      const info = (await (navigator as Navigator & { gpu: GPU }).gpu.requestAdapter())?.info;
      const name = [info?.vendor, info?.architecture, info?.description].filter((s) => s).join(' ');
      return { name: 'webgpu', detail: `WebGPU${name ? ` (${name})` : ''}` };
    }
    if (choice === 'webgpu') throw new Error(`WebGPU requested, but ${why}`);
    return { name: 'wasm', detail: `${await startWasm(base)}; WebGPU not used: ${why}` };
  }
  return { name: 'wasm', detail: await startWasm(base) };
}
