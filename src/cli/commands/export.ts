/**
 * `vnet export <spec> --weights W.safetensors --out model.onnx`: the network and its weights as
 * an ONNX model (src/onnx/export.ts does the work).
 */
import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { flagBool, flagString, parseArgs, requireFlag, usage, type FlagSpec } from '../args.js';
import { UserError } from '../errors.js';
import { checkOrThrow } from '../../codegen/load.js';
import { exportFile } from '../../onnx/export.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'weights', type: 'string', help: 'safetensors file with the network parameters (required)' },
  { name: 'out', type: 'string', help: 'ONNX file to write (required)' },
  { name: 'force', type: 'bool', help: 'overwrite an existing --out file' },
];

const SYNOPSIS = '<spec.vnet> --weights W.safetensors --out model.onnx';
const SUMMARY = 'export a network and its weights as an ONNX model';

async function run(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv, FLAGS);
  if (a.positionals.length !== 1)
    throw new UserError('expected exactly one spec file', [`usage: vnet export ${SYNOPSIS}`]);
  const weights = requireFlag(flagString(a, 'weights'), 'weights');
  const out = requireFlag(flagString(a, 'out'), 'out');
  if (existsSync(out) && !flagBool(a, 'force'))
    throw new UserError(`--out ${out}: the file exists`, ['pass --force to overwrite it']);
  const model = checkOrThrow(a.positionals[0]!);
  const bytes = exportFile(model, weights, out);
  console.log(`wrote ${out}: network '${model.name}', ${model.paramCount} parameters, ${bytes} bytes`);
  return 0;
}

export const exportCommand: Command = {
  name: 'export',
  summary: SUMMARY,
  help: usage('export', SYNOPSIS, SUMMARY, FLAGS),
  run,
};
