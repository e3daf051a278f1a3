/**
 * `vnet merge results-*.jsonl --out all.jsonl|all.csv`: joins the results files of a sharded
 * `vnet verify` run, checks that they cover every batch exactly once, writes the merged results
 * (a results file of the whole run, or the table as CSV) and prints the same table or JSON and
 * writes the same certificates as one process would.
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagBool, flagString, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { mergeResults, reportCsv } from '../../scale/merge.js';
import { writeResults } from '../../scale/results.js';
import { reportVerify, verifyContext } from '../../verify/results.js';

const FLAGS: readonly OptionSpec[] = [
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

async function run(a: ParsedArgs): Promise<number> {
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

export const mergeCommand: CommandSpec = {
  args: ['<results.jsonl...>'],
  description: [
    'Reads the results files that `vnet verify --shard i/n --results FILE` wrote, checks that they',
    'belong to one run (spec, weights, data, settings) and cover every batch exactly once, and',
    'prints the table (or JSON) of the whole run. Seconds are the sum over the batches.',
  ].join(' '),
  options: FLAGS,
  examples: ['merge results-0.jsonl results-1.jsonl --out all.jsonl'],
  run,
};
