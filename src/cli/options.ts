/**
 * Options and value checks shared by several commands (`--backend`, `--json`, radii, method
 * lists, integer flags). Light on purpose: the registry loads a command file to show its help, so
 * nothing here imports TensorFlow.js (the backend is imported when a command starts it).
 */
import { UserError } from '../base/errors.js';
import { verbose } from '../base/output.js';
import { closest } from '../util/suggest.js';
import { flagNumber, flagString, type ParsedArgs } from './args.js';
import type { OptionSpec } from './command.js';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import { BACKEND_NAMES } from '../runtime/backend-names.js';

export const BOUND_METHODS: readonly BoundMethod[] = ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'];
export const LINE_STRATEGIES: readonly LineStrategy[] = ['tight', 'adaptive', 'constant'];

/** The `--backend` flag shared by the commands that compute. */
export const BACKEND_FLAG: OptionSpec = {
  name: 'backend',
  type: 'string',
  help: `tfjs backend: ${BACKEND_NAMES.join('|')}`,
  default: 'auto',
};

/** `--json`: results as JSON on stdout (and no progress bars). */
export const JSON_FLAG: OptionSpec = { name: 'json', type: 'bool', help: 'print the results as JSON' };

/**
 * Starts the backend named by `--backend` (initBackend validates the name) and returns its
 * description; `--verbose` prints it.
 */
export async function startBackend(a: ParsedArgs): Promise<{ name: string; detail: string }> {
  const { initBackend } = await import('../runtime/backend.js');
  const info = await initBackend(flagString(a, 'backend') ?? 'auto');
  verbose(`backend: ${info.detail}${info.choice ? ` (${info.choice})` : ''}`);
  return info;
}

/** Parses a radius: a number or a fraction `a/b` (as in specs). */
export function parseEps(text: string, flag = 'eps'): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  const v = m ? Number(m[1]) / (m[2] !== undefined ? Number(m[2]) : 1) : NaN;
  if (!Number.isFinite(v) || v < 0) throw new UserError(`--${flag}: '${text}' is not a radius ≥ 0`);
  return v;
}

/**
 * A warning when a radius is at least the width of the input domain: the ε-ball then covers the
 * whole domain (after clipping), which is almost never what was meant (a typo such as 1e9 for 1e-9
 * or 8 for 8/255). Undefined when the radius is plausible.
 */
export function epsWarning(eps: number, domain: readonly [number, number]): string | undefined {
  const width = domain[1] - domain[0];
  if (!(eps >= width)) return undefined;
  const hint =
    Number.isInteger(eps) && eps >= 1 && eps <= 255 && width <= 1 ? ` (did you mean ${eps}/255?)` : '';
  return `ε = ${eps} is not smaller than the width ${width} of the input domain [${domain[0]}, ${domain[1]}]: the ball covers the whole domain${hint}`;
}

/** Validates a list flag against the allowed values, with did-you-mean. */
export function pickList<T extends string>(
  flag: string,
  given: readonly string[],
  allowed: readonly T[],
): T[] {
  if (given.length === 0) throw new UserError(`--${flag} needs at least one value`);
  return given.map((g) => pickOne(flag, g, allowed));
}

/** Validates one value against the allowed values, with did-you-mean. */
export function pickOne<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const s = closest(v, allowed);
  throw new UserError(
    `--${flag}: unknown value '${v}' (expected one of ${allowed.join(', ')})`,
    s ? [`did you mean '${s}'?`] : [],
  );
}

/** An integer flag ≥ `min`, or undefined when absent. */
export function intFlag(a: ParsedArgs, name: string, min: number): number | undefined {
  const v = flagNumber(a, name);
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= min))
    throw new UserError(`--${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** One `--split` value. */
export function splitFlag(a: ParsedArgs): 'test' | 'val' {
  const split = flagString(a, 'split') ?? 'test';
  if (split !== 'test' && split !== 'val')
    throw new UserError(`--split must be 'test' or 'val', got '${split}'`);
  return split;
}
