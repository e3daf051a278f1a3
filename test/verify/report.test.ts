import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import {
  chartIds,
  chartJsSource,
  escapeHtml,
  renderReport,
  scheduleAxes,
  scriptJson,
  type ReportData,
} from '../../src/verify/report-html.js';
import type { ResultRow } from '../../src/verify/evaluate.js';
import { layerStatus } from '../../src/verify/status.js';

const EVIL = '</script><img src=x onerror="window.__pwned=1">&';

function syntheticReport(): ReportData {
  const metrics = Array.from({ length: 12 }, (_, e) => ({
    epoch: e + 1,
    phase: e < 2 ? 'clean' : 'certified',
    eps: Math.min(0.1, (0.1 * e) / 8),
    kappa: 1 - Math.min(1, e / 8),
    beta: 1 - Math.min(1, e / 8),
    eta: e < 6 ? 0.01 : Math.max(0, 0.01 - (e - 6) * 0.002),
    lr: 1e-3,
    loss: 2 / (e + 1),
    naturalLoss: 1 / (e + 1),
    robustLoss: e < 2 ? null : 3 / (e + 1),
    trainCleanErr: 0.5 / (e + 1),
    trainRobustErr: e < 2 ? null : 0.9 - e * 0.03,
    valCleanErr: 0.4 / (e + 1),
    valVerifiedErr: 0.95 - e * 0.04,
    best: e === 11,
  }));
  const rows: ResultRow[] = [];
  for (const eps of [0.05, 0.1])
    for (const method of ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'] as const)
      for (const lines of ['tight', 'adaptive'] as const)
        rows.push({
          eps,
          method,
          lines,
          n: 100,
          misclassified: 20,
          pgdBroken: 30,
          verified: 60,
          unconfirmed: 0,
          cleanErrPct: 20,
          pgdErrPct: 30,
          verifiedErrPct: lines === 'adaptive' && method !== 'ibp' ? 90 : 40,
          meanMarginLower: 1.5,
          nonFinite: 0,
          seconds: 0.1,
          ...(method === 'crown' ? { refused: `needs 9 GiB ${EVIL}` } : {}),
        });
  const relu = layerStatus('relu1', 'relu', [-1, -1, 0.5, -2], [1, -0.5, 1, 3]);
  const ramp = layerStatus(
    `ramp${EVIL}`,
    'paramramp',
    [-1, 0, 2, -1, 0.2, -3],
    [0.5, 2, 3, 3, 0.4, -1],
    [1, 1, 1],
  );
  return {
    title: `report ${EVIL}`,
    generatedAt: '2025-01-01T00:00:00Z',
    facts: [
      ['network', `net${EVIL}`],
      ['epochs', '12'],
    ],
    metrics,
    verify: { sources: [`spec ${EVIL}: 100 samples`], rows },
    status: [
      { method: 'ibp', eps: 0.1, n: 2, layers: [relu, ramp] },
      { method: 'lbp', eps: 0.1, n: 2, layers: [relu, ramp] },
    ],
    gap: {
      eps: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
      images: 10,
      series: [
        { method: 'ibp', lines: 'tight', values: [2, 20, 200, 4e3, 3e4] },
        { method: 'crown-ibp', lines: 'adaptive', values: [0.02, 1.7, 100, 2.5e3, null] },
        { method: 'crown', lines: 'tight', values: [0.002, 0.02, 0.2, 5, 1e3] },
      ],
    },
    notes: [`note ${EVIL}`],
  };
}

describe('report HTML', () => {
  it('escapes text and keeps embedded JSON inside its script element', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const j = scriptJson({ s: '</script><!-- \u2028' });
    expect(j).not.toMatch(/<|>|\u2028/);
    expect(JSON.parse(j)).toEqual({ s: '</script><!-- \u2028' });
    const html = renderReport(syntheticReport(), '/* chart.js */');
    expect(html).not.toContain('<img src=x');
    expect(html.match(/<\/script>/g)).toHaveLength(3); // data, library, page script
    expect(html).toContain('&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;&amp;');
  });

  it('gives every schedule its own axis scaled to its values, and no η for a ReLU network', () => {
    const m = syntheticReport().metrics;
    const axes = scheduleAxes(m);
    expect(axes.map((a) => a.key)).toEqual(['eps', 'kappa', 'beta', 'eta', 'lr']);
    const eps = axes.find((a) => a.key === 'eps')!;
    expect([eps.min, eps.max]).toEqual([0, 0.1]); // not a 0–1 axis where ε = 0.1 is a flat line
    expect(axes.find((a) => a.key === 'kappa')).toMatchObject({ min: 0, max: 1 });
    // a constant schedule gets a range around its value
    expect(axes.find((a) => a.key === 'lr')).toMatchObject({ min: 5e-4, max: 1.5e-3 });
    const relu = m.map((x) => ({ ...x, eta: null }));
    expect(scheduleAxes(relu).map((a) => a.key)).toEqual(['eps', 'kappa', 'beta', 'lr']);
    const html = renderReport({ ...syntheticReport(), metrics: relu }, '');
    expect(html).toContain('Schedules per epoch, each on its own scale: ε, κ, β, learning rate<');
    expect(html).not.toMatch(/Schedules[^<]*η/);
    expect(renderReport(syntheticReport(), '')).toContain('own scale: ε, κ, β, η, learning rate<');
  });

  describe('in headless chromium', () => {
    let dir: string;
    let ctx: BrowserContext;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'vnet-report-'));
      ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1200, height: 900 },
      });
    });
    afterAll(async () => {
      await ctx?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('renders every chart (non-blank canvases with data), loads nothing from the network, runs no injected code', async () => {
      const data = syntheticReport();
      const file = join(dir, 'report.html');
      writeFileSync(file, renderReport(data, chartJsSource()));
      const page = await ctx.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(file).href);
      await page.waitForFunction(() =>
        Array.isArray((window as unknown as { vnetCharts?: unknown[] }).vnetCharts),
      );
      const ids = chartIds(data);
      expect(ids).toEqual([
        'losses',
        'schedules',
        'errors',
        'verified-0',
        'verified-1',
        'status-0',
        'status-1',
        'gap',
      ]);
      const info = await page.evaluate((ids: string[]) => {
        type ChartLike = { data: { datasets: { data: unknown[] }[] } };
        const w = window as unknown as {
          vnetCharts: unknown[];
          __pwned?: number;
          Chart: { getChart(c: HTMLCanvasElement): ChartLike | undefined };
        };
        return {
          count: w.vnetCharts.length,
          pwned: w.__pwned,
          title: document.title,
          charts: ids.map((id) => {
            const c = document.getElementById(id) as HTMLCanvasElement;
            const chart = w.Chart.getChart(c);
            const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) painted++;
            return {
              id,
              datasets: chart?.data.datasets.length ?? 0,
              points: chart?.data.datasets.reduce((n, d) => n + d.data.length, 0) ?? 0,
              painted,
              area: c.width * c.height,
            };
          }),
        };
      }, ids);
      expect(errors).toEqual([]);
      expect(info.pwned).toBeUndefined();
      expect(info.title).toContain('</script><img');
      expect(info.count).toBe(ids.length);
      for (const c of info.charts) {
        expect(c.datasets, c.id).toBeGreaterThan(0);
        expect(c.points, c.id).toBeGreaterThan(0);
        expect(c.painted / c.area, c.id).toBeGreaterThan(0.01);
      }
      expect(requests.every((u) => u.startsWith('file:') || u.startsWith('data:'))).toBe(true);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      await page.close();
    });

    it('draws each schedule on its own scale and leaves η out for a ReLU network', async () => {
      const relu = syntheticReport().metrics.map((x) => ({ ...x, eta: null }));
      for (const [name, metrics, labels] of [
        ['ramp', syntheticReport().metrics, ['ε', 'κ', 'β', 'η', 'learning rate']],
        ['relu', relu, ['ε', 'κ', 'β', 'learning rate']],
      ] as const) {
        const file = join(dir, `schedules-${name}.html`);
        writeFileSync(file, renderReport({ ...syntheticReport(), metrics }, chartJsSource()));
        const page = await ctx.newPage();
        await page.goto(pathToFileURL(file).href);
        await page.waitForFunction(() =>
          Array.isArray((window as unknown as { vnetCharts?: unknown[] }).vnetCharts),
        );
        const sched = await page.evaluate(() => {
          type Scale = { min: number; max: number; top: number; bottom: number };
          type ChartLike = {
            data: { datasets: { label: string; yAxisID: string; data: { y: number | null }[] }[] };
            scales: Record<string, Scale>;
          };
          const w = window as unknown as { Chart: { getChart(c: HTMLCanvasElement): ChartLike } };
          const c = w.Chart.getChart(document.getElementById('schedules') as HTMLCanvasElement);
          return c.data.datasets.map((d) => {
            const s = c.scales[d.yAxisID]!;
            const ys = d.data.map((p) => p.y).filter((y): y is number => y !== null);
            return {
              label: d.label,
              min: s.min,
              max: s.max,
              band: s.bottom - s.top,
              dataMin: Math.min(...ys),
              dataMax: Math.max(...ys),
            };
          });
        });
        expect(sched.map((x) => x.label)).toEqual(labels);
        for (const x of sched) {
          // the data spans at least half of its own axis: visible, not a flat line
          expect(x.dataMin, x.label).toBeGreaterThanOrEqual(x.min);
          expect(x.dataMax, x.label).toBeLessThanOrEqual(x.max);
          expect(x.band, x.label).toBeGreaterThan(40);
        }
        const eps = sched.find((x) => x.label === 'ε')!;
        expect(eps.max).toBeLessThan(0.2);
        expect((eps.dataMax - eps.dataMin) / (eps.max - eps.min)).toBeGreaterThan(0.5);
        await page.close();
      }
    });
  });
});
