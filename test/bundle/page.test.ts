/**
 * The `vnet bundle` page in headless Chromium (skipped where /usr/bin/chromium is absent), served
 * from a static server on 127.0.0.1 with every other host unreachable: a result on load, bounds
 * equal to Node's on the same inputs, a dropped image, the bundled certificates confirmed, a
 * corrupted certificate file rejected with its reasons, and the page opened from file://.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildBundle, type BundleResult } from '../../src/bundle/build.js';
import { serveStatic, type StaticServer } from '../../src/bundle/serve.js';
import type { BoundMethod } from '../../src/ir/ir.js';
import { initBackend } from '../../src/runtime/backend.js';
import type { GeneratedModule, ParamSet } from '../../src/runtime/module.js';
import { evaluate } from '../../src/verify/evaluate.js';
import { certificateLines } from '../../src/verify/format.js';
import { loadEvalSplit, loadNetwork, verifiable } from '../../src/verify/model.js';
import type { CertifyResult, PageApi } from '../../src/web/page.js';
import { greyPng } from './png.js';

const CHROMIUM = '/usr/bin/chromium';
const SPEC = 'specs/fmnist-dm-small-relu.vnet';
const WEIGHTS = 'models/fmnist-dm-small-relu.safetensors';
const DATA = 'data/fashion-mnist-subset';
const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

type Win = Window & { vnetPage: PageApi };

/** |a − b| ≤ 1e-6 · max(1, |b|) for every entry (null only with a non-finite Node bound). */
function expectClose(page: readonly (number | null)[], node: ArrayLike<number>, what: string): void {
  expect(page.length, what).toBe(node.length);
  for (let i = 0; i < node.length; i++) {
    const b = node[i]!;
    const a = page[i];
    if (!Number.isFinite(b)) expect(a, `${what}[${i}]`).toBeNull();
    else
      expect(Math.abs(a! - b), `${what}[${i}]: page ${a}, node ${b}`).toBeLessThanOrEqual(
        1e-6 * Math.max(1, Math.abs(b)),
      );
  }
}

