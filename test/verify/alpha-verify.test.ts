/**
 * `vnet verify --methods alpha-crown` end to end on the shipped DM-Small ReLU model and the
 * bundled Fashion-MNIST subset: the row appears with every field, misclassified samples are not
 * bounded, every sample CROWN-IBP verifies α-CROWN verifies too (on these samples), nothing is
 * broken by PGD, 2 worker threads give the same results as 1; a BatchNorm network gets the row,
 * a ParamRamp network gets it refused with the layer named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cli-run.js';
import { loadSpecModule } from '../../src/codegen/load.js';
import { saveParams } from '../../src/runtime/io/safetensors.js';
import { initBackend } from '../../src/runtime/backend.js';
import type { Certificate, ResultRow } from '../../src/verify/evaluate.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-alpha-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bnWeights = join(dir, 'shi.safetensors');
beforeAll(async () => {
  await initBackend('cpu');
  const mod = await loadSpecModule('specs/fmnist-dm-small-shi.vnet');
  saveParams(bnWeights, mod.meta, mod.initParams(3));
});

const args = (spec: string, weights: string, ...more: string[]): string[] => [
  ...argsN(6, spec, weights, ...more),
];
const argsN = (limit: number, spec: string, weights: string, ...more: string[]): string[] => [
  'verify',
  spec,
  '--weights',
  weights,
  '--data',
  'data/fashion-mnist-subset',
  '--limit',
  String(limit),
  '--batch',
  '3',
  '--pgd-steps',
  '10',
  '--pgd-restarts',
  '1',
  '--backend',
  'cpu',
  '--json',
  ...more,
];
const RELU = ['specs/fmnist-dm-small-relu.vnet', 'models/fmnist-dm-small-relu.safetensors'] as const;

interface VerifyOut {
  rows: ResultRow[];
  violations: unknown[];
}
const noTimes = (j: VerifyOut & { seconds?: number }): unknown => ({
  ...j,
  seconds: undefined,
  rows: j.rows.map((r) => ({ ...r, seconds: undefined })),
});

describe('vnet verify --methods alpha-crown', () => {
  it('adds α-CROWN rows that contain CROWN-IBP’s verified samples, pass the PGD check, and match with 2 workers', async () => {
    const certs = join(dir, 'c.jsonl');
    const one = await cli(
      ...args(...RELU, '--eps', '0.1,0.15', '--methods', 'crown-ibp,alpha-crown', '--workers', '1'),
      '--certificates',
      certs,
    );
    expect(one.code, one.err).toBe(0);
    const j = JSON.parse(one.out) as VerifyOut;
    expect(j.violations).toEqual([]);
    const alpha = j.rows.filter((r) => r.method === 'alpha-crown');
    expect(alpha.map((r) => r.eps)).toEqual([0.1, 0.15]);
    for (const r of alpha) {
      expect(r).toMatchObject({ n: 6, lines: 'tight', nonFinite: 0 });
      for (const k of ['verifiedErrPct', 'unconfirmed', 'meanMarginLower', 'seconds', 'pgdErrPct'] as const)
        expect(typeof r[k]).toBe('number');
      const crown = j.rows.find((c) => c.method === 'crown-ibp' && c.eps === r.eps)!;
      expect(r.misclassified).toBe(crown.misclassified);
      expect(r.verified).toBeGreaterThanOrEqual(crown.verified);
      expect(r.verifiedErrPct).toBeGreaterThanOrEqual(r.pgdErrPct!);
    }
    // some are verified at 0.1, fewer at 0.15: the row is not trivially all or nothing
    expect(alpha[0]!.verified).toBeGreaterThan(alpha[1]!.verified);
    const cs = readFileSync(certs, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Certificate);
    const of = (m: string, eps: number): Certificate[] => cs.filter((c) => c.method === m && c.eps === eps);
    for (const eps of [0.1, 0.15]) {
      const a = of('alpha-crown', eps);
      const c = of('crown-ibp', eps);
      expect(a.length).toBe(6);
      a.forEach((x, i) => {
        if (c[i]!.verified) expect(x.verified).toBe(true);
        if (x.pgd === 'misclassified') expect(x.marginLower.every((v) => v === null)).toBe(true);
        else x.marginLower.forEach((v, k) => expect(v!).toBeGreaterThanOrEqual(c[i]!.marginLower[k]! - 1e-3));
      });
    }
    const two = await cli(
      ...args(...RELU, '--eps', '0.1,0.15', '--methods', 'crown-ibp,alpha-crown', '--workers', '2'),
    );
    expect(two.code, two.err).toBe(0);
    expect(noTimes(JSON.parse(two.out) as VerifyOut)).toEqual(noTimes(j));
  }, 300_000);

  it('runs on a BatchNorm network and refuses a ParamRamp one with the layer named', async () => {
    const bn = await cli(
      ...argsN(3, 'specs/fmnist-dm-small-shi.vnet', bnWeights, '--eps', '0.01', '--methods', 'alpha-crown'),
    );
    expect(bn.code, bn.err).toBe(0);
    const row = (JSON.parse(bn.out) as VerifyOut).rows[0]!;
    expect(row.refused).toBeUndefined();
    expect(row.n).toBe(3);
    const ramp = await cli(
      ...argsN(
        3,
        'specs/fmnist-dm-small-ramp.vnet',
        'models/fmnist-dm-small-ramp.safetensors',
        '--eps',
        '0.1',
        '--methods',
        'ibp,alpha-crown',
        '--pgd-restarts',
        '0',
      ),
    );
    expect(ramp.code, ramp.err).toBe(0);
    const rows = (JSON.parse(ramp.out) as VerifyOut).rows;
    expect(rows[0]!.refused).toBeUndefined();
    expect(rows[1]!.refused).toMatch(/is paramramp: the complete verifier .* ReLU networks/);
  }, 300_000);
});
