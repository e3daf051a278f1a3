#!/usr/bin/env node
// The `vnet` executable. It runs the CLI from dist/ (src/ transpiled by esbuild; rebuilt
// automatically when a source changed, see scripts/build-dist.mjs), which starts in a fraction of
// the time a TypeScript loader needs. If dist/ cannot be written (a read-only install), it falls
// back to running the sources through tsx.
import { ensureDist } from '../scripts/build-dist.mjs';

let dist;
try {
  dist = await ensureDist();
} catch {
  dist = undefined;
}
let main;
if (dist) ({ main } = await import('../dist/src/cli/main.js'));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
