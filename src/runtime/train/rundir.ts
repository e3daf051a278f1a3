/**
 * The files of one training run, and nothing else touches them:
 *
 *   recipe.json          resolved recipe, spec hash, data and the command that started the run
 *                        (written when the run starts; a resume appends itself to `resumes`)
 *   metrics.jsonl        one JSON object per completed epoch (rewritten whole each epoch)
 *   last.safetensors     parameters after the last completed epoch (PyTorch names and layouts)
 *   last.json            its sidecar: epoch, metrics, spec hash, sha256 of the safetensors file
 *   best.safetensors     parameters with the lowest validation IBP-verified error at the target ε
 *   best.json            its sidecar
 *   state.safetensors    the exact resume point: parameters (internal layout), Adam moments and
 *                        step counts, best-so-far; its `__metadata__` names the epoch
 *   test.json            the final test-set evaluation (written by `vnet train`)
 *
 * Epochs are counted from 1 everywhere, as the CLI counts them (`epoch 3/20`): the `epoch` of a
 * metrics line, a sidecar, a checkpoint's metadata, test.json and the state file is the number of
 * that epoch (the state's is the last completed one, i.e. the number of completed epochs).
 *
 * Every file is written atomically (io/atomic.ts). At the end of an epoch the files are written
 * in the order metrics, best, last, state: `state.safetensors` is the commit point. A run killed
 * at any moment resumes after the epoch its state file names, re-runs what followed (the same
 * numbers: the run is deterministic) and rewrites the later files; a metrics line past that epoch
 * (the run stopped while saving it) is dropped and recomputed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UserError, fileError } from '../../base/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readSafetensors, saveParamsAsync, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import type { ModuleMeta, ParamSet } from '../module.js';
import type { AdamSlot } from './adam.js';

/** One line of metrics.jsonl. Error rates are fractions in [0, 1]; null where not measured. */
export interface EpochRecord {
  /** The epoch's number, counted from 1. */
  readonly epoch: number;
  /** `clean`: natural loss, ParamRamp as LeakyReLU(η); `certified`: bound-based loss; `natural`: natural recipe. */
  readonly phase: 'clean' | 'certified' | 'natural';
  /** Schedule values at the end of the epoch (ε, κ, β) and of the epoch (η, lr). */
  readonly eps: number;
  readonly kappa: number;
  readonly beta: number;
  readonly eta: number | null;
  readonly lr: number;
  /** Means over the epoch's training batches. */
  readonly loss: number;
  readonly naturalLoss: number;
  readonly robustLoss: number | null;
  readonly trainCleanErr: number;
  /** Fraction of training samples not verified by the training bounds at their step's ε. */
  readonly trainRobustErr: number | null;
  /** Validation split: clean error and IBP-verified error at valEps = min(ε, target ε). */
  readonly valEps: number;
  readonly valCleanErr: number | null;
  readonly valVerifiedErr: number | null;
  /** This epoch's checkpoint became best.safetensors. */
  readonly best: boolean;
  readonly seconds: number;
}

/** The best checkpoint so far. */
export interface BestSoFar {
  /** Its epoch's number (from 1). */
  readonly epoch: number;
  /** The selection metric (validation IBP-verified error at the target ε; clean error for natural recipes). */
  readonly value: number;
}

/** Everything needed to continue a run exactly. */
export interface ResumeState {
  /** The last completed epoch (from 1), i.e. the number of completed epochs. */
  readonly epoch: number;
  readonly specHash: string;
  /** Parameters in the runtime's internal layout, by ident. */
  readonly params: Readonly<Record<string, Float32Array>>;
  readonly adam: Readonly<Record<string, AdamSlot>>;
  readonly best: BestSoFar | null;
}

/** /1 counted epochs from 0; /2 from 1. */
const STATE_FORMAT = 'vnet-train-state/2';
const OLD_STATE_FORMAT = 'vnet-train-state/1';

