/**
 * `vnet bundle <spec> --weights W [--certificates C.jsonl] --out DIR`: a static site that
 * certifies the network in the visitor's browser (src/bundle/build.ts, the page in src/web/).
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagNumber, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { buildBundle } from '../../bundle/build.js';
import { formatBundleResult } from '../../bundle/report.js';

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'weights',
    short: 'w',
    type: 'string',
    value: 'FILE',
    help: 'safetensors file with the network parameters (required)',
  },
  {
    name: 'out',
    short: 'o',
    type: 'string',
    value: 'DIR',
    help: 'directory to write the site to (required)',
  },
  {
    name: 'certificates',
    type: 'string',
    help: 'a `vnet verify --certificates` file to bundle; the page re-checks it',
  },
  { name: 'samples', type: 'number', help: 'test samples offered on the page', default: 12 },
  { name: 'data', type: 'string', help: 'data set directory (default: the usual locations)' },
  {
    name: 'split',
    type: 'string',
    help: 'test, or val: the split the certificates were made on',
    default: 'test',
  },
];

async function run(a: ParsedArgs): Promise<number> {
  const split = flagString(a, 'split') ?? 'test';
  if (split !== 'test' && split !== 'val')
    throw new UserError(`--split must be 'test' or 'val', got '${split}'`);
  const certificates = flagString(a, 'certificates');
  const data = flagString(a, 'data');
  const r = await buildBundle({
    specPath: a.positionals[0]!,
    weightsPath: requireFlag(flagString(a, 'weights'), 'weights'),
    outDir: requireFlag(flagString(a, 'out'), 'out'),
    split,
    samples: flagNumber(a, 'samples') ?? 12,
    ...(certificates !== undefined ? { certificatesPath: certificates } : {}),
    ...(data !== undefined ? { dataDir: data } : {}),
  });
  console.log(formatBundleResult(r));
  return 0;
}

export const bundleCommand: CommandSpec = {
  args: ['<spec>'],
  description: [
    'Writes a static site to DIR: index.html, app.js (the generated module, the runtime and',
    'TensorFlow.js, bundled with esbuild), the tfjs wasm binaries, the weights, a few test samples',
    'and the certificate file. Serve DIR with any static file server (nothing is fetched from',
    'elsewhere); the page certifies a sample or a dropped image and re-checks the certificates.',
  ].join(' '),
  options: FLAGS,
  examples: ['bundle specs/fmnist-mlp.vnet -w runs/fmnist-mlp/best.safetensors -o site'],
  run,
};
