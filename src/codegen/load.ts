/**
 * The compiler driver used by the CLI: spec file → diagnostics or a generated module on disk, and
 * loading that module (dynamic import) for commands that compute. Generated modules for CLI use go
 * to `.vnet-cache/` under the vnet package (git-ignored), named only by a hash of their text (never
 * by the spec's file name, which may hold any character); `vnet compile` writes where it is told.
 *
 * The CLI normally runs from `dist/` (src/ transpiled by bin/vnet.js, see scripts/build-dist.mjs):
 * then the cached module is transpiled to JavaScript with esbuild and imports `dist/src/runtime`, so it
 * shares module instances (tfjs state, error classes) with the running CLI. Under tsx or vitest the
 * sources run as TypeScript and the cached module stays TypeScript importing `src/runtime`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkFile } from '../semantics/index.js';
import { renderPretty } from '../diagnostics/render.js';
import type { ModelIR } from '../ir/ir.js';
import type { GeneratedModule } from '../runtime/module.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { UserError } from '../base/errors.js';
import { VNET_ROOT } from '../base/paths.js';

const HERE = fileURLToPath(import.meta.url);
export { VNET_ROOT };
/** The runtime that user-facing generated TypeScript (`vnet compile`, golden files) imports. */
const SOURCE_RUNTIME = join(VNET_ROOT, 'src', 'runtime', 'index.ts');
/** The runtime of the code that is running now (src/ under tsx and vitest, dist/ from bin/vnet.js). */
const RUNNING_RUNTIME = join(dirname(HERE), '..', 'runtime', HERE.endsWith('.ts') ? 'index.ts' : 'index.js');
const FROM_SOURCE = HERE.endsWith('.ts');

/** Module specifier of `target` (a runtime index) as seen from a file in `outDir`. */
function specifierFrom(outDir: string, target: string): string {
  let rel = relative(resolve(outDir), target).split(sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel.replace(/\.ts$/, '.js');
}

/** Module specifier of the (source) runtime index as seen from a file in `outDir`. */
export const runtimeImportFrom = (outDir: string): string => specifierFrom(outDir, SOURCE_RUNTIME);

/** Check a spec; on errors throw a UserError whose message is the rendered diagnostics. */
export function checkOrThrow(specPath: string): ModelIR {
  const { model, diagnostics } = checkFile(specPath);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (!model || errors.length > 0) {
    throw new UserError(`could not compile ${specPath}:\n\n${renderPretty(diagnostics).trimEnd()}`);
  }
  return model;
}

/** The directory of cached generated modules. */
export const CACHE_DIR = join(VNET_ROOT, '.vnet-cache');

/**
 * The cache file of a generated module's text: `m-<sha256 of the text>.ts` (or `.mjs`), so the
 * path never depends on the spec's name and equal text is written once.
 */
export function cacheFileFor(text: string, js: boolean, dir = CACHE_DIR): string {
  const h = createHash('sha256').update(text).digest('hex').slice(0, 24);
  return join(dir, `m-${h}.${js ? 'mjs' : 'ts'}`);
}

/** Compile a spec into the cache and import the generated module. */
export async function loadSpecModule(specPath: string): Promise<GeneratedModule> {
  const model = checkOrThrow(specPath);
  const { emitModule } = await import('./emit-module.js');
  mkdirSync(CACHE_DIR, { recursive: true });
  const text = emitModule(model, { runtimeImport: specifierFrom(CACHE_DIR, RUNNING_RUNTIME) });
  let outFile = cacheFileFor(text, !FROM_SOURCE);
  if (!existsSync(outFile)) {
    if (FROM_SOURCE) writeFileAtomic(outFile, text);
    else {
      const { transform } = await import('esbuild');
      const js = await transform(text, { loader: 'ts', format: 'esm', target: 'node20' });
      writeFileAtomic(outFile, js.code);
    }
  }
  outFile = resolve(outFile);
  return (await import(pathToFileURL(outFile).href)) as GeneratedModule;
}

/**
 * Compile a spec into the cache as TypeScript that imports the source runtime: the file that
 * `vnet bundle` bundles (with esbuild) for the browser.
 */
export async function cacheSpecSource(specPath: string): Promise<{ model: ModelIR; outFile: string }> {
  const model = checkOrThrow(specPath);
  const { emitModule } = await import('./emit-module.js');
  mkdirSync(CACHE_DIR, { recursive: true });
  const text = emitModule(model, { runtimeImport: runtimeImportFrom(CACHE_DIR) });
  const outFile = cacheFileFor(text, false);
  if (!existsSync(outFile)) writeFileAtomic(outFile, text);
  return { model, outFile: resolve(outFile) };
}
