/**
 * `vnet bounds <spec> --weights W --input X.json --eps E --method M [--lines L] [--intermediate]
 * [--json]`: certified bounds for given inputs. X.json is `{"x": [[...], ...], "labels": [...]}`,
 * each row a flattened C,H,W input in the spec's raw domain; labels are optional. With labels the
 * bounds are on the margins z_y − z_j (j ≠ y, ascending; N×(K−1)), else on the logits (N×K).
 * `--intermediate` adds every activation layer's pre-activation bounds (rows flattened C,H,W).
 * Output: a readable table, or JSON `{method, lines, eps, lower, upper, ...}`.
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagString, requireFlag, type ParsedArgs } from '../args.js';
import {
  BACKEND_FLAG,
  BOUND_METHODS,
  epsWarning,
  intFlag,
  JSON_FLAG,
  LINE_STRATEGIES,
  parseEps,
  pickOne,
  startBackend,
} from '../options.js';
import { alphaInputs, computeBounds, formatBounds, parseBoundsInput } from '../../verify/bounds.js';
import { loadNetwork } from '../../verify/model.js';
import { alphaVnnlib, formatVnnlibBounds, vnnlibBounds } from '../../verify/vnnlib-bounds.js';
import { readVnnlib } from '../../vnnlib/parse.js';
import { specToSeqNet } from '../../complete/spec-net.js';
import { checkOrThrow } from '../../codegen/load.js';
import { readSafetensors } from '../../runtime/io/safetensors.js';
import { UserError } from '../../base/errors.js';

/** The generated module's methods, and alpha-crown (the float64 complete verifier's α-CROWN, ReLU nets). */
const METHODS = [...BOUND_METHODS, 'alpha-crown'] as const;

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'weights',
    type: 'string',
    value: 'FILE',
    help: 'safetensors file with the network parameters (required)',
  },
  {
    name: 'input',
    type: 'string',
    value: 'FILE',
    help: 'JSON file {"x": [[...]], "labels": [...]}: one flattened C,H,W row per input, raw units (required unless --vnnlib)',
  },
  {
    name: 'vnnlib',
    type: 'string',
    value: 'FILE',
    help: 'VNN-LIB property (.vnnlib or .vnnlib.gz) instead of --input/--eps: bounds of its unsafe rows over its boxes',
  },
  { name: 'eps', type: 'string', help: 'L∞ radius, e.g. 0.1 or 8/255 (required unless --vnnlib)' },
  { name: 'method', type: 'string', help: `${METHODS.join('|')} (required)` },
  { name: 'lines', type: 'string', help: `${LINE_STRATEGIES.join('|')} (default: the spec's verify lines)` },
  { name: 'intermediate', type: 'bool', help: "add every activation layer's pre-activation bounds" },
  JSON_FLAG,
  { name: 'batch', type: 'number', help: 'inputs per batch', default: 100 },
  BACKEND_FLAG,
];

async function run(a: ParsedArgs): Promise<number> {
  const specPath = a.positionals[0]!;
  const weightsPath = requireFlag(flagString(a, 'weights'), 'weights');
  const vnnlibPath = flagString(a, 'vnnlib');
  if (
    vnnlibPath !== undefined &&
    (flagString(a, 'input') !== undefined || flagString(a, 'eps') !== undefined)
  )
    throw new UserError('--vnnlib replaces --input and --eps: give one or the other');
  const prop = vnnlibPath !== undefined ? readVnnlib(vnnlibPath) : undefined;
  const inputPath = prop ? '' : requireFlag(flagString(a, 'input'), 'input');
  const eps = prop ? 0 : parseEps(requireFlag(flagString(a, 'eps'), 'eps'));
  const method = pickOne('method', requireFlag(flagString(a, 'method'), 'method'), METHODS);
  const linesFlag = flagString(a, 'lines');
  const batch = intFlag(a, 'batch', 1) ?? 100;

  const backend = await startBackend(a);
  const { mod, params } = await loadNetwork(specPath, weightsPath);
  const meta = mod.meta;
  const lines = linesFlag !== undefined ? pickOne('lines', linesFlag, LINE_STRATEGIES) : meta.verify.lines;
  if (method === 'alpha-crown') {
    if (flagBool(a, 'intermediate')) throw new UserError('--intermediate is not available with alpha-crown');
    const net = specToSeqNet(checkOrThrow(specPath), readSafetensors(weightsPath).tensors);
    const r = prop
      ? alphaVnnlib(net, prop, vnnlibPath!, meta.classes, lines)
      : alphaInputs(net, parseBoundsInput(inputPath, meta), meta, eps, lines);
    console.log(
      flagBool(a, 'json')
        ? JSON.stringify(r)
        : 'cases' in r
          ? formatVnnlibBounds(r, meta.name)
          : formatBounds(r, meta),
    );
    return 0;
  }
  if (prop) {
    const r = await vnnlibBounds(mod, params, prop, vnnlibPath!, method, lines);
    console.log(flagBool(a, 'json') ? JSON.stringify(r) : formatVnnlibBounds(r, meta.name));
    return 0;
  }
  const far = epsWarning(eps, meta.input.domain);
  if (far) console.error(`warning: ${far}`);
  const input = parseBoundsInput(inputPath, meta);
  const r = await computeBounds(
    mod,
    params,
    input,
    eps,
    method,
    lines,
    flagBool(a, 'intermediate'),
    batch,
    backend.detail,
  );
  console.log(flagBool(a, 'json') ? JSON.stringify(r) : formatBounds(r, meta));
  return 0;
}

export const boundsCommand: CommandSpec = {
  args: ['<spec>'],
  description: [
    'Certified bounds on the logits (or, with labels, the margins z_y - z_j) of the inputs in a JSON file.',
    'Each row of "x" is one input flattened in C,H,W order (as torch.flatten) in the raw units of the',
    "spec's input domain (e.g. pixels in [0, 1]); the network applies its own normalisation.",
    'Example input: docs/examples/bounds-input.json.',
  ].join('\n'),
  options: FLAGS,
  examples: [
    'bounds specs/fmnist-mlp.vnet --weights init.safetensors --input docs/examples/bounds-input.json --eps 0.01 --method crown-ibp --json',
  ],
  run,
};
