/**
 * The compiler driver used by the CLI: spec file → diagnostics or a generated module on disk, and
 * loading that module (dynamic import) for commands that compute. Generated modules for CLI use go
 * to `.vnet-cache/` under the vnet package (git-ignored); `vnet compile` writes where it is told.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkFile } from '../semantics/index.js';
import { renderPretty } from '../diagnostics/render.js';
import type { ModelIR } from '../ir/ir.js';
import type { GeneratedModule } from '../runtime/module.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { UserError } from '../cli/errors.js';
import { emitModule } from './emit-module.js';

/** Root of the vnet package (two levels above this file). */
export const VNET_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNTIME_INDEX = join(VNET_ROOT, 'src', 'runtime', 'index.ts');

/** Module specifier of the runtime index as seen from a file in `outDir`. */
export function runtimeImportFrom(outDir: string): string {
  let rel = relative(resolve(outDir), RUNTIME_INDEX).split(sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel.replace(/\.ts$/, '.js');
}

/** Check a spec; on errors throw a UserError whose message is the rendered diagnostics. */
export function checkOrThrow(specPath: string): ModelIR {
  const { model, diagnostics } = checkFile(specPath);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (!model || errors.length > 0) {
    throw new UserError(`could not compile ${specPath}:\n\n${renderPretty(diagnostics).trimEnd()}`);
  }
  return model;
}

/** Compile a spec into `<outDir>/<moduleName>.ts`; writes only when the text changed. */
export function compileSpecFile(
  specPath: string,
  outDir: string,
): { model: ModelIR; outFile: string; text: string } {
  const model = checkOrThrow(specPath);
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `${model.moduleName}.ts`);
  const text = emitModule(model, { runtimeImport: runtimeImportFrom(outDir) });
  if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== text) writeFileAtomic(outFile, text);
  return { model, outFile, text };
}

/**
 * Compile a spec into the cache (`.vnet-cache/<module>-<hash>.ts`, written only when the text
 * changed): the file that commands import, and that `vnet bundle` bundles for the browser.
 */
export function cacheSpecModule(specPath: string): { model: ModelIR; outFile: string } {
  const model = checkOrThrow(specPath);
  const outDir = join(VNET_ROOT, '.vnet-cache');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `${basename(model.moduleName)}-${model.specHash.slice(0, 12)}.ts`);
  const text = emitModule(model, { runtimeImport: runtimeImportFrom(outDir) });
  if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== text) writeFileAtomic(outFile, text);
  return { model, outFile };
}

/** Compile a spec into the cache and import the generated module. */
export async function loadSpecModule(specPath: string): Promise<GeneratedModule> {
  const { outFile } = cacheSpecModule(specPath);
  return (await import(pathToFileURL(outFile).href)) as GeneratedModule;
}
