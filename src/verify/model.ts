/**
 * Glue between the commands and a generated module: loading a spec, its weights and a data
 * split, the evaluation run options (η at its end value, paper-notes §1 "η variants"), and the
 * `Verifiable` view of a module (clean logits plus margin bounds over rt.inputBox) that the
 * evaluation loop works on.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as rt from '../runtime/index.js';
import type { GeneratedModule, ModuleMeta, ParamSet } from '../runtime/module.js';
import type { BoundMethod, BoundOptions, BoundResult, RunOptions } from '../runtime/types.js';
import { loadSpecModule } from '../codegen/load.js';
import { loadParams } from '../runtime/io/safetensors.js';
import { BoundRefusal, disposeResult, type Verifiable } from './evaluate.js';

/** Run options for evaluation: η = the schedule's end value when the recipe decays η. */
export function evalOptions(meta: ModuleMeta): RunOptions {
  return meta.evalEta !== undefined ? { eta: meta.evalEta } : {};
}

/** Per module and method: the largest chunk that has fitted the memory budget after a refusal. */
const learnedCap = new WeakMap<GeneratedModule, Map<BoundMethod, number>>();

/**
 * `mod.bounds` on raw inputs `x` over the ε-ball ∩ domain. When the runtime refuses a batch for
 * memory (MemoryBudgetError: LBP's linear forms or full CROWN's rows would exceed the budget),
 * the batch is halved until it fits, and the size that fitted is remembered for later calls with
 * the same module and method; labels in `o` are sliced along. A refusal at a single sample
 * becomes a `BoundRefusal` carrying the runtime's message.
 */
export function boundsChunked(
  mod: GeneratedModule,
  p: ParamSet,
  x: tf.Tensor,
  eps: number,
  method: BoundMethod,
  o: BoundOptions,
): BoundResult {
  const caps = learnedCap.get(mod) ?? new Map<BoundMethod, number>();
  learnedCap.set(mod, caps);
  const once = (xs: tf.Tensor, labels: tf.Tensor1D | undefined): BoundResult =>
    tidyResult(() =>
      mod.bounds(p, rt.inputBox(xs, eps, mod.meta.inputCfg), method, { ...o, ...(labels ? { labels } : {}) }),
    );
  const run = (xs: tf.Tensor, labels: tf.Tensor1D | undefined): BoundResult => {
    const B = xs.shape[0]!;
    const cap = caps.get(method) ?? Infinity;
    if (B <= cap) {
      try {
        return once(xs, labels);
      } catch (e) {
        if (!(e instanceof rt.MemoryBudgetError)) throw e;
        if (B <= 1) throw new BoundRefusal(e.message);
        caps.set(method, Math.ceil(B / 2));
        return run(xs, labels);
      }
    }
    const parts: BoundResult[] = [];
    try {
      for (let start = 0, size = 0; start < B; start += size) {
        size = Math.min(caps.get(method)!, B - start);
        const xs2 = tf.slice(xs, start, size);
        const l2 = labels && tf.slice(labels, start, size);
        try {
          parts.push(run(xs2, l2));
        } finally {
          tf.dispose(l2 ? [xs2, l2] : [xs2]);
        }
      }
      return concatResults(parts);
    } finally {
      parts.forEach(disposeResult);
    }
  };
  return run(x, o.labels);
}

/** The verifier's view of a generated module with loaded parameters (lower-only margin bounds, with intermediates). */
export function verifiable(
  mod: GeneratedModule,
  p: ParamSet,
  o: RunOptions = evalOptions(mod.meta),
): Verifiable {
  const meta = mod.meta;
  return {
    classes: meta.classes,
    inputShape: meta.inputCfg.shape,
    domain: meta.inputCfg.domain,
    logits: (x) => mod.forward(p, x, o),
    bounds: (x, eps, method, lines, labels) =>
      boundsChunked(mod, p, x, eps, method, {
        ...o,
        lines,
        labels,
        intermediate: true,
        lowerOnly: true,
        noLogits: true,
      }),
  };
}

/** Results of consecutive sub-batches as one (new tensors). */
function concatResults(rs: readonly BoundResult[]): BoundResult {
  const first = rs[0]!;
  return tidyResult(() => ({
    lower: tf.concat(rs.map((r) => r.lower)),
    upper: tf.concat(rs.map((r) => r.upper)),
    logits: tf.concat(rs.map((r) => r.logits)),
    ...(first.intermediate
      ? {
          intermediate: first.intermediate.map((L, i) => ({
            layer: L.layer,
            lower: tf.concat(rs.map((r) => r.intermediate![i]!.lower)),
            upper: tf.concat(rs.map((r) => r.intermediate![i]!.upper)),
          })),
        }
      : {}),
    ...(first.base
      ? {
          base: {
            lower: tf.concat(rs.map((r) => r.base!.lower)),
            upper: tf.concat(rs.map((r) => r.base!.upper)),
          },
        }
      : {}),
  }));
}

/** `tf.tidy` for a BoundResult (a plain object of tensors that tfjs's TensorContainer type does not name). */
export function tidyResult(f: () => BoundResult): BoundResult {
  return tf.tidy(() => f() as unknown as tf.TensorContainer) as unknown as BoundResult;
}

/** A spec's generated module with the parameters of a safetensors file. */
export async function loadNetwork(
  specPath: string,
  weightsPath: string,
): Promise<{ mod: GeneratedModule; params: ParamSet }> {
  const mod = await loadSpecModule(specPath);
  return { mod, params: loadParams(weightsPath, mod.meta) };
}

export { loadEvalSplit, type EvalSplit, type LoadedSplit } from './data.js';
