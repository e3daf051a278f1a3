/**
 * `vnet check <spec...>` and `vnet compile <spec...> [--out DIR]`: diagnostics for every file (all
 * errors, not only the first), and for `compile` one generated module per spec.
 */
import type { Command } from '../command.js';
import { flagBool, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UserError } from '../errors.js';
import { checkFile } from '../../semantics/index.js';
import { renderPretty, shouldColor, toJson } from '../../diagnostics/render.js';
import { emitModule } from '../../codegen/emit-module.js';
import { runtimeImportFrom } from '../../codegen/load.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../../diagnostics/diagnostic.js';

const CHECK_FLAGS: readonly FlagSpec[] = [
  { name: 'json', type: 'bool', help: 'print diagnostics as JSON (one array for all files)' },
];
const COMPILE_FLAGS: readonly FlagSpec[] = [
  ...CHECK_FLAGS,
  { name: 'out', type: 'string', help: 'output directory for generated modules', default: 'generated' },
];

async function run(argv: readonly string[], emit: boolean): Promise<number> {
  const args = parseArgs(argv, emit ? COMPILE_FLAGS : CHECK_FLAGS);
  if (args.positionals.length === 0)
    throw new UserError('no spec files given', [
      'usage: vnet ' + (emit ? 'compile' : 'check') + ' <spec.vnet...>',
    ]);
  const json = flagBool(args, 'json');
  const outDir = flagString(args, 'out') ?? 'generated';
  const all: Diagnostic[] = [];
  let failed = 0;
  const written: string[] = [];
  for (const path of args.positionals) {
    const { model, diagnostics } = checkFile(path);
    all.push(...diagnostics);
    const hasError = diagnostics.some((d) => d.severity === 'error');
    if (!json && diagnostics.length > 0)
      process.stderr.write(renderPretty(diagnostics, { color: shouldColor(process.stderr) }));
    if (hasError || !model) {
      failed++;
      continue;
    }
    if (emit) {
      mkdirSync(outDir, { recursive: true });
      const outFile = join(outDir, `${model.moduleName}.ts`);
      const text = emitModule(model, { runtimeImport: runtimeImportFrom(outDir) });
      if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== text) writeFileAtomic(outFile, text);
      written.push(outFile);
      if (!json)
        console.log(`${path} -> ${outFile} (${model.layers.length} layers, ${model.paramCount} parameters)`);
    } else if (!json) {
      console.log(`${path}: ok (${model.layers.length} layers, ${model.paramCount} parameters)`);
    }
  }
  if (json) console.log(JSON.stringify({ diagnostics: all.map(toJson), written }, null, 2));
  else if (failed > 0) console.error(`${failed} of ${args.positionals.length} spec(s) failed`);
  return failed > 0 ? 1 : 0;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'check specs and print diagnostics',
  help: usage(
    'check',
    '<spec.vnet...> [--json]',
    'Parse and check specs; report every error with file:line:col.',
    CHECK_FLAGS,
  ),
  run: (argv) => run(argv, false),
};

export const compileCommand: Command = {
  name: 'compile',
  summary: 'compile specs to typed TypeScript modules',
  help: usage(
    'compile',
    '<spec.vnet...> [--out DIR] [--json]',
    'Check specs and write one generated module per spec (<out>/<spec-name>.ts).',
    COMPILE_FLAGS,
  ),
  run: (argv) => run(argv, true),
};
