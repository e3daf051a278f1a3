/**
 * `vnet export <spec> --weights W.safetensors --out model.onnx`: the network and its weights as
 * an ONNX model (src/onnx/export.ts does the work).
 */
import { existsSync } from 'node:fs';
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { checkOrThrow } from '../../codegen/load.js';
import { exportFile } from '../../onnx/export.js';

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'weights',
    short: 'w',
    type: 'string',
    value: 'FILE',
    help: 'safetensors file with the network parameters (required)',
  },
  { name: 'out', short: 'o', type: 'string', value: 'FILE', help: 'ONNX file to write (required)' },
  { name: 'force', type: 'bool', help: 'overwrite an existing --out file' },
];

async function run(a: ParsedArgs): Promise<number> {
  const weights = requireFlag(flagString(a, 'weights'), 'weights');
  const out = requireFlag(flagString(a, 'out'), 'out');
  if (existsSync(out) && !flagBool(a, 'force'))
    throw new UserError(`--out ${out}: the file exists`, ['pass --force to overwrite it']);
  const model = checkOrThrow(a.positionals[0]!);
  const bytes = exportFile(model, weights, out);
  console.log(`wrote ${out}: network '${model.name}', ${model.paramCount} parameters, ${bytes} bytes`);
  return 0;
}

export const exportCommand: CommandSpec = {
  args: ['<spec>'],
  description:
    'Exports the network and its weights as an ONNX model (opset 13) that onnxruntime, PyTorch and other verifiers read; ParamRamp as standard ONNX ops, the input normalisation as Sub/Div nodes.',
  options: FLAGS,
  examples: ['export specs/fmnist-mlp.vnet -w runs/fmnist-mlp/best.safetensors -o fmnist-mlp.onnx'],
  run,
};
