/**
 * A verification job as plain JSON: everything a process (the CLI, a worker thread, a shard on
 * another machine, a resumed run) needs to evaluate any batch of it and get the same outcome as
 * one sequential run. `loadJob` turns it into the network, the samples and the evaluation
 * settings (with the rigorous confirmer); it is the only place that does, for every caller.
 */
import type { LineStrategy } from '../ir/ir.js';
import type { ModuleMeta } from '../runtime/module.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import { type EvalSettings, type Verifiable, type VerifyMethod } from '../verify/evaluate.js';
import { loadAlphaRunner } from '../verify/alpha-row.js';
import { loadEvalSplit, type EvalSplit, type LoadedSplit } from '../verify/data.js';
import { evalOptions, loadNetwork, verifiable } from '../verify/model.js';
import { loadRigorous, sampleConfirmer } from '../verify/rigorous/index.js';

/** The data a job evaluates. */
export interface JobData {
  readonly split: EvalSplit;
  readonly dir?: string;
  readonly limit?: number;
}

/** The evaluation settings of a job, without functions (the PGD step size per ε instead). */
export interface JobSettings {
  readonly eps: readonly number[];
  readonly methods: readonly VerifyMethod[];
  readonly lines: readonly LineStrategy[];
  readonly batch: number;
  readonly pgd: { readonly steps: number; readonly restarts: number; readonly seed: number };
  /** PGD step size per entry of `eps`. */
  readonly pgdStep: readonly number[];
  readonly certificates: boolean;
}

export interface VerifyJob {
  readonly specPath: string;
  readonly weightsPath: string;
  readonly backend: BackendName;
  readonly data: JobData;
  readonly settings: JobSettings;
}

/** The evaluation settings of a job (with the rigorous confirmer when `confirm` is given). */
export function evalSettings(s: JobSettings, confirm?: EvalSettings['confirm']): EvalSettings {
  return {
    eps: s.eps,
    methods: s.methods,
    lines: s.lines,
    batch: s.batch,
    pgd: s.pgd,
    pgdStep: (e) => s.pgdStep[s.eps.indexOf(e)]!,
    certificates: s.certificates,
    ...(confirm ? { confirm } : {}),
  };
}

/** A loaded job: what `evaluateBatch` needs, plus what the output names. */
export interface LoadedJob {
  readonly net: Verifiable;
  readonly data: LoadedSplit;
  readonly settings: EvalSettings;
  readonly meta: ModuleMeta;
  readonly weightsHash: string;
}

/**
 * Starts the job's backend and loads its network (float32 module and rigorous binary64 view),
 * samples and settings. Deterministic: every process that loads the same job sees the same data.
 */
export async function loadJob(job: VerifyJob): Promise<LoadedJob> {
  await initBackend(job.backend);
  const { mod, params } = await loadNetwork(job.specPath, job.weightsPath);
  const rigorous = loadRigorous(job.specPath, job.weightsPath);
  const data = await loadEvalSplit(mod.meta, {
    split: job.data.split,
    ...(job.data.dir !== undefined ? { dir: job.data.dir } : {}),
    ...(job.data.limit !== undefined ? { limit: job.data.limit } : {}),
  });
  const settings = evalSettings(
    job.settings,
    rigorous.net.unsupported ? undefined : sampleConfirmer(rigorous.net),
  );
  return {
    net: verifiable(mod, params, evalOptions(mod.meta)),
    data,
    settings: job.settings.methods.includes('alpha-crown')
      ? { ...settings, alpha: loadAlphaRunner(job.specPath, job.weightsPath) }
      : settings,
    meta: mod.meta,
    weightsHash: rigorous.weightsHash,
  };
}
