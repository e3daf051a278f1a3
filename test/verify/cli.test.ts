import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { evaluate, type EvalSettings } from '../../src/verify/evaluate.js';
import { EXIT_SOUNDNESS, reportVerify, verifyJson, type VerifyContext } from '../../src/verify/results.js';
import { parseEps, pickList } from '../../src/cli/options.js';
import { UserError } from '../../src/base/errors.js';
import { linearNet, useCpu } from './helpers.js';

beforeAll(useCpu);
const dir = mkdtempSync(join(tmpdir(), 'vnet-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const W = [
  [2, -1, 0],
  [-1, 2, 0.5],
  [0, 0.5, 2],
  [1, -1, -1],
];
const data = {
  x: Float32Array.from([0.9, 0.1, 0.1, 0.5, 0.55, 0.45, 0.1, 0.1, 0.1, 0.9, 0.2, 0.1, 0.9, 0.1, 0.1, 0.5]),
  labels: [0, 0, 1, 2],
  indices: [10, 11, 12, 13],
};
const settings: EvalSettings = {
  eps: [0.1],
  methods: ['ibp', 'crown'],
  lines: ['tight'],
  batch: 3,
  pgd: { steps: 20, restarts: 2, seed: 1 },
  pgdStep: () => 0.02,
  certificates: true,
};
const meta = { name: 'tiny', specHash: 'abc', evalEta: undefined, dataset: 'fashion-mnist' };

function ctx(over: Partial<VerifyContext> = {}): VerifyContext {
  return {
    specPath: 'tiny.vnet',
    weightsPath: 'tiny.safetensors',
    weightsHash: 'def',
    meta,
    split: 'test',
    source: 'synthetic',
    eps: [0.1],
    pgd: { steps: 20, restarts: 2, seed: 1, stepSize: [0.02] },
    json: false,
    seconds: 1,
    ...over,
  };
}

function collect(): { out: string[]; err: string[]; io: { out(s: string): void; err(s: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s) => out.push(s), err: (s) => err.push(s) } };
}

describe('vnet verify output', () => {
  it('fails loudly with exit 3 when a method verifies a sample that PGD breaks', async () => {
    const honest = linearNet(W, [0, 0, 0.1]);
    const liar = {
      ...honest,
      bounds: (...args: Parameters<typeof honest.bounds>) => {
        const r = honest.bounds(...args);
        if (args[2] !== 'crown') return r;
        const lower = tf.fill(r.lower.shape, 5) as tf.Tensor2D;
        r.lower.dispose();
        return { ...r, lower };
      },
    };
    const report = await evaluate(liar, data, settings);
    expect(report.violations.length).toBeGreaterThan(0);
    const c = collect();
    const code = reportVerify(report, ctx(), c.io);
    expect(code).toBe(EXIT_SOUNDNESS);
    const err = c.err.join('');
    expect(err).toMatch(/SOUNDNESS BUG: \d+ sample\(s\) verified by a bound method but broken by PGD/);
    expect(err).toMatch(/sample 11 \(label 0\), crown with tight lines at ε=0\.1: certified min margin 5/);
    expect(c.out.join('')).toMatch(/crown\s+tight/);

    const honestReport = await evaluate(honest, data, settings);
    const c2 = collect();
    expect(reportVerify(honestReport, ctx(), c2.io)).toBe(0);
    expect(c2.err.join('')).not.toMatch(/SOUNDNESS/);
  });

  it('writes certificates as JSON lines with every field, and JSON with the same numbers as the table', async () => {
    const net = linearNet(W, [0, 0, 0.1]);
    const report = await evaluate(net, data, settings);
    const file = join(dir, 'certs.jsonl');
    const c = collect();
    expect(reportVerify(report, ctx({ certificates: file, json: true }), c.io)).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(4 * 2);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(
        [
          'checks',
          'confirmed',
          'eps',
          'float32Verified',
          'index',
          'label',
          'lines',
          'marginClasses',
          'marginLower',
          'method',
          'pgd',
          'prediction',
          'rigorousLower',
          'specHash',
          'verified',
          'weightsHash',
        ].sort(),
      );
      expect([10, 11, 12, 13]).toContain(l['index']);
      expect(l['eps']).toBe(0.1);
      expect([l['specHash'], l['weightsHash']]).toEqual(['abc', 'def']);
      expect(['ibp', 'crown']).toContain(l['method']);
      expect(l['lines']).toBe('tight');
      expect(typeof l['verified']).toBe('boolean');
      expect(['held', 'broken', 'misclassified']).toContain(l['pgd']);
      const classes = l['marginClasses'] as number[];
      expect(classes).toHaveLength(2);
      expect(classes).not.toContain(l['label']);
      expect((l['marginLower'] as number[]).every((v) => typeof v === 'number')).toBe(true);
      if (l['verified']) expect(Math.min(...(l['marginLower'] as number[]))).toBeGreaterThan(0);
      if (l['pgd'] === 'misclassified') expect(l['prediction']).not.toBe(l['label']);
    }
    const s13 = lines.find((l) => l['index'] === 13)!;
    expect(s13['pgd']).toBe('misclassified'); // labelled 2, predicted 0
    expect(s13['verified']).toBe(false);

    const j = JSON.parse(c.out.join('')) as ReturnType<typeof verifyJson>;
    expect(j.kind).toBe('vnet-verify');
    expect(j.rows).toEqual(report.rows);
    expect(j.eta).toBeNull();
    expect(j.n).toBe(4);
  });

  it('parses radii and validates list flags with did-you-mean', () => {
    expect(parseEps('0.1')).toBe(0.1);
    expect(parseEps('8/255')).toBeCloseTo(8 / 255);
    expect(() => parseEps('-1')).toThrow(UserError);
    expect(() => parseEps('abc')).toThrow(/not a radius/);
    expect(pickList('methods', ['ibp', 'crown-lbp'], ['ibp', 'crown-lbp'])).toEqual(['ibp', 'crown-lbp']);
    try {
      pickList('methods', ['crwn-ibp'], ['ibp', 'crown-ibp']);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      expect((e as UserError).message).toMatch(/--methods: unknown value 'crwn-ibp'/);
      expect((e as UserError).help.join()).toMatch(/did you mean 'crown-ibp'/);
    }
  });
});
