/**
 * The `vnet report` page: one self-contained HTML file (Chart.js inlined, data embedded as JSON,
 * no network access needed to view it) with the training curves, verified error by method and
 * line strategy, neuron status per layer, and the mean logit bound gap versus ε (paper Fig. 3).
 *
 * Every string that comes from a file is HTML-escaped where it lands in markup; the data block is
 * JSON with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no file content can close the script
 * element. Chart.js draws the labels on canvases (text, never markup). Pure: data in, text out.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LayerStatus } from './status.js';
import type { ResultRow } from './evaluate.js';

/** One epoch of training metrics, as metrics.jsonl records it (errors are fractions). */
export interface MetricPoint {
  readonly epoch: number;
  readonly phase?: string;
  readonly eps?: number | null;
  readonly kappa?: number | null;
  readonly beta?: number | null;
  readonly eta?: number | null;
  readonly lr?: number | null;
  readonly loss?: number | null;
  readonly naturalLoss?: number | null;
  readonly robustLoss?: number | null;
  readonly trainCleanErr?: number | null;
  readonly trainRobustErr?: number | null;
  readonly valCleanErr?: number | null;
  readonly valVerifiedErr?: number | null;
  readonly best?: boolean;
}

/** Neuron statistics of one bound method at one ε. */
export interface StatusSection {
  readonly method: string;
  readonly eps: number;
  readonly n: number;
  readonly layers: readonly LayerStatus[];
}

/** Mean logit bound gap mean(u − l) per method/lines at each ε of `eps` (null: not computed). */
export interface GapSection {
  readonly eps: readonly number[];
  readonly images: number;
  readonly series: readonly {
    readonly method: string;
    readonly lines: string;
    readonly values: readonly (number | null)[];
  }[];
}

/** Everything the page shows. Every field except `title` is optional data. */
export interface ReportData {
  readonly title: string;
  readonly generatedAt: string;
  /** Key/value facts about the run (network, spec, epochs, best epoch, ...). */
  readonly facts: readonly (readonly [string, string])[];
  readonly metrics: readonly MetricPoint[];
  /** Rows of one or more `vnet verify --json` files; `sources` describes each file (its rows carry their own n). */
  readonly verify?: { readonly sources: readonly string[]; readonly rows: readonly ResultRow[] };
  readonly status: readonly StatusSection[];
  readonly gap?: GapSection;
  /** Why a section is missing or how it was made. */
  readonly notes: readonly string[];
}

/** One schedule of the training-curves chart, drawn on its own axis (a band of the chart). */
export interface ScheduleAxis {
  /** The MetricPoint field. */
  readonly key: 'eps' | 'kappa' | 'beta' | 'eta' | 'lr';
  readonly label: string;
  /** The axis range: the data's range, widened where the data is constant. */
  readonly min: number;
  readonly max: number;
}

const SCHEDULES: readonly { key: ScheduleAxis['key']; label: string }[] = [
  { key: 'eps', label: 'ε' },
  { key: 'kappa', label: 'κ' },
  { key: 'beta', label: 'β' },
  { key: 'eta', label: 'η' },
  { key: 'lr', label: 'learning rate' },
];

/**
 * The schedules the page charts, each on its own axis scaled to its own values (ε of 0.03 next to
 * a κ of 1 on one 0–1 axis is a flat line at the bottom). A schedule without any value (η of a
 * ReLU network) is left out, legend included.
 */
export function scheduleAxes(metrics: readonly MetricPoint[]): ScheduleAxis[] {
  const out: ScheduleAxis[] = [];
  for (const { key, label } of SCHEDULES) {
    const vs = metrics
      .map((m) => m[key])
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (vs.length === 0) continue;
    let min = Math.min(...vs);
    let max = Math.max(...vs);
    if (max - min <= 1e-12 * Math.max(1, Math.abs(max))) {
      const pad = Math.abs(max) > 0 ? Math.abs(max) * 0.5 : 0.5;
      min -= pad;
      max += pad;
    }
    out.push({ key, label, min, max });
  }
  return out;
}

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** JSON that is safe inside a <script> element. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The Chart.js UMD bundle from node_modules, ready to inline. */
export function chartJsSource(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script');
}

/** The ids of the charts the page will draw for `d` (the browser test checks each one rendered). */
export function chartIds(d: ReportData): string[] {
  const ids: string[] = [];
  if (d.metrics.length > 0) ids.push('losses', 'schedules', 'errors');
  if (d.verify) distinct(d.verify.rows.map((r) => r.eps)).forEach((_, i) => ids.push(`verified-${i}`));
  d.status.forEach((_, i) => ids.push(`status-${i}`));
  if (d.gap) ids.push('gap');
  return ids;
}