describe.skipIf(!existsSync(CHROMIUM))('vnet bundle page in headless chromium', () => {
  let dir: string;
  let site: string;
  let built: BundleResult;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let mod: GeneratedModule;
  let params: ParamSet;
  let certText: string;
  const requests: string[] = [];
  const errors: string[] = [];
  let eps: number;

  /** Node's margin lower bounds for one raw input (the same call `vnet verify` makes). */
  async function nodeBounds(x: ArrayLike<number>, label: number, method: BoundMethod): Promise<Float32Array> {
    const xt = tf.tensor(Float32Array.from(x), [1, ...mod.meta.inputCfg.shape]);
    const lt = tf.tensor1d([label], 'int32');
    const r = verifiable(mod, params).bounds(xt, eps, method, mod.meta.verify.lines, lt);
    const lower = (await r.lower.data()) as Float32Array;
    tf.dispose([
      xt,
      lt,
      r.lower,
      r.upper,
      r.logits,
      ...(r.intermediate ?? []).flatMap((L) => [L.lower, L.upper]),
    ]);
    return lower;
  }

  beforeAll(async () => {
    await initBackend('wasm');
    ({ mod, params } = await loadNetwork(SPEC, WEIGHTS));
    eps = mod.meta.threat!.testEps[0]!;
    dir = mkdtempSync(join(tmpdir(), 'vnet-bundle-'));
    // certificates for 6 samples (2 more than the page offers: they must be bundled too)
    const data = await loadEvalSplit(mod.meta, { split: 'test', dir: DATA, limit: 6 });
    const rep = await evaluate(verifiable(mod, params), data, {
      eps: [eps],
      methods: ['ibp', 'crown-ibp'],
      lines: [mod.meta.verify.lines],
      batch: 6,
      pgd: { steps: 0, restarts: 0, seed: 0 },
      pgdStep: () => 0,
      certificates: true,
    });
    certText = certificateLines(rep.certificates);
    writeFileSync(join(dir, 'certs.jsonl'), certText);
    site = join(dir, 'site');
    built = await buildBundle({
      specPath: SPEC,
      weightsPath: WEIGHTS,
      certificatesPath: join(dir, 'certs.jsonl'),
      outDir: site,
      dataDir: DATA,
      samples: 4,
    });
    server = await serveStatic(site);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    // offline: every host but the one serving the page is unreachable
    await ctx.route('**/*', (route) =>
      route.request().url().startsWith(server.url) ? route.continue() : route.abort('internetdisconnected'),
    );
    page = await ctx.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(
      () => document.body.dataset['ready'] === 'true' || (window as unknown as Win).vnetPage?.error,
      null,
      {
        timeout: 90_000,
      },
    );
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows a verdict for the first sample at the first test ε with IBP without a click, fetching only its own files', async () => {
    const got = await page.evaluate(() => {
      const w = window as unknown as Win;
      return {
        error: w.vnetPage.error,
        backend: w.vnetPage.backend,
        last: w.vnetPage.lastResult,
        verdict: document.getElementById('verdict')!.textContent,
        facts: document.getElementById('facts')!.textContent,
        pickers: document.querySelectorAll('#samples button').length,
      };
    });
    expect(got.error).toBeUndefined();
    expect(errors).toEqual([]);
    expect(got.last).toMatchObject({ method: 'ibp', eps, source: expect.stringContaining('sample 0') });
    expect(got.verdict).toMatch(/^(verified|not verified)/);
    expect(got.backend?.name).toBe('wasm');
    expect(got.backend?.detail).toContain('SIMD');
    expect(got.facts).toContain(mod.meta.specHash.slice(0, 16));
    expect(got.facts).toContain(mod.meta.paramCount.toLocaleString('en-US'));
    expect(got.pickers).toBe(4);
    expect(requests.length).toBeGreaterThan(3);
    expect(
      requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:')),
    ).toEqual([]);
    expect(built.manifest.samples.count).toBe(6);
  });

  it('computes the same margin bounds as Node for every method', async () => {
    const data = await loadEvalSplit(mod.meta, { split: 'test', dir: DATA, limit: 3 });
    const per = data.x.length / 3;
    for (const method of ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'] as const) {
      for (let p = 0; p < 3; p++) {
        const r: CertifyResult = await page.evaluate(
          ([sample, e, m]) => (window as unknown as Win).vnetPage.certify({ sample, eps: e, method: m }),
          [p, eps, method] as const,
        );
        expect(r.refused, method).toBeUndefined();
        const node = await nodeBounds(data.x.subarray(p * per, (p + 1) * per), data.labels[p]!, method);
        expectClose(r.marginLower, node, `${method} sample ${p}`);
        expect(r.verified).toBe(r.prediction === data.labels[p] && [...node].every((v) => v > 0));
      }
    }
    // the visible result is the last one
    const shown = await page.locator('#result-facts').textContent();
    expect(shown).toContain('CROWN');
  }, 300_000);

  it('certifies a dropped PNG around its prediction, converted exactly as the data set is', async () => {
    const data = await loadEvalSplit(mod.meta, { split: 'test', dir: DATA, limit: 2 });
    const px = Array.from(data.x.subarray(784, 1568), (v) => Math.round(v * 255));
    await page.setInputFiles('#image-file', {
      name: 'sample1.png',
      mimeType: 'image/png',
      buffer: greyPng(px, 28, 28),
    });
    await page.waitForFunction(
      () => (window as unknown as Win).vnetPage.lastResult?.source === 'sample1.png',
    );
    const { input, r } = await page.evaluate(() => ({
      input: (window as unknown as Win).vnetPage.currentInput(),
      r: (window as unknown as Win).vnetPage.lastResult!,
    }));
    expect(input).toEqual(Array.from(data.x.subarray(784, 1568)));
    expect(r.label).toBeNull();
    expect(r.method).toBe('ibp');
    const node = await nodeBounds(input, r.prediction, 'ibp');
    expectClose(r.marginLower, node, 'dropped image');
    // a larger image is resized to the input shape
    const big = Array.from(
      { length: 56 * 56 },
      (_, i) => px[Math.floor(i / 112) * 28 + Math.floor((i % 56) / 2)]!,
    );
    await page.setInputFiles('#image-file', {
      name: 'big.png',
      mimeType: 'image/png',
      buffer: greyPng(big, 56, 56),
    });
    await page.waitForFunction(() => (window as unknown as Win).vnetPage.lastResult?.source === 'big.png');
    const n = await page.evaluate(() => (window as unknown as Win).vnetPage.currentInput().length);
    expect(n).toBe(784);
  });

  it('confirms the bundled certificate file', async () => {
    await page.click('#recheck');
    await page.waitForFunction(
      () => document.getElementById('recheck-result')!.dataset['total'] !== undefined,
      null,
      {
        timeout: 90_000,
      },
    );
    const res = await page.locator('#recheck-result');
    const lines = certText.trim().split('\n').length;
    expect(await res.getAttribute('data-total')).toBe(String(lines));
    expect(await res.getAttribute('data-confirmed')).toBe(String(lines));
    expect(await res.textContent()).toContain(`all ${lines} certificates confirmed`);
    expect(await page.locator('#recheck-list li').count()).toBe(0);
    const shot = join(dir, 'bundle.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(30_000);
  });

  it('rejects a corrupted certificate file and says which lines and why', async () => {
    const lines = certText.trim().split('\n');
    const c1 = JSON.parse(lines[1]!);
    c1.marginLower[2] = c1.marginLower[2] + 1;
    lines[1] = JSON.stringify(c1);
    const c2 = JSON.parse(lines[2]!);
    c2.verified = !c2.verified;
    c2.float32Verified = c2.verified; // a forged verdict changes both
    lines[2] = JSON.stringify(c2);
    lines[3] = lines[3]!.slice(0, 40);
    const c4 = JSON.parse(lines[4]!);
    c4.index = 999;
    lines[4] = JSON.stringify(c4);
    await page.setInputFiles('#cert-file', {
      name: 'tampered.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(lines.join('\n') + '\n'),
    });
    await page.waitForFunction(
      () => document.getElementById('recheck-result')!.textContent!.startsWith('tampered.jsonl: rejected'),
      null,
      {
        timeout: 90_000,
      },
    );
    const res = page.locator('#recheck-result');
    expect(await res.getAttribute('data-confirmed')).toBe(String(lines.length - 4));
    expect(await res.getAttribute('class')).toBe('bad');
    const items = await page.locator('#recheck-list li').allTextContents();
    expect(items).toHaveLength(4);
    expect(items[0]).toMatch(
      new RegExp(
        `^line 2 \\(sample ${c1.index}, ${c1.method}, .*\\): margin lower bound vs class ${c1.marginClasses[2]} is .*, recomputed`,
      ),
    );
    expect(items[1]).toMatch(
      /^line 3 .*: (claims verified, recomputed not verified|claims not verified, recomputed verified)$/,
    );
    expect(items[2]).toMatch(/^line 4: not valid JSON/);
    expect(items[3]).toMatch(/^line 5 \(sample 999, .*\): sample 999 is not bundled$/);
  });

  it('opens from file:// where the browser allows it, and says what to do where it does not', async () => {
    const url = pathToFileURL(join(site, 'index.html')).href;
    const allowed = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...ARGS, '--allow-file-access-from-files'],
    });
    try {
      const p = await allowed.newPage();
      await p.goto(url);
      await p.waitForFunction(
        () => document.body.dataset['ready'] === 'true' || (window as unknown as Win).vnetPage?.error,
        null,
        {
          timeout: 90_000,
        },
      );
      expect(await p.evaluate(() => (window as unknown as Win).vnetPage.error)).toBeUndefined();
      expect(await p.locator('#verdict').textContent()).toMatch(/^(verified|not verified)/);
    } finally {
      await allowed.close();
    }
    const p = await browser.newPage();
    await p.goto(url);
    await p.waitForFunction(() => (window as unknown as Win).vnetPage?.error !== undefined, null, {
      timeout: 90_000,
    });
    const status = await p.locator('#status').textContent();
    expect(status).toContain('file://');
    expect(status).toContain('static file server');
    await p.close();
  });
});
