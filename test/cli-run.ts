/** Runs the vnet CLI in this process, capturing what it prints. */
import { vi } from 'vitest';
import { main } from '../src/cli/main.js';

/** Runs the CLI and returns its exit code with everything it printed. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ') + '\n')),
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ') + '\n')),
    vi
      .spyOn(process.stdout, 'write')
      .mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true)),
    vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true)),
  ];
  try {
    const code = await main(argv);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}
