/** Certificate re-checking (src/verify/recheck.ts) and the page's image conversion, in Node. */
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../src/verify/evaluate.js';
import { certificateLines } from '../../src/verify/format.js';
import {
  certificateMismatch,
  describeRejection,
  parseCertificates,
  recheckCertificates,
} from '../../src/verify/recheck.js';
import { imageShape, inputToPixels, pixelsToInput } from '../../src/web/image.js';
import { linearNet, useCpu } from '../verify/helpers.js';

beforeAll(useCpu);

const W = [
  [2, -1, 0],
  [-1, 2, 0.5],
  [0, 0.5, 2],
  [1, -1, -1],
];
const samples = {
  x: Float32Array.from([0.9, 0.1, 0.1, 0.5, 0.55, 0.45, 0.1, 0.1, 0.1, 0.9, 0.2, 0.1, 0.9, 0.1, 0.1, 0.5]),
  labels: [0, 0, 1, 2],
  indices: [10, 11, 12, 13],
};

async function certificateText(): Promise<string> {
  const rep = await evaluate(linearNet(W, [0, 0, 0]), samples, {
    eps: [0.05, 0.2],
    methods: ['ibp', 'crown'],
    lines: ['tight'],
    batch: 3,
    pgd: { steps: 0, restarts: 0, seed: 0 },
    pgdStep: () => 0,
    certificates: true,
  });
  return certificateLines(rep.certificates);
}

describe('parseCertificates', () => {
  it('reads what `vnet verify --certificates` writes, and names each bad line and field', async () => {
    const text = await certificateText();
    const ok = parseCertificates(text, 3);
    expect(ok.problems).toEqual([]);
    expect(ok.certs).toHaveLength(16);
    expect(ok.certs[0]!.line).toBe(1);

    const good = JSON.parse(text.split('\n')[0]!);
    const bad = [
      '{"index": 1',
      '[1, 2]',
      JSON.stringify({ ...good, index: -1 }),
      JSON.stringify({ ...good, label: 3 }),
      JSON.stringify({ ...good, method: 'alpha-crown' }),
      JSON.stringify({ ...good, lines: 'loose' }),
      JSON.stringify({ ...good, eps: -0.1 }),
      JSON.stringify({ ...good, marginClasses: [0, 1] }),
      JSON.stringify({ ...good, marginLower: [1] }),
      JSON.stringify({ ...good, marginLower: [1, 'x'] }),
      JSON.stringify({ ...good, verified: 'yes' }),
      JSON.stringify({ ...good, pgd: 'maybe' }),
      JSON.stringify({ ...good, prediction: 7 }),
    ];
    const p = parseCertificates(['', ...bad, ''].join('\n'), 3);
    expect(p.certs).toEqual([]);
    expect(p.badLines).toEqual(bad.map((_, i) => i + 2));
    const want = [
      /^line 2: not valid JSON/,
      /^line 3: not a JSON object$/,
      /^line 4: "index" -1 is not a sample index/,
      /^line 5: "label" 3 is not a class of this network \(0…2\)$/,
      /^line 6: "method" "alpha-crown" is not one of ibp, crown-ibp, lbp, crown-lbp, crown$/,
      /^line 7: "lines" "loose"/,
      /^line 8: "eps" -0.1 is not a radius/,
      /^line 9: "marginClasses" \[0,1\] is not \[1, 2\]/,
      /^line 10: "marginLower" has 1 entries, expected 2$/,
      /^line 11: "marginLower"\[1\] "x" is neither a number nor null$/,
      /^line 12: "verified" "yes"/,
      /^line 13: "pgd" "maybe"/,
      /^line 14: "prediction" 7/,
    ];
    want.forEach((re, i) => expect(p.problems[i]).toMatch(re));
  });
});

