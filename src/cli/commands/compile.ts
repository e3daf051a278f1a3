/**
 * `vnet check <spec...>` and `vnet compile <spec...> [--out DIR]`: diagnostics for every file (all
 * errors, not only the first), and for `compile` one generated module per spec.
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagString, type ParsedArgs } from '../args.js';
import { checkFile } from '../../semantics/index.js';
import { renderPretty, shouldColor, toJson } from '../../diagnostics/render.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { runtimeImportFrom } from '../../codegen/load.js';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../../diagnostics/diagnostic.js';

const CHECK_FLAGS: readonly OptionSpec[] = [
  { name: 'json', type: 'bool', help: 'print diagnostics as JSON (one array for all files)' },
];
const COMPILE_FLAGS: readonly OptionSpec[] = [
  ...CHECK_FLAGS,
  {
    name: 'out',
    short: 'o',
    type: 'string',
    value: 'DIR',
    help: 'output directory for generated modules',
    default: 'generated',
  },
];

async function run(args: ParsedArgs, emit: boolean): Promise<number> {
  // The emitter (ts-morph) is loaded only when compiling, so `vnet check` starts fast.
  const { emitModule } = emit ? await import('../../codegen/emit-module.js') : { emitModule: undefined };
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
    if (emitModule) {
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

export const checkCommand: CommandSpec = {
  args: ['<spec...>'],
  description: 'Parse and check specs; report every error with file:line:col.',
  options: CHECK_FLAGS,
  examples: ['check specs/*.vnet', 'check my.vnet --json'],
  run: (a) => run(a, false),
};

export const compileCommand: CommandSpec = {
  args: ['<spec...>'],
  description: 'Check specs and write one generated module per spec (<out>/<spec-name>.ts).',
  options: COMPILE_FLAGS,
  examples: ['compile specs/*.vnet -o generated'],
  run: (a) => run(a, true),
};
