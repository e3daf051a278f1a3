/**
 * The `vnet` CLI: dispatches to one command per file in ./commands. Exit codes: 0 ok, 1 user
 * error (message, no stack trace), 2 internal error (stack trace only with VNET_DEBUG=1).
 */
import { UserError } from './errors.js';
import type { Command } from './command.js';
import { closest } from '../util/suggest.js';
import { commands } from './commands/index.js';

const VERSION = '0.1.0';

function topHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    `vnet ${VERSION}: a compiler for verifiable neural networks`,
    '',
    'usage: vnet <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'vnet <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(topHelp());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version') {
    console.log(VERSION);
    return 0;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    const s = closest(
      name,
      commands.map((c) => c.name),
    );
    console.error(`error: unknown command '${name}'`);
    if (s) console.error(`help: did you mean 'vnet ${s}'?`);
    console.error("Run 'vnet --help' for the list of commands.");
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
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
  }
}

const invokedDirectly = process.argv[1] !== undefined && /src[\\/]cli[\\/]main\.ts$/.test(process.argv[1]);
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
