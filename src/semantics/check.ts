/**
 * AST → ModelIR: the top-level blocks (`network`, `threat`, `train`, `verify`), each checked
 * by its own module; this file only dispatches, reports unknown, duplicate, misnamed and missing
 * blocks, and assembles the IR. Blocks are checked even when another one has errors, so a single
 * run reports every problem; the IR is built only when nothing was reported as an error.
 *
 * Only `network` is required: a spec used to compute bounds or to verify needs neither `threat` nor
 * `train` (the commands that need one say so, src/runtime/module.ts `requireBlock`); a `train`
 * block needs a `threat` block (its ε ramp ends at `train_eps`).
 */
import type { ModelIR } from '../ir/ir.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Block, Program } from '../syntax/ast.js';
import { collectBlocks } from './blocks.js';
import { checkNetwork, countParams } from './network.js';
import { checkThreat, checkTrain, checkVerify } from './recipe.js';
import { didYouMean } from './values.js';

/** The top-level blocks, with the help shown when a required one is missing. */
const BLOCKS: Readonly<Record<string, { readonly required: boolean; readonly example: string }>> = {
  network: { required: true, example: 'network my_net { input = 1x28x28  classes = 10  layers { ... } }' },
  threat: { required: false, example: 'threat { train_eps = 0.1 }' },
  train: { required: false, example: 'train { dataset = fashion-mnist }' },
  verify: { required: false, example: 'verify { methods = [ibp, crown-ibp] }' },
};

/** Identity of the checked file, computed by the caller. */
export interface ModuleInfo {
  readonly moduleName: string;
  readonly sourcePath: string;
  readonly specHash: string;
}

/** Checks a parsed spec; the IR when no error was reported, else undefined. */
export function check(program: Program, info: ModuleInfo, bag: DiagnosticBag): ModelIR | undefined {
  const blocks = new Map<string, Block>();
  // reusable `block NAME { ... }` definitions (any number), expanded inside the network's layers
  const defs = collectBlocks(
    program.blocks.filter((b) => b.keyword.text === 'block'),
    bag,
  );
  for (const b of program.blocks) {
    const kind = b.keyword.text;
    if (kind === 'block') continue;
    if (!(kind in BLOCKS)) {
      bag.report(Diag.UnknownBlock, b.keyword.span, [kind], {
        help: [
          didYouMean(kind, [...Object.keys(BLOCKS), 'block']),
          `expected one of: ${Object.keys(BLOCKS).join(', ')}, block`,
        ],
      });
      continue;
    }
    const first = blocks.get(kind);
    if (first !== undefined) {
      bag.report(Diag.DuplicateBlock, b.keyword.span, [kind], {
        related: [{ message: `the first '${kind}' block is`, span: first.keyword.span }],
        help: ['merge the two blocks'],
      });
      continue;
    }
    if (kind !== 'network' && b.name !== undefined)
      bag.report(Diag.UnexpectedBlockName, b.name.span, [kind, b.name.text], {
        help: [`write \`${kind} { ... }\``],
      });
    blocks.set(kind, b);
  }
  const end: Span = { start: program.span.end, end: program.span.end };
  for (const [kind, { required, example }] of Object.entries(BLOCKS))
    if (required && !blocks.has(kind))
      bag.report(Diag.MissingBlock, end, [kind], { help: [`add \`${example}\``] });
  const trainAt = blocks.get('train');
  if (trainAt && !blocks.has('threat'))
    bag.report(Diag.MissingBlock, end, ['threat'], {
      help: [
        `the 'train' block needs it (its ε ramp ends at train_eps): add \`${BLOCKS['threat']!.example}\``,
      ],
      related: [{ message: "the 'train' block is", span: trainAt.keyword.span }],
    });

  const net = blocks.get('network');
  const facts = net
    ? checkNetwork(net, bag, defs)
    : {
        network: undefined,
        input: undefined,
        inputSpan: undefined,
        domain: undefined,
        classes: undefined,
        slopes: undefined,
      };
  const threatBlock = blocks.get('threat');
  const threat = threatBlock && checkThreat(threatBlock.entries, threatBlock.keyword.span, facts.domain, bag);
  const trainBlock = blocks.get('train');
  const train = trainBlock && checkTrain(trainBlock.entries, trainBlock.keyword.span, facts, bag);
  const verifyBlock = blocks.get('verify');
  const verify = checkVerify(verifyBlock?.entries, verifyBlock?.keyword.span ?? end, bag);

  const network = facts.network;
  if (bag.hasErrors || !network || (threatBlock && !threat) || (trainBlock && !train) || !verify)
    return undefined;
  return {
    name: network.name,
    moduleName: info.moduleName,
    sourcePath: info.sourcePath,
    specHash: info.specHash,
    input: network.input,
    classes: network.classes,
    layers: network.layers,
    params: network.params,
    paramCount: countParams(network.params),
    ...(threat ? { threat } : {}),
    ...(train ? { train } : {}),
    verify,
  };
}
