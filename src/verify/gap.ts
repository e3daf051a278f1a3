/**
 * The mean logit bound gap mean(u − l) of a generated module versus ε (paper Fig. 3, on this
 * network): for a few images, logit bounds (no margin specification) for each method and line
 * strategy at each ε. A method that refuses for memory (see boundsChunked), or yields
 * non-finite bounds, gives null.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import type { GeneratedModule, ParamSet } from '../runtime/module.js';
import type { BoundResult, RunOptions } from '../runtime/types.js';
import type { GapSection } from './report-html.js';
import { BoundRefusal, disposeResult } from './evaluate.js';
import { boundsChunked } from './model.js';

/** The curves of paper Fig. 3: IBP, and the linear methods with tight and adaptive lines. */
export const GAP_CURVES: readonly { readonly method: BoundMethod; readonly lines: LineStrategy }[] = [
  { method: 'ibp', lines: 'tight' },
  ...(['crown-ibp', 'lbp', 'crown-lbp', 'crown'] as const).flatMap((method) =>
    (['tight', 'adaptive'] as const).map((lines) => ({ method, lines })),
  ),
];

/** Default ε grid: 1e-5 … 1e-1, one point per decade. */
export const GAP_EPS: readonly number[] = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1];

/** Mean u − l over all logits of `x` ([n · prod(inputShape)], raw, internal layout) per curve and ε. */
export async function boundGap(
  mod: GeneratedModule,
  p: ParamSet,
  x: Float32Array,
  epsList: readonly number[],
  o: RunOptions,
  curves = GAP_CURVES,
  onRefusal: (method: BoundMethod, message: string) => void = () => {},
): Promise<GapSection> {
  const meta = mod.meta;
  const per = meta.inputCfg.shape.reduce((a, b) => a * b, 1);
  const n = x.length / per;
  const refused = new Set<BoundMethod>();
  const xt = tf.tensor(x, [n, ...meta.inputCfg.shape]);
  try {
    const series: GapSection['series'][number][] = [];
    for (const { method, lines } of curves) {
      const values: (number | null)[] = [];
      for (const eps of epsList) values.push(refused.has(method) ? null : await gapAt(method, lines, eps));
      series.push({ method, lines, values });
    }
    return { eps: epsList, images: n, series };
  } finally {
    xt.dispose();
  }

  async function gapAt(method: BoundMethod, lines: LineStrategy, eps: number): Promise<number | null> {
    let r: BoundResult;
    try {
      r = boundsChunked(mod, p, xt, eps, method, { ...o, lines });
    } catch (e) {
      if (!(e instanceof BoundRefusal)) throw e;
      refused.add(method);
      onRefusal(method, e.message);
      return null;
    }
    const gap = tf.tidy(() => tf.mean(tf.sub(r.upper, r.lower)));
    disposeResult(r);
    const v = (await gap.data())[0]!;
    gap.dispose();
    return Number.isFinite(v) ? v : null;
  }
}
