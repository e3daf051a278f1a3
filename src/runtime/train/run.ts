/**
 * A training run: the `TrainRun` that a generated `train` function drives (types.ts). It owns the
 * data (a seeded validation split held out from the training file, a seeded shuffle per epoch),
 * the parameters and the optimizer (PyTorch-style Adam, r frozen in the clean phase, weight decay
 * never on r), per-epoch validation (clean error and IBP-verified error at min(ε, target ε)), the
 * progress display and the run directory (rundir.ts: metrics, last/best checkpoints, the exact
 * resume state). Everything random is a function of (seed, epoch, step), so a resumed run
 * computes the same numbers as an uninterrupted one.
 */
import { isBuffer } from '../../ir/ir.js';
import * as tf from '@tensorflow/tfjs-core';
import { basename } from 'node:path';
import { UserError } from '../../base/errors.js';
import { vnetCommand } from '../../base/output.js';
import { ProgressBar, formatDuration, type ProgressStream } from '../../base/progress.js';
import { batchOrder, gatherBatch, subset, validationSplit, type Dataset } from '../io/datasets.js';
import { inputBox } from '../index.js';
import type { GeneratedModule, ParamSet } from '../module.js';
import { Adam } from './adam.js';
import type { LossParts } from './loss.js';
import { clampRamp } from './ramp.js';
import {
  OldStateError,
  RunDir,
  assignParams,
  paramArrays,
  type BestSoFar,
  type EpochRecord,
  type ResumeState,
} from './rundir.js';
import { fullEpsEpoch } from './schedule.js';
import { clipGradients, ibpInit } from './recipes.js';
import type {
  Batch,
  Schedule,
  StepState,
  TrainAttackFn,
  TrainConstants,
  TrainLoss,
  TrainRun,
} from './types.js';

/** Batch size of validation, test evaluation and the mean-activation pass (no gradients: larger is fine). */
const EVAL_BATCH = 500;
/** Minimum time between reads of the running loss for the progress bar (TTY only). */
const PROGRESS_READ_MS = 250;

/** A 32-bit hash of small integers (murmur3 finaliser per word); the seed of one step's r noise. */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Clean and IBP-verified error of a parameter set on a data set at one ε. */
export interface IbpEvaluation {
  readonly n: number;
  readonly eps: number;
  readonly cleanErr: number;
  readonly verifiedErr: number;
}

/**
 * Clean error and IBP-verified error (a sample counts as verified iff every margin lower bound
 * z_y − z_j, j ≠ y, is > 0) over `ds` at `eps`, with the given activation options.
 */
export async function evaluateIbp(
  module: Pick<GeneratedModule, 'meta' | 'ibp'>,
  params: ParamSet,
  ds: Dataset,
  eps: number,
  o: { readonly eta?: number | undefined; readonly rampAsLeaky?: boolean } = {},
): Promise<IbpEvaluation> {
  let clean = 0;
  let unverified = 0;
  for (let s = 0; s < ds.n; s += EVAL_BATCH) {
    const idx = Int32Array.from({ length: Math.min(EVAL_BATCH, ds.n - s) }, (_, i) => s + i);
    const { x, y } = gatherBatch(ds, idx);
    const counts = tf.tidy(() => {
      const xs = tf.tensor(x, [idx.length, ...ds.internalShape]);
      const ys = tf.tensor1d(y, 'int32');
      const box = inputBox(xs, eps, module.meta.inputCfg);
      const r = module.ibp(params, box, { labels: ys, eta: o.eta, rampAsLeaky: o.rampAsLeaky ?? false });
      return tf.stack([errorCount(r.logits, ys), unverifiedCount(r.lower)]);
    });
    const c = await counts.data();
    counts.dispose();
    clean += c[0]!;
    unverified += c[1]!;
  }
  return { n: ds.n, eps, cleanErr: ds.n ? clean / ds.n : NaN, verifiedErr: ds.n ? unverified / ds.n : NaN };
}

