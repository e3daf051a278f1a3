/**
 * The VNN-COMP runner: an instances CSV (`onnx,vnnlib,timeout` per line, paths relative to the
 * CSV's folder or to --dir) run one instance per child process with a hard wall-clock limit
 * (timeout × scale, the import included), results appended to a CSV in the VNN-COMP results
 * format (benchmark, onnx, vnnlib, preparation time, result, run time, and a note column with the
 * reason for unknown/error), rewritten atomically after each instance so that an interrupted run
 * resumes where it stopped. Summaries per benchmark, and comparisons with other tools' results
 * (consensus.csv or a tool's results CSV).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fileError, UserError } from '../base/errors.js';
import { formatDuration } from '../base/progress.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { counterexampleName, type InstanceAnswer, type InstanceResult } from './instance.js';

export interface Instance {
  readonly benchmark: string;
  /** As written in the CSV (the key of results and comparisons). */
  readonly onnx: string;
  readonly vnnlib: string;
  readonly timeout: number;
  /** Resolved paths. */
  readonly onnxPath: string;
  readonly vnnlibPath: string;
}

export interface ResultRow {
  readonly benchmark: string;
  readonly onnx: string;
  readonly vnnlib: string;
  readonly prepTime: number;
  readonly result: InstanceAnswer;
  readonly runTime: number;
  readonly note: string;
}

/** `mnistfc_instances.csv` → `mnistfc`; otherwise the CSV's folder name. */
export function benchmarkName(csv: string): string {
  const b = basename(csv);
  const m = /^(.*)_instances\.csv$/.exec(b);
  return m ? m[1]! : basename(dirname(resolve(csv)));
}

export function readInstances(csv: string, dir?: string): Instance[] {
  let text: string;
  try {
    text = readFileSync(csv, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(csv, code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
  const base = dir ?? dirname(csv);
  const benchmark = benchmarkName(csv);
  const out: Instance[] = [];
  text.split(/\r?\n/).forEach((line, k) => {
    if (line.trim() === '') return;
    const f = line.split(',').map((s) => s.trim());
    const timeout = Number(f[2]);
    if (f.length < 3 || f[0] === '' || f[1] === '' || !(timeout > 0))
      throw fileError(`${csv}:${k + 1}`, `expected 'onnx,vnnlib,timeout_seconds', found '${line}'`);
    out.push({
      benchmark,
      onnx: f[0]!,
      vnnlib: f[1]!,
      timeout,
      onnxPath: join(base, f[0]!),
      vnnlibPath: join(base, f[1]!),
    });
  });
  if (out.length === 0) throw fileError(csv, 'no instances');
  return out;
}

const key = (r: { benchmark: string; onnx: string; vnnlib: string }): string =>
  `${r.benchmark}|${norm(r.onnx)}|${norm(r.vnnlib)}`;

/** `./benchmarks/oval21/nets/x.onnx` (2021 tool CSVs) and `nets/x.onnx` name the same file. */
function norm(p: string): string {
  return p.replace(/^\.\//, '').replace(/^benchmarks\/[^/]+\//, '');
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function formatRow(r: ResultRow): string {
  return [
    r.benchmark,
    r.onnx,
    r.vnnlib,
    r.prepTime.toFixed(3),
    r.result,
    r.runTime.toFixed(3),
    csvField(r.note),
  ].join(',');
}

/** Our results file (missing: none). */
export function readResults(path: string): ResultRow[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const f = splitCsv(l);
      return {
        benchmark: f[0]!,
        onnx: f[1]!,
        vnnlib: f[2]!,
        prepTime: Number(f[3]),
        result: normalizeAnswer(f[4] ?? '') as InstanceAnswer,
        runTime: Number(f[5]),
        note: f[6] ?? '',
      };
    });
}

/** 2021 CSVs write UNSAT/SAT; anything but holds/violated is unsolved. */
export function normalizeAnswer(s: string): string {
  const t = s.trim().toLowerCase();
  if (t === 'unsat' || t === 'holds') return 'holds';
  if (t === 'sat' || t === 'violated') return 'violated';
  if (t === 'timeout' || t === 'unknown' || t === 'error') return t;
  return t === '' ? 'unknown' : t.startsWith('error') ? 'error' : 'unknown';
}

const require_ = createRequire(import.meta.url);
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** Runs one instance in a child process, killed at `limit` seconds (wall clock). */
export function runChild(inst: Instance, limit: number): Promise<InstanceResult> {
  const t0 = Date.now();
  const loader = pathToFileURL(require_.resolve('tsx')).href;
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        loader,
        CHILD,
        JSON.stringify({ onnx: inst.onnxPath, vnnlib: inst.vnnlibPath, timeout: limit }),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let killed = false;
    // grace for process start-up and the answer's write; the instance itself stops at its deadline
    const timer = setTimeout(
      () => {
        killed = true;
        child.kill('SIGKILL');
      },
      (limit + 5) * 1000,
    );
    child.on('close', (code) => {
      clearTimeout(timer);
      const secs = (Date.now() - t0) / 1000;
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) {
        const r = JSON.parse(line.slice(7)) as InstanceResult;
        // the wall clock from the runner's side, the child's start included
        const runTime = Math.max(r.runTime, secs);
        done(
          runTime > limit && r.result !== 'error' ? { ...r, result: 'timeout', runTime } : { ...r, runTime },
        );
        return;
      }
      if (killed) done({ result: 'timeout', prepTime: 0, runTime: secs });
      else
        done({
          result: 'error',
          prepTime: 0,
          runTime: secs,
          note: `the instance process exited with code ${code}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`,
        });
    });
  });
}