const distinct = <T>(xs: readonly T[]): T[] => xs.filter((x, i) => xs.indexOf(x) === i);
const fmtPct = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)}%`);

function verifyTable(rows: readonly ResultRow[]): string {
  const head = [
    'ε',
    'method',
    'lines',
    'n',
    'clean err',
    'PGD err',
    'verified err',
    'mean margin lb',
    'bound s',
  ];
  const body = rows
    .map(
      (r) =>
        `<tr><td>${escapeHtml(String(r.eps))}</td><td>${escapeHtml(r.method)}</td><td>${escapeHtml(r.lines)}</td>` +
        `<td>${r.n}</td><td>${fmtPct(r.cleanErrPct)}</td><td>${fmtPct(r.pgdErrPct)}</td>` +
        `<td>${r.refused !== undefined ? `refused: ${escapeHtml(r.refused)}` : fmtPct(r.verifiedErrPct)}</td>` +
        `<td>${r.meanMarginLower === null ? '–' : escapeHtml(r.meanMarginLower.toPrecision(5))}</td>` +
        `<td>${r.seconds.toFixed(2)}</td></tr>`,
    )
    .join('\n');
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Renders the report page. `chartJs` is the library source to inline (see chartJsSource). */
export function renderReport(d: ReportData, chartJs: string): string {
  const ids = chartIds(d);
  const canvas = (id: string, title: string, cls = 'chart'): string =>
    `<figure><figcaption>${escapeHtml(title)}</figcaption><div class="${cls}"><canvas id="${escapeHtml(id)}"></canvas></div></figure>`;
  const sections: string[] = [];
  sections.push(
    `<section><h2>Run</h2><div class="facts">${d.facts
      .map(([k, v]) => `<div><b>${escapeHtml(k)}</b> ${escapeHtml(v)}</div>`)
      .join('')}</div></section>`,
  );
  if (d.metrics.length > 0) {
    const names = scheduleAxes(d.metrics).map((x) => x.label);
    sections.push(
      `<section><h2>Training</h2><div class="grid">${canvas('losses', 'Losses per epoch')}${canvas(
        'schedules',
        `Schedules per epoch, each on its own scale: ${names.join(', ')}`,
        'chart tall',
      )}${canvas('errors', 'Errors per epoch (%)')}</div></section>`,
    );
  }
  if (d.verify) {
    const epsList = distinct(d.verify.rows.map((r) => r.eps));
    const vIds = ids.filter((i) => i.startsWith('verified-'));
    sections.push(
      `<section><h2>Verified error by method</h2>${d.verify.sources.map((x) => `<p>${escapeHtml(x)}</p>`).join('')}` +
        `<div class="grid">${epsList.map((e, i) => canvas(vIds[i]!, `Verified error (%) at ε = ${e}`)).join('')}</div>` +
        verifyTable(d.verify.rows) +
        '</section>',
    );
  }
  if (d.status.length > 0) {
    const sIds = ids.filter((i) => i.startsWith('status-'));
    sections.push(
      `<section><h2>Neuron status per layer</h2><div class="grid">${d.status
        .map((s, i) =>
          canvas(sIds[i]!, `${s.method.toUpperCase()} bounds at ε = ${s.eps} (${s.n} samples), % of neurons`),
        )
        .join('')}</div></section>`,
    );
  }
  if (d.gap) {
    sections.push(
      `<section><h2>Bound gap versus ε</h2><div class="grid">${canvas(
        'gap',
        `Mean logit bound gap mean(u − l) over ${d.gap.images} test images (log–log; dashed: adaptive lines; cf. paper Fig. 3)`,
      )}</div></section>`,
    );
  }
  if (d.notes.length > 0) {
    sections.push(
      `<section><h2>Notes</h2><ul>${d.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></section>`,
    );
  }
  const data = { ...d, chartIds: ids, schedules: scheduleAxes(d.metrics) };
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(d.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
.chart { position: relative; height: 320px; } .chart.tall { height: 480px; }
table { border-collapse: collapse; margin-top: 12px; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 2px 16px; }
.facts div { overflow-wrap: anywhere; } .facts b { color: #555; font-weight: 600; }
.meta { color: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(d.title)}</h1>
<div class="meta">generated ${escapeHtml(d.generatedAt)} by vnet report</div>
${sections.join('\n')}
<script id="vnet-data" type="application/json">${scriptJson(data)}</script>
<script>${chartJs}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Builds every chart from the embedded data; `window.vnetCharts` lists them (tests read it). */
const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var d = JSON.parse(document.getElementById('vnet-data').textContent);
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var charts = [];
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  function make(id, config) {
    var el = document.getElementById(id);
    if (el) charts.push(new Chart(el, config));
  }
  function series(key, scale) {
    return d.metrics.map(function (m) {
      var v = m[key];
      return { x: m.epoch, y: v === null || v === undefined ? null : v * (scale || 1) };
    });
  }
  function line(label, data, i, extra) {
    var ds = { label: label, data: data, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      pointRadius: 0, borderWidth: 2, spanGaps: true, showLine: true };
    for (var k in extra || {}) ds[k] = extra[k];
    return ds;
  }
  function epochChart(id, sets) {
    var scales = { x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } }, y: { type: 'linear' } };
    make(id, { type: 'scatter', data: { datasets: sets }, options: { scales: scales } });
  }
  if (d.metrics.length > 0) {
    epochChart('losses', [
      line('loss', series('loss'), 0), line('natural loss', series('naturalLoss'), 1), line('robust loss', series('robustLoss'), 2)
    ]);
    // one band per schedule, stacked, each with its own scale (scheduleAxes)
    var sscales = { x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } } };
    var ssets = d.schedules.map(function (a, i) {
      sscales['y_' + a.key] = { type: a.key === 'lr' && a.min > 0 ? 'logarithmic' : 'linear', stack: 'schedules',
        stackWeight: 1, offset: true, min: a.min, max: a.max, position: 'left',
        title: { display: true, text: a.label }, ticks: { maxTicksLimit: 4 } };
      return line(a.label, series(a.key), i, { yAxisID: 'y_' + a.key });
    });
    make('schedules', { type: 'scatter', data: { datasets: ssets }, options: { scales: sscales } });
    epochChart('errors', [
      line('train clean', series('trainCleanErr', 100), 0), line('train robust (training bounds)', series('trainRobustErr', 100), 1),
      line('val clean', series('valCleanErr', 100), 2), line('val IBP-verified', series('valVerifiedErr', 100), 3)
    ]);
  }
  var ids = d.chartIds;
  if (d.verify) {
    var epsList = [];
    d.verify.rows.forEach(function (r) { if (epsList.indexOf(r.eps) < 0) epsList.push(r.eps); });
    var vIds = ids.filter(function (i) { return i.indexOf('verified-') === 0; });
    epsList.forEach(function (eps, k) {
      var rows = d.verify.rows.filter(function (r) { return r.eps === eps; });
      var methods = [], lines = [];
      rows.forEach(function (r) {
        if (methods.indexOf(r.method) < 0) methods.push(r.method);
        if (lines.indexOf(r.lines) < 0) lines.push(r.lines);
      });
      var sets = lines.map(function (l, i) {
        return { label: l + ' lines', backgroundColor: palette[i], data: methods.map(function (m) {
          var r = rows.filter(function (x) { return x.method === m && x.lines === l && x.refused === undefined; })[0];
          return r ? r.verifiedErrPct : null;
        }) };
      });
      var pgd = rows.filter(function (r) { return r.pgdErrPct !== null; })[0];
      if (pgd) sets.push({ type: 'line', label: 'PGD error', data: methods.map(function () { return pgd.pgdErrPct; }),
        borderColor: '#000', borderDash: [4, 4], pointRadius: 0, borderWidth: 1.5 });
      sets.push({ type: 'line', label: 'clean error', data: methods.map(function () { return rows[0].cleanErrPct; }),
        borderColor: '#555', borderDash: [2, 2], pointRadius: 0, borderWidth: 2 });
      make(vIds[k], { type: 'bar', data: { labels: methods, datasets: sets },
        options: { scales: { y: { min: 0, max: 100, title: { display: true, text: 'error (%)' } } } } });
    });
  }
  var sIds = ids.filter(function (i) { return i.indexOf('status-') === 0; });
  d.status.forEach(function (s, k) {
    var names = [];
    s.layers.forEach(function (l) { Object.keys(l.percent).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); }); });
    var colors = { 'dead': '#555555', 'left dead': '#7f7f7f', 'right dead': '#bcbd22', 'unstable': '#d62728',
      'left unstable': '#ff9896', 'right unstable': '#ff7f0e', 'alive': '#2ca02c' };
    var sets = names.map(function (n, i) {
      return { label: n, backgroundColor: colors[n] || palette[i % palette.length],
        data: s.layers.map(function (l) { return l.percent[n] === undefined ? 0 : l.percent[n]; }) };
    });
    make(sIds[k], { type: 'bar', data: { labels: s.layers.map(function (l) { return l.layer; }), datasets: sets },
      options: { indexAxis: 'y', scales: { x: { stacked: true, min: 0, max: 100 }, y: { stacked: true } } } });
  });
  if (d.gap) {
    var methods = ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'];
    var gsets = d.gap.series.map(function (s) {
      var pts = [];
      s.values.forEach(function (v, j) { if (v !== null && v > 0 && isFinite(v)) pts.push({ x: d.gap.eps[j], y: v }); });
      var label = s.method === 'ibp' ? 'ibp' : s.method + ' (' + s.lines + ')';
      var dashed = s.lines === 'adaptive' && s.method !== 'ibp';
      return line(label, pts, Math.max(0, methods.indexOf(s.method)), { pointRadius: dashed ? 2 : 3, borderDash: dashed ? [6, 3] : [] });
    });
    var decades = { callback: function (v) {
      var l = Math.log10(v);
      return Math.abs(l - Math.round(l)) < 1e-9 ? '1e' + Math.round(l) : '';
    }, autoSkip: false, maxRotation: 0 };
    make('gap', { type: 'scatter', data: { datasets: gsets }, options: { scales: {
      x: { type: 'logarithmic', title: { display: true, text: 'ε' }, ticks: decades },
      y: { type: 'logarithmic', title: { display: true, text: 'mean(u − l) of the logits' }, ticks: decades } } } });
  }
  window.vnetCharts = charts;
})();
`;
