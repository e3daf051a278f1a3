/**
 * `vnet init <spec> [--seed S] --out W.safetensors`: writes freshly initialised parameters
 * (PyTorch's default init, seeded) in the same safetensors format as training checkpoints, with
 * PyTorch names and layouts, so a user can start from, inspect or export a model without training.
 */
import { existsSync } from 'node:fs';
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagNumber, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { loadSpecModule } from '../../codegen/load.js';
import { saveParamsAsync } from '../../runtime/io/safetensors.js';
import { BACKEND_FLAG, startBackend } from '../options.js';

const FLAGS: readonly OptionSpec[] = [
  { name: 'out', short: 'o', type: 'string', value: 'FILE', help: 'safetensors file to write (required)' },
  { name: 'seed', type: 'number', help: "random seed (default: the spec's train seed, else 0)" },
  { name: 'force', type: 'bool', help: 'overwrite an existing --out file' },
  BACKEND_FLAG,
];

async function run(a: ParsedArgs): Promise<number> {
  const specPath = a.positionals[0]!;
  const out = requireFlag(flagString(a, 'out'), 'out');
  if (!out.endsWith('.safetensors'))
    throw new UserError(`--out ${out}: the file name must end in .safetensors`);
  if (existsSync(out) && !flagBool(a, 'force'))
    throw new UserError(`--out ${out}: the file exists`, ['pass --force to overwrite it']);
  const seedFlag = flagNumber(a, 'seed');
  if (seedFlag !== undefined && !(Number.isSafeInteger(seedFlag) && seedFlag >= 0))
    throw new UserError(`--seed must be an integer ≥ 0, got ${seedFlag}`);

  await startBackend(a);
  const mod = await loadSpecModule(specPath);
  const meta = mod.meta;
  const seed = seedFlag ?? meta.train?.seed ?? 0;
  const params = mod.initParams(seed);
  await saveParamsAsync(out, meta, params, { seed: String(seed), init: 'pytorch-default' });
  Object.values(params).forEach((v) => v.dispose());
  console.log(
    `wrote ${out}: ${meta.params.length} tensors, ${meta.paramCount} parameters of network '${meta.name}' (seed ${seed})`,
  );
  return 0;
}

export const initCommand: CommandSpec = {
  args: ['<spec>'],
  description:
    "Writes freshly initialised parameters (PyTorch's default init, seeded) in the safetensors format of training checkpoints, with PyTorch names and layouts.",
  options: FLAGS,
  examples: ['init specs/fmnist-mlp.vnet -o init.safetensors --seed 3'],
  run,
};
