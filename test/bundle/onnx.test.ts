/**
 * `vnet bundle` of an imported ONNX network (no train block, so no data set samples and no threat
 * block): the bundle builds, and the page loads in headless Chromium (skipped where
 * /usr/bin/chromium is absent) and certifies the centre of the input domain (0 where unbounded, as here) at ε = 1% of its width (0.01 where unbounded).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildBundle } from '../../src/bundle/build.js';
import { serveStatic } from '../../src/bundle/serve.js';
import { importFile } from '../../src/onnx/import.js';
import type { PageApi } from '../../src/web/page.js';

const CHROMIUM = '/usr/bin/chromium';
type Win = Window & { vnetPage: PageApi };

const dir = mkdtempSync(join(tmpdir(), 'vnet-bundle-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vnet bundle of an imported ONNX network', () => {
  it('builds without a train block, bundling no samples', async () => {
    const imp = importFile('test/fixtures/onnx/test_sat.onnx', join(dir, 'net'));
    const r = await buildBundle({
      specPath: imp.specPath,
      weightsPath: imp.weightsPath,
      outDir: join(dir, 'site'),
    });
    expect(r.manifest.samples.count).toBe(0);
    expect(r.manifest.samples.dataset).toBe('');
    expect(r.jsBytes).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'loads in headless chromium and certifies the domain centre',
    async () => {
      const server = await serveStatic(join(dir, 'site'));
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu'],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(server.url);
        await page.waitForFunction(
          () => document.body.dataset['ready'] === 'true' || (window as unknown as Win).vnetPage?.error,
          null,
          { timeout: 90_000 },
        );
        const got = await page.evaluate(() => {
          const w = window as unknown as Win;
          return {
            error: w.vnetPage.error,
            last: w.vnetPage.lastResult,
            eps: (document.getElementById('eps') as HTMLInputElement).value,
          };
        });
        expect(got.error).toBeUndefined();
        expect(errors).toEqual([]);
        expect(got.last?.source).toBe('centre of the input domain');
        expect(got.last?.label).toBeNull();
        expect(got.last?.marginLower.length).toBeGreaterThan(0);
        expect(got.last?.marginLower.every((v) => v === null || Number.isFinite(v))).toBe(true);
        expect(Number(got.eps)).toBeGreaterThan(0);
        expect(got.last?.eps).toBe(Number(got.eps));
      } finally {
        await browser.close();
        await server.close();
      }
    },
    120_000,
  );
});