export interface RunOptions {
  readonly out: string;
  readonly timeoutScale: number;
  readonly counterexamples?: string;
  readonly log: (line: string) => void;
  /** Instances run at once, each in its own child process (default 1). */
  readonly workers?: number;
}

/**
 * Shard i of n of an instance list: the instances at positions k with k mod n = i (a
 * deterministic, balanced partition; the shards together hold every instance exactly once).
 */
export function shardInstances<T>(instances: readonly T[], shard: { index: number; count: number }): T[] {
  return instances.filter((_, k) => k % shard.count === shard.index);
}

/** Runs every instance not yet in `out`; returns all rows (old and new) in CSV order. */
export async function runInstances(instances: readonly Instance[], o: RunOptions): Promise<ResultRow[]> {
  const done = new Map(readResults(o.out).map((r) => [key(r), r]));
  const rows = [...done.values()];
  const todo = instances.filter((i) => !done.has(key(i)));
  if (done.size > 0)
    o.log(`resuming: ${instances.length - todo.length} of ${instances.length} instances already in ${o.out}`);
  if (o.counterexamples) mkdirSync(o.counterexamples, { recursive: true });
  const t0 = Date.now();
  let spent = 0;
  let finished = 0;
  let next = 0;
  // up to `workers` children at once; each result is written as it arrives (the file is the
  // resume state), and the rows come back in CSV order whatever the order of completion
  const one = async (): Promise<void> => {
    while (next < todo.length) {
      const inst = todo[next++]!;
      const limit = inst.timeout * o.timeoutScale;
      const r = await runChild(inst, limit);
      spent += r.runTime;
      finished++;
      const row: ResultRow = {
        benchmark: inst.benchmark,
        onnx: inst.onnx,
        vnnlib: inst.vnnlib,
        prepTime: r.prepTime,
        result: r.result,
        runTime: r.runTime,
        note: r.note ?? '',
      };
      rows.push(row);
      writeFileAtomic(o.out, rows.map(formatRow).join('\n') + '\n');
      if (o.counterexamples && r.counterexample)
        writeFileAtomic(
          join(o.counterexamples, counterexampleName(inst.onnx, inst.vnnlib)),
          r.counterexample + '\n',
        );
      const left = todo.slice(next);
      const mean = spent / finished;
      const bound = left.reduce((s, i) => s + i.timeout * o.timeoutScale, 0);
      const eta = Math.min(bound, (mean * left.length) / workers);
      o.log(
        `[${finished}/${todo.length}] ${inst.benchmark} ${basename(inst.onnx)} ${basename(inst.vnnlib)}: ` +
          `${r.result} in ${r.runTime.toFixed(1)} s${r.note ? ` (${r.note})` : ''} · elapsed ${formatDuration((Date.now() - t0) / 1000)}, ETA ${formatDuration(eta)}`,
      );
    }
  };
  const workers = Math.max(1, Math.min(o.workers ?? 1, todo.length));
  await Promise.all(Array.from({ length: workers }, one));
  const order = new Map(instances.map((i, n) => [key(i), n]));
  return rows.filter((r) => order.has(key(r))).sort((a, b) => order.get(key(a))! - order.get(key(b))!);
}

export interface BenchmarkSummary {
  readonly benchmark: string;
  readonly instances: number;
  readonly holds: number;
  readonly violated: number;
  readonly unknown: number;
  readonly timeout: number;
  readonly error: number;
  readonly seconds: number;
}