/** A state file of an older format (a UserError naming the file; `reason` without the path). */
export class OldStateError extends UserError {
  readonly reason = 'was written by an older vnet (it counts epochs from 0)';
  constructor(path: string) {
    super(`${path}: was written by an older vnet (it counts epochs from 0)`);
  }
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

export class RunDir {
  readonly recipePath: string;
  readonly metricsPath: string;
  readonly statePath: string;

  constructor(readonly dir: string) {
    this.recipePath = join(dir, 'recipe.json');
    this.metricsPath = join(dir, 'metrics.jsonl');
    this.statePath = join(dir, 'state.safetensors');
  }

  /** Path of a checkpoint's parameters (`last` / `best`). */
  paramsPath(kind: 'last' | 'best'): string {
    return join(this.dir, `${kind}.safetensors`);
  }

  /** Path of a checkpoint's sidecar. */
  sidecarPath(kind: 'last' | 'best'): string {
    return join(this.dir, `${kind}.json`);
  }

  /** Whether the folder holds (the start of) a run. */
  hasRun(): boolean {
    return existsSync(this.recipePath) || existsSync(this.statePath);
  }

  /** Path of the final test-set evaluation. */
  get testPath(): string {
    return join(this.dir, 'test.json');
  }

  /** The run's own files (those listed above). */
  private files(): string[] {
    const files = [this.recipePath, this.metricsPath, this.statePath, this.testPath];
    for (const k of ['last', 'best'] as const) files.push(this.paramsPath(k), this.sidecarPath(k));
    return files;
  }

  /** Removes this run's files (only the ones listed above); other files in the folder stay. */
  clear(): void {
    for (const f of this.files()) rmSync(f, { force: true });
    this.removeStaleTemps();
  }

  /**
   * Removes temporary files that an interrupted atomic write of one of this run's files left
   * behind (`.<name>.<pid>.<random>.tmp`, io/atomic.ts); the files themselves are never partial.
   */
  removeStaleTemps(): void {
    if (!existsSync(this.dir)) return;
    const names = new Set(this.files().map((f) => basename(f)));
    for (const f of readdirSync(this.dir)) {
      const m = /^\.(.+)\.\d+\.[0-9a-f]+\.tmp$/.exec(f);
      if (m && names.has(m[1]!)) rmSync(join(this.dir, f), { force: true });
    }
  }

  writeRecipe(record: unknown): void {
    writeJsonAtomic(this.recipePath, record);
  }

  /**
   * The number of epochs recorded for the run (recipe.json's `recipe.epochs`), or undefined when
   * there is no readable record.
   */
  recordedEpochs(): number | undefined {
    if (!existsSync(this.recipePath)) return undefined;
    try {
      const e = (this.readRecipe()['recipe'] as { epochs?: unknown } | undefined)?.epochs;
      return typeof e === 'number' ? e : undefined;
    } catch {
      return undefined;
    }
  }

  /** The recorded recipe.json, parsed (a UserError naming the file if it is not JSON). */
  readRecipe(): Record<string, unknown> {
    return readJson(this.recipePath);
  }

  /** Rewrites metrics.jsonl with exactly these records. */
  writeMetrics(records: readonly EpochRecord[]): void {
    writeFileAtomic(this.metricsPath, records.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  /** The records of metrics.jsonl (none if the file does not exist). */
  readMetrics(): EpochRecord[] {
    if (!existsSync(this.metricsPath)) return [];
    const lines = readFileSync(this.metricsPath, 'utf8').split('\n');
    return lines
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        try {
          return JSON.parse(l) as EpochRecord;
        } catch {
          throw fileError(this.metricsPath, `line ${i + 1} is not valid JSON`);
        }
      });
  }

