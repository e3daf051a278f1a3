/**
 * The `vnet` CLI on commander: one command per file in ./commands, listed in the registry
 * (./commands/index.ts). Only the command that runs (or whose help is shown) is loaded, so
 * `vnet --help` and `vnet check` start without TensorFlow.js. Exit codes: 0 ok, 1 user error
 * (message, no stack trace), 2 internal error (stack trace only with VNET_DEBUG=1); commands may
 * return others (verify: 3 on a soundness violation).
 *
 * Every command has -h/--help, -q/--quiet (no progress bars, no informational lines) and
 * -v/--verbose (details such as the backend choice); `vnet help <command>`, `vnet -V/--version`,
 * `--flag=value` and did-you-mean suggestions for unknown commands and options come from commander.
 */
import { Command as Program, CommanderError, Option } from 'commander';
import { UserError } from '../base/errors.js';
import { setOutputMode, vnetCommand } from '../base/output.js';
import { VNET_VERSION } from '../base/paths.js';
import { stopAllProgress } from '../base/progress.js';
import {
  checkFlagValues,
  parseListValue,
  parseNumberValue,
  type FlagValue,
  type ParsedArgs,
} from './args.js';
import type { CommandEntry, CommandSpec, OptionSpec } from './command.js';
import { commands } from './commands/index.js';

/** The version in package.json (the one source of truth). */
export const VERSION = VNET_VERSION;

/** Options every command has (besides -h/--help). */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'quiet', short: 'q', type: 'bool', help: 'no progress bars and no informational lines' },
  { name: 'verbose', short: 'v', type: 'bool', help: 'details such as the backend choice' },
];

const placeholder = (o: OptionSpec): string =>
  o.value ?? (o.type === 'list' ? 'A,B,...' : o.type === 'number' ? 'N' : 'VALUE');

function toOption(o: OptionSpec): Option {
  const flags = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'bool' ? '' : ` <${placeholder(o)}>`}`;
  const opt = new Option(flags, o.help);
  if (o.type === 'number') opt.argParser(parseNumberValue);
  if (o.type === 'list') opt.argParser(parseListValue);
  if (o.default !== undefined) opt.default(o.type === 'list' ? parseListValue(String(o.default)) : o.default);
  return opt;
}

/** Which command the arguments name (`help X` names X) and where its own arguments start. */
function target(argv: readonly string[]): { name?: string; rest: readonly string[] } {
  const i = argv.findIndex((a) => !a.startsWith('-'));
  if (i < 0) return { rest: [] };
  const name = argv[i] === 'help' ? argv[i + 1] : argv[i];
  return name === undefined ? { rest: [] } : { name, rest: argv.slice(i + 1) };
}

interface Ran {
  code?: number;
}

function defineCommand(
  program: Program,
  entry: CommandEntry,
  spec: CommandSpec,
  ran: Ran,
  cmdArgv: () => readonly string[],
): void {
  const cmd = program.command(entry.name).summary(entry.summary).description(spec.description);
  for (const a of spec.args) cmd.argument(a);
  const all = [...spec.options, ...GLOBAL_OPTIONS];
  for (const o of all) cmd.addOption(toOption(o));
  cmd.helpOption('-h, --help', 'show this help');
  if (spec.examples?.length)
    cmd.addHelpText(
      'after',
      `\nExamples:\n${spec.examples.map((e) => `  $ ${vnetCommand()} ${e}`).join('\n')}`,
    );
  cmd.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Program;
    const opts = self.opts();
    const flags: Record<string, FlagValue> = {};
    for (const o of self.options) flags[o.long!.slice(2)] = opts[o.attributeName()] as FlagValue;
    const positionals = self.processedArgs.flatMap((v: unknown) =>
      Array.isArray(v) ? (v as string[]) : v === undefined ? [] : [String(v)],
    );
    const argv = cmdArgv();
    setOutputMode({
      quiet: flags['quiet'] === true,
      verbose: flags['verbose'] === true,
      json: flags['json'] === true,
    });
    checkFlagValues(argv, all);
    const a: ParsedArgs = { positionals, flags, argv };
    ran.code = await spec.run(a);
  });
}

function build(
  ran: Ran,
  loaded: { entry: CommandEntry; spec: CommandSpec; rest: readonly string[] } | undefined,
): Program {
  const program = new Program('vnet')
    .description('a compiler for verifiable neural networks')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: (s) => console.error(commanderMessage(s)),
    });
  for (const entry of commands) {
    if (loaded?.entry === entry) defineCommand(program, entry, loaded.spec, ran, () => loaded.rest);
    // Commands not named in the arguments are listed by name and summary only (not loaded).
    else program.command(entry.name).summary(entry.summary).allowUnknownOption().allowExcessArguments();
  }
  program.addHelpText('after', `\nRun '${vnetCommand()} help <command>' for a command's options.`);
  return program;
}

/**
 * commander's error text in vnet's form: `error: ...` then `help: ...` lines (its "(Did you mean
 * --json?)" becomes "help: did you mean '--json'?"), plus where to find the usage.
 */
export function commanderMessage(s: string): string {
  const lines = s.trimEnd().split('\n');
  const out = lines.map((l) => {
    const m = /^\(Did you mean (?:one of )?(.+)\?\)$/.exec(l);
    return m
      ? `help: did you mean ${m[1]!
          .split(', ')
          .map((x) => `'${x}'`)
          .join(' or ')}?`
      : l;
  });
  return out.join('\n');
}

/** Runs the CLI on `argv` (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const ran: Ran = {};
  try {
    const { name, rest } = target(argv);
    const entry = commands.find((c) => c.name === name);
    const program = build(ran, entry ? { entry, spec: await entry.load(), rest } : undefined);
    await program.parseAsync([...argv], { from: 'user' });
    return ran.code ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof UserError) {
      console.error(`error: ${e.message}`);
      for (const h of e.help) console.error(`help: ${h}`);
      return 1;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    console.error(`internal error: ${err.message}`);
    if (process.env['VNET_DEBUG'] === '1') console.error(err.stack);
    else console.error('(set VNET_DEBUG=1 for a stack trace; please report this)');
    return 2;
  } finally {
    stopAllProgress();
    setOutputMode({});
  }
}

const invokedDirectly = process.argv[1] !== undefined && /src[\\/]cli[\\/]main\.ts$/.test(process.argv[1]);
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
