/**
 * Merging the results files of a sharded run: every file must belong to the same run (same spec,
 * weight and data hashes and settings), and together they must cover each batch of the run
 * exactly once. The merged outcomes, combined in batch order, are the outcomes of one process.
 */
import { UserError } from '../base/errors.js';
import { batchCount, combineBatches, type BatchOutcome, type EvalReport } from '../verify/evaluate.js';
import { readResults, runDifferences, RESULTS_KIND, type ResultsHeader } from './results.js';
import { WHOLE } from './shard.js';

export interface Merged {
  /** The header of the whole run (shard 0/1). */
  readonly header: ResultsHeader;
  readonly outcomes: readonly BatchOutcome[];
  readonly report: EvalReport;
}

const ranges = (xs: readonly number[]): string => {
  const out: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(', ');
};

/** Reads and merges results files; a UserError names every file or batch that does not fit. */
export function mergeResults(paths: readonly string[]): Merged {
  if (paths.length === 0) throw new UserError('expected at least one results file');
  const files = paths.map((p) => ({ path: p, ...readResults(p) }));
  const first = files[0]!;
  const problems: string[] = [];
  for (const f of files.slice(1)) {
    const diff = runDifferences(first.header.run, f.header.run);
    if (diff.length)
      problems.push(`${f.path} is of another run than ${first.path} (different ${diff.join(', ')})`);
  }
  if (problems.length) throw new UserError(problems.join('\n'));
  const run = first.header.run;
  const total = batchCount(run.n, run.settings.batch);
  const owner = new Map<number, string>();
  const outcomes: BatchOutcome[] = [];
  const dup: string[] = [];
  for (const f of files)
    for (const o of f.outcomes) {
      if (!(o.batch >= 0 && o.batch < total)) {
        problems.push(`${f.path}: batch ${o.batch} is outside the run's ${total} batches`);
        continue;
      }
      const had = owner.get(o.batch);
      if (had !== undefined) dup.push(`batch ${o.batch} is in ${had} and ${f.path}`);
      else {
        owner.set(o.batch, f.path);
        outcomes.push(o);
      }
    }
  problems.push(...dup);
  const missing = Array.from({ length: total }, (_, b) => b).filter((b) => !owner.has(b));
  if (missing.length)
    problems.push(
      `batches ${ranges(missing)} of ${total} are in none of the files (a shard is missing or unfinished: rerun it, it resumes)`,
    );
  if (problems.length)
    throw new UserError(`the results do not cover the run exactly once:\n${problems.join('\n')}`);
  return {
    header: { kind: RESULTS_KIND, version: 1, run, shard: WHOLE },
    outcomes,
    report: combineBatches(run.n, run.settings, outcomes),
  };
}

/** The verify table as CSV (one row per ε, method and line strategy). */
export function reportCsv(r: EvalReport): string {
  const cols = [
    'eps',
    'method',
    'lines',
    'n',
    'misclassified',
    'pgdBroken',
    'verified',
    'unconfirmed',
    'cleanErrPct',
    'pgdErrPct',
    'verifiedErrPct',
    'meanMarginLower',
    'nonFinite',
    'refused',
  ] as const;
  const cell = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...r.rows.map((row) => cols.map((c) => cell(row[c])).join(','))].join('\n') + '\n';
}