  /**
   * Writes `kind`.safetensors (PyTorch layout; its `__metadata__` carries the epoch) and then its
   * sidecar, which records the sha256 of the parameter file it describes. Reads the parameters
   * with `await data()`, so it works on every backend (WebGPU has no synchronous reads in Node).
   */
  async writeCheckpoint(
    kind: 'last' | 'best',
    meta: ModuleMeta,
    params: ParamSet,
    record: EpochRecord,
    extra: object,
  ): Promise<void> {
    const path = this.paramsPath(kind);
    await saveParamsAsync(path, meta, params, { epoch: String(record.epoch), checkpoint: kind });
    writeJsonAtomic(this.sidecarPath(kind), {
      checkpoint: kind,
      epoch: record.epoch,
      network: meta.name,
      spec: meta.sourcePath,
      specHash: meta.specHash,
      file: `${kind}.safetensors`,
      sha256: sha256(path),
      metrics: record,
      ...extra,
    });
  }

  /** Writes the resume point (the commit point of an epoch). */
  writeState(s: ResumeState): void {
    const tensors: NamedTensor[] = [];
    const adamSteps: Record<string, number> = {};
    for (const [name, data] of Object.entries(s.params))
      tensors.push({ name: `param/${name}`, shape: [data.length], data });
    for (const [name, slot] of Object.entries(s.adam)) {
      tensors.push({ name: `adam.m/${name}`, shape: [slot.m.length], data: slot.m });
      tensors.push({ name: `adam.v/${name}`, shape: [slot.v.length], data: slot.v });
      adamSteps[name] = slot.step;
    }
    const header = { format: STATE_FORMAT, epoch: s.epoch, specHash: s.specHash, adamSteps, best: s.best };
    writeSafetensors(this.statePath, tensors, { vnet_train_state: JSON.stringify(header) });
  }

  /** The resume point, or undefined if no epoch has completed. Defects are UserErrors naming the file. */
  readState(): ResumeState | undefined {
    if (!existsSync(this.statePath)) return undefined;
    const d = readSafetensors(this.statePath);
    const bad = (why: string): Error => fileError(this.statePath, `not a vnet training state: ${why}`);
    let h: { format?: unknown; epoch?: unknown; specHash?: unknown; adamSteps?: unknown; best?: unknown };
    try {
      h = JSON.parse(d.metadata['vnet_train_state'] ?? 'null') ?? {};
    } catch {
      throw bad('its metadata is not JSON');
    }
    if (h.format === OLD_STATE_FORMAT) throw new OldStateError(this.statePath);
    if (h.format !== STATE_FORMAT || typeof h.epoch !== 'number' || typeof h.specHash !== 'string')
      throw bad(`missing or unknown header (expected ${STATE_FORMAT})`);
    const steps = (h.adamSteps ?? {}) as Record<string, number>;
    const params: Record<string, Float32Array> = {};
    const adam: Record<string, AdamSlot> = {};
    for (const [name, t] of d.tensors) {
      if (name.startsWith('param/')) params[name.slice(6)] = t.data;
    }
    for (const [name, step] of Object.entries(steps)) {
      const m = d.tensors.get(`adam.m/${name}`);
      const v = d.tensors.get(`adam.v/${name}`);
      if (!m || !v || typeof step !== 'number') throw bad(`incomplete optimizer state for '${name}'`);
      adam[name] = { m: m.data, v: v.data, step };
    }
    return { epoch: h.epoch, specHash: h.specHash, params, adam, best: (h.best ?? null) as BestSoFar | null };
  }
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fileError(path, `cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw fileError(path, 'is not valid JSON');
  }
}

/** The parameters of a set as host arrays (internal layout), by ident. */
export async function paramArrays(p: ParamSet): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(p)) out[name] = (await v.data()) as Float32Array;
  return out;
}

/** Overwrites every parameter of `p` with saved values (sizes are checked). */
export function assignParams(p: ParamSet, saved: Readonly<Record<string, Float32Array>>, path: string): void {
  for (const [name, v] of Object.entries(p)) {
    const data = saved[name];
    if (!data || data.length !== v.size)
      throw fileError(
        path,
        `parameter '${name}' is ${data ? `${data.length} values, expected ${v.size}` : 'missing'}`,
      );
    tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
  }
}
