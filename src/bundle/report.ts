/** The text `vnet bundle` prints: the files written with their sizes, and how to open the site. */
import { renderTable } from '../verify/format.js';
import type { BundleResult } from './build.js';

/** Bytes as KiB / MiB. */
export function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatBundleResult(r: BundleResult): string {
  const table = renderTable(
    ['file', 'what', 'size'],
    r.files.map((f) => [f.name, f.what, formatBytes(f.bytes)]),
    2,
  );
  return [
    `wrote ${r.outDir}/ (${r.files.length} files)`,
    table,
    `page JavaScript: ${formatBytes(r.jsBytes)} (of it the generated module ${formatBytes(r.generatedBytes)}, vnet's SIMD kernel module ${formatBytes(r.simdKernelBytes)})`,
    `wasm: ${formatBytes(r.wasmBytes)} in all; a browser loads one binary (${formatBytes(r.wasmLoadedBytes)} with SIMD)`,
    `open it: serve ${r.outDir} with any static file server, e.g. \`python3 -m http.server -d ${r.outDir} 8000\`, then http://127.0.0.1:8000/`,
  ].join('\n');
}
