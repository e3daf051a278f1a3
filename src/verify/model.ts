/**
 * Glue between the commands and a generated module: loading a spec, its weights and a data
 * split. The `Verifiable` view of a module and the evaluation run options are in verifiable.ts
 * (re-exported here), which has no file access.
 */
import type { GeneratedModule, ModuleMeta, ParamSet } from '../runtime/module.js';
import { requireBlock } from '../runtime/module.js';
import { loadSpecModule } from '../codegen/load.js';
import { loadParams } from '../runtime/io/safetensors.js';

export { boundsChunked, evalOptions, tidyResult, verifiable } from './verifiable.js';

/** A spec's generated module with the parameters of a safetensors file. */
export async function loadNetwork(
  specPath: string,
  weightsPath: string,
): Promise<{ mod: GeneratedModule; params: ParamSet }> {
  const mod = await loadSpecModule(specPath);
  return { mod, params: loadParams(weightsPath, mod.meta) };
}

export { loadEvalSplit, type EvalSplit, type LoadedSplit } from './data.js';

/** The spec's test ε list (the default radii of verify, inspect and report), or a UserError naming the block. */
export const testEpsOf = (meta: ModuleMeta, command: string): readonly number[] =>
  requireBlock(meta, 'threat', command, "its default radii are the threat block's test_eps", 'or pass --eps')
    .testEps;
