/**
 * The VNN-LIB parser: the competition's files (test benchmark, gzip), the forms of the subset
 * (disjunctions over outputs and over input boxes, sums with coefficients, =, strict comparisons),
 * and error baselines for malformed or unsupported input (file:line:col and a caret), in
 * test/baselines/vnnlib/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inConjunction, parseVnnlib, readVnnlib, VnnlibError } from '../../src/vnnlib/parse.js';

const FIX = (p: string): string => fileURLToPath(new URL(`../fixtures/vnncomp/${p}`, import.meta.url));

const decl = (nx: number, ny: number): string =>
  [
    ...Array.from({ length: nx }, (_, i) => `(declare-const X_${i} Real)`),
    ...Array.from({ length: ny }, (_, i) => `(declare-const Y_${i} Real)`),
  ].join('\n');

describe('VNN-LIB parser', () => {
  it('reads the ACAS Xu-style test property: a box and one conjunction of four rows', () => {
    const p = readVnnlib(FIX('test/test_prop.vnnlib'));
    expect([p.nX, p.nY, p.cases.length]).toEqual([5, 5, 1]);
    const c = p.cases[0]!;
    expect(c.lo[0]).toBe(-0.30353115613746867);
    expect(c.hi[0]).toBe(-0.29855281193475053);
    expect(c.lo[3]).toBe(0.3);
    expect(c.unsafe).toHaveLength(1);
    const u = c.unsafe[0]!;
    expect(u.rows).toBe(4);
    // (<= Y_0 Y_1): Y_0 − Y_1 ≤ 0
    expect(Array.from(u.A.slice(0, 5))).toEqual([1, -1, 0, 0, 0]);
    expect(Array.from(u.b)).toEqual([0, 0, 0, 0]);
    expect(inConjunction(u, [0, 1, 1, 1, 1])).toBe(true);
    expect(inConjunction(u, [2, 1, 1, 1, 1])).toBe(false);
  });

  it('reads .vnnlib.gz directly, with the same result as the plain file', () => {
    expect(readVnnlib(FIX('test_prop.vnnlib.gz'))).toEqual(readVnnlib(FIX('test/test_prop.vnnlib')));
  });

  it('turns (or (and …) …) over outputs into one conjunction per disjunct', () => {
    const p = parseVnnlib(
      `${decl(2, 3)}
      (assert (>= X_0 0)) (assert (<= X_0 1)) (assert (>= X_1 -1)) (assert (<= X_1 1))
      (assert (or (and (>= Y_0 Y_2)) (and (>= Y_1 Y_2) (<= Y_1 0.5))))`,
      'p.vnnlib',
    );
    expect(p.cases).toHaveLength(1);
    const [a, b] = p.cases[0]!.unsafe;
    expect(a!.rows).toBe(1);
    expect(Array.from(a!.A)).toEqual([-1, 0, 1]);
    expect(b!.rows).toBe(2);
    expect(Array.from(b!.A)).toEqual([0, -1, 1, 0, 1, 0]);
    expect(Array.from(b!.b)).toEqual([0, 0.5]);
  });

  it('reads sums with coefficients, subtraction, negation, = and strict comparisons', () => {
    const p = parseVnnlib(
      `${decl(1, 3)} (assert (>= X_0 0)) (assert (<= X_0 1))
      (assert (< (+ Y_0 (* 2 Y_1) (- Y_2) 1) (- 3 (* Y_0 0.5))))
      (assert (= Y_1 2))`,
      'p.vnnlib',
    );
    const u = p.cases[0]!.unsafe[0]!;
    expect(u.rows).toBe(3);
    // Y_0 + 2Y_1 − Y_2 + 1 ≤ 3 − 0.5 Y_0  ⇔  1.5 Y_0 + 2 Y_1 − Y_2 ≤ 2
    expect(Array.from(u.A.slice(0, 3))).toEqual([1.5, 2, -1]);
    expect(u.b[0]).toBe(2);
    expect(Array.from(u.A.slice(3))).toEqual([0, 1, 0, 0, -1, 0]);
    expect(Array.from(u.b.slice(1))).toEqual([2, -2]);
  });

  it('splits a disjunction over input boxes into cases, grouping identical boxes', () => {
    const p = parseVnnlib(
      `${decl(1, 2)}
      (assert (or
        (and (>= X_0 0) (<= X_0 1) (>= Y_0 Y_1))
        (and (>= X_0 0) (<= X_0 1) (>= Y_0 3))
        (and (>= X_0 2) (<= X_0 3) (<= Y_0 Y_1))))`,
      'p.vnnlib',
    );
    expect(p.cases).toHaveLength(2);
    expect(p.cases[0]!.unsafe).toHaveLength(2);
    expect([p.cases[1]!.lo[0], p.cases[1]!.hi[0]]).toEqual([2, 3]);
    expect(p.cases[1]!.unsafe).toHaveLength(1);
  });

  it('intersects repeated bounds, drops empty boxes and false constant comparisons', () => {
    const p = parseVnnlib(
      `${decl(1, 1)}
      (assert (or (and (>= X_0 0) (<= X_0 1) (<= X_0 0.5) (>= X_0 -1) (<= Y_0 0))
                  (and (>= X_0 2) (<= X_0 1) (<= Y_0 0))
                  (and (>= X_0 0) (<= X_0 1) (<= 1 0))))`,
      'p.vnnlib',
    );
    expect(p.cases).toHaveLength(1);
    expect([p.cases[0]!.lo[0], p.cases[0]!.hi[0]]).toEqual([0, 0.5]);
  });

  it('parses a 20 000-input property (the tokenizer is linear)', () => {
    const n = 20_000;
    const lines = [decl(n, 2)];
    for (let i = 0; i < n; i++) lines.push(`(assert (<= X_${i} ${i + 1}))\n(assert (>= X_${i} ${-i}))`);
    lines.push('(assert (>= Y_0 Y_1))');
    const p = parseVnnlib(lines.join('\n'), 'big.vnnlib');
    expect(p.nX).toBe(n);
    expect(p.cases[0]!.hi[n - 1]).toBe(n);
    expect(p.cases[0]!.lo[n - 1]).toBe(-(n - 1));
  });

  it('reports position with line and column', () => {
    try {
      parseVnnlib('(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 Z))', 'p.vnnlib');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VnnlibError);
      expect([(e as VnnlibError).line, (e as VnnlibError).col]).toEqual([3, 17]);
    }
  });
});

/** Malformed or unsupported properties and their rendered errors (baselines). */
const BAD: Record<string, string> = {
  'unclosed-paren': `${decl(1, 1)}\n(assert (<= X_0 1)\n(assert (>= X_0 0))`,
  'unknown-symbol': `${decl(1, 1)}\n(assert (<= X_0 one))`,
  'undeclared-variable': `${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= Y_3 0))`,
  'missing-bound': `${decl(2, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (<= Y_0 0))`,
  'mixed-x-y': `${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= Y_0 X_0))`,
  nonlinear: `${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= (* Y_0 Y_0) 1))`,
  'unsupported-command': `${decl(1, 1)}\n(define-fun f () Real 1)`,
  'unsupported-formula': `${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (not (<= Y_0 0)))`,
  'bad-variable-name': `(declare-const input_0 Real)`,
  'gap-in-inputs': `(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)`,
  'three-term-comparison': `${decl(1, 1)}\n(assert (<= X_0 1 2))`,
  'bad-sort': `(declare-const X_0 Int)`,
  'box-over-two-inputs': `${decl(2, 1)}\n(assert (<= (+ X_0 X_1) 1))`,
};

describe('VNN-LIB error baselines', () => {
  for (const [name, text] of Object.entries(BAD))
    it(name, async () => {
      let msg = '';
      try {
        parseVnnlib(text, `${name}.vnnlib`);
      } catch (e) {
        expect(e).toBeInstanceOf(VnnlibError);
        msg = (e as Error).message;
      }
      expect(msg).toMatch(new RegExp(`^${name}\\.vnnlib:\\d+:\\d+ - error VN12\\d\\d: `));
      expect(msg).toContain('^');
      await expect(msg + '\n').toMatchFileSnapshot(
        fileURLToPath(new URL(`../baselines/vnnlib/${name}.errors.txt`, import.meta.url)),
      );
    });

  it('names the file for unreadable input', () => {
    expect(() => readVnnlib(FIX('nope.vnnlib'))).toThrow(/nope\.vnnlib: no such file/);
    expect(readFileSync(FIX('test/test_nano.vnnlib'), 'utf8')).toContain('X_0');
  });
});
