/**
 * `vnet import model.onnx [--out DIR] [--name N] [--domain lo,hi]`: an ONNX model (`.onnx` or
 * `.onnx.gz`) → `DIR/N.vnet` and `DIR/N.safetensors` (src/onnx/import.ts does the work).
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagString, type ParsedArgs } from '../args.js';
import { importFile, identifierFrom, modelBaseName } from '../../onnx/import.js';
import { parseDomain } from '../../onnx/export.js';

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'out',
    short: 'o',
    type: 'string',
    value: 'DIR',
    help: 'directory to write N.vnet and N.safetensors to (default: .)',
  },
  { name: 'name', type: 'string', help: "network and file name (default: the model's file name)" },
  { name: 'domain', type: 'string', help: 'raw input domain lo,hi, e.g. 0,1 (default: unbounded)' },
];

async function run(a: ParsedArgs): Promise<number> {
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

export const importCommand: CommandSpec = {
  args: ['<model.onnx>'],
  description:
    'Imports an ONNX model (.onnx or .onnx.gz) as DIR/N.vnet (graph syntax, one line per node, the ONNX node names in comments) and DIR/N.safetensors (PyTorch names and layouts).',
  options: FLAGS,
  examples: ['import mnist-net_256x2.onnx --out models --domain 0,1'],
  run,
};
