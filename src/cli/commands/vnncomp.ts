/**
 * `vnet vnncomp <instances.csv> [--dir D] [--timeout-scale S] [--out results.csv]
 * [--counterexamples DIR] [--report report.html] [--compare consensus.csv,…]` and
 * `vnet run-instance <model.onnx> <prop.vnnlib> --timeout T --out result.txt`: the VNN-COMP
 * runner and the single-instance contract (logic in src/vnncomp/).
 */
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagList, flagNumber, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UserError } from '../../base/errors.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { runInstance, writeResultFile } from '../../vnncomp/instance.js';
import {
  checkScale,
  compare,
  readComparison,
  readInstances,
  renderComparison,
  renderHtml,
  renderSummary,
  runInstances,
  shardInstances,
  summarize,
} from '../../vnncomp/runner.js';
import { parseShard, shardFromEnv, WHOLE } from '../../scale/shard.js';

const RUN_FLAGS: readonly OptionSpec[] = [
  { name: 'dir', type: 'string', help: "folder the CSV's paths are relative to (default: the CSV's folder)" },
  { name: 'timeout-scale', type: 'number', help: 'multiply every timeout by S', default: 1 },
  {
    name: 'out',
    type: 'string',
    help: 'results CSV (appended; an existing file resumes the run)',
    default: 'results.csv',
  },
  { name: 'counterexamples', type: 'string', help: 'folder for <onnx>__<vnnlib>.counterexample files' },
  { name: 'report', type: 'string', help: 'write an HTML report' },
  {
    name: 'workers',
    type: 'number',
    help: 'instances run at once, each in its own child process (default 1: instance times stay comparable)',
    default: 1,
  },
  {
    name: 'shard',
    type: 'string',
    help: 'run shard i/n of the instances (k mod n = i); default from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX',
  },
  {
    name: 'compare',
    type: 'list',
    help: "other tools' results: consensus.csv and/or tool CSVs (comma-separated)",
  },
];
async function runVnncomp(a: ParsedArgs): Promise<number> {
  const dir = flagString(a, 'dir');
  const all = a.positionals.flatMap((csv) => readInstances(csv, dir));
  const shardText = flagString(a, 'shard');
  const shard = shardText !== undefined ? parseShard(shardText) : (shardFromEnv(process.env) ?? WHOLE);
  const instances = shardInstances(all, shard);
  if (shard.count > 1)
    process.stderr.write(
      `shard ${shard.index}/${shard.count}: ${instances.length} of ${all.length} instances\n`,
    );
  const workers = flagNumber(a, 'workers') ?? 1;
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64))
    throw new UserError(`--workers must be an integer in 1…64, got ${workers}`);
  const scale = checkScale(flagNumber(a, 'timeout-scale') ?? 1);
  const out = flagString(a, 'out') ?? 'results.csv';
  const tools = (flagList(a, 'compare') ?? []).flatMap((p) => readComparison(p));
  const rows = await runInstances(instances, {
    out,
    timeoutScale: scale,
    counterexamples: flagString(a, 'counterexamples'),
    log: (l) => process.stderr.write(l + '\n'),
    workers,
  });
  const s = summarize(rows);
  console.log(renderSummary(s));
  const cs = compare(rows, tools);
  if (cs.length > 0) console.log('\n' + renderComparison(cs));
  const report = flagString(a, 'report');
  if (report) writeFileAtomic(report, renderHtml(rows, s, cs));
  return cs.some((c) => c.contradictions.length > 0) ? 1 : 0;
}

export const vnncompCommand: CommandSpec = {
  args: ['<instances.csv...>'],
  description:
    'Runs VNN-COMP instances (ONNX model, VNN-LIB property, timeout; each in a child process with a hard wall clock), appending to a resumable results CSV, and summarises them or compares them with consensus.csv and tool CSVs. Exit 1 if an answer contradicts a compared tool.',
  options: RUN_FLAGS,
  examples: ['vnncomp mnistfc/mnistfc_instances.csv --timeout-scale 0.1 --compare results/consensus.csv'],
  run: runVnncomp,
};

const ONE_FLAGS: readonly OptionSpec[] = [
  { name: 'timeout', type: 'number', help: 'seconds (wall clock, import included; required)' },
  {
    name: 'out',
    type: 'string',
    help: 'result file: holds/violated/unknown/timeout, then the counterexample (required)',
  },
];
async function runOne(a: ParsedArgs): Promise<number> {
  const timeout = requireFlag(flagNumber(a, 'timeout'), 'timeout');
  if (!(timeout > 0)) throw new UserError(`--timeout must be > 0, got ${timeout}`);
  const out = requireFlag(flagString(a, 'out'), 'out');
  const r = runInstance(a.positionals[0]!, a.positionals[1]!, timeout);
  writeResultFile(out, r);
  console.log(`${r.result} in ${r.runTime.toFixed(2)} s${r.note ? ` (${r.note})` : ''}`);
  return r.result === 'error' ? 1 : 0;
}

export const runInstanceCommand: CommandSpec = {
  args: ['<model.onnx>', '<prop.vnnlib>'],
  description:
    "Verifies one VNN-COMP instance (the competition's run_instance contract): writes holds/violated/unknown/timeout and, for violated, the counterexample to the result file.",
  options: ONE_FLAGS,
  examples: ['run-instance net.onnx prop.vnnlib --timeout 60 --out result.txt'],
  run: runOne,
};
