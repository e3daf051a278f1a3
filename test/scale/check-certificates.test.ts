/**
 * `vnet check-certificates`: the certificates `vnet verify` writes for the shipped fmnist-mlp
 * hold against its weights; a tampered margin bound, a verdict flipped to verified, a raised
 * rigorous bound, a wrong label, a wrong spec hash and another weight file are each named by line
 * and reason with exit 1; NaN weights never hold a verified claim; missing and malformed files
 * and graph networks are clear errors without a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadSpecModule } from '../../src/codegen/load.js';
import { saveParams } from '../../src/runtime/io/safetensors.js';
import { initBackend } from '../../src/runtime/backend.js';
import { cli } from '../cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-checkcert-'));
const p = (f: string): string => join(dir, f);
const SPEC = 'specs/fmnist-mlp.vnet';
const WEIGHTS = 'models/fmnist-mlp.safetensors';
const DATA = 'data/fashion-mnist-subset';
const certs = p('certs.jsonl');

type Cert = Record<string, unknown> & {
  index: number;
  label: number;
  verified: boolean;
  marginLower: (number | null)[];
  rigorousLower: (number | null)[] | null;
};
const readCerts = (f = certs): Cert[] =>
  readFileSync(f, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Cert);
const writeCerts = (f: string, cs: readonly object[]): void =>
  writeFileSync(f, cs.map((c) => JSON.stringify(c)).join('\n') + '\n');
const check = (file: string, ...extra: string[]): ReturnType<typeof cli> =>
  cli('check-certificates', file, '--spec', SPEC, '--weights', WEIGHTS, '--data', DATA, ...extra);

beforeAll(async () => {
  await initBackend('cpu');
  const r = await cli(
    'verify',
    SPEC,
    '--weights',
    WEIGHTS,
    '--data',
    DATA,
    '--limit',
    '6',
    '--eps',
    '0.05,0.2',
    '--methods',
    'ibp,crown-ibp,crown',
    '--lines',
    'tight',
    '--pgd-restarts',
    '0',
    '--workers',
    '1',
    '--backend',
    'cpu',
    '--certificates',
    certs,
  );
  expect(r.code).toBe(0);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vnet check-certificates', () => {
  it('certificates carry the spec and weight hashes, the sample, method, ε and margin bounds', () => {
    const cs = readCerts();
    expect(cs).toHaveLength(6 * 2 * 3);
    const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    for (const c of cs) {
      expect(c['specHash']).toBe(sha(SPEC));
      expect(c['weightsHash']).toBe(sha(WEIGHTS));
      expect(c['split']).toBe('test');
      expect(c['sampleHash']).toMatch(/^[0-9a-f]{64}$/);
      expect(['ibp', 'crown-ibp', 'crown']).toContain(c['method']);
      expect([0.05, 0.2]).toContain(c['eps']);
      expect(c.marginLower).toHaveLength(9);
    }
    // the test needs both kinds of claim
    expect(cs.some((c) => c.verified)).toBe(true);
    expect(cs.some((c) => !c.verified)).toBe(true);
  });

  it('an honest file holds: exit 0', async () => {
    const r = await check(certs);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const n = readCerts().length;
    const v = readCerts().filter((c) => c.verified).length;
    expect(r.out).toMatch(new RegExp(`all ${n} certificates hold \\(${v} verified\\)`));
  }, 120_000);

  it('names every tampered certificate with its reason', async () => {
    const cs = readCerts();
    const vi = cs.findIndex((c) => c.verified);
    const ni = cs.findIndex((c) => !c.verified && c.marginLower.every((x) => x !== null));
    const ri = cs.findIndex((c, i) => i !== vi && c.rigorousLower !== null);
    const li = cs.findIndex((_, i) => ![vi, ni, ri].includes(i));
    const hi = cs.findIndex((_, i) => ![vi, ni, ri, li].includes(i));
    const t = cs.map((c) => ({ ...c }));
    t[vi]!.marginLower = t[vi]!.marginLower.map((x) => (x === null ? x : x + 5)); // tampered margin
    t[ni]!.verified = true; // a verdict flipped
    t[ri]!.rigorousLower = t[ri]!.rigorousLower!.map((x) => (x === null ? x : x + 1));
    const label = (t[li]!.label + 1) % 10;
    t[li]!.label = label;
    t[li]!['marginClasses'] = [...Array(10).keys()].filter((c) => c !== label);
    t[hi]!['specHash'] = 'ab'.repeat(32); // wrong spec hash
    const f = p('tampered.jsonl');
    writeCerts(f, t);
    const r = await check(f);
    expect(r.code).toBe(1);
    const what = (i: number): string => {
      const c = cs[i]!;
      return `line ${i + 1} \\(sample ${c.index}, ${String(c['method'])}, tight lines, ε=${String(c['eps'])}\\)`;
    };
    expect(r.err).toMatch(
      new RegExp(
        `${what(vi)}: .*margin lower bound above every rigorous bound by more than float32 rounding vs class \\d \\(`,
      ),
    );
    expect(r.err).toMatch(
      new RegExp(`${what(ni)}: claims verified, but the rigorous margin lower bound is not > 0 vs class`),
    );
    expect(r.err).toMatch(
      new RegExp(`${what(ri)}: rigorous margin lower bound above what the checker proves vs class \\d \\(`),
    );
    expect(r.err).toMatch(
      new RegExp(
        `line ${li + 1} .*: label is \\d, but sample ${cs[li]!.index} of the test split is labelled`,
      ),
    );
    expect(r.err).toMatch(
      new RegExp(`${what(hi)}: specHash abababababab… is not the sha256 of specs/fmnist-mlp.vnet`),
    );
    expect(r.err).toMatch(new RegExp(`5 of ${cs.length} certificates do not hold`));
    expect(r.err.trimEnd().split('\n')).toHaveLength(6);
  }, 120_000);

  it('other weights, another spec text, NaN weights: every certificate is named', async () => {
    const mod = await loadSpecModule(SPEC);
    const other = p('other.safetensors');
    saveParams(other, mod.meta, mod.initParams(3));
    const n = readCerts().length;
    const w = await cli('check-certificates', certs, '--spec', SPEC, '--weights', other, '--data', DATA);
    expect(w.code).toBe(1);
    expect(w.err.match(/weightsHash [0-9a-f]{12}… is not the sha256 of .*other\.safetensors/g)).toHaveLength(
      n,
    );
    expect(w.err).toMatch(new RegExp(`${n} of ${n} certificates do not hold`));

    const spec2 = p('fmnist-mlp-edited.vnet');
    writeFileSync(spec2, readFileSync(SPEC, 'utf8') + '\n// edited\n');
    const s = await cli('check-certificates', certs, '--spec', spec2, '--weights', WEIGHTS, '--data', DATA);
    expect(s.code).toBe(1);
    expect(s.err.match(/specHash 278e2d04d290… is not the sha256 of/g)).toHaveLength(n);

    // the shipped weights with a NaN in the last bias, and certificates naming that file
    const bytes = readFileSync(WEIGHTS);
    const hlen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString('utf8')) as Record<
      string,
      { data_offsets?: [number, number] }
    >;
    const [start] = header['fc3.bias']!.data_offsets!;
    const nan = Buffer.from(bytes);
    nan.writeFloatLE(NaN, 8 + hlen + start);
    const nanPath = p('nan.safetensors');
    writeFileSync(nanPath, nan);
    const hash = createHash('sha256').update(nan).digest('hex');
    const f = p('nan-certs.jsonl');
    writeCerts(
      f,
      readCerts().map((c) => ({ ...c, weightsHash: hash })),
    );
    const v = readCerts().filter((c) => c.verified).length;
    const r = await cli('check-certificates', f, '--spec', SPEC, '--weights', nanPath, '--data', DATA);
    expect(r.code).toBe(1);
    expect(
      r.err.match(
        /claims verified, but the rigorous margin lower bound is not > 0 vs class 0 \(-Infinity\)/g,
      ),
    ).toHaveLength(v);
  }, 120_000);

  it('missing and malformed files, missing flags and graph networks are clear errors', async () => {
    const missing = await check(p('nope.jsonl'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.jsonl: no such file/);
    const junk = p('junk.jsonl');
    writeFileSync(junk, 'hello\nworld\n');
    const j = await check(junk);
    expect(j.code).toBe(1);
    expect(j.err).toMatch(/junk\.jsonl: is not a certificate file \(line 1: not valid JSON/);
    const empty = p('empty.jsonl');
    writeFileSync(empty, '\n');
    expect((await check(empty)).err).toMatch(/holds no certificates/);
    // one bad line among good ones: that line is named, the others hold
    const cs = readFileSync(certs, 'utf8').trimEnd().split('\n');
    const mixed = p('mixed.jsonl');
    writeFileSync(mixed, [cs[0], '{"index": 1}', '{not json', cs[1]].join('\n') + '\n');
    const m = await check(mixed);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/line 2: "specHash" undefined is not a sha256.*"weightsHash"/);
    expect(m.err).toMatch(/line 3: not valid JSON/);
    expect(m.err).toMatch(/2 of 4 certificates do not hold/);
    const noSpec = await cli('check-certificates', certs, '--weights', WEIGHTS);
    expect(noSpec.code).toBe(1);
    expect(noSpec.err).toMatch(/--spec/);
    const badWeights = await cli(
      'check-certificates',
      certs,
      '--spec',
      SPEC,
      '--weights',
      p('none.safetensors'),
    );
    expect(badWeights.code).toBe(1);
    expect(badWeights.err).toMatch(/none\.safetensors: no such file/);
    for (const e of [missing, j, m, noSpec, badWeights]) expect(e.err).not.toMatch(/\n\s+at /);

    const g = 'specs/fmnist-resnet.vnet';
    const gmod = await loadSpecModule(g);
    const gw = p('resnet.safetensors');
    saveParams(gw, gmod.meta, gmod.initParams(0));
    copyFileSync(certs, p('g.jsonl'));
    const gr = await cli('check-certificates', p('g.jsonl'), '--spec', g, '--weights', gw);
    expect(gr.code).toBe(1);
    expect(gr.err).toMatch(
      /cannot check certificates of specs\/fmnist-resnet\.vnet: the rigorous binary64 check handles chains only/,
    );
  }, 120_000);
});
