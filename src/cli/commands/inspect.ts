/**
 * `vnet inspect <spec> --weights W --eps E [--method ibp|lbp]`: per-layer neuron-status statistics
 * under the chosen bounds (ReLU/LeakyReLU: dead, unstable, alive; ParamRamp: the six states of
 * paper-notes §1), in percent of neurons × samples, as a table or JSON.
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { formatStatusTable } from '../../verify/format.js';
import { neuronStatus, type StatusMethod } from '../../verify/inspect.js';
import { evalOptions, loadEvalSplit, loadNetwork, testEpsOf } from '../../verify/model.js';
import type { LayerStatus } from '../../verify/status.js';
import { BACKEND_FLAG, epsWarning, intFlag, parseEps, splitFlag, startBackend } from '../options.js';

const FLAGS: readonly OptionSpec[] = [
  { name: 'weights', type: 'string', help: 'safetensors file with the network parameters (required)' },
  { name: 'eps', type: 'string', help: "L∞ radius (default: the spec's largest test_eps)" },
  { name: 'method', type: 'string', help: 'bounds to classify: ibp or lbp', default: 'ibp' },
  { name: 'data', type: 'string', help: 'data set directory (default: the usual locations)' },
  { name: 'split', type: 'string', help: 'test or val', default: 'test' },
  { name: 'limit', type: 'number', help: 'use only the first N samples' },
  { name: 'batch', type: 'number', help: 'samples per batch', default: 100 },
  { name: 'json', type: 'bool', help: 'print JSON instead of a table' },
  BACKEND_FLAG,
];

/** What `vnet inspect --json` prints (and `vnet report --inspect` reads). */
export interface InspectJson {
  readonly kind: 'vnet-inspect';
  readonly spec: string;
  readonly network: string;
  readonly weights: string;
  readonly method: StatusMethod;
  readonly eps: number;
  readonly n: number;
  readonly layers: readonly LayerStatus[];
}

async function run(a: ParsedArgs): Promise<number> {
  const specPath = a.positionals[0]!;
  const weightsPath = requireFlag(flagString(a, 'weights'), 'weights');
  const method = flagString(a, 'method') ?? 'ibp';
  if (method !== 'ibp' && method !== 'lbp')
    throw new UserError(`--method must be 'ibp' or 'lbp', got '${method}'`);
  const split = splitFlag(a);
  const limit = intFlag(a, 'limit', 1);
  const batch = intFlag(a, 'batch', 1) ?? 100;
  const epsText = flagString(a, 'eps');
  const dir = flagString(a, 'data');

  await startBackend(a);
  const { mod, params } = await loadNetwork(specPath, weightsPath);
  const meta = mod.meta;
  const eps = epsText !== undefined ? parseEps(epsText) : Math.max(...testEpsOf(meta, 'inspect'));
  const far = epsWarning(eps, meta.input.domain);
  if (far) console.error(`warning: ${far}`);
  const data = await loadEvalSplit(meta, {
    command: 'inspect',
    split,
    ...(dir !== undefined ? { dir } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  const layers = await neuronStatus(mod, params, data, eps, method, batch, evalOptions(meta));
  if (flagBool(a, 'json')) {
    const out: InspectJson = {
      kind: 'vnet-inspect',
      spec: specPath,
      network: meta.name,
      weights: weightsPath,
      method,
      eps,
      n: data.labels.length,
      layers,
    };
    console.log(JSON.stringify(out, null, 2));
  } else {
    console.log(
      `${meta.name}: neuron status under ${method.toUpperCase()} bounds at ε = ${eps}, ${data.labels.length} ${split} samples (% of neurons × samples)`,
    );
    console.log(formatStatusTable(layers));
  }
  for (const l of layers.filter((x) => x.nonFinite > 0))
    console.error(`warning: layer ${l.layer}: ${l.nonFinite} neuron bounds were NaN/Inf and are not counted`);
  return 0;
}

export const inspectCommand: CommandSpec = {
  args: ['<spec>'],
  description:
    'Classifies every neuron of every activation layer by its pre-activation bounds over the ε-ball of each sample.',
  options: FLAGS,
  examples: ['inspect specs/fmnist-mlp.vnet --weights runs/fmnist-mlp-quick/best.safetensors --eps 0.1'],
  run,
};
