/**
 * The runner's per-instance process: `node --import tsx child.ts '<json>'` runs one instance
 * and prints `RESULT <json>` on stdout. A process per instance gives every instance a hard wall
 * clock (the runner kills it at the timeout) and its own memory.
 */
import { runInstance } from './instance.js';

interface Job {
  readonly onnx: string;
  readonly vnnlib: string;
  readonly timeout: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
try {
  const r = runInstance(job.onnx, job.vnnlib, job.timeout);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
} catch (e) {
  const msg = e instanceof Error ? e.message : String(e);
  process.stdout.write(
    `RESULT ${JSON.stringify({ result: 'error', prepTime: 0, runTime: 0, note: `internal error: ${msg}` })}\n`,
  );
}
