/**
 * The module graph of src/: no import cycles (type-only imports included: a cycle of types still
 * ties two files together), and nothing outside src/cli imports src/cli (src/base is the shared
 * bottom layer). Static `import`/`export ... from` only: the registry's dynamic imports are lazy
 * loading by design.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** file (relative to src/) → the src files it imports statically. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s+['"](\.[^'"]+)['"]/gm))
      deps.push(relative(SRC, normalize(join(dirname(f), m[1]!))).replace(/\.js$/, '.ts'));
    g.set(relative(SRC, f), deps);
  }
  return g;
}

/** Every cycle found by a depth-first search (each strongly connected part yields at least one). */
function cycles(g: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of g.get(n) ?? []) {
      if (!g.has(m)) continue;
      if (state.get(m) === 'open') found.push(stack.slice(stack.indexOf(m)));
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of g.keys()) if (!state.has(n)) visit(n);
  return found;
}

describe('src module graph', () => {
  const g = graph();

  it('reads the imports (the graph is not empty and resolves to files)', () => {
    expect(g.size).toBeGreaterThan(100);
    expect(g.get('cli/args.ts')).toContain('cli/command.ts');
    const known = [...g.values()].flat().filter((d) => g.has(d)).length;
    expect(known).toBeGreaterThan(200);
  });

  it('has no import cycles', () => {
    expect(cycles(g)).toEqual([]);
    // the detector finds a cycle where there is one
    expect(
      cycles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
  });

  it('nothing outside src/cli imports src/cli', () => {
    const bad = [...g].filter(([f, deps]) => !f.startsWith('cli/') && deps.some((d) => d.startsWith('cli/')));
    expect(bad).toEqual([]);
  });
});
