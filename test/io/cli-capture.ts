/** Runs the CLI in-process with console.log / console.error captured (restore with vi.restoreAllMocks). */
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export function captureCli(): {
  out: string[];
  err: string[];
  cli: (...argv: string[]) => Promise<number>;
} {
  const out: string[] = [];
  const err: string[] = [];
  const cli = async (...argv: string[]): Promise<number> => {
    out.length = 0;
    err.length = 0;
    vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    return main(argv);
  };
  return { out, err, cli };
}
