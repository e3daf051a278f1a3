// The worker thread entry of the verification pool (pool.ts): a worker thread does not inherit
// the parent's module loader hooks, so it registers tsx's loader itself (as bin/vnet.js does)
// and then loads the TypeScript task.
import { register } from 'tsx/esm/api';

register();
const { runBatch } = await import('./worker-task.ts');
export default runBatch;