/** Number of samples whose arg-max logit is not the label (float32 scalar). */
const errorCount = (logits: tf.Tensor2D, y: tf.Tensor1D): tf.Scalar =>
  tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, 1), y), 'float32'));

/** Number of samples with some margin lower bound ≤ 0 (float32 scalar). */
const unverifiedCount = (lb: tf.Tensor2D): tf.Scalar =>
  tf.sum(tf.cast(tf.lessEqual(tf.min(lb, 1), 0), 'float32'));

/** Per-step statistics, summed over the epoch: [loss·B, natural·B, robust·B, clean errors, unverified]. */
function stepStats(parts: LossParts, y: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const B = y.shape[0];
    const zero = tf.scalar(0);
    return tf.stack([
      tf.mul(parts.loss, B),
      tf.mul(parts.natural, B),
      parts.robust ? tf.mul(parts.robust, B) : zero,
      errorCount(parts.logits, y),
      parts.lb ? unverifiedCount(parts.lb) : zero,
    ]) as tf.Tensor1D;
  });
}

export interface TrainSessionOptions {
  readonly module: GeneratedModule;
  /** The effective recipe (the spec's, with command-line overrides). */
  readonly recipe: TrainConstants;
  /** The training file (already cut by --limit-train); the validation split is held out from it. */
  readonly data: Dataset;
  readonly outDir: string;
  /** Continue the run in `outDir` from its last completed epoch. */
  readonly resume?: boolean;
  /** Discard a run already in `outDir`. */
  readonly force?: boolean;
  /**
   * Extra facts for recipe.json (command line, backend); not compared on resume. A fresh run
   * records them at the top level; a resume appends them to `resumes` (the top-level `command`
   * stays the one that started the run).
   */
  readonly record?: Readonly<Record<string, unknown>>;
  /** The `vnet train` arguments (after `train`), for the commands that hints suggest. */
  readonly commandArgv?: readonly string[];
  /** Progress bars and log lines (default process.stderr). */
  readonly stream?: ProgressStream;
  /** Overrides the stream's TTY detection. */
  readonly tty?: boolean;
}

/** The effective settings a run is started with; `--resume` must reproduce them. */
interface RunIdentity {
  readonly specHash: string;
  readonly recipe: TrainConstants;
  readonly data: {
    readonly dataset: string;
    readonly images: number;
    readonly train: number;
    readonly val: number;
  };
}

/** JSON with sorted keys (for comparing recorded and current settings). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Differences between a recorded run and the current settings that forbid resuming (epochs may grow). */
function resumeConflicts(recorded: Record<string, unknown>, now: RunIdentity): string[] {
  const out: string[] = [];
  if (recorded['specHash'] !== now.specHash)
    out.push(
      `the spec changed since the run started (sha256 ${String(recorded['specHash']).slice(0, 12)}… → ${now.specHash.slice(0, 12)}…)`,
    );
  const rec = (recorded['recipe'] ?? {}) as Record<string, unknown>;
  for (const k of Object.keys({ ...rec, ...now.recipe }).sort()) {
    if (k === 'epochs') continue;
    const a = canonical(rec[k]);
    const b = canonical((now.recipe as unknown as Record<string, unknown>)[k]);
    if (a !== b) out.push(`recipe.${k} was ${a}, now ${b}`);
  }
  const d = (recorded['data'] ?? {}) as Record<string, unknown>;
  for (const k of ['dataset', 'images', 'train', 'val'] as const)
    if (canonical(d[k]) !== canonical(now.data[k]))
      out.push(`data.${k} was ${canonical(d[k])}, now ${canonical(now.data[k])}`);
  return out;
}

/** The command that started a run, as recipe.json records it. */
function startedWith(recorded: Record<string, unknown>): { command: string; argv?: string[] } | undefined {
  const command = recorded['command'];
  if (typeof command !== 'string') return undefined;
  const argv = recorded['argv'];
  return Array.isArray(argv) && argv.every((x) => typeof x === 'string')
    ? { command, argv: argv as string[] }
    : { command };
}

