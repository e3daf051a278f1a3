/**
 * Parsed command-line arguments as commands see them, typed getters, and the checks commander
 * does not do for us: flag values are validated (numbers, list items) and a value that is really
 * the next option (`--weights --help`) is refused rather than taken as a file name.
 */
import { InvalidArgumentError } from 'commander';
import { UserError } from '../base/errors.js';
import type { OptionSpec, ParsedArgs } from './command.js';

export type { FlagValue, ParsedArgs } from './command.js';

/** commander argParser for `number` options. */
export function parseNumberValue(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`not a number: '${value}'`);
  return n;
}

/** commander argParser for `list` options: comma-separated, trimmed, no empty items. */
export function parseListValue(value: string): string[] {
  const items = value.split(',').map((v) => v.trim());
  if (items.some((v) => v === ''))
    throw new InvalidArgumentError(
      items.every((v) => v === '')
        ? 'the list is empty'
        : `'${value}' has an empty item (write the items separated by single commas)`,
    );
  return items;
}

const looksLikeOption = (t: string): boolean => t.startsWith('-') && t !== '-' && !/^-\d|^-\.\d/.test(t);

/**
 * Refuses `--flag NEXT` where the flag takes a value and NEXT is itself an option (commander would
 * take `--help` as the file name in `--weights --help`). `--flag=value` is always literal.
 */
export function checkFlagValues(argv: readonly string[], specs: readonly OptionSpec[]): void {
  const valued = new Map<string, OptionSpec>();
  for (const s of specs)
    if (s.type !== 'bool') {
      valued.set(`--${s.name}`, s);
      if (s.short) valued.set(`-${s.short}`, s);
    }
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') return;
    const s = valued.get(t);
    if (!s) continue;
    const next = argv[i + 1];
    if (next !== undefined && looksLikeOption(next))
      throw new UserError(
        `option '--${s.name}' needs a value, but the next argument is the option '${next}'`,
        [
          `give the value right after the flag, or write --${s.name}=${next} if '${next}' is really the value`,
        ],
      );
    i++;
  }
}

/** Typed getters. */
export const flagString = (a: ParsedArgs, name: string): string | undefined => {
  const v = a.flags[name];
  return typeof v === 'string' ? v : undefined;
};
export const flagNumber = (a: ParsedArgs, name: string): number | undefined => {
  const v = a.flags[name];
  return typeof v === 'number' ? v : undefined;
};
export const flagBool = (a: ParsedArgs, name: string): boolean => a.flags[name] === true;
export const flagList = (a: ParsedArgs, name: string): readonly string[] | undefined => {
  const v = a.flags[name];
  return Array.isArray(v) ? (v as readonly string[]) : typeof v === 'string' ? parseListValue(v) : undefined;
};
export function requireFlag<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new UserError(`missing required option '--${name}'`);
  return v;
}
