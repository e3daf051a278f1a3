/**
 * What `vnet bundle` writes and the page reads: the file names of a bundle and its manifest (a
 * JSON object inlined in index.html, `<script type="application/json" id="vnet-manifest">`).
 * The network itself (layers, parameters, spec hash) is compiled into app.js; the manifest
 * describes the data files next to it.
 *
 * samples.f32: the bundled samples' raw inputs, float32 little-endian, in the runtime's internal
 * layout ([H, W, C] per sample, samples one after another), `count` of them.
 */

/** Files of a bundle, relative to its directory. */
export const BUNDLE_FILES = {
  html: 'index.html',
  app: 'app.js',
  weights: 'weights.safetensors',
  samples: 'samples.f32',
  certificates: 'certificates.jsonl',
} as const;

/** The tfjs wasm binaries (tfjs picks one by the browser's SIMD and thread support). */
export const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
] as const;

export const MANIFEST_ID = 'vnet-manifest';

export interface BundleManifest {
  readonly kind: 'vnet-bundle';
  readonly format: 1;
  readonly vnetVersion: string;
  /** The network's name and spec hash (the page checks them against the compiled module). */
  readonly network: string;
  readonly specHash: string;
  /** The spec's file name (no directory). */
  readonly specFile: string;
  readonly createdAt: string;
  readonly weights: { readonly file: string; readonly bytes: number; readonly sha256: string };
  readonly samples: {
    readonly file: string;
    readonly count: number;
    /** The first `pickable` samples are offered on the page; the rest are there for certificates. */
    readonly pickable: number;
    readonly dataset: string;
    readonly split: string;
    readonly source: string;
    /** Dataset index (as certificates name it) and label of each sample. */
    readonly indices: readonly number[];
    readonly labels: readonly number[];
  };
  /** Class names in label order. */
  readonly classNames: readonly string[];
  readonly certificates?: {
    readonly file: string;
    /** The certificate file's name as given to `vnet bundle` (no directory). */
    readonly name: string;
    readonly lines: number;
  };
}
