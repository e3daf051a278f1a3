/**
 * A small, strict flag parser shared by every command: `--flag value`, `--flag=value`, boolean
 * flags, positionals. Unknown flags are user errors with a did-you-mean.
 */
import { UserError } from './errors.js';
import { closest } from '../util/suggest.js';

export interface FlagSpec {
  readonly name: string;
  /** 'bool' flags take no value. */
  readonly type: 'string' | 'number' | 'bool' | 'list';
  readonly help: string;
  readonly default?: string | number | boolean;
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly flags: Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags: Record<string, string | number | boolean | readonly string[] | undefined> = {};
  for (const s of specs) flags[s.name] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) {
      const s = closest(name, [...byName.keys()]);
      throw new UserError(`unknown option '--${name}'`, s ? [`did you mean '--${s}'?`] : []);
    }
    if (spec.type === 'bool') {
      if (eq >= 0) throw new UserError(`option '--${name}' takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new UserError(`option '--${name}' needs a value`);
    if (spec.type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n))
        throw new UserError(`option '--${name}' needs a number, got '${value}'`);
      flags[name] = n;
    } else if (spec.type === 'list') {
      flags[name] = value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
    } else flags[name] = value;
  }
  return { positionals, flags };
}

export function usage(
  command: string,
  synopsis: string,
  summary: string,
  specs: readonly FlagSpec[],
): string {
  const lines = [`usage: vnet ${command} ${synopsis}`, '', summary, ''];
  if (specs.length) {
    lines.push('options:');
    for (const s of specs) {
      const v =
        s.type === 'bool' ? '' : s.type === 'list' ? ' A,B,...' : s.type === 'number' ? ' N' : ' VALUE';
      const d = s.default !== undefined ? ` (default: ${String(s.default)})` : '';
      lines.push(`  --${s.name}${v}`.padEnd(30) + ` ${s.help}${d}`);
    }
  }
  lines.push('  --help'.padEnd(30) + ' show this help');
  return lines.join('\n');
}

/** Typed getters that turn a missing or ill-typed flag into a UserError. */
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
  return Array.isArray(v) ? (v as readonly string[]) : undefined;
};
export function requireFlag<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new UserError(`missing required option '--${name}'`);
  return v;
}
