/**
 * Process-wide output settings and the informational channel shared by every layer. The CLI sets
 * the mode once from `--quiet`, `--verbose` and `--json`; library code (training loop, data set
 * downloads, backend start-up) writes through `info`/`verbose` and asks `progressAllowed` before
 * drawing a bar, so results on stdout are never mixed with chatter or progress.
 *
 * - info: what a user normally wants to see on stderr (data source, run directory); off with --quiet.
 * - verbose: details (backend choice and why); only with --verbose.
 * - warnings and errors are not routed here: they always go to stderr.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface OutputMode {
  /** No progress bars and no informational lines (results, warnings and errors still appear). */
  readonly quiet: boolean;
  /** Informational details such as the backend choice. */
  readonly verbose: boolean;
  /** Machine-readable results on stdout: no progress bars at all. */
  readonly json: boolean;
}

const DEFAULT: OutputMode = { quiet: false, verbose: false, json: false };
let mode: OutputMode = DEFAULT;

/** Sets the mode (the CLI calls this once per command; tests may reset it with `{}`). */
export function setOutputMode(m: Partial<OutputMode>): void {
  mode = { ...DEFAULT, ...m };
}

export const outputMode = (): OutputMode => mode;

/** An informational line on stderr (suppressed by --quiet). */
export function info(line: string): void {
  if (!mode.quiet) process.stderr.write(line + '\n');
}

/** A detail line on stderr, shown only with --verbose. */
export function verbose(line: string): void {
  if (mode.verbose && !mode.quiet) process.stderr.write(line + '\n');
}

/** Whether a progress bar may be drawn on `stream` (a TTY, and neither --quiet nor --json). */
export const progressAllowed = (isTTY: boolean): boolean => isTTY && !mode.quiet && !mode.json;

let invocation: string | undefined;

/** True when an executable `name` is found in one of the PATH directories. */
export function onPath(name: string, path = process.env['PATH'] ?? ''): boolean {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * How a hint should spell the command: `vnet` when it is on PATH, else `npx vnet` (a local
 * install or a clone, where `vnet` alone is "command not found").
 */
export function vnetCommand(): string {
  invocation ??= onPath('vnet') ? 'vnet' : 'npx vnet';
  return invocation;
}