/** A shell word: quoted when it holds anything but safe characters. */
const shellWord = (w: string): string => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/**
 * `vnet train ARGS FLAG`: the arguments of a `vnet train` command without its --resume/--force,
 * then `flag` (spelled `npx vnet` when vnet is not on PATH). Without the arguments: a description.
 */
export function trainCommandLine(argv: readonly string[] | undefined, flag: '--resume' | '--force'): string {
  if (!argv) return `the same command with ${flag}`;
  const kept = argv.filter((x) => x !== '--resume' && x !== '--force');
  return [vnetCommand(), 'train', ...kept.map(shellWord), flag].join(' ');
}

/** The arguments without `--epochs N` / `--epochs=N`. */
function withoutEpochs(argv: readonly string[] | undefined): string[] | undefined {
  if (!argv) return undefined;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--epochs') i++;
    else if (!argv[i]!.startsWith('--epochs=')) out.push(argv[i]!);
  }
  return out;
}

/**
 * The resume point of a run directory and its metrics lines. A damaged or foreign state file
 * (or metrics file) is one short UserError saying what was found and how to start over.
 */
function readResumePoint(
  dir: RunDir,
  specHash: string,
  forceHint: string,
): { state: ResumeState | undefined; metrics: EpochRecord[] } {
  const damaged = (what: string): UserError =>
    new UserError(`cannot resume the run in ${dir.dir}: ${what}`, [
      `start over: ${forceHint}`,
      'or start a new run with --out DIR (this one is left as it is)',
    ]);
  /** What a file error says about `path`, in one line: "is damaged (...)" or its own words. */
  const reason = (e: UserError, path: string): string => {
    if (e instanceof OldStateError) return `${path} ${e.reason}`;
    const [head, ...rest] = e.message.split('\n');
    const text = head!.startsWith(`${path}: `) ? head!.slice(path.length + 2) : head!;
    const first = rest
      .find((l) => l.trim().startsWith('- '))
      ?.trim()
      .slice(2);
    const m = /^(?:is )?not a valid safetensors file(?::\s*(.*)|\s*\((\d+) problems?\):?)$/.exec(text);
    const detail =
      m?.[1] ?? (m?.[2] ? `${m[2]} problems; the first: ${first}` : `${text}${first ? ` ${first}` : ''}`);
    return `${path} is damaged (${detail})`;
  };
  let state: ResumeState | undefined;
  let metrics: EpochRecord[];
  try {
    state = dir.readState();
  } catch (e) {
    if (e instanceof UserError) throw damaged(reason(e, dir.statePath));
    throw e;
  }
  if (state && state.specHash !== specHash)
    throw damaged(`${dir.statePath} was saved for another version of the spec`);
  try {
    metrics = dir.readMetrics();
  } catch (e) {
    if (e instanceof UserError) throw damaged(reason(e, dir.metricsPath));
    throw e;
  }
  const done = state?.epoch ?? 0;
  const have = metrics.filter((m) => m.epoch <= done).length;
  if (have < done)
    throw damaged(
      `${dir.metricsPath} lists ${have} of the ${done} epochs that ${basename(dir.statePath)} has saved`,
    );
  return { state, metrics };
}

const pct = (v: number | null): string => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);
const num4 = (v: number): string => Number(v.toPrecision(4)).toString();

export class TrainSession<P extends ParamSet = ParamSet> implements TrainRun<P> {
  readonly stepsPerEpoch: number;
  private readonly vars: readonly {
    readonly ident: string;
    readonly v: tf.Variable;
    readonly ramp: boolean;
  }[];
  private readonly decay: Readonly<Record<string, number>>;
  private readonly tty: boolean;
  // per-epoch accumulators
  private acc: tf.Tensor | undefined;
  private images = 0;
  private bounded = false;
  private bar: ProgressBar | undefined;
  private epochT0 = 0;
  private lastRead = -Infinity;

