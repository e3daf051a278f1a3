/**
 * Chooses and starts the TensorFlow.js backend for every command that computes (`--backend`).
 * - `wasm` (default; XNNPACK with SIMD), plus the kernels it lacks or runs slowly (wasm-kernels.ts).
 * - `cpu`: the plain-JS reference backend.
 * - `tensorflow`: `@tensorflow/tfjs-node-gpu`, else `@tensorflow/tfjs-node`, if installed (they are
 *   optional dependencies whose install downloads libtensorflow; nothing requires them).
 * - `webgpu`: Dawn's Node binding (npm `webgpu`) + `@tensorflow/tfjs-backend-webgpu`. A native
 *   adapter (Vulkan, Metal, D3D12) is preferred; without a GPU, Dawn's OpenGL ES backend on Mesa
 *   (EGL surfaceless, compatibility feature level) runs the same kernels, slowly. tfjs's
 *   synchronous reads (dataSync) do not work on this backend in Node: read with `await data()`.
 * - `auto`: tensorflow if it loads, else wasm.
 * It also makes sure TensorFlow.js's gradient functions are registered: the Node build of
 * tfjs-core ships without them, and their ESM files use extension-less imports that Node's
 * resolver rejects, so a small resolve hook supplies the extensions before they are imported.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { UserError } from '../base/errors.js';
import { closest } from '../util/suggest.js';
import { installWasmKernels } from './wasm-kernels.js';
import { installWebgpuKernels } from './webgpu-kernels.js';

import { BACKEND_NAMES, type BackendName } from './backend-names.js';

export { BACKEND_NAMES, type BackendName };

/** The backend that runs, and a line for logs and reports (package, device, threads, …). */
export interface BackendInfo {
  readonly name: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
  readonly detail: string;
  /** Why `auto` chose this backend (shown with --verbose). */
  readonly choice?: string;
}

export interface BackendOptions {
  /** Threads for wasm (only where the threaded build can run) and tensorflow (intra-op threads). */
  readonly threads?: number;
}

