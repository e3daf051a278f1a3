/**
 * The effective training recipe of a `vnet train` invocation: the spec's recipe (a generated
 * module's `recipe`) with the command-line overrides applied, and a line per change for the user.
 * `--quick` compresses the whole recipe into a few epochs for the README quick start: every
 * epoch-based number (ε ramp, η ramp, learning-rate milestones) is scaled by the same factor, a
 * clean phase stays at least one epoch long, and the batch size is capped so that the small
 * bundled data set still gives enough steps.
 */
import { UserError } from '../base/errors.js';
import type { TrainConstants } from '../runtime/train/types.js';

/** Epochs of a `--quick` run unless `--epochs` says otherwise. */
export const QUICK_EPOCHS = 20;
/** Largest batch size of a `--quick` run. */
export const QUICK_MAX_BATCH = 100;

export interface RecipeOverrides {
  readonly epochs?: number;
  readonly seed?: number;
  readonly quick?: boolean;
}

/** The recipe to run and a human-readable line per field that differs from the spec's. */
export interface EffectiveRecipe {
  readonly recipe: TrainConstants;
  readonly changes: readonly string[];
}

const positiveInt = (v: number, flag: string): number => {
  if (!Number.isInteger(v) || v < 1)
    throw new UserError(`option '--${flag}' needs a positive integer, got ${v}`);
  return v;
};

/** Scales an epoch count by `f`, keeping a non-zero value non-zero. */
const scale = (v: number, f: number): number => (v === 0 ? 0 : Math.max(1, Math.round(v * f)));

/** Applies `--quick`, `--epochs` and `--seed` to a spec's recipe. */
export function effectiveRecipe(spec: TrainConstants, o: RecipeOverrides): EffectiveRecipe {
  let r: TrainConstants = spec;
  if (o.epochs !== undefined) positiveInt(o.epochs, 'epochs');
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32))
    throw new UserError(`option '--seed' needs an integer in [0, 2^32), got ${o.seed}`);
  if (o.quick) {
    const epochs = o.epochs ?? Math.min(QUICK_EPOCHS, spec.epochs);
    const f = epochs / spec.epochs;
    const e = spec.epsSchedule;
    const eta = spec.etaSchedule;
    r = {
      ...r,
      epochs,
      batchSize: Math.min(spec.batchSize, QUICK_MAX_BATCH),
      epsSchedule: { ...e, start: scale(e.start, f), length: Math.max(2, scale(e.length, f)) },
      lrMilestones: spec.lrMilestones.map((m) => scale(m, f)),
      ...(eta
        ? { etaSchedule: { ...eta, start: scale(eta.start, f), length: Math.max(2, scale(eta.length, f)) } }
        : {}),
    };
  } else if (o.epochs !== undefined) r = { ...r, epochs: o.epochs };
  if (o.seed !== undefined) r = { ...r, seed: o.seed };
  return { recipe: r, changes: describeChanges(spec, r) };
}

/** `epochs 100 → 20`, one line per top-level field that changed. */
function describeChanges(a: TrainConstants, b: TrainConstants): string[] {
  const show = (v: unknown): string =>
    JSON.stringify(v).replace(/"/g, '').replace(/,/g, ', ').replace(/:/g, ': ');
  const out: string[] = [];
  for (const k of Object.keys(b) as (keyof TrainConstants)[]) {
    const [x, y] = [show(a[k]), show(b[k])];
    if (x !== y) out.push(`${k} ${x} → ${y}`);
  }
  return out;
}