  private constructor(
    private readonly module: GeneratedModule,
    readonly recipe: TrainConstants,
    readonly params: P,
    private readonly train: Dataset,
    private readonly val: Dataset,
    private readonly dir: RunDir,
    private readonly adam: Adam,
    readonly startEpoch: number,
    private readonly history: EpochRecord[],
    private best: BestSoFar | null,
    private readonly out: ProgressStream,
    tty: boolean | undefined,
  ) {
    this.stepsPerEpoch = Math.ceil(train.n / recipe.batchSize);
    const ramp = new Set(module.meta.params.filter((p) => p.role === 'ramp.r').map((p) => p.ident));
    // buffers (BatchNorm running statistics) are saved with the weights but never trained
    const buffers = new Set(module.meta.params.filter(isBuffer).map((p) => p.ident));
    this.vars = Object.entries(params)
      .filter(([ident]) => !buffers.has(ident))
      .map(([ident, v]) => ({ ident, v, ramp: ramp.has(ident) }));
    this.decay = Object.fromEntries(
      this.vars.map((e) => [e.ident, e.ramp ? 0 : recipe.optimizer.weightDecay]),
    );
    this.tty = tty ?? out.isTTY === true;
  }

  /**
   * Opens a run in `o.outDir`: a fresh one (refusing to overwrite a run unless `force`), or with
   * `resume` the existing one after its last completed epoch, after checking that the spec, the
   * recipe and the data are the ones it was started with. The number of epochs may differ (the
   * schedules count absolute epochs, so the result is that of an uninterrupted run of the new
   * length); the change is announced, and fewer epochs than are done is refused. The CLI passes
   * the recorded number when `--epochs` is not given.
   */
  static open<P extends ParamSet = ParamSet>(o: TrainSessionOptions): TrainSession<P> {
    const meta = o.module.meta;
    const r = o.recipe;
    const dir = new RunDir(o.outDir);
    const split = validationSplit(o.data.n, r.valSplit, r.seed);
    const train = subset(o.data, split.train);
    const val = subset(o.data, split.val);
    if (train.n === 0)
      throw new UserError(`no training images left after holding out ${pct(r.valSplit)} for validation`);
    const identity: RunIdentity = {
      specHash: meta.specHash,
      recipe: r,
      data: { dataset: o.data.name, images: o.data.n, train: train.n, val: val.n },
    };
    const record = {
      network: meta.name,
      spec: meta.sourcePath,
      ...identity,
      data: { ...identity.data, source: o.data.source },
      ...o.record,
    };
    const params = o.module.initParams(r.seed) as P;
    const adam = new Adam();
    const out = o.stream ?? process.stderr;
    let start = 0;
    let history: EpochRecord[] = [];
    let best: BestSoFar | null = null;
    const hint = (flag: '--resume' | '--force'): string => trainCommandLine(o.commandArgv, flag);
    if (o.resume) {
      if (!dir.hasRun())
        throw new UserError(`--resume: ${o.outDir} holds no run to resume`, [
          'start a new run without --resume',
        ]);
      const recorded = dir.readRecipe();
      const first = startedWith(recorded);
      const conflicts = resumeConflicts(recorded, identity);
      if (conflicts.length)
        throw new UserError(
          conflicts.length === 1
            ? `cannot resume the run in ${o.outDir}: ${conflicts[0]}`
            : `cannot resume the run in ${o.outDir}:\n${conflicts.map((c) => `  - ${c}`).join('\n')}`,
          [
            ...(first
              ? [
                  `it was started with: ${first.command}`,
                  `resume it with: ${trainCommandLine(first.argv, '--resume')}`,
                ]
              : ['repeat the options the run was started with']),
            'or start over with --force, or a new run with --out DIR',
          ],
        );
      const found = readResumePoint(dir, meta.specHash, hint('--force'));
      const done = found.state?.epoch ?? 0;
      const recordedEpochs = (recorded['recipe'] as { epochs?: unknown } | undefined)?.epochs;
      if (r.epochs < done)
        throw new UserError(
          `cannot resume the run in ${o.outDir} with ${r.epochs} epochs: it has already completed ${done}`,
          [`resume it with: ${trainCommandLine(withoutEpochs(o.commandArgv), '--resume')}`],
        );
      if (typeof recordedEpochs === 'number' && recordedEpochs !== r.epochs)
        out.write(`the run now has ${r.epochs} epochs instead of ${recordedEpochs} (--epochs)\n`);
      const st = found.state;
      if (st) {
        assignParams(params, st.params, dir.statePath);
        adam.importState(params, st.adam);
        start = st.epoch;
        best = st.best;
        history = found.metrics.filter((m) => m.epoch <= st.epoch);
      }
      const unsaved = found.metrics.some((m) => m.epoch === done + 1)
        ? `; epoch ${done + 1} was being saved when the run stopped and runs again`
        : '';
      out.write(
        st
          ? `resuming ${o.outDir} after epoch ${done} of ${r.epochs}${unsaved}\n`
          : `resuming ${o.outDir} from epoch 1 (no epoch was completely saved${unsaved ? `: epoch 1 was being saved when the run stopped` : ''})\n`,
      );
      dir.removeStaleTemps();
      dir.writeRecipe({
        ...recorded,
        recipe: r,
        resumes: [
          ...(Array.isArray(recorded['resumes']) ? (recorded['resumes'] as unknown[]) : []),
          { afterEpoch: done, ...o.record },
        ],
      });
      return new TrainSession(o.module, r, params, train, val, dir, adam, start, history, best, out, o.tty);
    }
    if (dir.hasRun()) {
      if (!o.force) {
        const done = dir.readMetrics().length;
        throw new UserError(
          `${o.outDir} already holds a training run (${done} epoch${done === 1 ? '' : 's'} done)`,
          [
            `continue it: ${hint('--resume')}`,
            `or start over: ${hint('--force')}`,
            'or start a new run with --out DIR',
          ],
        );
      }
      dir.clear();
    }
    // Shi et al.'s IBP initialisation replaces the fresh weights (a resumed run has loaded its own)
    if (r.init === 'ibp' && start === 0) ibpInit(params, meta, r.seed);
    dir.removeStaleTemps();
    dir.writeRecipe(record);
    return new TrainSession(o.module, r, params, train, val, dir, adam, start, history, best, out, o.tty);
  }

