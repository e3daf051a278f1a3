import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  batchCount,
  BoundRefusal,
  combineBatches,
  evaluate,
  evaluateBatch,
  type EvalReport,
  type EvalSettings,
  type SampleConfirmer,
  type Verifiable,
} from '../../src/verify/evaluate.js';
import { linearNet, useCpu } from './helpers.js';

beforeAll(useCpu);

// 3 classes on 4 raw inputs in [0, 1].
const W = [
  [2, -1, 0],
  [-1, 2, 0.5],
  [0, 0.5, 2],
  [1, -1, -1],
];
const b = [0, 0, 0.1];
const X = [
  [0.9, 0.1, 0.1, 0.5], // class 0, robust at small ε
  [0.55, 0.45, 0.1, 0.1], // class 0, barely: broken at ε = 0.1
  [0.1, 0.9, 0.2, 0.1], // class 1
  [0.1, 0.2, 0.9, 0.0], // class 2
  [0.9, 0.1, 0.1, 0.5], // labelled 2: misclassified
];
const labels = [0, 0, 1, 2, 2];
const data = { x: Float32Array.from(X.flat()), labels };

const settings = (over: Partial<EvalSettings> = {}): EvalSettings => ({
  eps: [0.01, 0.1],
  methods: ['ibp', 'crown'],
  lines: ['tight', 'adaptive'],
  batch: 2,
  pgd: { steps: 30, restarts: 2, seed: 3 },
  pgdStep: () => 0.02,
  certificates: true,
  ...over,
});

/** Wraps a net, replacing its bound function. */
const withBounds = (net: Verifiable, bounds: Verifiable['bounds']): Verifiable => ({ ...net, bounds });

