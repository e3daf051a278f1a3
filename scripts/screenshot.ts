/**
 * `npx tsx scripts/screenshot.ts REPORT.html OUT.png`: a full-page screenshot of a `vnet report`
 * page in headless chromium (Debian's /usr/bin/chromium, or CHROMIUM=path), after its charts
 * have rendered. Used for docs/report.png.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [page, out] = process.argv.slice(2);
if (!page || !out) {
  process.stderr.write('usage: npx tsx scripts/screenshot.ts REPORT.html OUT.png\n');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'vnet-shot-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env['CHROMIUM'] ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const p = await ctx.newPage();
  await p.goto(pathToFileURL(resolve(page)).href);
  await p.waitForFunction(() => (window as unknown as { vnetCharts?: unknown[] }).vnetCharts !== undefined);
  await p.waitForTimeout(500);
  await p.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
