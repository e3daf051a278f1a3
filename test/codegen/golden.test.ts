/**
 * Codegen goldens: `generated/` is checked in and is the golden set. Each shipped spec compiles to
 * exactly the checked-in module (run `npm run gen` to accept a change, then review the diff).
 * Type-checking of generated/ is done by `tsc --noEmit` (generated/ is in tsconfig's include).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFile } from '../../src/semantics/index.js';
import { emitModule } from '../../src/codegen/emit-module.js';
import { runtimeImportFrom, VNET_ROOT } from '../../src/codegen/load.js';

const specs = readdirSync(join(VNET_ROOT, 'specs'))
  .filter((f) => f.endsWith('.vnet'))
  .sort();

describe('generated modules match the goldens', () => {
  it('ships the specs other issues rely on', () => {
    for (const name of [
      'fmnist-mlp',
      'fmnist-cnn-small',
      'mnist-dm-small',
      'mnist-dm-medium',
      'mnist-dm-large',
      'fmnist-dm-small-ramp',
      'cifar-dm-large',
    ])
      expect(specs).toContain(`${name}.vnet`);
  });

  for (const f of specs) {
    it(f, async () => {
      const { model, diagnostics } = checkFile(`specs/${f}`);
      expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      const text = emitModule(model!, { runtimeImport: runtimeImportFrom(join(VNET_ROOT, 'generated')) });
      await expect(text).toMatchFileSnapshot(join(VNET_ROOT, 'generated', f.replace(/\.vnet$/, '.ts')));
    });
  }

  it('is deterministic', () => {
    const { model } = checkFile('specs/fmnist-cnn-small.vnet');
    const a = emitModule(model!, { runtimeImport: '../src/runtime/index.js' });
    const b = emitModule(model!, { runtimeImport: '../src/runtime/index.js' });
    expect(a).toBe(b);
  });
});
