import { afterEach, describe, expect, test, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { UserError } from '../../src/base/errors.js';
import { parseBoundsInput, type BoundsJson } from '../../src/verify/bounds.js';
import { readSafetensors } from '../../src/runtime/io/safetensors.js';
import type { ModuleMeta } from '../../src/runtime/module.js';
import { tinyMeta } from './tiny-meta.js';
import type { VnnlibBoundsJson } from '../../src/verify/vnnlib-bounds.js';

const tmp = mkdtempSync(join(tmpdir(), 'vnet-cli-'));
let fileNo = 0;
const jsonFile = (v: unknown): string => {
  const p = join(tmp, `in${fileNo++}.json`);
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};
const row = (n: number, f = (i: number) => (i % 7) / 7) => Array.from({ length: n }, (_, i) => f(i));

function inputError(v: unknown, meta: ModuleMeta = tinyMeta): string {
  try {
    parseBoundsInput(jsonFile(v), meta);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return [(e as UserError).message, ...(e as UserError).help].join('\n');
  }
  throw new Error('expected a UserError');
}

describe('X.json validation (tiny network: input 1x4x4, domain [0, 1], 3 classes)', () => {
  test('valid rows and labels; C,H,W rows become H,W,C', () => {
    const r = parseBoundsInput(jsonFile({ x: [row(16), row(16)], labels: [2, 0] }), tinyMeta);
    expect(r.n).toBe(2);
    expect(Array.from(r.labels!)).toEqual([2, 0]);
    const meta2 = { ...tinyMeta, input: { ...tinyMeta.input, shape: [2, 2, 2] } } as ModuleMeta;
    const chw = [0, 1, 2, 3, 4, 5, 6, 7].map((v) => v / 10); // c0: 0..3, c1: 4..7
    const r2 = parseBoundsInput(jsonFile({ x: [chw] }), meta2);
    expect(Array.from(r2.x).map((v) => Math.round(v * 10))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect(r2.labels).toBeUndefined();
  });

  test('wrong width, null, outside the domain, bad labels, unknown keys: all listed', () => {
    const msg = inputError({
      x: [row(15), row(16, (i) => (i === 0 ? 255 : 0)), [0.5, ...row(14), null]],
      labels: [3, 1.5],
      label: [0],
    });
    expect(msg).toContain("unknown key 'label' (did you mean 'labels'?)");
    expect(msg).toContain('x[0] has 15 values; the input 1x4x4 needs 16 (flattened C,H,W)');
    expect(msg).toContain('x[1][0] = 255 is outside the input domain [0, 1]');
    expect(msg).toContain('x[2][15] = null is not a finite number');
    expect(msg).toContain('"labels" has 2 entries for 3 rows of x');
    expect(msg).toContain('labels[0] = 3 is not a class index 0..2');
    expect(msg).toContain('labels[1] = 1.5 is not a class index 0..2');
    expect(msg).toContain('(7 problems)');
    expect(msg).toContain('divide by 255');
    expect(inputError({ x: [row(16, () => 255)] })).toMatch(/\(16 problems\)[\s\S]*… and 8 more/);
  });

  test('NaN (as Python writes it), not JSON, wrong form, missing file', () => {
    expect(inputError('{"x": [[NaN, 0.5]]}')).toContain('contains NaN or Infinity');
    expect(inputError('{"x": [[0.5,')).toContain('not valid JSON');
    expect(inputError([[0.5]])).toContain('expected {"x": [[...], ...], "labels": [...]}');
    expect(inputError({ labels: [1] })).toContain('no "x"');
    expect(() => parseBoundsInput(join(tmp, 'missing.json'), tinyMeta)).toThrow(
      /missing\.json: no such file/,
    );
  });
});

describe('vnet init and vnet bounds on specs/fmnist-mlp.vnet', () => {
  const out: string[] = [];
  const err: string[] = [];
  afterEach(() => vi.restoreAllMocks());
  const cli = async (...argv: string[]): Promise<number> => {
    out.length = 0;
    err.length = 0;
    vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    return main(argv);
  };
  const weights = join(tmp, 'mlp.safetensors');

  test('init writes PyTorch-layout weights, refuses to overwrite without --force', async () => {
    expect(
      await cli('init', 'specs/fmnist-mlp.vnet', '--seed', '7', '--out', weights, '--backend', 'cpu'),
    ).toBe(0);
    expect(out.join('\n')).toMatch(/wrote .*mlp\.safetensors: 6 tensors, 669706 parameters/);
    const d = readSafetensors(weights);
    expect(d.tensors.get('fc1.weight')!.shape).toEqual([512, 784]);
    expect(d.metadata['seed']).toBe('7');
    // PyTorch's default init: |w| ≤ 1/sqrt(fan_in).
    expect(
      d.tensors.get('fc1.weight')!.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
    ).toBeLessThanOrEqual(1 / Math.sqrt(784));
    expect(await cli('init', 'specs/fmnist-mlp.vnet', '--out', weights)).toBe(1);
    expect(err.join('\n')).toContain('the file exists');
  });

  test('bounds --json: logits match a float64 forward pass on the torch-layout file; eps 0 collapses the bounds', async () => {
    const x = [row(784), row(784, (i) => ((i * 13) % 11) / 11)];
    const input = jsonFile({ x, labels: [3, 8] });
    const base = [
      'bounds',
      'specs/fmnist-mlp.vnet',
      '--weights',
      weights,
      '--input',
      input,
      '--backend',
      'cpu',
      '--json',
    ];
    expect(await cli(...base, '--eps', '0', '--method', 'ibp', '--intermediate')).toBe(0);
    const r = JSON.parse(out.join('')) as BoundsJson;
    expect([r.method, r.lines, r.eps, r.spec]).toEqual(['ibp', 'tight', 0, 'margin']);
    // What ran, and how long it took.
    expect(r.backend).toMatch(/^cpu/);
    expect(r.batch).toBe(100);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.seconds).toBeLessThan(600);
    // Reference: y = W3 relu(W2 relu(W1 x + b1) + b2) + b3 with PyTorch's [out, in] weights from the file.
    const t = readSafetensors(weights).tensors;
    const lin = (name: string, v: number[]) => {
      const W = t.get(`${name}.weight`)!;
      const b = t.get(`${name}.bias`)!.data;
      const [o, i] = W.shape as [number, number];
      return Array.from({ length: o }, (_, r) => v.reduce((s, xv, c) => s + W.data[r * i + c]! * xv, b[r]!));
    };
    const relu = (v: number[]) => v.map((z) => Math.max(0, z));
    x.forEach((xi, n) => {
      const logits = lin('fc3', relu(lin('fc2', relu(lin('fc1', xi)))));
      logits.forEach((z, k) => expect(r.logits[n]![k]).toBeCloseTo(z, 4));
      const y = [3, 8][n]!;
      const margins = logits.map((z) => logits[y]! - z).filter((_, j) => j !== y);
      margins.forEach((m, k) => {
        expect(r.lower[n]![k]).toBeCloseTo(m, 4);
        expect(r.upper[n]![k]).toBeCloseTo(m, 4);
      });
      expect(r.verified![n]).toBe(margins.every((m) => m > 0));
    });
    expect(r.intermediate!.map((L) => [L.layer, L.shape, L.lower[0]!.length])).toEqual([
      ['relu1', [512], 512],
      ['relu2', [512], 512],
    ]);
  });

  test('bounds table and logit bounds without labels; crown bounds contain the clean logits', async () => {
    const input = jsonFile({ x: [row(784)] });
    const base = [
      'bounds',
      'specs/fmnist-mlp.vnet',
      '--weights',
      weights,
      '--input',
      input,
      '--backend',
      'wasm',
    ];
    expect(await cli(...base, '--eps', '0.05', '--method', 'crown', '--lines', 'adaptive', '--json')).toBe(0);
    const r = JSON.parse(out.join('')) as BoundsJson;
    expect(r.spec).toBe('logits');
    expect(r.lower[0]!.length).toBe(10);
    r.logits[0]!.forEach((z, k) => {
      expect(r.lower[0]![k]).toBeLessThanOrEqual(z + 1e-5);
      expect(r.upper[0]![k]).toBeGreaterThanOrEqual(z - 1e-5);
    });
    expect(await cli(...base, '--eps', '1/255', '--method', 'lbp')).toBe(0);
    expect(out.join('\n')).toMatch(
      /lbp bounds, tight lines, eps 0\.00392.*on logits[\s\S]*class +lower +upper +clean/,
    );
  });

  /** y = W3 relu(W2 relu(W1 x + b1) + b2) + b3 with PyTorch's [out, in] weights from the file. */
  const referenceMlp = (): ((x: number[]) => number[]) => {
    const t = readSafetensors(weights).tensors;
    const lin = (name: string, v: number[]) => {
      const W = t.get(`${name}.weight`)!;
      const b = t.get(`${name}.bias`)!.data;
      const [o, i] = W.shape as [number, number];
      return Array.from({ length: o }, (_, r) => v.reduce((s, xv, c) => s + W.data[r * i + c]! * xv, b[r]!));
    };
    const relu = (v: number[]) => v.map((z) => Math.max(0, z));
    return (x) => lin('fc3', relu(lin('fc2', relu(lin('fc1', x)))));
  };

  test('bounds --vnnlib: per-row bounds of A·y − b contain sampled outputs; a refuted row has lower > 0', async () => {
    const net = referenceMlp();
    const x0 = row(784);
    const e = 0.002;
    const y0 = net(x0);
    // case: unsafe iff Y_0 − Y_1 ≤ d0 − 1 (far below: refuted) or (Y_2 ≤ y0_2 + 1 and 2·Y_3 ≥ 0)
    const d0 = y0[0]! - y0[1]!;
    const text = [
      ...x0.map((_, i) => `(declare-const X_${i} Real)`),
      ...y0.map((_, k) => `(declare-const Y_${k} Real)`),
      ...x0.flatMap((v, i) => [`(assert (>= X_${i} ${v - e}))`, `(assert (<= X_${i} ${v + e}))`]),
      `(assert (or (and (<= (- Y_0 Y_1) ${d0 - 1})) (and (<= Y_2 ${y0[2]! + 1}) (>= (* 2 Y_3) 0))))`,
    ].join('\n');
    const prop = join(tmp, 'mlp.vnnlib');
    writeFileSync(prop, text);
    const base = [
      'bounds',
      'specs/fmnist-mlp.vnet',
      '--weights',
      weights,
      '--vnnlib',
      prop,
      '--backend',
      'cpu',
    ];
    expect(await cli(...base, '--method', 'crown', '--json')).toBe(0);
    const r = JSON.parse(out.join('')) as VnnlibBoundsJson;
    expect(r.cases).toHaveLength(1);
    const [c0, c1] = r.cases[0]!.conjunctions;
    // rows as A·y ≤ b: (Y_0 − Y_1) − (d0 − 1); Y_2 − (y0_2 + 1); −2·Y_3 − 0
    const rowsAt = (y: number[]) => [[y[0]! - y[1]! - (d0 - 1)], [y[2]! - (y0[2]! + 1), -2 * y[3]!]];
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let s = 0; s < 20; s++) {
      const x = x0.map((v) => v + (s % 2 ? Math.sign(rnd()) : rnd()) * e);
      rowsAt(net(x)).forEach((vals, k) =>
        vals.forEach((v, j) => {
          const q = [c0, c1][k]!;
          expect(v).toBeGreaterThanOrEqual(q!.lower[j]! - 1e-4);
          expect(v).toBeLessThanOrEqual(q!.upper[j]! + 1e-4);
        }),
      );
    }
    expect(c0!.lower[0]!).toBeGreaterThan(0.5);
    expect(c0!.refuted).toBe(true);
    expect(c1!.lower[0]!).toBeLessThan(0);
    expect(r.cases[0]!.refuted).toBe(c1!.refuted);
    // alpha-crown (float64, on the lowered spec network): never looser than the module's CROWN
    expect(await cli(...base, '--method', 'alpha-crown', '--json')).toBe(0);
    const al = JSON.parse(out.join('')) as VnnlibBoundsJson;
    al.cases[0]!.conjunctions.forEach((q, k) =>
      q.lower.forEach((l, j) => {
        expect(l).toBeGreaterThanOrEqual([c0, c1][k]!.lower[j]! - 1e-4);
        expect(l).toBeLessThanOrEqual(q.upper[j]!);
      }),
    );
    expect(await cli(...base, '--method', 'crown')).toBe(0);
    expect(out.join('\n')).toMatch(/crown bounds.*mlp\.vnnlib[\s\S]*conjunction 0: 1 row, .* > 0: refuted/);
    expect(await cli(...base, '--method', 'ibp', '--eps', '0.1')).toBe(1);
    expect(err.join('\n')).toContain('--vnnlib replaces --input and --eps');
    const small = join(tmp, 'small.vnnlib');
    writeFileSync(
      small,
      '(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (<= Y_0 0))\n',
    );
    expect(
      await cli(
        'bounds',
        'specs/fmnist-mlp.vnet',
        '--weights',
        weights,
        '--vnnlib',
        small,
        '--method',
        'ibp',
      ),
    ).toBe(1);
    expect(err.join('\n')).toContain(
      "small.vnnlib: the property has 1 inputs X_i but the network's input has 784",
    );
  });

  test('bad flags are user errors (exit 1)', async () => {
    const input = jsonFile({ x: [row(784)], labels: [10] });
    const base = [
      'bounds',
      'specs/fmnist-mlp.vnet',
      '--weights',
      weights,
      '--input',
      input,
      '--backend',
      'cpu',
    ];
    expect(await cli(...base, '--eps', '-0.1', '--method', 'ibp')).toBe(1);
    expect(err.join('\n')).toContain("--eps: '-0.1' is not a radius");
    expect(await cli(...base, '--eps', '0.1', '--method', 'crown-ibpp')).toBe(1);
    expect(err.join('\n')).toContain("did you mean 'crown-ibp'?");
    expect(await cli(...base, '--eps', '0.1', '--method', 'ibp')).toBe(1);
    expect(err.join('\n')).toContain('labels[0] = 10 is not a class index 0..9');
    expect(await cli(...base, '--eps', '0.1', '--method', 'ibp', '--lines', 'loose')).toBe(1);
    expect(err.join('\n')).toContain(
      "--lines: unknown value 'loose' (expected one of tight, adaptive, constant)",
    );
  });
});