  /** Number of training and validation images. */
  get sizes(): { readonly train: number; readonly val: number } {
    return { train: this.train.n, val: this.val.n };
  }

  /** The metrics of every completed epoch. */
  get metrics(): readonly EpochRecord[] {
    return this.history;
  }

  /** The best checkpoint so far (null before the ramp has ended). */
  get bestSoFar(): BestSoFar | null {
    return this.best;
  }

  /** The run directory. */
  get runDir(): RunDir {
    return this.dir;
  }

  *batches(epoch: number): Generator<Batch> {
    const order = batchOrder(this.train.n, this.recipe.batchSize, { seed: this.recipe.seed, epoch });
    this.beginEpoch(epoch, order.length);
    for (let step = 0; step < order.length; step++) {
      const { x, y } = gatherBatch(this.train, order[step]!);
      const b: Batch = {
        epoch,
        step,
        x: tf.tensor(x, [y.length, ...this.train.internalShape]),
        y: tf.tensor1d(y, 'int32'),
      };
      try {
        yield b;
      } finally {
        b.x.dispose();
        b.y.dispose();
      }
    }
  }

  step(batch: Batch, s: Schedule, clean: boolean, loss: TrainLoss<P>, attack?: TrainAttackFn<P>): void {
    const st: StepState = {
      ...s,
      clean,
      rNoise: clean ? 0 : this.recipe.rNoise,
      noiseSeed: mixSeed(this.recipe.seed, batch.epoch, batch.step),
      trainEps: this.recipe.trainEps,
    };
    const adv = attack && !clean ? tf.tidy(() => attack(this.params, batch.x, batch.y, st)) : undefined;
    const list = clean ? this.vars.filter((e) => !e.ramp) : this.vars;
    let stats: tf.Tensor | undefined;
    let bounded = false;
    const { value, grads } = tf.variableGrads(
      () => {
        const parts = loss(this.params, batch.x, batch.y, st, adv);
        bounded = parts.lb !== undefined;
        stats = tf.keep(stepStats(parts, batch.y));
        return parts.loss;
      },
      list.map((e) => e.v),
    );
    adv?.dispose();
    let byIdent: Record<string, tf.Tensor> = {};
    for (const e of list) {
      const g = grads[e.v.name];
      if (g) byIdent[e.ident] = g;
    }
    const clip = this.recipe.gradClip;
    if (clip !== undefined) byIdent = clipGradients(byIdent, clip);
    this.adam.apply(this.params, byIdent, s.lr, this.decay);
    if (clip !== undefined) tf.dispose(Object.values(byIdent));
    for (const e of list) if (e.ramp) clampRamp(e.v);
    tf.dispose([value, ...Object.values(grads)]);
    const prev = this.acc;
    this.acc = prev ? tf.add(prev, stats!) : stats!.clone();
    tf.dispose([prev, stats!]);
    this.images += batch.y.shape[0];
    this.bounded ||= bounded;
    this.progress(batch.step + 1, s.eps);
  }

