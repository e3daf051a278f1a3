/**
 * The VNN-COMP runner and the run_instance contract on the competition's `test` benchmark
 * (fixtures copied from ../shared/benchmarks/vnncomp2021/test): answers agree with the consensus,
 * a `violated` counterexample really lies in the unsafe region, results CSVs resume, per-instance
 * counterexample files, unsupported models and properties become `unknown` with the reason,
 * unreadable files `error`, and comparisons count contradictions.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { forward } from '../../src/complete/crown.js';
import { readOnnxNet } from '../../src/complete/onnx-net.js';
import {
  counterexampleName,
  resultFileText,
  runInstance,
  type InstanceResult,
} from '../../src/vnncomp/instance.js';
import {
  compare,
  readComparison,
  readInstances,
  readResults,
  renderComparison,
  runInstances,
  shardInstances,
  summarize,
  type ResultRow,
} from '../../src/vnncomp/runner.js';
import { inConjunction, readVnnlib } from '../../src/vnnlib/parse.js';

const FIX = (p: string): string => fileURLToPath(new URL(`../fixtures/vnncomp/${p}`, import.meta.url));
const TEST = (p: string): string => FIX(`test/${p}`);
const CONSENSUS = FIX('consensus-test.csv');

const tmp = mkdtempSync(join(tmpdir(), 'vnet-vnncomp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Parses `((X_0 v) … (Y_0 v) …)` into the X and Y vectors. */
function parseCounterexample(text: string): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (const m of text.matchAll(/\(([XY])_(\d+) ([^()\s]+)\)/g))
    (m[1] === 'X' ? x : y)[Number(m[2])] = Number(m[3]);
  return { x, y };
}

describe('run_instance', () => {
  const consensus = readComparison(CONSENSUS)[0]!.answers;
  const instances = readInstances(TEST('test_instances.csv'));

  it('answers every test instance as the consensus does', () => {
    expect(instances).toHaveLength(5);
    for (const inst of instances) {
      const r = runInstance(inst.onnxPath, inst.vnnlibPath, inst.timeout);
      const want = consensus.get(`test|${inst.onnx}|${inst.vnnlib}`)!.answer;
      expect(r.result, `${inst.onnx} ${inst.vnnlib}`).toBe(want);
      expect(r.runTime).toBeGreaterThanOrEqual(r.prepTime);
    }
  });

  it('a violated answer carries a counterexample inside the box and the unsafe region', () => {
    const r = runInstance(TEST('test_sat.onnx'), TEST('test_prop.vnnlib'), 60);
    expect(r.result).toBe('violated');
    const text = resultFileText(r);
    expect(text.split('\n')[0]).toBe('violated');
    const { x, y } = parseCounterexample(text);
    const net = readOnnxNet(TEST('test_sat.onnx'));
    const prop = readVnnlib(TEST('test_prop.vnnlib'));
    expect(x).toHaveLength(net.nIn);
    expect(y).toHaveLength(net.nOut);
    // the printed Y is the network's output at the printed X (float64 forward)
    const yy = forward(net, x);
    yy.forEach((v, i) => expect(v).toBeCloseTo(y[i]!, 9));
    const inside = prop.cases.some(
      (c) =>
        x.every((v, i) => v >= c.lo[i]! && v <= c.hi[i]!) && c.unsafe.some((cj) => inConjunction(cj, yy)),
    );
    expect(inside).toBe(true);
  });

  it('reads .onnx.gz and .vnnlib.gz directly', () => {
    const plain = runInstance(TEST('test_small.onnx'), TEST('test_small.vnnlib'), 60);
    const gz = runInstance(FIX('test_small.onnx.gz'), TEST('test_small.vnnlib'), 60);
    expect(gz.result).toBe(plain.result);
    expect(runInstance(TEST('test_unsat.onnx'), FIX('test_prop.vnnlib.gz'), 60).result).toBe('holds');
  });

  it('an unsupported operator gives unknown with the reason', () => {
    // test_nano's Relu (op type, node and value names) renamed to Tanh: same length, valid protobuf
    const bytes = readFileSync(TEST('test_nano.onnx'));
    let n = 0;
    for (let at = bytes.indexOf('Relu'); at >= 0; at = bytes.indexOf('Relu', at + 4), n++)
      bytes.write('Tanh', at);
    expect(n).toBeGreaterThan(0);
    const p = join(tmp, 'tanh.onnx');
    writeFileSync(p, bytes);
    const r = runInstance(p, TEST('test_nano.vnnlib'), 10);
    expect(r.result).toBe('unknown');
    expect(r.note).toMatch(/unsupported model: .*Tanh/);
    expect(resultFileText(r)).toBe('unknown\n');
  });

  it('a property that does not fit the network, or outside the subset, gives unknown; unreadable files error', () => {
    const mismatch = runInstance(TEST('test_nano.onnx'), TEST('test_prop.vnnlib'), 10);
    expect(mismatch.result).toBe('unknown');
    expect(mismatch.note).toMatch(/inputs X_i but the network has 1/);
    const p = join(tmp, 'nonlinear.vnnlib');
    writeFileSync(
      p,
      '(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (<= (* Y_0 Y_0) 1))\n',
    );
    const nl = runInstance(TEST('test_nano.onnx'), p, 10);
    expect(nl.result).toBe('unknown');
    expect(nl.note).toMatch(/nonlinear\.vnnlib:5:/);
    const missing = runInstance(join(tmp, 'absent.onnx'), TEST('test_nano.vnnlib'), 10);
    expect(missing.result).toBe('error');
    expect(missing.note).toMatch(/absent\.onnx/);
    expect(resultFileText(missing)).toBe('unknown\n');
  });

  it('names counterexample files <onnx stem>__<vnnlib stem>.counterexample', () => {
    expect(counterexampleName('nets/a.onnx.gz', 'vnnlib/p_1.vnnlib')).toBe('a__p_1.counterexample');
  });
});