/** Resolve hook: the extension-less relative imports inside tfjs-core's ESM files. */
const RESOLVE_HOOK = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  const p = context.parentURL;
  if (p && p.includes('/@tensorflow/tfjs-core/dist/') && specifier.startsWith('.')) {
    const u = new URL(specifier, p);
    const f = fileURLToPath(u);
    for (const suf of ['.js', '/index.js']) {
      if (!f.endsWith('.js') && existsSync(f + suf)) return { url: u.href + suf, format: 'module', shortCircuit: true };
    }
    if (f.endsWith('.js') && existsSync(f)) return { url: u.href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}`;

/**
 * Registers TensorFlow.js's gradient functions if they are not registered yet (idempotent; about
 * 0.5 s the first time in plain Node, immediate under bundlers that already did it).
 */
export async function ensureGradients(): Promise<void> {
  if (tf.getGradient('Sum')) return;
  register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  if (!tf.getGradient('Sum')) throw new Error('registering the TensorFlow.js gradients failed');
}

/** Imports a package that may be absent; resolves to the failure's message instead of throwing. */
async function tryImport(pkg: string): Promise<string | undefined> {
  try {
    await import(pkg);
    return undefined;
  } catch (e) {
    const m = (e as Error).message.split('\n')[0]!;
    return /Cannot find (package|module)/.test(m) ? 'not installed' : m;
  }
}

async function setOrThrow(name: string, why: () => string): Promise<void> {
  let ok = false;
  let err = '';
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    err = (e as Error).message;
  }
  if (!ok) throw new UserError(`backend '${name}' could not start: ${err || why()}`);
}

async function startTensorflow(o: BackendOptions): Promise<BackendInfo> {
  if (o.threads) process.env['TF_NUM_INTRAOP_THREADS'] = String(o.threads);
  const failures: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const err = await tryImport(pkg);
    if (err === undefined && tf.findBackendFactory('tensorflow')) {
      await setOrThrow('tensorflow', () => `${pkg} loaded but the backend did not initialise`);
      return {
        name: 'tensorflow',
        detail: `tensorflow (${pkg}${o.threads ? `, ${o.threads} threads` : ''})`,
      };
    }
    failures.push(`${pkg}: ${err ?? 'loaded, but registered no tensorflow backend'}`);
  }
  throw new UserError(`backend 'tensorflow' is not available (${failures.join('; ')})`, [
    'install @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU); their install step downloads libtensorflow',
    'or use --backend wasm (the default) or --backend webgpu',
  ]);
}

async function startWasm(o: BackendOptions): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (o.threads) wasm.setThreadsCount(o.threads);
  installWasmKernels();
  await setOrThrow('wasm', () => 'setBackend returned false');
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? wasm.getThreadsCount() : 1;
  return {
    name: 'wasm',
    detail: `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`,
  };
}

async function startCpu(): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-cpu');
  await setOrThrow('cpu', () => 'setBackend returned false');
  // Silence the one-time "install tfjs-node" banner: choosing cpu is deliberate here.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { name: 'cpu', detail: 'cpu (plain JavaScript reference backend)' };
}

/**
 * Whether a native WebGPU adapter is worth trying. On Linux, Dawn's native backend is Vulkan: without
 * the Vulkan loader it only prints a warning, so skip it then.
 */
function nativeLikely(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [
    ...(process.env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/lib64',
  ];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

/** Finds a WebGPU adapter: native first, then OpenGL ES (Mesa) in compatibility mode. */
async function findAdapter(
  create: (o: string[]) => GPU,
): Promise<{ gpu: GPU; opts: GPURequestAdapterOptions; desc: string }> {
  const tries: { flags: string[]; opts: GPURequestAdapterOptions; label: string }[] = [
    ...(nativeLikely() ? [{ flags: [], opts: {}, label: 'native' }] : []),
    {
      flags: ['backend=opengles'],
      opts: { featureLevel: 'compatibility' } as GPURequestAdapterOptions,
      label: 'OpenGL ES',
    },
  ];
  for (const t of tries) {
    if (t.flags.includes('backend=opengles')) process.env['EGL_PLATFORM'] ??= 'surfaceless';
    const gpu = create(t.flags);
    const adapter = await gpu.requestAdapter(t.opts);
    if (adapter) {
      const info = adapter.info;
      const name =
        [info?.vendor, info?.architecture, info?.description].filter((s) => s).join(' ') || 'unknown adapter';
      return { gpu, opts: t.opts, desc: `${name}, ${t.label}` };
    }
  }
  throw new UserError(
    "backend 'webgpu' could not start: no WebGPU adapter (neither a native GPU nor OpenGL ES via EGL)",
    ['on Linux without a GPU, install Mesa: apt-get install libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri'],
  );
}

async function startWebgpu(): Promise<BackendInfo> {
  let mod: { create: (o: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as typeof mod;
  } catch (e) {
    const m = (e as Error).message.split('\n')[0]!;
    throw new UserError(
      `backend 'webgpu' is not available: the 'webgpu' package ${/Cannot find (package|module)/.test(m) ? 'is not installed' : `did not load (${m})`}`,
      ['install the optional dependencies webgpu and @tensorflow/tfjs-backend-webgpu, or use --backend wasm'],
    );
  }
  Object.assign(globalThis, mod.globals);
  const { gpu, opts, desc } = await findAdapter(mod.create);
  // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it loads, and asks for
  // an adapter with its own options: hand it ours. (The shim on the global also keeps Dawn's
  // instance alive for as long as the process runs.)
  const shim = {
    requestAdapter: (o?: GPURequestAdapterOptions) => gpu.requestAdapter({ ...o, ...opts }),
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
  const nav = (globalThis as { navigator?: object }).navigator;
  Object.defineProperty(globalThis, 'navigator', {
    value: { ...nav, gpu: shim },
    configurable: true,
    writable: true,
  });
  const err = await tryImport('@tensorflow/tfjs-backend-webgpu');
  if (err !== undefined)
    throw new UserError(`backend 'webgpu' is not available: @tensorflow/tfjs-backend-webgpu ${err}`, [
      'install the optional dependency @tensorflow/tfjs-backend-webgpu, or use --backend wasm',
    ]);
  if (!tf.findBackendFactory('webgpu'))
    throw new UserError(
      "backend 'webgpu' could not start: @tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed",
    );
  await setOrThrow('webgpu', () => 'setBackend returned false');
  installWebgpuKernels();
  return { name: 'webgpu', detail: `webgpu (${desc}, via Dawn)` };
}

/**
 * Starts a backend (see the file comment) and registers the gradients. `name` is usually the
 * `--backend` flag's value (undefined means `auto`); an unknown name, or a requested backend that
 * cannot load, is a UserError that says why. `auto` falls back to wasm and says so in `detail`.
 */
export async function initBackend(flag: string | undefined, opts: BackendOptions = {}): Promise<BackendInfo> {
  const name = (flag ?? 'auto') as BackendName;
  if (!BACKEND_NAMES.includes(name)) {
    const near = closest(name, BACKEND_NAMES);
    throw new UserError(`unknown backend '${name}'`, [
      ...(near ? [`did you mean '${near}'?`] : []),
      `choose one of ${BACKEND_NAMES.join(', ')}`,
    ]);
  }
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1))
    throw new UserError(`--threads must be a positive integer, got ${opts.threads}`);
  await ensureGradients();
  switch (name) {
    case 'tensorflow':
      return startTensorflow(opts);
    case 'webgpu':
      return startWebgpu();
    case 'wasm':
      return startWasm(opts);
    case 'cpu':
      return startCpu();
    case 'auto':
      try {
        return await startTensorflow(opts);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        const w = await startWasm(opts);
        return { ...w, choice: `auto: wasm, since ${e.message.replace(/^backend /, '')}` };
      }
  }
}
