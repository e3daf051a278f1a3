/**
 * `vnet bundle`: a static site that certifies a network in the visitor's browser. It compiles the
 * spec exactly as the CLI does (the cached generated module of codegen/load.ts), bundles it with
 * the page (src/web/page.ts) and the runtime into one browser script with esbuild, and writes it
 * next to the tfjs wasm binaries, the weights (checked against the network), a few samples of
 * the spec's data set (plus every sample a certificate file names) and that certificate file
 * (checked line by line). Nothing on the page comes from elsewhere.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { cacheSpecSource, loadSpecModule, VNET_ROOT } from '../codegen/load.js';
import { COMPILER_VERSION } from '../codegen/emit-module.js';
import { fileError, UserError } from '../base/errors.js';
import { vnetCommand } from '../base/output.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { checkParamBytes } from '../runtime/io/safetensors.js';
import { requireBlock } from '../runtime/module.js';
import { DATASET_INFO } from '../semantics/recipe.js';
import { loadEvalSplit, type EvalSplit } from '../verify/model.js';
import { parseCertificates } from '../verify/recheck.js';
import { renderIndexHtml } from './html.js';
import { BUNDLE_FILES, WASM_FILES, type BundleManifest } from './manifest.js';

export interface BundleOptions {
  readonly specPath: string;
  readonly weightsPath: string;
  readonly certificatesPath?: string;
  readonly outDir: string;
  /** Data set directory (default: the usual locations, as `vnet verify`). */
  readonly dataDir?: string;
  /** The split certificates' sample indices refer to (default test). */
  readonly split?: EvalSplit;
  /** Samples offered on the page (the first of the split; default 12). */
  readonly samples?: number;
  /** Minify app.js (default true). */
  readonly minify?: boolean;
}

/** One written file and what it is. */
export interface BundleFile {
  readonly name: string;
  readonly bytes: number;
  readonly what: string;
}

export interface BundleResult {
  readonly outDir: string;
  readonly files: readonly BundleFile[];
  /** Bytes of page JavaScript (app.js) and of all wasm binaries. */
  readonly jsBytes: number;
  readonly wasmBytes: number;
  /** The wasm binary a browser with SIMD and no cross-origin isolation loads. */
  readonly wasmLoadedBytes: number;
  /** Bytes of app.js that are vnet's SIMD kernel module (inlined base64) and the generated module. */
  readonly simdKernelBytes: number;
  readonly generatedBytes: number;
  readonly manifest: BundleManifest;
}

/** Source modules that must never reach the browser bundle (file system, processes, the compiler). */
const NODE_ONLY = [
  /^src\/runtime\/io\/(?!safetensors-codec\.ts)/,
  /^src\/runtime\/backend\.ts$/,
  /^src\/runtime\/train\/(run|rundir)\.ts$/,
  /^src\/codegen\//,
  /^src\/cli\/(?!errors\.ts)/,
  /^src\/verify\/model\.ts$/,
  /^src\/bundle\/(?!manifest\.ts)/,
];

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function readInput(path: string, what: string): Buffer {
  if (!existsSync(path)) throw fileError(path, `no such file (${what})`);
  if (statSync(path).isDirectory()) throw fileError(path, `is a directory (${what} must be a file)`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw fileError(path, `cannot read (${(e as Error).message})`);
  }
}