export function summarize(rows: readonly ResultRow[]): BenchmarkSummary[] {
  const by = new Map<string, ResultRow[]>();
  for (const r of rows) by.set(r.benchmark, [...(by.get(r.benchmark) ?? []), r]);
  return [...by.entries()].map(([benchmark, rs]) => ({
    benchmark,
    instances: rs.length,
    holds: rs.filter((r) => r.result === 'holds').length,
    violated: rs.filter((r) => r.result === 'violated').length,
    unknown: rs.filter((r) => r.result === 'unknown').length,
    timeout: rs.filter((r) => r.result === 'timeout').length,
    error: rs.filter((r) => r.result === 'error').length,
    seconds: rs.reduce((s, r) => s + r.runTime, 0),
  }));
}

/** Another tool's answers: per instance key, the answer and the time (consensus: alpha-beta-CROWN's). */
export interface ToolAnswers {
  readonly tool: string;
  readonly answers: Map<string, { answer: string; seconds: number }>;
}

/**
 * Reads a comparison CSV: consensus.csv (header `benchmark,onnx,vnnlib,answer,…,abcrown,abcrown_s`)
 * gives two tools, `consensus` and `alpha-beta-CROWN`; a tool's results CSV (no header) gives one,
 * named after the file.
 */
export function readComparison(path: string): ToolAnswers[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw fileError(path, 'cannot read the comparison file');
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const head = splitCsv(lines[0] ?? '');
  if (head[0] === 'benchmark' && head.includes('answer')) {
    const col = (n: string): number => head.indexOf(n);
    const cons = new Map<string, { answer: string; seconds: number }>();
    const ab = new Map<string, { answer: string; seconds: number }>();
    for (const l of lines.slice(1)) {
      const f = splitCsv(l);
      const k = key({ benchmark: f[0]!, onnx: f[1]!, vnnlib: f[2]! });
      if (cons.has(k)) continue;
      cons.set(k, { answer: normalizeAnswer(f[col('answer')] ?? ''), seconds: NaN });
      if (col('abcrown') >= 0)
        ab.set(k, { answer: normalizeAnswer(f[col('abcrown')] ?? ''), seconds: Number(f[col('abcrown_s')]) });
    }
    const out: ToolAnswers[] = [{ tool: 'consensus', answers: cons }];
    if (ab.size > 0) out.push({ tool: 'alpha-beta-CROWN', answers: ab });
    return out;
  }
  const answers = new Map<string, { answer: string; seconds: number }>();
  for (const l of lines) {
    const f = splitCsv(l);
    if (f.length < 6) continue;
    const k = key({ benchmark: f[0]!, onnx: f[1]!, vnnlib: f[2]! });
    if (!answers.has(k)) answers.set(k, { answer: normalizeAnswer(f[4]!), seconds: Number(f[5]) });
  }
  return [{ tool: basename(path).replace(/\.csv$/, ''), answers }];
}

export interface Comparison {
  readonly tool: string;
  readonly benchmark: string;
  /** Instances of ours the tool has an answer line for. */
  readonly common: number;
  readonly agree: number;
  /** holds vs violated. */
  readonly contradictions: { onnx: string; vnnlib: string; ours: string; theirs: string }[];
  readonly oursSolved: number;
  readonly theirsSolved: number;
  readonly theirsHolds: number;
  readonly theirsViolated: number;
  readonly onlyOurs: number;
  readonly onlyTheirs: number;
  /** Median of our time / their time where both solve (NaN when none or no times). */
  readonly medianRatio: number;
  readonly bothSolved: number;
}

const solved = (a: string): boolean => a === 'holds' || a === 'violated';

