/**
 * `vnet merge results-*.jsonl --out all.jsonl|all.csv`: joins the results files of a sharded
 * `vnet verify` run, checks that they cover every batch exactly once, writes the merged results
 * (a results file of the whole run, or the table as CSV) and prints the same table or JSON and
 * writes the same certificates as one process would.
 */
import type { Command } from '../command.js';
import { flagBool, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { mergeResults, reportCsv } from '../../scale/merge.js';
import { writeResults } from '../../scale/results.js';
import { reportVerify, verifyContext } from './verify.js';

const FLAGS: readonly FlagSpec[] = [
  {
    name: 'out',
    type: 'string',
    help: 'merged results: .jsonl (a results file of the whole run) or .csv (the table)',
  },
  {
    name: 'certificates',
    type: 'string',
    help: 'write the certificates of all shards to this file (JSON lines)',
  },
  { name: 'json', type: 'bool', help: 'print the results as JSON instead of a table' },
];

async function run(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv, FLAGS);
  if (a.positionals.length === 0)
    throw new UserError('expected the results files of the shards', [
      'usage: vnet merge results-*.jsonl --out all.jsonl',
    ]);
  const out = flagString(a, 'out');
  if (out !== undefined && !/\.(jsonl|csv)$/.test(out))
    throw new UserError(`--out '${out}': expected a .jsonl or .csv file name`);
  const certificates = flagString(a, 'certificates');
  const m = mergeResults(a.positionals);
  if (certificates !== undefined && !m.header.run.settings.certificates)
    throw new UserError('--certificates: the shards were run without --certificates, so they hold none');
  if (out?.endsWith('.csv')) writeFileAtomic(out, reportCsv(m.report));
  else if (out !== undefined) writeResults(out, m.header, m.outcomes);
  const seconds = m.outcomes.reduce((t, o) => t + o.seconds, 0);
  return reportVerify(m.report, {
    ...verifyContext(m.header, flagBool(a, 'json'), seconds),
    ...(certificates !== undefined ? { certificates } : {}),
  });
}

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'join the results files of a sharded verify run (checks each batch is covered exactly once)',
  help: usage(
    'merge',
    'results-*.jsonl [--out all.jsonl|all.csv] [--certificates C.jsonl] [--json]',
    [
      'Reads the results files that `vnet verify --shard i/n --results FILE` wrote, checks that they',
      'belong to one run (spec, weights, data, settings) and cover every batch exactly once, and',
      'prints the table (or JSON) of the whole run. Seconds are the sum over the batches.',
    ].join('\n'),
    FLAGS,
  ),
  run,
};
