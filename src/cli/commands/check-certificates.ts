/**
 * `vnet check-certificates FILE --spec S --weights W`: re-checks the certificates `vnet verify
 * --certificates` wrote against a spec and a weight file with the rigorous binary64 checker only
 * (src/verify/rigorous/check.ts; no TensorFlow.js computation, none of the code that wrote the
 * file). Exit 0
 * when every certificate holds, 1 naming every one that does not.
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagNumber, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { ProgressBar } from '../../base/progress.js';
import { checkCertificateFile, formatFailure, FLOAT32_TOLERANCE } from '../../verify/rigorous/index.js';

const FLAGS: readonly OptionSpec[] = [
  { name: 'spec', type: 'string', value: 'SPEC', help: 'the .vnet spec the certificates are for (required)' },
  { name: 'weights', type: 'string', value: 'FILE', help: 'the safetensors weight file (required)' },
  { name: 'data', type: 'string', help: 'data set directory (default: the usual locations)' },
  {
    name: 'tolerance',
    type: 'number',
    help: `how far a float32 margin bound may exceed the best rigorous one, relative (default ${FLOAT32_TOLERANCE})`,
  },
  { name: 'json', type: 'bool', help: 'print the report as JSON' },
];

async function run(a: ParsedArgs): Promise<number> {
  const file = a.positionals[0]!;
  const specPath = requireFlag(flagString(a, 'spec'), 'spec');
  const weightsPath = requireFlag(flagString(a, 'weights'), 'weights');
  const tolerance = flagNumber(a, 'tolerance');
  if (tolerance !== undefined && !(tolerance >= 0))
    throw new UserError(`--tolerance must be ≥ 0, got ${tolerance}`);
  const dataDir = flagString(a, 'data');
  let bar: ProgressBar | undefined;
  const r = await checkCertificateFile(file, {
    specPath,
    weightsPath,
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(tolerance !== undefined ? { tolerance } : {}),
    onProgress: (done, total) =>
      (bar ??= new ProgressBar({ total, label: 'check', unit: 'certificate' })).update(done),
  });
  bar?.done();
  if (flagBool(a, 'json')) console.log(JSON.stringify(r, null, 2));
  else if (r.failures.length === 0)
    console.log(
      `${file}: all ${r.total} certificates hold (${r.verifiedHolding} verified) for ${specPath} (sha256 ${r.specHash.slice(0, 12)}…) and ${weightsPath} (sha256 ${r.weightsHash.slice(0, 12)}…); largest float32 excess over a rigorous bound ${r.float32Excess.toPrecision(2)} (relative; tolerance ${tolerance ?? FLOAT32_TOLERANCE}); ${r.passes} rigorous passes, ${r.seconds.toFixed(1)} s`,
    );
  if (r.failures.length > 0) {
    if (!flagBool(a, 'json')) for (const f of r.failures) console.error(formatFailure(f));
    console.error(`${file}: ${r.failures.length} of ${r.total} certificates do not hold`);
    return 1;
  }
  return 0;
}

export const checkCertificatesCommand: CommandSpec = {
  args: ['<certificates.jsonl>'],
  description: [
    'Re-checks a certificate file of `vnet verify --certificates` against the spec and the weight',
    'file with the rigorous binary64 checker only (outward rounding; no TensorFlow.js computation): the spec',
    'and weight hashes must match, each verified claim must be proved again (every margin lower',
    'bound > 0), each rigorous margin bound must be reproduced, and each float32 margin bound may',
    'exceed the best rigorous bound only by float32 rounding. Exit 1 names every certificate',
    'that does not hold. docs/soundness.md explains the argument.',
  ].join(' '),
  options: FLAGS,
  examples: [
    'check-certificates certs.jsonl --spec specs/fmnist-mlp.vnet --weights models/fmnist-mlp.safetensors --data data/fashion-mnist-subset',
  ],
  run,
};