  meanOverTrainSet(acts: (x: tf.Tensor) => Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> {
    let sums: Record<string, tf.Tensor> | undefined;
    const ds = this.train;
    for (let s = 0; s < ds.n; s += EVAL_BATCH) {
      const idx = Int32Array.from({ length: Math.min(EVAL_BATCH, ds.n - s) }, (_, i) => s + i);
      const { x } = gatherBatch(ds, idx);
      const prev = sums;
      sums = tf.tidy(() => {
        const a = acts(tf.tensor(x, [idx.length, ...ds.internalShape]));
        const next: Record<string, tf.Tensor> = {};
        for (const [k, t] of Object.entries(a))
          next[k] = prev?.[k] ? tf.add(prev[k]!, tf.sum(t, 0)) : tf.sum(t, 0);
        return next;
      });
      if (prev) tf.dispose(Object.values(prev));
    }
    const total = sums ?? {};
    const mean = tf.tidy(() =>
      Object.fromEntries(Object.entries(total).map(([k, t]) => [k, tf.div(t, ds.n)])),
    );
    tf.dispose(Object.values(total));
    return mean;
  }

  async endEpoch(epoch: number, clean: boolean, end: Schedule): Promise<void> {
    const r = this.recipe;
    const sums = this.acc ? await this.acc.data() : new Float32Array(5);
    this.acc?.dispose();
    this.acc = undefined;
    const n = Math.max(this.images, 1);
    const loss = sums[0]! / n;
    if (!Number.isFinite(loss)) {
      this.bar?.done();
      throw new UserError(`training diverged in epoch ${epoch + 1}: the loss is ${loss}`, [
        'lower the learning rate (optimizer = adam(lr: ...)) or lengthen the ε ramp (eps_schedule length)',
        `the run directory ${this.dir.dir} still holds the last good epoch; fix the spec and start a new run`,
      ]);
    }
    const phase: EpochRecord['phase'] = r.method === 'natural' ? 'natural' : clean ? 'clean' : 'certified';
    const valEps = Math.min(end.eps, r.targetEps);
    const v =
      this.val.n > 0
        ? await evaluateIbp(this.module, this.params, this.val, valEps, { eta: end.eta, rampAsLeaky: clean })
        : undefined;
    // Model selection: verified error at the target ε once the whole epoch was trained at ε_max.
    const metric = v === undefined ? null : phase === 'natural' ? v.cleanErr : v.verifiedErr;
    const eligible = phase === 'natural' || (phase === 'certified' && epoch >= fullEpsEpoch(r.epsSchedule));
    const isBest = eligible && metric !== null && (this.best === null || metric < this.best.value);
    const rec: EpochRecord = {
      epoch: epoch + 1,
      phase,
      eps: end.eps,
      kappa: end.kappa,
      beta: end.beta,
      eta: end.eta ?? null,
      lr: end.lr,
      loss,
      naturalLoss: sums[1]! / n,
      robustLoss: this.bounded ? sums[2]! / n : null,
      trainCleanErr: sums[3]! / n,
      trainRobustErr: this.bounded ? sums[4]! / n : null,
      valEps,
      valCleanErr: v?.cleanErr ?? null,
      valVerifiedErr: v?.verifiedErr ?? null,
      best: isBest,
      seconds: Number(((performance.now() - this.epochT0) / 1000).toFixed(3)),
    };
    this.history.push(rec);
    const meta = this.module.meta;
    const extra = { recipe: r, valImages: this.val.n };
    this.dir.writeMetrics(this.history);
    if (isBest) {
      this.best = { epoch: epoch + 1, value: metric! };
      await this.dir.writeCheckpoint('best', meta, this.params, rec, extra);
    }
    await this.dir.writeCheckpoint('last', meta, this.params, rec, extra);
    this.dir.writeState({
      epoch: epoch + 1,
      specHash: meta.specHash,
      params: await paramArrays(this.params),
      adam: await this.adam.exportState(),
      best: this.best,
    });
    const left = (r.epochs - epoch - 1) * rec.seconds;
    this.bar?.done(this.summary(rec) + (left > 0 ? `  (run ETA ${formatDuration(left)})` : ''));
    this.bar = undefined;
  }

  /** Frees the optimizer state and the parameters. */
  dispose(): void {
    this.adam.dispose();
    this.acc?.dispose();
    tf.dispose(Object.values(this.params));
  }

  private beginEpoch(epoch: number, steps: number): void {
    this.acc?.dispose();
    this.acc = undefined;
    this.images = 0;
    this.bounded = false;
    this.epochT0 = performance.now();
    this.lastRead = -Infinity;
    this.bar = new ProgressBar({
      total: steps,
      label: `epoch ${epoch + 1}/${this.recipe.epochs}`,
      stream: this.out,
      tty: this.tty,
      unit: 'img',
      unitsPerStep: this.recipe.batchSize,
    });
  }

  /**
   * Redraws the bar; the running loss is read from the device at most every PROGRESS_READ_MS, on a
   * TTY, and not on WebGPU (whose synchronous reads do not work in Node; the loss shows per epoch).
   */
  private progress(step: number, eps: number): void {
    if (!this.bar) return;
    const now = performance.now();
    if (!this.tty || !this.acc || now - this.lastRead < PROGRESS_READ_MS || tf.getBackend() === 'webgpu') {
      this.bar.update(step);
      return;
    }
    this.lastRead = now;
    const a = this.acc.dataSync();
    this.bar.update(step, { loss: a[0]! / Math.max(this.images, 1), ε: eps });
  }

  private summary(m: EpochRecord): string {
    const parts = [
      `epoch ${m.epoch}/${this.recipe.epochs}`,
      m.phase,
      `loss ${num4(m.loss)}`,
      `ε ${num4(m.eps)}`,
      `lr ${num4(m.lr)}`,
    ];
    if (m.eta !== null) parts.push(`η ${num4(m.eta)}`);
    parts.push(`train err ${pct(m.trainCleanErr)}`);
    if (m.valCleanErr !== null)
      parts.push(
        `val err ${pct(m.valCleanErr)}, IBP-verified err ${pct(m.valVerifiedErr)} at ε ${num4(m.valEps)}`,
      );
    parts.push(`${m.seconds.toFixed(1)}s`);
    if (m.best) parts.push('*best*');
    return parts.join('  ');
  }
}
