#!/usr/bin/env node
// The `vnet` executable: registers tsx's loader so the TypeScript sources (and generated modules)
// run directly, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