export function median(v: readonly number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function compare(rows: readonly ResultRow[], tools: readonly ToolAnswers[]): Comparison[] {
  const out: Comparison[] = [];
  const benches = [...new Set(rows.map((r) => r.benchmark))];
  for (const t of tools)
    for (const b of benches) {
      const mine = rows.filter((r) => r.benchmark === b && t.answers.has(key(r)));
      const contradictions: Comparison['contradictions'] = [];
      let agree = 0;
      let oursSolved = 0;
      let theirsSolved = 0;
      let theirsHolds = 0;
      let theirsViolated = 0;
      let onlyOurs = 0;
      let onlyTheirs = 0;
      const ratios: number[] = [];
      for (const r of mine) {
        const th = t.answers.get(key(r))!;
        const o = solved(r.result);
        const s = solved(th.answer);
        if (o) oursSolved++;
        if (s) theirsSolved++;
        if (th.answer === 'holds') theirsHolds++;
        if (th.answer === 'violated') theirsViolated++;
        if (o && s) {
          if (r.result === th.answer) agree++;
          else contradictions.push({ onnx: r.onnx, vnnlib: r.vnnlib, ours: r.result, theirs: th.answer });
          if (th.seconds > 0) ratios.push(r.runTime / th.seconds);
        } else if (o) onlyOurs++;
        else if (s) onlyTheirs++;
      }
      out.push({
        tool: t.tool,
        benchmark: b,
        common: mine.length,
        agree,
        contradictions,
        oursSolved,
        theirsSolved,
        theirsHolds,
        theirsViolated,
        onlyOurs,
        onlyTheirs,
        medianRatio: median(ratios),
        bothSolved: ratios.length,
      });
    }
  return out;
}

function table(head: string[], body: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

/** benchmark, instances, holds, violated, unknown, timeout, error. */
const countCells = (x: BenchmarkSummary): string[] => [
  x.benchmark,
  ...[x.instances, x.holds, x.violated, x.unknown, x.timeout, x.error].map(String),
];

export function renderSummary(s: readonly BenchmarkSummary[]): string {
  return table(
    ['benchmark', 'instances', 'holds', 'violated', 'unknown', 'timeout', 'error', 'solved', 'time'],
    s.map((x) => [...countCells(x), String(x.holds + x.violated), formatDuration(x.seconds)]),
  );
}

export function renderComparison(cs: readonly Comparison[]): string {
  const body = cs.map((c) => [
    c.tool,
    c.benchmark,
    String(c.common),
    `${c.oursSolved}`,
    `${c.theirsSolved} (${c.theirsHolds}h/${c.theirsViolated}v)`,
    String(c.agree),
    String(c.contradictions.length),
    String(c.onlyOurs),
    String(c.onlyTheirs),
    Number.isNaN(c.medianRatio) ? '–' : `${c.medianRatio.toFixed(2)} (n=${c.bothSolved})`,
  ]);
  const lines = [
    table(
      [
        'vs',
        'benchmark',
        'common',
        'vnet solved',
        'tool solved',
        'agree',
        'contradict',
        'only vnet',
        'only tool',
        'median t ratio',
      ],
      body,
    ),
  ];
  for (const c of cs)
    for (const x of c.contradictions)
      lines.push(
        `CONTRADICTION vs ${c.tool}: ${c.benchmark} ${x.onnx} ${x.vnnlib}: vnet ${x.ours}, ${c.tool} ${x.theirs}`,
      );
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A self-contained HTML report: summary, comparisons and every instance. */
export function renderHtml(
  rows: readonly ResultRow[],
  s: readonly BenchmarkSummary[],
  cs: readonly Comparison[],
): string {
  const tr = (cells: string[], tag = 'td'): string =>
    `<tr>${cells.map((c) => `<${tag}>${esc(c)}</${tag}>`).join('')}</tr>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>vnet VNN-COMP results</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}.holds{color:#070}.violated{color:#a00}</style></head><body>
<h1>vnet on VNN-COMP instances</h1>
<h2>Summary</h2><table>${tr(['benchmark', 'instances', 'holds', 'violated', 'unknown', 'timeout', 'error', 'time (s)'], 'th')}${s
    .map((x) => tr([...countCells(x), x.seconds.toFixed(1)]))
    .join('')}</table>
${
  cs.length > 0
    ? `<h2>Comparison</h2><table>${tr(['vs', 'benchmark', 'common', 'vnet solved', 'tool solved', 'agree', 'contradictions', 'median time ratio'], 'th')}${cs
        .map((c) =>
          tr([
            c.tool,
            c.benchmark,
            String(c.common),
            String(c.oursSolved),
            String(c.theirsSolved),
            String(c.agree),
            String(c.contradictions.length),
            Number.isNaN(c.medianRatio) ? '–' : c.medianRatio.toFixed(2),
          ]),
        )
        .join('')}</table>`
    : ''
}
<h2>Instances</h2><table>${tr(['benchmark', 'onnx', 'vnnlib', 'result', 'prep (s)', 'time (s)', 'note'], 'th')}${rows
    .map(
      (r) =>
        `<tr><td>${esc(r.benchmark)}</td><td>${esc(r.onnx)}</td><td>${esc(r.vnnlib)}</td><td class="${r.result}">${r.result}</td><td>${r.prepTime.toFixed(2)}</td><td>${r.runTime.toFixed(2)}</td><td>${esc(r.note)}</td></tr>`,
    )
    .join('')}</table></body></html>
`;
}

export function checkScale(s: number): number {
  if (!(s > 0)) throw new UserError(`--timeout-scale must be a number > 0, got ${s}`);
  return s;
}
