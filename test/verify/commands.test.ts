/**
 * The verify / inspect / report commands end to end through the CLI entry point, on a real spec
 * (compiled by the code generator), freshly initialised weights and the bundled Fashion-MNIST
 * subset, with tiny limits; plus the commands' user errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../cli-run.js';
import { loadSpecModule } from '../../src/codegen/load.js';
import { saveParams } from '../../src/runtime/io/safetensors.js';
import { initBackend } from '../../src/runtime/backend.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-cmd-'));
const SPEC = 'specs/fmnist-mlp.vnet';
const DATA = 'data/fashion-mnist-subset';
const weights = join(dir, 'w.safetensors');

beforeAll(async () => {
  await initBackend('cpu');
  const mod = await loadSpecModule(SPEC);
  saveParams(weights, mod.meta, mod.initParams(7));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vnet verify / inspect / report', () => {
  it('verify prints JSON rows for every (ε, method, lines) and writes certificates', async () => {
    const certs = join(dir, 'c.jsonl');
    const r = await cli(
      'verify',
      SPEC,
      '--weights',
      weights,
      '--data',
      DATA,
      '--limit',
      '6',
      '--batch',
      '4',
      '--eps',
      '0.001,1/255',
      '--methods',
      'ibp,crown-ibp',
      '--lines',
      'tight,adaptive',
      '--pgd-steps',
      '3',
      '--pgd-restarts',
      '1',
      '--certificates',
      certs,
      '--backend',
      'cpu',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      kind: string;
      n: number;
      rows: { eps: number; method: string; lines: string; n: number }[];
      pgd: { stepSize: number[] };
    };
    expect(j.kind).toBe('vnet-verify');
    expect(j.n).toBe(6);
    expect(j.rows.map((x) => `${x.eps}/${x.method}/${x.lines}`)).toEqual([
      '0.001/ibp/tight',
      '0.001/ibp/adaptive',
      '0.001/crown-ibp/tight',
      '0.001/crown-ibp/adaptive',
      `${1 / 255}/ibp/tight`,
      `${1 / 255}/ibp/adaptive`,
      `${1 / 255}/crown-ibp/tight`,
      `${1 / 255}/crown-ibp/adaptive`,
    ]);
    expect(j.rows.every((x) => x.n === 6)).toBe(true);
    expect(j.pgd.stepSize).toEqual([0.01, 0.01]);
    const lines = readFileSync(certs, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(6 * 8);
    writeFileSync(join(dir, 'verify.json'), r.out);
  }, 300_000);

  it('inspect prints the status table', async () => {
    const r = await cli(
      'inspect',
      SPEC,
      '--weights',
      weights,
      '--data',
      DATA,
      '--limit',
      '5',
      '--eps',
      '0.01',
      '--backend',
      'cpu',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/layer\s+kind\s+neurons\s+dead\s+unstable\s+alive/);
    expect(r.out).toMatch(/relu1\s+relu\s+2560\s/); // 5 samples × 512 neurons
    expect(r.out).toMatch(/relu2\s+relu\s+2560\s/);
    const j = await cli(
      'inspect',
      SPEC,
      '--weights',
      weights,
      '--data',
      DATA,
      '--limit',
      '1',
      '--eps',
      '0.01',
      '--method',
      'lbp',
      '--backend',
      'cpu',
      '--json',
    );
    const doc = JSON.parse(j.out) as {
      kind: string;
      method: string;
      n: number;
      layers: { layer: string; total: number }[];
    };
    expect(doc.kind).toBe('vnet-inspect');
    expect(doc.method).toBe('lbp');
    expect(doc.layers.map((l) => [l.layer, l.total])).toEqual([
      ['relu1', 512],
      ['relu2', 512],
    ]);
    writeFileSync(join(dir, 'inspect.json'), j.out);
  });

  it('report writes a self-contained page from a run directory and verify JSON', async () => {
    const run = join(dir, 'run');
    mkdirSync(run);
    const rec = (epoch: number): string =>
      JSON.stringify({
        epoch,
        phase: 'certified',
        eps: 0.1,
        kappa: 0,
        beta: 0,
        eta: null,
        lr: 1e-3,
        loss: 1,
        naturalLoss: 1,
        robustLoss: 1,
        trainCleanErr: 0.3,
        trainRobustErr: 0.6,
        valEps: 0.1,
        valCleanErr: 0.3,
        valVerifiedErr: 0.6,
        best: true,
        seconds: 1,
      });
    writeFileSync(join(run, 'metrics.jsonl'), `${rec(0)}\n${rec(1)}\n`);
    writeFileSync(
      join(run, 'recipe.json'),
      JSON.stringify({ network: 'fmnist_mlp', spec: SPEC, command: 'vnet train <x>' }),
    );
    const out = join(dir, 'r.html');
    const r = await cli(
      'report',
      run,
      '--verify',
      `${join(dir, 'verify.json')},${join(dir, 'verify.json')}`,
      '--inspect',
      join(dir, 'inspect.json'),
      '--out',
      out,
      '--status-images',
      '0',
      '--gap-images',
      '0',
    );
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('Chart.js v4');
    expect(html).toContain('vnet train &lt;x&gt;');
    expect(html).toMatch(/<canvas id="verified-0">/);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toMatch(/<canvas id="status-0">/); // from --inspect
    expect(html.match(/<p>specs\/fmnist-mlp\.vnet with /g)).toHaveLength(2); // both --verify files described
  });

  it('reports user errors clearly (exit 1)', async () => {
    let r = await cli('verify', SPEC, '--weights', weights, '--methods', 'crwn');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--methods: unknown value 'crwn'/);
    expect(r.err).toMatch(/did you mean 'crown'/);
    r = await cli('verify', SPEC);
    expect(r.err).toMatch(/missing required option '--weights'/);
    r = await cli('verify', SPEC, '--weights', weights, '--split', 'train');
    expect(r.err).toMatch(/--split must be 'test' or 'val'/);
    r = await cli('verify', SPEC, '--weights', weights, '--eps', '-0.1');
    expect(r.err).toMatch(/--eps: '-0.1' is not a radius/);
    r = await cli('verify', SPEC, '--weights', join(dir, 'nope.safetensors'), '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nope\.safetensors/);
    r = await cli('inspect', SPEC, '--weights', weights, '--method', 'crown');
    expect(r.err).toMatch(/--method must be 'ibp' or 'lbp'/);
    r = await cli('report', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/holds no training run/);
    writeFileSync(join(dir, 'bad.json'), '{"kind": "other"}');
    r = await cli('report', join(dir, 'run'), '--verify', join(dir, 'bad.json'));
    expect(r.err).toMatch(/bad\.json: is not the JSON output of `vnet verify --json`/);
    writeFileSync(join(dir, 'norows.json'), '{"kind": "vnet-verify"}');
    r = await cli('report', join(dir, 'run'), '--verify', join(dir, 'norows.json'));
    expect(r.err).toMatch(/norows\.json: has no "rows" array/);
  });
});