describe('recheckCertificates', () => {
  it('confirms genuine certificates and rejects tampered ones with the reason', async () => {
    const net = linearNet(W, [0, 0, 0]);
    const text = await certificateText();
    const all = await recheckCertificates(net, samples, parseCertificates(text, 3), { batch: 2 });
    expect(all.total).toBe(16);
    expect(all.confirmed).toBe(16);
    expect(all.rejected).toEqual([]);

    const lines = text.trim().split('\n');
    const a = JSON.parse(lines[0]!);
    a.marginLower[0] += 0.01;
    const b = JSON.parse(lines[1]!);
    b.verified = !b.verified;
    b.float32Verified = b.verified; // a forged verdict changes both
    const c = JSON.parse(lines[2]!);
    c.index = 99;
    const d = JSON.parse(lines[3]!);
    d.label = (d.label + 1) % 3;
    d.marginClasses = [0, 1, 2].filter((j) => j !== d.label);
    const e = JSON.parse(lines[4]!);
    e.prediction = (e.prediction + 1) % 3;
    const tampered = [a, b, c, d, e].map((x) => JSON.stringify(x)).concat(lines.slice(5), ['nonsense']);
    const progress: number[] = [];
    const r = await recheckCertificates(net, samples, parseCertificates(tampered.join('\n'), 3), {
      batch: 2,
      onProgress: (done) => progress.push(done),
      pause: async () => undefined,
    });
    expect(r.total).toBe(17);
    expect(r.confirmed).toBe(11);
    const why = r.rejected.map(describeRejection);
    expect(why[0]).toMatch(
      /^line 1 \(sample 10, ibp, tight lines, ε=0.05\): margin lower bound vs class 1 is .*, recomputed /,
    );
    expect(why[1]).toMatch(/^line 2 .*: claims (not )?verified, recomputed (not )?verified$/);
    expect(why[2]).toBe('line 3 (sample 99, ibp, tight lines, ε=0.05): sample 99 is not bundled');
    expect(why[3]).toMatch(/^line 4 .*: label is \d, but sample 1\d is labelled \d$/);
    expect(why[4]).toMatch(/^line 5 .*: prediction is \d, recomputed \d$/);
    expect(why[5]).toMatch(/^line 17: not valid JSON/);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBeGreaterThan(0);
  });

  it('compares margins to the tolerance, relative above 1 and absolute below, null only with null', () => {
    const c = {
      index: 0,
      label: 0,
      prediction: 0,
      method: 'ibp' as const,
      lines: 'tight' as const,
      eps: 0.1,
      marginClasses: [1, 2],
      marginLower: [100, 0.5] as (number | null)[],
      float32Verified: true,
      confirmed: true,
      verified: true,
      rigorousLower: null,
      checks: [],
      pgd: 'not-run' as const,
    };
    expect(certificateMismatch(c, { ...c, marginLower: [100.005, 0.50005] })).toBeUndefined();
    expect(certificateMismatch(c, { ...c, marginLower: [100.02, 0.5] })).toMatch(
      /vs class 1 is 100, recomputed 100.02/,
    );
    expect(certificateMismatch(c, { ...c, marginLower: [100, 0.5002] })).toMatch(/vs class 2/);
    expect(certificateMismatch(c, { ...c, marginLower: [100, null] })).toMatch(
      /recomputed null \(non-finite\)/,
    );
    expect(
      certificateMismatch({ ...c, marginLower: [null, null] }, { ...c, marginLower: [null, null] }),
    ).toBeUndefined();
  });
});

describe('page image conversion', () => {
  it('maps grey and RGB pixels onto the domain (grey exactly), inverts, and back', () => {
    const rgba = [0, 0, 0, 255, 255, 255, 255, 255, 51, 51, 51, 0, 255, 0, 0, 255];
    expect(Array.from(pixelsToInput(rgba, [2, 2, 1], [0, 1]))).toEqual([0, 1, 0.2, 0.299].map(Math.fround));
    expect(Array.from(pixelsToInput(rgba, [2, 2, 1], [0, 1], true))).toEqual(
      [1, 0, 0.8, 0.701].map(Math.fround),
    );
    const rgb = pixelsToInput(rgba, [1, 4, 3], [-1, 1]);
    expect(Array.from(rgb.subarray(9))).toEqual([1, -1, -1]);
    for (let v = 0; v < 256; v++)
      expect(pixelsToInput([v, v, v, 255], [1, 1, 1], [0, 1])[0]).toBe(Math.fround(v / 255));
    expect(Array.from(inputToPixels([0, 1, 0.2, 0.5], [2, 2, 1], [0, 1]))).toEqual([
      0, 0, 0, 255, 255, 255, 255, 255, 51, 51, 51, 255, 128, 128, 128, 255,
    ]);
    expect(() => pixelsToInput([0, 0, 0], [1, 1, 1], [0, 1])).toThrow(/3 bytes for 1×1 RGBA/);
    expect(imageShape([28, 28, 1])).toEqual([28, 28, 1]);
    expect(imageShape([784])).toBeUndefined();
    expect(imageShape([4, 4, 2])).toBeUndefined();
  });
});
