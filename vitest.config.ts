import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Test worker processes: one per core, at most 2.
 *
 * "Timeout calling onTaskUpdate": a worker's calls to the main process (a test starts or ends,
 * console output) fail when no reply has been read within 60 s (vitest's RPC timeout, not
 * configurable), and a worker reads replies only while its event loop is free. Tests that ran a
 * child process with spawnSync/execFileSync (the CLI tests, the webgpu kernels, 20–40 s each on
 * the loaded 2-core machine) or a long synchronous loop held it past 60 s. They now run children
 * asynchronously (test/child.ts) and yield inside long loops; tests that take long by design
 * carry their own timeouts (the default is 120 s).
 */
const workers = Math.max(1, Math.min(2, availableParallelism()));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: workers, minForks: 1 } },
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts', 'grammar/**/*.ts'],
      reporter: ['text-summary', 'html'],
    },
  },
});
