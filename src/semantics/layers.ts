/**
 * Layer kinds as the checker sees them: the rules themselves live with their operators
 * (`src/ops/<kind>.ts`, listed in `src/ops/index.ts`); this file keeps the help for names that
 * are not layer kinds (aliases from PyTorch or Keras, operators vnet does not have).
 */
export { OP_RULES as LAYER_RULES } from '../ops/index.js';
export type { OpRule as LayerRule, LayerInput, ParamShape } from '../ops/op.js';

/** Names users coming from PyTorch or Keras may try, with the vnet kind to suggest. */
const ALIASES: Readonly<Record<string, string>> = {
  linear: 'dense',
  fc: 'dense',
  conv: 'conv2d',
  ramp: 'paramramp',
  leakyrelu: 'leaky_relu',
  batch_norm: 'batchnorm',
  batchnorm2d: 'batchnorm',
  batchnorm1d: 'batchnorm',
  avg_pool: 'avgpool',
  avgpool2d: 'avgpool',
  adaptive_avgpool: 'global_avgpool',
  zeropad: 'pad',
  max_pool: 'maxpool',
  maxpool2d: 'maxpool',
};

/** Operators vnet v1 does not have (help says so instead of suggesting a near name). */
const UNSUPPORTED = new Set(['dropout', 'softmax']);

/** Help for an unknown layer kind. */
export function unknownKindHelp(kind: string): string | undefined {
  const k = kind.toLowerCase();
  if (UNSUPPORTED.has(k)) return `'${kind}' is not supported by vnet yet`;
  const alias = ALIASES[k];
  return alias === undefined ? undefined : `did you mean '${alias}'?`;
}