describe('evaluate', () => {
  it('counts clean, PGD and verified errors per (ε, method, lines) with sound bounds', async () => {
    const net = linearNet(W, b);
    const progress: number[] = [];
    const r = await evaluate(net, data, settings(), (done) => progress.push(done));
    expect(progress).toEqual([2, 4, 5]);
    expect(r.n).toBe(5);
    expect(r.rows).toHaveLength(2 * 2 * 2);
    expect(r.violations).toEqual([]);
    for (const row of r.rows) {
      expect(row.n).toBe(5);
      expect(row.misclassified).toBe(1);
      expect(row.cleanErrPct).toBe(20);
      // sound bounds: verified samples are never broken, so verified error ≥ PGD error ≥ clean error
      expect(row.verifiedErrPct).toBeGreaterThanOrEqual(row.pgdErrPct!);
      expect(row.pgdErrPct!).toBeGreaterThanOrEqual(row.cleanErrPct);
    }
    const small = r.rows.find((x) => x.eps === 0.01 && x.method === 'ibp' && x.lines === 'tight')!;
    const big = r.rows.find((x) => x.eps === 0.1 && x.method === 'ibp' && x.lines === 'tight')!;
    expect(small.verified).toBe(4); // exact bounds of a linear net: every correct sample verified at ε = 0.01
    expect(big.pgdBroken).toBeGreaterThanOrEqual(2); // sample 1 breaks at ε = 0.1
    expect(big.verified).toBe(5 - big.pgdBroken!); // exact bounds: verified = not broken
    expect(r.certificates).toHaveLength(5 * 2 * 2 * 2);
  });

  it('reports a verified sample that PGD breaks as a soundness violation (wrong bound injected)', async () => {
    const honest = linearNet(W, b);
    const liar = withBounds(honest, (x, eps, method, lines, lab) => {
      const r = honest.bounds(x, eps, method, lines, lab);
      if (method !== 'crown') return r;
      const lower = tf.onesLike(r.lower); // claims every margin ≥ 1
      r.lower.dispose();
      return { ...r, lower };
    });
    const r = await evaluate(liar, data, settings({ eps: [0.1], lines: ['tight'] }));
    const v = r.violations;
    expect(v.length).toBeGreaterThanOrEqual(1);
    expect(v.every((x) => x.method === 'crown' && x.lines === 'tight' && x.eps === 0.1)).toBe(true);
    expect(v.map((x) => x.index)).toContain(1);
    const one = v.find((x) => x.index === 1)!;
    expect(one.label).toBe(0);
    expect(one.minMarginLower).toBe(1);
    expect(one.witnessLogits).toHaveLength(3);
    expect(Math.max(...one.witnessLogits)).toBeGreaterThan(one.witnessLogits[0]!); // misclassified witness
    // the misclassified sample (index 4) is never verified, so it is never a violation
    expect(v.map((x) => x.index)).not.toContain(4);
    const crown = r.rows.find((x) => x.method === 'crown')!;
    expect(crown.verified).toBe(4);
  });

  it('never verifies a sample with NaN/Inf bounds and names the first non-finite layer', async () => {
    const honest = linearNet(W, b);
    const nanny = withBounds(honest, (x, eps, method, lines, lab) => {
      const r = honest.bounds(x, eps, method, lines, lab);
      const B = x.shape[0]!;
      // sample 0 of every batch gets a NaN margin; intermediate layers: fc1 finite, relu2 NaN for sample 0
      const mask = tf.tensor2d(Array.from({ length: B }, (_, i) => (i === 0 ? [NaN, 0] : [0, 0])));
      const lower = tf.add(r.lower, mask) as tf.Tensor2D;
      r.lower.dispose();
      mask.dispose();
      const intermediate = [
        { layer: 'relu1', lower: tf.zeros([B, 3]), upper: tf.ones([B, 3]) },
        {
          layer: 'relu2',
          lower: tf.tensor2d(Array.from({ length: B }, (_, i) => (i === 0 ? [0, NaN] : [0, 0]))),
          upper: tf.ones([B, 2]),
        },
      ];
      return { ...r, lower, intermediate };
    });
    const r = await evaluate(
      nanny,
      data,
      settings({ eps: [0.01], methods: ['lbp'], lines: ['tight'], pgd: { steps: 0, restarts: 0, seed: 1 } }),
    );
    const row = r.rows[0]!;
    expect(row.nonFinite).toBe(3); // samples 0, 2, 4 (first of each batch of 2)
    expect(row.verified).toBe(2); // samples 1 and 3 only (4 is misclassified)
    expect(row.pgdBroken).toBeNull();
    expect(row.pgdErrPct).toBeNull();
    expect(r.warnings.filter((w) => /NaN\/Inf/.test(w))).toHaveLength(3);
    expect(r.warnings[0]).toMatch(/sample 0 \(lbp, tight lines, ε=0\.01\).*first at layer relu2/);
    const c0 = r.certificates.find((c) => c.index === 0)!;
    expect(c0.verified).toBe(false);
    expect(c0.marginLower[0]).toBeNull();
    expect(c0.pgd).toBe('not-run');
  });

  it('does not verify a sample whose intermediate bounds are non-finite even if its margins look fine', async () => {
    const honest = linearNet(W, b);
    const infy = withBounds(honest, (x, eps, method, lines, lab) => {
      const r = honest.bounds(x, eps, method, lines, lab);
      const B = x.shape[0]!;
      const intermediate = [
        { layer: 'relu1', lower: tf.fill([B, 2], -Infinity), upper: tf.ones([B, 2]) },
        { layer: 'relu2', lower: tf.zeros([B, 2]), upper: tf.ones([B, 2]) },
      ];
      return { ...r, intermediate };
    });
    const r = await evaluate(
      infy,
      data,
      settings({ eps: [0.01], methods: ['crown-ibp'], lines: ['adaptive'] }),
    );
    expect(r.rows[0]!.verified).toBe(0);
    expect(r.rows[0]!.nonFinite).toBe(5);
    expect(r.warnings[0]).toMatch(/sample 0 \(crown-ibp, adaptive lines, ε=0\.01\).*first at layer relu1/);
    expect(r.violations).toEqual([]);
  });

  it('records a memory refusal for one method and keeps evaluating the others', async () => {
    const honest = linearNet(W, b);
    const refusing = withBounds(honest, (x, eps, method, lines, lab) => {
      if (method === 'crown') throw new BoundRefusal('full CROWN needs 12.0 GiB (budget 2.0 GiB)');
      return honest.bounds(x, eps, method, lines, lab);
    });
    const r = await evaluate(
      refusing,
      data,
      settings({ eps: [0.01], lines: ['tight'], pgd: { steps: 0, restarts: 0, seed: 1 } }),
    );
    const crown = r.rows.find((x) => x.method === 'crown')!;
    expect(crown.refused).toMatch(/12\.0 GiB/);
    expect(crown.n).toBe(0);
    expect(r.rows.find((x) => x.method === 'ibp')!.n).toBe(5);
    expect(r.warnings).toEqual([]);
  });

  it('propagates other errors from a bound function', async () => {
    const honest = linearNet(W, b);
    const broken = withBounds(honest, () => {
      throw new Error('boom');
    });
    await expect(
      evaluate(broken, data, settings({ pgd: { steps: 0, restarts: 0, seed: 1 } })),
    ).rejects.toThrow('boom');
  });
  it('serves IBP / LBP rows from the base bounds of the CROWN-IBP / CROWN-LBP pass (one pass, not two)', async () => {
    const net = linearNet(W, b);
    const calls: string[] = [];
    // the hybrids return a deliberately lowered base, so the test sees which bounds a row used
    const shared = withBounds(net, (x, eps, method, lines, lab) => {
      calls.push(method);
      const r = net.bounds(x, eps, method, lines, lab);
      if (method !== 'crown-ibp' && method !== 'crown-lbp') return r;
      const base = tf.tidy(() => ({
        lower: tf.sub(r.lower, 0.3) as tf.Tensor2D,
        upper: tf.add(r.upper, 0.3) as tf.Tensor2D,
      }));
      return { ...r, base };
    });
    const s = settings({
      eps: [0.01],
      methods: ['ibp', 'crown-ibp', 'lbp', 'crown-lbp'],
      pgd: { steps: 0, restarts: 0, seed: 1 },
    });
    const r = await evaluate(shared, data, s);
    // 3 batches × (one CROWN-IBP pass, for the first line strategy only as IBP ignores lines; two CROWN-LBP passes)
    expect(calls.filter((m) => m === 'ibp' || m === 'lbp')).toEqual([]);
    expect(calls.filter((m) => m === 'crown-ibp')).toHaveLength(3 * 2);
    expect(calls.filter((m) => m === 'crown-lbp')).toHaveLength(3 * 2);
    const row = (m: string, l = 'tight') => r.rows.find((x) => x.method === m && x.lines === l)!;
    expect(row('ibp').sharedWith).toBe('crown-ibp');
    expect(row('lbp', 'adaptive').sharedWith).toBe('crown-lbp');
    expect(row('crown-ibp').sharedWith).toBeUndefined();
    // the lowered base verifies fewer samples than the hybrid's own bounds
    expect(row('ibp').verified).toBeLessThan(row('crown-ibp').verified);
    expect(row('lbp').verified).toBeLessThan(row('crown-lbp').verified);
    // asked alone, IBP runs its own pass
    calls.length = 0;
    await evaluate(
      shared,
      data,
      settings({ eps: [0.01], methods: ['ibp'], pgd: { steps: 0, restarts: 0, seed: 1 } }),
    );
    expect(calls).toEqual(['ibp', 'ibp', 'ibp']);
  });

  it('counts a float32 verdict the rigorous check does not confirm as unconfirmed and not verified', async () => {
    const net = linearNet(W, b);
    const s = settings({ pgd: { steps: 0, restarts: 0, seed: 1 } });
    const plain = await evaluate(net, data, s);
    const asked: number[] = [];
    // rejects every claim on sample 0 (x[0] = 0.9, label 0), confirms the rest
    const confirmer: SampleConfirmer = (x, label) => {
      asked.push(label);
      const ok = !(x[0] === Math.fround(0.9) && label === 0);
      return { confirmed: ok, lower: [ok ? 1 : -0.5, 1], checks: ['ibp/tight'] };
    };
    const r = await evaluate(net, data, { ...s, confirm: confirmer });
    expect(asked.length).toBe(plain.rows.reduce((t, x) => t + x.verified, 0));
    for (const [i, row] of r.rows.entries()) {
      const p = plain.rows[i]!;
      expect(row.unconfirmed).toBeGreaterThan(0); // sample 0 verifies in float32 at every (ε, method, lines)
      expect(row.verified + row.unconfirmed).toBe(p.verified);
      expect(row.verifiedErrPct).toBeCloseTo((100 * (row.n - row.verified)) / row.n, 10);
    }
    const c0 = r.certificates.filter((c) => c.index === 0);
    expect(c0.length).toBe(8);
    for (const c of c0) {
      expect(c).toMatchObject({ float32Verified: true, confirmed: false, verified: false });
      expect(c.rigorousLower).toEqual([-0.5, 1]);
    }
    const rest = r.certificates.filter((c) => c.index !== 0 && c.float32Verified);
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((c) => c.confirmed && c.verified)).toBe(true);
    expect(r.certificates.filter((c) => !c.float32Verified).every((c) => !c.confirmed && !c.verified)).toBe(
      true,
    );
    expect(r.warnings.filter((w) => /not confirmed by the rigorous check/.test(w))).toHaveLength(8);
  });

  it('combines batch outcomes in any order into the report of one sequential run', async () => {
    const net = linearNet(W, b);
    const s = settings();
    const strip = (r: EvalReport) => ({ ...r, rows: r.rows.map((x) => ({ ...x, seconds: 0 })) });
    const whole = await evaluate(net, data, s);
    const outs = [];
    for (let i = 0; i < batchCount(labels.length, s.batch); i++)
      outs.push(await evaluateBatch(net, data, s, i));
    // JSON round trip: what worker threads and shard files carry
    const shuffled = JSON.parse(JSON.stringify([outs[2], outs[0], outs[1]])) as typeof outs;
    expect(strip(combineBatches(labels.length, s, shuffled))).toEqual(strip(whole));
    await expect(evaluateBatch(net, data, s, 3)).rejects.toThrow(/outside the 5 samples/);
  });
});
