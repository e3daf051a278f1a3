/**
 * Runs a child process without blocking the test worker's event loop (unlike spawnSync or
 * execFileSync): while a child runs, the worker still answers vitest's RPC, whose calls time out
 * after 60 s ("Timeout calling onTaskUpdate" when a synchronous child ran that long under load).
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  /** Exit code; -1 when killed (timeout or signal). */
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs `cmd args` to completion, collecting stdout and stderr as UTF-8; kills it after `timeoutMs`. */
export function run(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** `node ARGS` with this process's node. */
export const node = (args: readonly string[], o?: Parameters<typeof run>[2]): Promise<ChildResult> =>
  run(process.execPath, args, o);