/** The bundle's browser script: the generated module handed to the page. */
async function bundleScript(
  generated: string,
  minify: boolean,
): Promise<{ js: Uint8Array; metafile: Metafile }> {
  const entry = [
    `import * as mod from ${JSON.stringify(generated)};`,
    `import { startPage } from ${JSON.stringify(join(VNET_ROOT, 'src', 'web', 'page.ts'))};`,
    'startPage(mod);',
  ].join('\n');
  let r;
  try {
    r = await build({
      stdin: { contents: entry, resolveDir: VNET_ROOT, sourcefile: 'bundle-entry.ts', loader: 'ts' },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'iife',
      target: ['es2022'],
      minify,
      legalComments: 'eof',
      metafile: true,
      logLevel: 'silent',
      outfile: BUNDLE_FILES.app,
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] })
      .errors;
    if (!errors) throw e;
    throw new Error(
      `internal: esbuild could not bundle the page:\n${errors
        .map((x) => `  ${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`)
        .join('\n')}`,
    );
  }
  const out = r.outputFiles.find((f) => f.path.endsWith('.js'))!;
  const leaked = Object.keys(r.metafile.inputs).filter((p) => NODE_ONLY.some((re) => re.test(p)));
  if (leaked.length > 0)
    throw new Error(`internal: node-only modules reached the browser bundle: ${leaked.join(', ')}`);
  return { js: out.contents, metafile: r.metafile };
}

/** Bytes of app.js contributed by the inputs whose path matches. */
function bytesFrom(metafile: Metafile, match: (p: string) => boolean): number {
  const out = Object.values(metafile.outputs)[0];
  if (!out) return 0;
  return Object.entries(out.inputs)
    .filter(([p]) => match(p))
    .reduce((n, [, v]) => n + v.bytesInOutput, 0);
}

