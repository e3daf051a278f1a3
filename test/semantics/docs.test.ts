/** docs/language.md documents every option with its real default, and every layer argument. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAYER_RULES } from '../../src/semantics/layers.js';
import { networkSchema } from '../../src/semantics/network.js';
import { threatSchema, trainSchema, verifySchema } from '../../src/semantics/recipe.js';
import type { Schema } from '../../src/semantics/schema.js';

const doc = readFileSync(new URL('../../docs/language.md', import.meta.url), 'utf8');

/** `| \`key\` | \`default\` |` rows of a schema, nested blocks as `block.key`. */
function rows(s: Schema, prefix = ''): string[] {
  return Object.entries(s).flatMap(([k, o]) => [
    `| \`${prefix}${k}\` | \`${o.defaultText}\` |`,
    ...(o.schema ? rows(o.schema, `${prefix}${k}.`) : []),
  ]);
}

describe('docs/language.md', () => {
  for (const [block, schema] of Object.entries({
    network: networkSchema,
    threat: threatSchema,
    train: trainSchema,
    verify: verifySchema,
  })) {
    it(`lists every ${block} option with its default`, () => {
      const section = doc.split(/^### /m).find((s) => s.startsWith(`\`${block}`));
      expect(section, `section for ${block}`).toBeDefined();
      for (const row of rows(schema)) expect(section).toContain(row);
    });
  }

  it('lists every layer kind with its arguments and defaults', () => {
    for (const rule of LAYER_RULES.values()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${rule.name}\` |`));
      expect(row, rule.name).toBeDefined();
      for (const a of rule.args)
        expect(row).toContain(
          a.default === undefined && !a.optional
            ? `\`${a.name}\` (required)`
            : `\`${a.name}\` = \`${a.defaultText}\``,
        );
    }
  });

  it('its annotated example is a shipped spec, entry for entry', () => {
    const example = doc.split('```')[1]!;
    const strip = (t: string) =>
      t
        .split('\n')
        .map((l) => l.replace(/\/\/.*$/, '').trim())
        .filter((l) => l.length > 0);
    const spec = readFileSync(new URL('../../specs/fmnist-dm-small-ramp.vnet', import.meta.url), 'utf8');
    expect(strip(example)).toEqual(strip(spec));
  });
});
