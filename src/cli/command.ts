/**
 * The shape of one CLI subcommand. Each lives in `src/cli/commands/<name>.ts` and exports a
 * `CommandSpec`; the registry (`./commands/index.ts`) names it, gives its one-line summary and
 * loads the file only when that command runs (or its help is asked for), so `vnet --help` and
 * `vnet check` never load TensorFlow.js. main.ts turns a spec into a commander command.
 */

/** The value of one flag after parsing. */
export type FlagValue = string | number | boolean | readonly string[] | undefined;

/** Parsed command-line arguments as commands see them (typed getters: ./args.ts). */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** By long option name (`limit-train`, not camel case); defaults filled in. */
  readonly flags: Readonly<Record<string, FlagValue>>;
  /** The command's own arguments as typed (after the command name). */
  readonly argv: readonly string[];
}

/** One `--flag` of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `limit-train`. */
  readonly name: string;
  /** One-letter short form, e.g. `o` for `-o`. */
  readonly short?: string;
  /**
   * `bool`: no value; `number`: a finite number; `list`: comma-separated, no empty items;
   * `string`: any text (a value that looks like an option must be written `--flag=value`).
   */
  readonly type: 'string' | 'number' | 'bool' | 'list';
  readonly help: string;
  readonly default?: string | number | boolean;
  /** Placeholder in the help, e.g. `FILE` (default: by type). */
  readonly value?: string;
}

/** What a command file exports. */
export interface CommandSpec {
  /** Positional arguments in commander syntax: `<spec>`, `<spec...>`, `<run-dir>`, `[file]`. */
  readonly args: readonly string[];
  /** Full description for `vnet help <command>` (the summary comes from the registry). */
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** Example invocations shown at the end of the help (without the leading `vnet `). */
  readonly examples?: readonly string[];
  /** Returns the exit code (0 ok, 1 user error). Throw UserError for user errors. */
  run(args: ParsedArgs): Promise<number>;
}

/** One line of the registry. */
export interface CommandEntry {
  readonly name: string;
  /** One line for `vnet --help`. */
  readonly summary: string;
  /** Loads the command's file (dynamic import: only the command that runs is loaded). */
  load(): Promise<CommandSpec>;
}
