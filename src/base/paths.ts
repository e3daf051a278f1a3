/**
 * The root of the vnet package: the nearest folder above this file with vnet's package.json. It is
 * found by walking up rather than by a fixed number of `..`, so it is the same whether the code runs
 * from src/ (tsx, vitest) or from its transpiled copy in dist/src/ (bin/vnet.js).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vnet')
      return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error('vnet: cannot find the package root (package.json) above ' + import.meta.url);
    dir = up;
  }
}

/** Absolute path of the vnet package root. */
export const VNET_ROOT = findRoot();

/** vnet's version (package.json). */
export const VNET_VERSION = (
  JSON.parse(readFileSync(join(VNET_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
