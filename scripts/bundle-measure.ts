/**
 * Measures a `vnet bundle` page in headless Chromium (/usr/bin/chromium): bundle sizes, page-load
 * time and the bound time of each method on bundled sample 0 at the spec's first test ε; writes a
 * screenshot. Usage: npx tsx scripts/bundle-measure.ts SPEC WEIGHTS [SCREENSHOT.png]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildBundle } from '../src/bundle/build.js';
import { formatBytes } from '../src/bundle/report.js';
import { serveStatic } from '../src/bundle/serve.js';
import type { PageApi } from '../src/web/page.js';

type Win = Window & { vnetPage: PageApi };
const [spec, weights, shot] = process.argv.slice(2);
if (!spec || !weights)
  throw new Error('usage: npx tsx scripts/bundle-measure.ts SPEC WEIGHTS [SCREENSHOT.png]');
const site = join(mkdtempSync(join(tmpdir(), 'vnet-measure-')), 'site');
const r = await buildBundle({ specPath: spec, weightsPath: weights, outDir: site, samples: 12 });
console.log(
  `app.js ${formatBytes(r.jsBytes)}; wasm ${formatBytes(r.wasmBytes)} in all, ${formatBytes(r.wasmLoadedBytes)} loaded (SIMD)`,
);
const server = await serveStatic(site);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(server.url);
await page.waitForFunction(
  () => document.body.dataset['ready'] === 'true' || (window as unknown as Win).vnetPage?.error,
  null,
  { timeout: 120_000 },
);
const t = await page.evaluate(() => (window as unknown as Win).vnetPage.timings);
console.log(
  `page loaded (backend ready) ${t['loaded']!.toFixed(0)} ms, first result ${t['firstResult']!.toFixed(0)} ms after navigation`,
);
for (const method of ['ibp', 'crown-ibp', 'crown-lbp', 'crown'] as const) {
  const ms: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await page.evaluate(
      ([m]) => {
        const w = window as unknown as Win;
        return w.vnetPage.certify({
          sample: 0,
          eps: Number((document.getElementById('eps') as HTMLInputElement).value),
          method: m,
        });
      },
      [method] as const,
    );
    ms.push(res.seconds * 1000);
  }
  console.log(`${method}: median ${ms.sort((a, b) => a - b)[1]!.toFixed(1)} ms of 3 (sample 0)`);
}
if (shot) await page.screenshot({ path: shot, fullPage: true });
await browser.close();
await server.close();
