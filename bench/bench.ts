/**
 * `npm run bench [-- --json out.json] [--backends wasm,tensorflow,webgpu,cpu] [--reps N] [--quick]
 *  [--methods forward,ibp,…] [--specs fmnist-mlp,…]`
 * (default backends: wasm and tensorflow; webgpu without a GPU and cpu are slow references)
 *
 * Prints one table: compile time per spec (parse + check + emit, warm), then ms per batch and
 * images/s for forward, IBP, CROWN-IBP, LBP, CROWN-LBP, CROWN and one IBP and one CROWN-IBP
 * training step (gradients of every parameter and vnet's Adam, as `vnet train`) on specs/fmnist-mlp.vnet and specs/fmnist-cnn-small.vnet: batch 100,
 * ε = 0.1, 9-row margin spec, one thread; one block per available backend; peak tensor memory per
 * measurement (tf.profile) and the largest peak RSS of a row. Every row runs in a child process of
 * its own, so rows cannot disturb each other (heap layout, caches; see `parent`). Weights: models/<spec>.safetensors when present (a trained
 * net, where dead neurons make LBP/CROWN cheaper), else fresh PyTorch-style init (seed 0).
 *
 * Then `vnet verify` throughput at 1 and 2 worker threads (`--workers`; skip with --no-scale, only
 * these rows with --scale-only): specs/fmnist-mlp.vnet with models/fmnist-mlp.safetensors on the
 * first --scale-limit (default 400) bundled test images, batch 50, ε = 0.1, IBP and CROWN-IBP,
 * tight lines, PGD 20 steps × 1 restart, wasm; images/s from the run's own `seconds` (the
 * verification with its rigorous confirmation, thread start-up included), median of --scale-reps
 * (default 3) runs, the worker counts interleaved so that load drift hits both alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs-core';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const SPECS = ['fmnist-mlp', 'fmnist-cnn-small', 'fmnist-resnet', 'fmnist-cnn7-bn'] as const;
const METHODS = [
  'forward',
  'ibp',
  'crown-ibp',
  'lbp',
  'crown-lbp',
  'crown',
  'train-ibp',
  'train-crown-ibp',
] as const;
type Method = (typeof METHODS)[number];

export interface BenchRecord {
  readonly spec: string;
  readonly method: Method | 'compile';
  readonly backend: string;
  readonly msPerBatch: number;
  readonly imagesPerSec?: number;
  readonly peakTensorMB?: number;
  readonly reps: number;
  readonly weights?: string;
  readonly note?: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The entries of `all` named by `--<name> a,b,…`, or all of them. */
function pick<T extends string>(all: readonly T[], name: string): readonly T[] {
  const want = arg(name)?.split(',');
  return want ? all.filter((x) => want.includes(x)) : all;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * Time `f`: warm-up runs (three, or one for a row over 300 ms), then timed runs until `reps` (at
 * least 15 for a row under 300 ms: training steps and fast bounds vary more, with garbage
 * collection and the JIT) or `budgetMs`; the median.
 */
async function timeIt(
  f: () => Promise<void>,
  reps: number,
  budgetMs: number,
): Promise<{ ms: number; n: number }> {
  const w = performance.now();
  await f();
  const fast = performance.now() - w < 300;
  if (fast) for (let i = 0; i < 2; i++) await f();
  const want = fast ? Math.max(reps, 15) : reps;
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < want && (times.length === 0 || performance.now() - t0 < budgetMs)) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return { ms: median(times), n: times.length };
}

