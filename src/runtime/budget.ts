/**
 * The memory budget of the bound passes whose linear forms grow with the input size: full CROWN
 * (chunks its rows to fit) and LBP (refuses a batch that cannot fit; callers retry with fewer
 * samples). One budget, in MiB of float32 values, from env VNET_CROWN_BUDGET_MB (default 1 GiB).
 */
import { UserError } from '../base/errors.js';
import { envVar } from './env.js';

const DEFAULT_BUDGET_MB = 1024;

/** A bound computation refused because it would exceed the memory budget (a UserError: exit 1). */
export class MemoryBudgetError extends UserError {
  constructor(message: string, help: readonly string[] = []) {
    super(message, help);
    this.name = 'MemoryBudgetError';
  }
}

/** The budget in float32 values (env VNET_CROWN_BUDGET_MB, MiB; default 1024). */
export function crownBudgetFloats(): number {
  const raw = envVar('VNET_CROWN_BUDGET_MB');
  const mb = raw === undefined || raw === '' ? DEFAULT_BUDGET_MB : Number(raw);
  if (!(mb > 0)) throw new UserError(`VNET_CROWN_BUDGET_MB must be a positive number of MiB, got '${raw}'`);
  return (mb * 2 ** 20) / 4;
}

/** A count of float32 values in MiB, for messages. */
export const mib = (floats: number): string => ((floats * 4) / 2 ** 20).toFixed(1);
