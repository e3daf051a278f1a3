// The worker thread entry of the verification pool (run.ts). From dist/ (the CLI's usual start)
// the task is plain JavaScript next to this file; from the sources a worker thread does not
// inherit the parent's module loader hooks, so it registers tsx's loader itself (as bin/vnet.js
// does) and then loads the TypeScript task.
import { existsSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';

const js = new URL('./worker-task.js', import.meta.url);
let task;
if (existsSync(fileURLToPath(js))) task = await import(js.href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  task = await import('./worker-task.ts');
}
export default task.runBatch;