async function child(backend: string, reps: number): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../src/runtime/backend.js');
  let info: Awaited<ReturnType<typeof initBackend>>;
  try {
    info = await initBackend(backend, { threads: 1 });
  } catch (e) {
    process.stdout.write(`UNAVAILABLE ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    return;
  }
  const { checkFile } = await import('../src/semantics/index.js');
  const { emitModule } = await import('../src/codegen/emit-module.js');
  const { loadSpecModule } = await import('../src/codegen/load.js');
  const rt = await import('../src/runtime/index.js');
  const { loadParams } = await import('../src/runtime/io/safetensors.js');
  const { loadDataset } = await import('../src/runtime/io/datasets.js');
  const { Adam } = await import('../src/runtime/train/adam.js');
  const out: BenchRecord[] = [];
  const emit = (r: BenchRecord): void => {
    out.push(r);
    process.stdout.write(`RECORD ${JSON.stringify(r)}\n`);
  };

  const B = 100;
  const eps = 0.1;
  for (const spec of process.argv.includes('--compile') ? [] : pick(SPECS, 'specs')) {
    const mod = await loadSpecModule(join(ROOT, 'specs', `${spec}.vnet`));
    const wpath = join(ROOT, 'models', `${spec}.safetensors`);
    const p = existsSync(wpath) ? loadParams(wpath, mod.meta) : mod.initParams(0);
    const weights = existsSync(wpath) ? `models/${spec}.safetensors` : 'init(seed 0)';
    const ds = await loadDataset('fashion-mnist', { split: 'test', limit: B, expectShape: [1, 28, 28] });
    const x = tf.tensor(ds.x, [B, ...mod.meta.inputCfg.shape]);
    const y = tf.tensor1d(ds.y as unknown as number[], 'int32');
    const box = rt.inputBox(x, eps, mod.meta.inputCfg);
    const adam = new Adam();
    const vars = Object.values(p);
    const eta = mod.meta.evalEta;
    for (const method of pick(METHODS, 'methods')) {
      const run = (): Tensor | Tensor[] | undefined => {
        switch (method) {
          case 'forward':
            return mod.forward(p, x, { eta });
          case 'train-ibp':
          case 'train-crown-ibp': {
            // the trainer's step: gradients of every parameter, then vnet's (PyTorch-rule) Adam
            const { value, grads } = tf.variableGrads(
              () =>
                tf.tidy(() => {
                  const o = { labels: y, lines: 'adaptive', lowerOnly: true } as const;
                  // as the generated CROWN-IBP loss: one pass, whose base holds the IBP margins
                  const b = method === 'train-ibp' ? mod.ibp(p, box, o) : mod.crownIbp(p, box, o);
                  const lb = b.base ? rt.betaMix(b.base.lower, b.lower, 0.5) : b.lower;
                  return rt.robustCrossEntropy(lb);
                }),
              vars,
            );
            const byIdent = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, grads[v.name]!]));
            adam.apply(p, byIdent, 1e-3);
            tf.dispose(Object.values(grads));
            return value;
          }
          default: {
            // bounds only, as auto_LiRPA's compute_bounds (the clean forward is its own row)
            const r = mod.bounds(p, box, method, { labels: y, lines: 'tight', eta, noLogits: true });
            return [r.lower, r.upper, r.logits];
          }
        }
      };
      const once = async (): Promise<void> => {
        const t = run();
        const ts = t === undefined ? [] : Array.isArray(t) ? t : [t];
        await Promise.all(ts.map((q) => q.data()));
        tf.dispose(ts);
      };
      let note: string | undefined;
      try {
        const prof = await tf.profile(async () => {
          const t = run();
          const ts = t === undefined ? [] : Array.isArray(t) ? t : [t];
          await Promise.all(ts.map((q) => q.data()));
          tf.dispose(ts);
        });
        const budget = method === 'crown' || backend === 'cpu' ? 5_000 : 20_000;
        const { ms, n } = await timeIt(once, reps, budget);
        emit({
          spec,
          method,
          backend: info.name,
          msPerBatch: ms,
          imagesPerSec: (B * 1000) / ms,
          peakTensorMB: prof.peakBytes / 2 ** 20,
          reps: n,
          weights,
        });
      } catch (e) {
        note = e instanceof Error ? e.message.split('\n')[0] : String(e);
        emit({ spec, method, backend: info.name, msPerBatch: NaN, reps: 0, weights, note });
      }
    }
    tf.dispose([x, y, box.x, box.lo, box.hi]);
    tf.dispose(vars);
  }
  if (process.argv.includes('--compile')) {
    // compile time is backend-independent: measured once, in a child of its own
    const specs = (await import('node:fs'))
      .readdirSync(join(ROOT, 'specs'))
      .filter((f) => f.endsWith('.vnet'));
    for (const f of specs.sort()) {
      const path = join('specs', f);
      const { ms, n } = await timeIt(
        async () => {
          const { model } = checkFile(path);
          emitModule(model!, { runtimeImport: '../src/runtime/index.js' });
        },
        5,
        10_000,
      );
      emit({ spec: f.replace(/\.vnet$/, ''), method: 'compile', backend: 'n/a', msPerBatch: ms, reps: n });
    }
  }

  process.stdout.write(
    `PEAKRSS ${JSON.stringify({ backend: info.name, detail: info.detail, mb: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
}

function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n >= 1000 ? n.toFixed(0) : n.toFixed(digits);
}

/** One `vnet verify --workers N` throughput row. */
export interface ScaleRecord {
  readonly workers: number;
  readonly images: number;
  readonly seconds: number;
  readonly imagesPerSec: number;
  readonly reps: number;
}

/** The scale-out rows: `vnet verify` at 1 and 2 worker threads, each run a process of its own. */
function scaleBench(): { command: string; rows: ScaleRecord[]; why?: string } {
  const limit = Number(arg('scale-limit') ?? 400);
  const reps = Number(arg('scale-reps') ?? 3);
  const args = [
    'verify',
    'specs/fmnist-mlp.vnet',
    '--weights',
    'models/fmnist-mlp.safetensors',
    '--data',
    'data/fashion-mnist-subset',
    '--limit',
    String(limit),
    '--batch',
    '50',
    '--eps',
    '0.1',
    '--methods',
    'ibp,crown-ibp',
    '--lines',
    'tight',
    '--pgd-steps',
    '20',
    '--pgd-restarts',
    '1',
    '--backend',
    'wasm',
    '--json',
    '--quiet',
  ];
  const command = `vnet ${args.join(' ')} --workers N`;
  const times = new Map<number, number[]>([
    [1, []],
    [2, []],
  ]);
  for (let r = 0; r < reps; r++)
    for (const w of [1, 2]) {
      const p = spawnSync(process.execPath, ['bin/vnet.js', ...args, '--workers', String(w)], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 64 * 2 ** 20,
      });
      if (p.status !== 0)
        return {
          command,
          rows: [],
          why: (p.stderr || p.stdout || `exit ${p.status}`).trim().split('\n').at(-1)!,
        };
      times.get(w)!.push((JSON.parse(p.stdout) as { seconds: number }).seconds);
    }
  const rows = [...times].map(([workers, t]) => {
    const seconds = median(t);
    return { workers, images: limit, seconds, imagesPerSec: limit / seconds, reps: t.length };
  });
  return { command, rows };
}

function parent(): void {
  const loadBefore = loadavg()[0]!;
  const backends = (arg('backends') ?? 'wasm,tensorflow').split(',');
  const reps = Number(arg('reps') ?? 5);
  const quick = process.argv.includes('--quick');
  const records: BenchRecord[] = [];
  const machines: string[] = [];
  const specs = pick(SPECS, 'specs');
  const methods = pick(METHODS, 'methods').filter((m) => !(quick && m === 'crown'));
  const scaleOnly = process.argv.includes('--scale-only');
  /** One child process; its records, or the reason it gave none. */
  const run = (b: string, extra: string[]): { got: BenchRecord[]; why: string; peak?: string } => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', b, '--reps', String(reps), ...extra],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, env: { ...process.env } },
    );
    const lines = (r.stdout ?? '').split('\n');
    const got = lines
      .filter((l) => l.startsWith('RECORD '))
      .map((l) => JSON.parse(l.slice(7)) as BenchRecord);
    const why =
      (r.stderr || r.stdout || '').trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${r.status}`;
    return { got, why, peak: lines.find((l) => l.startsWith('PEAKRSS '))?.slice(8) };
  };
  for (const b of scaleOnly ? [] : backends) {
    // Every row in a fresh process: a row must not inherit the heap that earlier rows left behind
    // (measured on wasm: the MLP training step ran 49 ms alone, up to 65–77 ms after the CROWN
    // rows in the same process, as `vnet train` never runs them).
    let detail: { backend: string; detail: string } | undefined;
    let peakMb = 0;
    let unavailable: string | undefined;
    for (const spec of specs) {
      for (const method of methods) {
        const { got, why, peak } = run(b, ['--specs', spec, '--methods', method]);
        if (got.length === 0) {
          unavailable = why;
          break;
        }
        records.push(...got);
        if (peak) {
          const pr = JSON.parse(peak) as { backend: string; detail: string; mb: number };
          detail = pr;
          peakMb = Math.max(peakMb, pr.mb);
        }
      }
      if (unavailable) break;
    }
    if (unavailable) {
      console.log(`backend ${b}: not available (${unavailable})`);
      continue;
    }
    if (detail)
      machines.push(`${detail.backend}: ${detail.detail}; peak RSS ${peakMb.toFixed(0)} MB (largest row)`);
    if (b === 'wasm' && !arg('methods')) records.push(...run(b, ['--compile']).got);
  }
  const scale = process.argv.includes('--no-scale') ? undefined : scaleBench();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nvnet bench — ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  for (const m of machines) console.log(`  ${m}`);
  // other work on the machine slows every row: say how busy it was
  console.log(`  1-minute load average: ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
  const compile = records.filter((r) => r.method === 'compile');
  if (compile.length) {
    console.log('\ncompile (parse + check + emit, warm median)');
    console.log('| spec | ms |\n|---|---|');
    for (const r of compile) console.log(`| ${r.spec} | ${fmt(r.msPerBatch)} |`);
  }
  const rest = records.filter((r) => r.method !== 'compile');
  if (scale) {
    console.log(`\nvnet verify throughput by worker threads (median of runs; ${scale.command})`);
    if (scale.why) console.log(`not measured: ${scale.why}`);
    else {
      console.log('| workers | images | s | images/s | speed-up | reps |\n|---|---|---|---|---|---|');
      const one = scale.rows[0]!.imagesPerSec;
      for (const r of scale.rows)
        console.log(
          `| ${r.workers} | ${r.images} | ${r.seconds.toFixed(1)} | ${fmt(r.imagesPerSec)} | ${(r.imagesPerSec / one).toFixed(2)}× | ${r.reps} |`,
        );
    }
  }
  if (!scaleOnly) {
    console.log('\nbatch 100, eps 0.1, 9-row margin spec, one thread (median ms per batch)');
    console.log('| spec | backend | method | ms/batch | images/s | peak tensor MB | reps | weights |');
    console.log('|---|---|---|---|---|---|---|---|');
  }
  for (const r of rest)
    console.log(
      `| ${r.spec} | ${r.backend} | ${r.method} | ${fmt(r.msPerBatch)} | ${fmt(r.imagesPerSec)} | ${fmt(r.peakTensorMB)} | ${r.reps} | ${r.weights ?? ''}${r.note ? ` (${r.note})` : ''} |`,
    );
  const jsonPath = arg('json');
  if (jsonPath)
    writeFileSync(
      jsonPath,
      JSON.stringify(
        { machine: { cpu, cores: cpus().length, loadBefore, loadAfter: loadavg()[0] }, records, scale },
        null,
        2,
      ),
    );
}

if (process.argv.includes('--child')) {
  const b = arg('child')!;
  await child(b, Number(arg('reps') ?? 5));
} else {
  parent();
}