describe('vnncomp runner', () => {
  it('runs instances in child processes, writes counterexamples, and resumes', async () => {
    const csv = join(tmp, 'test_instances.csv');
    for (const f of ['test_sat.onnx', 'test_nano.onnx', 'test_prop.vnnlib', 'test_nano.vnnlib'])
      copyFileSync(TEST(f), join(tmp, f));
    writeFileSync(csv, 'test_nano.onnx,test_nano.vnnlib,60\ntest_sat.onnx,test_prop.vnnlib,60\n');
    const out = join(tmp, 'results.csv');
    const cex = join(tmp, 'cex');
    // a results file that has the first instance already: only the second runs
    writeFileSync(out, 'test,test_nano.onnx,test_nano.vnnlib,0.100,holds,0.200,\n');
    const log: string[] = [];
    const rows = await runInstances(readInstances(csv), {
      out,
      timeoutScale: 1,
      counterexamples: cex,
      log: (l) => log.push(l),
    });
    expect(log[0]).toMatch(/resuming: 1 of 2/);
    expect(log.filter((l) => l.startsWith('['))).toHaveLength(1);
    expect(rows.map((r) => r.result)).toEqual(['holds', 'violated']);
    expect(rows[0]!.runTime).toBe(0.2); // kept, not re-run
    expect(readResults(out)).toEqual(rows);
    const ce = readFileSync(join(cex, 'test_sat__test_prop.counterexample'), 'utf8');
    expect(parseCounterexample(ce).x).toHaveLength(5);
    // a second run has nothing left to do
    const log2: string[] = [];
    const again = await runInstances(readInstances(csv), { out, timeoutScale: 1, log: (l) => log2.push(l) });
    expect(log2).toEqual(['resuming: 2 of 2 instances already in ' + out]);
    expect(again).toEqual(rows);
    const s = summarize(again);
    expect(s).toEqual([expect.objectContaining({ benchmark: 'test', instances: 2, holds: 1, violated: 1 })]);
  }, 60_000);

  it('with 2 workers and over 2 shards gives the rows of one sequential run', async () => {
    const csv = join(tmp, 'par_instances.csv');
    for (const f of ['test_sat.onnx', 'test_nano.onnx', 'test_prop.vnnlib', 'test_nano.vnnlib'])
      copyFileSync(TEST(f), join(tmp, f));
    const lines = [
      'test_nano.onnx,test_nano.vnnlib,60',
      'test_sat.onnx,test_prop.vnnlib,60',
      'test_nano.onnx,test_nano.vnnlib,30',
    ];
    writeFileSync(csv, lines.join('\n') + '\n');
    const insts = readInstances(csv);
    const answers = (rs: readonly { onnx: string; vnnlib: string; result: string }[]) =>
      rs.map((r) => `${r.onnx} ${r.vnnlib} ${r.result}`);
    const one = await runInstances(insts, { out: join(tmp, 'par1.csv'), timeoutScale: 1, log: () => {} });
    const two = await runInstances(insts, {
      out: join(tmp, 'par2.csv'),
      timeoutScale: 1,
      log: () => {},
      workers: 2,
    });
    expect(answers(two)).toEqual(answers(one));
    expect(answers(readResults(join(tmp, 'par2.csv')).sort((a, b) => a.onnx.localeCompare(b.onnx)))).toEqual(
      answers([...one].sort((a, b) => a.onnx.localeCompare(b.onnx))),
    );
    // shards: a partition (each instance exactly once), together the whole run
    const shards = [0, 1].map((index) => shardInstances(insts, { index, count: 2 }));
    expect(shards.map((x) => x.length)).toEqual([2, 1]);
    expect([...shards[0]!, ...shards[1]!].map((i) => i.timeout).sort()).toEqual([30, 60, 60]);
    const parts = await Promise.all(
      shards.map((x, i) =>
        runInstances(x, { out: join(tmp, `shard${i}.csv`), timeoutScale: 1, log: () => {} }),
      ),
    );
    expect(answers(parts.flat()).sort()).toEqual(answers(one).sort());
  }, 120_000);

  it('keeps each instance within its timeout (the child is stopped)', async () => {
    const csv = join(tmp, 'slow_instances.csv');
    copyFileSync(TEST('test_sat.onnx'), join(tmp, 'test_sat.onnx'));
    copyFileSync(TEST('test_prop.vnnlib'), join(tmp, 'test_prop.vnnlib'));
    writeFileSync(csv, 'test_sat.onnx,test_prop.vnnlib,1\n');
    // 1 s × 0.001: the import alone takes longer
    const rows = await runInstances(readInstances(csv), {
      out: join(tmp, 'slow.csv'),
      timeoutScale: 0.001,
      log: () => {},
    });
    expect(rows[0]!.result).toBe('timeout');
    expect(rows[0]!.runTime).toBeLessThan(10);
  }, 30_000);

  it('rejects malformed instance lines with the file and line', () => {
    const csv = join(tmp, 'bad_instances.csv');
    writeFileSync(csv, 'a.onnx,b.vnnlib,60\na.onnx,b.vnnlib\n');
    expect(() => readInstances(csv)).toThrow(/bad_instances\.csv:2.*onnx,vnnlib,timeout/);
  });

  it('counts agreements, contradictions and solved-only-by per tool', () => {
    const tools = readComparison(CONSENSUS);
    expect(tools.map((t) => t.tool)).toEqual(['consensus', 'alpha-beta-CROWN']);
    const row = (onnx: string, vnnlib: string, result: InstanceResult['result']): ResultRow => ({
      benchmark: 'test',
      onnx,
      vnnlib,
      prepTime: 0,
      result,
      runTime: 1,
      note: '',
    });
    const rows = [
      row('test_nano.onnx', 'test_nano.vnnlib', 'holds'),
      row('test_tiny.onnx', 'test_tiny.vnnlib', 'violated'), // contradicts
      row('test_small.onnx', 'test_small.vnnlib', 'unknown'),
      row('test_sat.onnx', 'test_prop.vnnlib', 'violated'),
    ];
    const [cons, ab] = compare(rows, tools);
    expect(cons).toMatchObject({ common: 4, agree: 2, oursSolved: 3, theirsSolved: 4, onlyTheirs: 1 });
    expect(cons!.contradictions).toEqual([
      { onnx: 'test_tiny.onnx', vnnlib: 'test_tiny.vnnlib', ours: 'violated', theirs: 'holds' },
    ]);
    // alpha-beta-CROWN answered tiny and sat (6.26 s, 10.01 s): ratios 1/6.26 and 1/10.01
    expect(ab).toMatchObject({ agree: 1, theirsSolved: 2, onlyOurs: 1, bothSolved: 2 });
    expect(ab!.medianRatio).toBeCloseTo((1 / 6.26 + 1 / 10.01) / 2, 6);
    expect(renderComparison([cons!, ab!])).toMatch(/contradict/);
  });
});
