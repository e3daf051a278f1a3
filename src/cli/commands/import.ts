/**
 * `vnet import model.onnx [--out DIR] [--name N] [--domain lo,hi]`: an ONNX model (`.onnx` or
 * `.onnx.gz`) → `DIR/N.vnet` and `DIR/N.safetensors` (src/onnx/import.ts does the work).
 */
import type { Command } from '../command.js';
import { flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UserError } from '../errors.js';
import { importFile, identifierFrom, modelBaseName } from '../../onnx/import.js';
import { parseDomain } from '../../onnx/export.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'out', type: 'string', help: 'directory to write N.vnet and N.safetensors to (default: .)' },
  { name: 'name', type: 'string', help: "network and file name (default: the model's file name)" },
  { name: 'domain', type: 'string', help: 'raw input domain lo,hi, e.g. 0,1 (default: unbounded)' },
];

const SYNOPSIS = 'model.onnx [--out DIR] [--name N] [--domain lo,hi]';
const SUMMARY = 'import an ONNX model as a .vnet spec and safetensors weights';

async function run(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv, FLAGS);
  if (a.positionals.length !== 1)
    throw new UserError('expected exactly one ONNX file', [`usage: vnet import ${SYNOPSIS}`]);
  const path = a.positionals[0]!;
  const domainText = flagString(a, 'domain');
  const r = importFile(path, flagString(a, 'out') ?? '.', {
    name: flagString(a, 'name') ?? identifierFrom(modelBaseName(path)),
    ...(domainText !== undefined ? { domain: parseDomain(domainText) } : {}),
  });
  const params = r.tensors.reduce((s, t) => s + t.data.length, 0);
  console.log(
    `wrote ${r.specPath} (${r.net.layers.length} layers, input ${r.net.input.shape.join('x')}, ${r.net.classes} outputs) and ${r.weightsPath} (${r.tensors.length} tensors, ${params} parameters)`,
  );
  return 0;
}

export const importCommand: Command = {
  name: 'import',
  summary: SUMMARY,
  help: usage('import', SYNOPSIS, SUMMARY, FLAGS),
  run,
};