/** Writes the site (see the file comment) and returns what it wrote. */
export async function buildBundle(o: BundleOptions): Promise<BundleResult> {
  const outDir = o.outDir;
  if (existsSync(outDir) && !statSync(outDir).isDirectory())
    throw fileError(outDir, 'is a file (--out needs a directory)');
  const pickable = o.samples ?? 12;
  if (!(Number.isInteger(pickable) && pickable >= 1))
    throw new UserError(`--samples must be an integer ≥ 1, got ${pickable}`);
  const split = o.split ?? 'test';

  // the network, compiled as the CLI compiles it
  const { outFile } = await cacheSpecSource(o.specPath);
  const mod = await loadSpecModule(o.specPath);
  const meta = mod.meta;
  // without a train block (an imported network) there is no data set: no samples are bundled and
  // the page starts from the centre of the input domain (or a dropped image)
  const recipe = meta.train;
  if (!recipe && o.certificatesPath !== undefined)
    requireBlock(
      meta,
      'train',
      'bundle --certificates',
      "certificates name samples of the recipe's data set",
    );
  const weights = readInput(o.weightsPath, 'the weights');
  checkParamBytes(weights, o.weightsPath, meta);

  // certificates: every line must be a certificate of this network
  let certText: string | undefined;
  let certIndices: number[] = [];
  let certLines = 0;
  if (o.certificatesPath !== undefined) {
    certText = readInput(o.certificatesPath, 'the certificates').toString('utf8');
    const parsed = parseCertificates(certText, meta.classes);
    if (parsed.problems.length > 0) {
      const shown = parsed.problems.slice(0, 20).map((p) => `  - ${p}`);
      if (parsed.problems.length > 20) shown.push(`  - … and ${parsed.problems.length - 20} more`);
      throw fileError(
        o.certificatesPath,
        `is not a certificate file of network '${meta.name}' (${parsed.problems.length} bad line${parsed.problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`,
        [`write one with \`${vnetCommand()} verify <spec> --weights W --certificates C.jsonl\``],
      );
    }
    if (parsed.certs.length === 0) throw fileError(o.certificatesPath, 'holds no certificates');
    certLines = parsed.certs.length;
    certIndices = [...new Set(parsed.certs.map((c) => c.cert.index))];
  }

  // samples: the first `pickable` of the split, then every one a certificate names
  const maxCert = certIndices.length > 0 ? Math.max(...certIndices) : -1;
  const data = recipe
    ? await loadEvalSplit(meta, {
        split,
        ...(o.dataDir !== undefined ? { dir: o.dataDir } : {}),
        ...(split === 'test' ? { limit: Math.max(pickable, maxCert + 1) } : {}),
      })
    : { x: new Float32Array(0), labels: [] as number[], indices: [] as number[], source: '' };
  const per = meta.inputCfg.shape.reduce((a, b) => a * b, 1);
  const positionOf = new Map<number, number>();
  data.indices.forEach((idx, p) => positionOf.set(idx, p));
  const chosen: number[] = [];
  for (let p = 0; p < Math.min(pickable, data.labels.length); p++) chosen.push(p);
  const missing: number[] = [];
  for (const idx of certIndices) {
    const p = positionOf.get(idx);
    if (p === undefined) missing.push(idx);
    else if (!chosen.includes(p)) chosen.push(p);
  }
  if (missing.length > 0)
    throw fileError(
      o.certificatesPath!,
      `names sample${missing.length === 1 ? '' : 's'} ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} that the ${split} split of ${data.source} does not have (${data.labels.length} samples)`,
      ['pass the --data and --split the certificates were made with'],
    );
  const x = new Float32Array(chosen.length * per);
  chosen.forEach((p, i) => x.set(data.x.subarray(p * per, (p + 1) * per), i * per));
  const samplesBytes = new Uint8Array(x.buffer);

  const { js, metafile } = await bundleScript(outFile, o.minify ?? true);
  const info = recipe ? DATASET_INFO[recipe.dataset] : undefined;
  const manifest: BundleManifest = {
    kind: 'vnet-bundle',
    format: 1,
    vnetVersion: COMPILER_VERSION,
    network: meta.name,
    specHash: meta.specHash,
    specFile: basename(o.specPath),
    createdAt: new Date().toISOString(),
    weights: { file: BUNDLE_FILES.weights, bytes: weights.length, sha256: sha256(weights) },
    samples: {
      file: BUNDLE_FILES.samples,
      count: chosen.length,
      pickable: Math.min(pickable, chosen.length),
      dataset: recipe?.dataset ?? '',
      split,
      source: data.source ? basename(data.source) : '',
      indices: chosen.map((p) => data.indices[p]!),
      labels: chosen.map((p) => data.labels[p]!),
    },
    classNames: info && info.classes === meta.classes ? [...info.classNames] : [],
    ...(certText !== undefined
      ? {
          certificates: {
            file: BUNDLE_FILES.certificates,
            name: basename(o.certificatesPath!),
            lines: certLines,
          },
        }
      : {}),
  };

  const files: BundleFile[] = [];
  const put = (name: string, data: Uint8Array | string, what: string): void => {
    writeFileAtomic(join(outDir, name), data);
    files.push({ name, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length, what });
  };
  put(BUNDLE_FILES.html, renderIndexHtml(manifest), 'the page');
  put(BUNDLE_FILES.app, js, 'page JavaScript: network, runtime, tfjs, Chart.js');
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm')), '.');
  for (const f of WASM_FILES)
    put(
      f,
      readFileSync(join(wasmDir, f)),
      f.includes('threaded')
        ? 'tfjs wasm, SIMD + threads (cross-origin isolated pages)'
        : f.includes('simd')
          ? 'tfjs wasm, SIMD (what most browsers load)'
          : 'tfjs wasm, no SIMD (older browsers)',
    );
  put(BUNDLE_FILES.weights, weights, `weights (${basename(o.weightsPath)})`);
  put(
    BUNDLE_FILES.samples,
    samplesBytes,
    recipe
      ? `${chosen.length} ${recipe.dataset} ${split} samples`
      : 'no samples (the spec has no train block)',
  );
  if (certText !== undefined) put(BUNDLE_FILES.certificates, certText, `${certLines} certificates`);

  const size = (n: string): number => files.find((f) => f.name === n)!.bytes;
  const cache = relative(VNET_ROOT, outFile).split('\\').join('/');
  return {
    outDir,
    files,
    jsBytes: size(BUNDLE_FILES.app),
    wasmBytes: WASM_FILES.reduce((n, f) => n + size(f), 0),
    wasmLoadedBytes: size('tfjs-backend-wasm-simd.wasm'),
    simdKernelBytes: bytesFrom(metafile, (p) => p.endsWith('src/runtime/simd/kernels-wasm.ts')),
    generatedBytes: bytesFrom(metafile, (p) => p === cache),
    manifest,
  };
}
